"""The README's commands work as written: every `bench` line of its code blocks is accepted by the
real parser, and the ones that take seconds run for real from a fresh directory (the timed ones,
`latency` and `all`, run their real runner in test_bench.py and test_registry_facts.py on tiny
budgets). Its links point at files that exist in the repo."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
RUN = {"list", "embed", "equivalence", "tokenize", "read"}   # the ones that run here in seconds


def commands() -> list[list[str]]:
    blocks = re.findall(r"```[^\n]*\n(.*?)```", README, re.S)
    out = []
    for line in (ln.strip() for b in blocks for ln in b.splitlines()):
        words = shlex.split(line, comments=True)
        if words and words[0] in (".venv/bin/bench", "bench"):
            out.append(words[1:])
    return out


def test_readme_has_the_commands():
    subs = {c[0] for c in commands()}
    assert {"list", "embed", "equivalence", "tokenize", "latency", "all", "read"} <= subs, subs


@pytest.mark.parametrize("argv", commands(), ids=lambda a: " ".join(a)[:40])
def test_readme_command_parses(argv):
    args = cli.parser().parse_args(argv)   # argparse exits 2 on what it refuses
    assert args.cmd == argv[0] and callable(args.fn)
    if argv[0] == "embed":   # the README's own example: one --impl, two texts
        assert args.impl == ["cpp_port"] and args.texts == ["a sentence", "another"]


@pytest.mark.parametrize("argv", [c for c in commands() if c[0] in RUN], ids=lambda a: a[0])
def test_readme_command_runs(argv, tmp_path):
    from conftest import require
    if argv[0] == "embed":
        require(argv[argv.index("--impl") + 1])
    (tmp_path / "my_texts.txt").write_text("Hello there!\nÉtienne's café [MASK] 日本\n")
    r = subprocess.run([sys.executable, "-m", "bench", *argv], cwd=tmp_path, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    if argv[0] == "embed":
        rows = [json.loads(ln) for ln in r.stdout.splitlines()]
        assert [x["text"] for x in rows] == ["a sentence", "another"]
        assert all(abs(np.linalg.norm(x["embedding"]) - 1) < 1e-4 for x in rows)
    if argv[0] == "equivalence":
        assert "my_texts.txt" in r.stdout and "python_ref" in r.stdout
    if argv[0] == "read":
        assert Path(r.stdout.strip()) == tmp_path / "results" / "read.html"
        assert "data-stage=\"wordpiece\"" in (tmp_path / "results" / "read.html").read_text()


def test_readme_links_resolve():
    links = re.findall(r"\]\(([^)#\s]+)\)", README)
    local = [ln for ln in links if "://" not in ln]
    assert "docs/DESIGN.md" in local and "docs/read-view.png" in local
    missing = [ln for ln in local if not (ROOT / ln).exists()]
    assert not missing, missing


def test_readme_results_come_from_their_files():
    """Issue 15 item 4: the README's results tables are `bench report docs/results/*.json` of the
    committed result sets, byte for byte, so every figure there has its file; and so is each set's
    page beside it (docs/results/<host>.md, its whole report)."""
    from bench.report.readme import BEGIN, END, block, page, page_path
    files = sorted((ROOT / "docs" / "results").glob("*.json"))
    assert files, "no committed result set in docs/results/"
    i, j = README.find(BEGIN), README.find(END)
    assert 0 <= i < j, "README has no results markers"
    rel = [f.relative_to(ROOT) for f in files]
    import os
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)   # the links in the block are relative to the repo root, as the README's
        want = block(rel)
        pages = {p: page(p) for p in rel}
    finally:
        os.chdir(cwd)
    for p, text in pages.items():
        assert (ROOT / page_path(p)).read_text() == text, f"{page_path(p)} differs from {p}: run " \
            "`.venv/bin/bench report docs/results/*.json --readme README.md`"
    assert README[i:j + len(END)] == want, "README results differ from docs/results/: run " \
        "`.venv/bin/bench report docs/results/*.json --readme README.md`"


def test_report_readme_refuses_bad_files(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{\"records\": []}")
    for args in ([str(bad)], [str(tmp_path / "missing.json")], [str(bad), "--readme", str(tmp_path / "R.md")]):
        r = subprocess.run([sys.executable, "-m", "bench", "report", *args], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
