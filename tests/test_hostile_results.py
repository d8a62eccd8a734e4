"""Hostile input to the bench's many-hosts commands (issue 27, "Reliability 3"), through the real
command line: a result file travels between hosts, so whatever it holds must come out of `bench
report`, `bench merge` and `bench compare` as escaped text or as one line and exit 2, never as
markup, a traceback or a pass of the gate. Also: `bench read --link-base` takes http(s) only, a
reversed `bench change` range is refused, and a served pipeline used after close() says so.
Each case here failed before its fix (stored <script> in index.html; Infinity and missing ports
passing `bench compare`; tracebacks on wrong types, NaN, deep nesting and --out naming a file)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from bench import compare, registry
from bench.results import ResultsError, check, load
from conftest import require
from hostsets import latency, machine, write

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "results" / "vm-33111298.json"   # a whole `bench all` run: every section of the report
ENV = dict(os.environ, PYTHONIOENCODING="utf-8")
PAYLOADS = ("<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "[link](javascript:alert(3))",
            "<a href='javascript:alert(4)'>a</a>", '"><svg onload=alert(5)>')
P = "".join(PAYLOADS)


def bench(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "bench", *map(str, args)], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=600)


def one_line_exit_2(r, *needles) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr[-3000:])
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("bench: "), r.stderr[-3000:]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


# -- (b) the gate ---------------------------------------------------------------------------------------
BASE = {("python_ref", "single"): 20.0, ("python_ref", "batch"): 400.0, ("cpp_port", "single"): 12.0,
        ("cpp_port", "batch"): 350.0}


def result_set(path: Path, seed: int, drop: str | None = None, **kw) -> Path:
    rng = np.random.default_rng(seed)
    recs = [r for (impl, sc), ms in BASE.items() if impl != drop for r in latency(rng, impl, sc, ms, **kw)]
    return write(path, machine("ci-box", "Built CPU"), recs)


def test_infinite_latencies_fail_the_gate(tmp_path):
    old = result_set(tmp_path / "old", 1)
    new = result_set(tmp_path / "new", 2)
    d = json.loads((new / "results.json").read_text())
    for r in d["records"]:
        if r["metric"] == "latency_p50":
            r["value"], r["extra"]["round_medians_ms"] = float("inf"), [float("inf")] * 5
    (new / "results.json").write_text(json.dumps(d))   # Infinity, as json.dumps writes it
    one_line_exit_2(bench("compare", old, new), "Infinity", "latency_p50")
    # and compare() itself, handed such a set without the loader, fails those figures
    rows = compare.compare(load(old), d, 0.05)
    bad = [r for r in rows if r.metric == "latency_p50"]
    assert bad and all(r.verdict == compare.NOT_FINITE and r.fails for r in bad)


def test_a_port_missing_from_new_fails_the_gate_by_name(tmp_path):
    old = result_set(tmp_path / "old", 3)
    new = result_set(tmp_path / "new", 4, drop="cpp_port")
    r = bench("compare", old, new)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("MISSING"))
    assert "cpp_port: all 6 of its gated figures" in line, line
    gone = compare.missing(load(old), load(new))   # "metric scenario where" (these records say host "h")
    assert gone == {"cpp_port": [f"{m} {sc} h" for sc in ("single", "batch")
                                 for m in ("latency_p50", "throughput", "throughput_tokens")]}
    same = result_set(tmp_path / "same", 5)
    assert bench("compare", old, same).returncode == 0   # nothing missing, nothing slower


def test_a_malformed_file_is_bad_input_not_a_regression(tmp_path):
    old = result_set(tmp_path / "old", 6)
    (tmp_path / "bad.json").write_text('{"machine": {}, "records": [')
    one_line_exit_2(bench("compare", old, tmp_path / "bad.json"), "not JSON")
    one_line_exit_2(bench("compare", old, old, "--threshold", "nan"), "--threshold")


# -- (c) one loader, one line ---------------------------------------------------------------------------
def _mutate(d: dict, case: str) -> dict:
    recs = d["records"]
    if case == "value is a string":
        recs[0]["value"] = "12"
    elif case == "extra is a list":
        recs[0]["extra"] = [1]
    elif case == "impl is a number":
        recs[0]["impl"] = 3
    elif case == "a record is a string":
        recs[0] = "x"
    elif case == "records is an object":
        d["records"] = {}
    elif case == "machine is a list":
        d["machine"] = []
    elif case == "machine field types":
        d["machine"]["parts_s"] = {"load": "ten"}
    elif case == "commit is a list":
        d["machine"]["commit"] = ["abc"]
    elif case == "rounds are text":
        recs[0]["extra"]["round_medians_ms"] = "abc"
    elif case == "NaN latency":
        recs[0]["value"] = float("nan")
    elif case == "NaN rounds":
        recs[0]["extra"]["round_medians_ms"] = [float("nan")] * 5
    elif case == "negative latency":
        recs[0]["value"] = -1.0
    elif case == "null latency":
        recs[0]["value"] = None
    elif case == "deep extra":
        x: list = []
        for _ in range(40):
            x = [x]
        recs[0]["extra"]["deep"] = x
    return d


CASES = ["value is a string", "extra is a list", "impl is a number", "a record is a string", "records is an object",
         "machine is a list", "machine field types", "commit is a list", "rounds are text", "NaN latency",
         "NaN rounds", "negative latency", "null latency", "deep extra"]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_result_file_is_one_line_everywhere(tmp_path, case):
    good = result_set(tmp_path / "good", 7)
    d = _mutate(json.loads((good / "results.json").read_text()), case)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.json").write_text(json.dumps(d))
    with pytest.raises(ResultsError):
        load(bad)
    for args in (("compare", good, bad), ("compare", bad, good), ("merge", good, bad, "--out", tmp_path / "m"),
                 ("report", "--out", bad), ("report", bad / "results.json")):
        one_line_exit_2(bench(*args), str(bad / "results.json"))


def test_deep_nesting_is_one_line(tmp_path):
    """100,000 nested lists: json.loads itself raises RecursionError."""
    deep = tmp_path / "deep"
    deep.mkdir()
    (deep / "results.json").write_text("[" * 100_000 + "]" * 100_000)
    good = result_set(tmp_path / "good", 8)
    for args in (("compare", good, deep), ("merge", deep, "--out", tmp_path / "m"), ("report", "--out", deep)):
        one_line_exit_2(bench(*args), "nested")


def test_out_naming_a_file_is_one_line(tmp_path):
    good = result_set(tmp_path / "good", 9)
    taken = tmp_path / "taken"
    taken.write_text("a file")
    one_line_exit_2(bench("merge", good, "--out", taken), "not a directory")
    one_line_exit_2(bench("report", "--out", good / "results.json"), "not a directory")
    assert taken.read_text() == "a file"


def test_the_bench_reads_its_own_output():
    """The loader refuses nothing the bench writes: a whole committed run passes it."""
    d = load(COMMITTED)
    assert len(d["records"]) > 1000
    assert check(json.loads(COMMITTED.read_text()), COMMITTED)["machine"]["host_id"]
