"""Hostile input to the bench's many-hosts commands (issue 27, "Reliability 3"), through the real
command line: a result file travels between hosts, so whatever it holds must come out of `bench
report`, `bench merge` and `bench compare` as escaped text or as one line and exit 2, never as
markup, a traceback or a pass of the gate. Also: `bench read --link-base` takes http(s) only, a
reversed `bench change` range is refused, a served pipeline used after close() says so, and a
`bench fleet` node's host id and file names cannot write outside its directory.
Each hostile case here failed before its fix (stored <script> in index.html; Infinity and missing
ports passing `bench compare`; tracebacks on wrong types, NaN, deep nesting and --out naming a file);
the https link base and the committed run are the controls that must still pass."""
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

from bench.hosts import compare
from bench import registry
from bench.results import ResultsError, check, load
from conftest import require
from hostsets import latency, machine, write

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = sorted((ROOT / "docs" / "results").glob("*.json"))[0]   # a whole `bench all` run: every section of the report
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


# -- (a) stored script injection ----------------------------------------------------------------------
def _taint(x, keys: bool = False):
    """Every string in x with the payloads appended; keys=True: a payload key at this level too."""
    if isinstance(x, str):
        return x + P
    if isinstance(x, list):
        return [_taint(v) for v in x]
    if isinstance(x, dict):
        out = {k: _taint(v) for k, v in x.items()}
        return {**out, P: P} if keys else out
    return x


def planted(path: Path) -> Path:
    """The committed run with the payloads in every string field: machine fields (its notes, commit,
    versions), every record's host and extra (and an extra key), and records copied under a payload
    impl, scenario, metric and unit."""
    d = json.loads(COMMITTED.read_text())
    d["machine"] = _taint(d["machine"], keys=True)
    d["machine"]["notes"] = [P, P]
    added = []
    for r in d["records"]:
        r["extra"] = _taint(r["extra"], keys=True)
        r["host"] += P
        if r["metric"] in ("latency_p50", "throughput", "tokenize_texts_s", "coldstart", "attribution_tokenize",
                           "port_gain", "loc_code", "change_lines"):
            added += [{**r, "impl": P}, {**r, "scenario": r["scenario"] + P}]
    added.append({"impl": P, "metric": P, "scenario": P, "value": 1.0, "unit": P, "device": P, "host": P,
                  "extra": {"note": P, "method_failure": P}})
    d["records"] += added
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps(d))
    return path


class Markup(HTMLParser):
    """Every tag and attribute an HTML page really has (what a browser would build)."""

    def __init__(self):
        super().__init__()
        self.bad: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "svg", "iframe", "object", "embed"):
            self.bad.append(f"<{tag}>")
        for k, v in attrs:
            if k.startswith("on") or (k in ("href", "src") and (v or "").strip().lower().startswith("javascript:")):
                self.bad.append(f"<{tag} {k}={v!r}>")


def markup_from_data(page: Path) -> list[str]:
    text = page.read_text()
    p = Markup()
    p.feed(text)
    return p.bad + (["raw <script"] if "<script" in text.lower() else [])


def test_planted_results_render_as_text(tmp_path):
    run = planted(tmp_path / "planted")
    r = bench("report", "--out", run)
    assert r.returncode == 0, r.stderr[-3000:]
    page = run / "index.html"
    assert markup_from_data(page) == []
    text = page.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text   # shown, as text
    # the report's own markup survives: tables and the plots inlined
    assert "<table>" in text and 'src="data:image/png;base64,' in text

    clean = tmp_path / "clean"
    clean.mkdir()
    shutil.copy(COMMITTED, clean / "results.json")
    r = bench("merge", clean, run, "--allow-mixed", "--out", tmp_path / "merged")
    assert r.returncode == 0, r.stderr[-3000:]
    page = tmp_path / "merged" / "index.html"
    assert markup_from_data(page) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.read_text()


def test_the_reports_own_markup_is_kept():
    """A method failure stays red and a table cell keeps its line break (the only markup the report writes)."""
    from bench.report.html import to_html
    md = ('<span style="color:#c00">**method failure**: x</span>\n\n| a |\n|---|\n| one<br>two |\n\n'
          "<script>alert(1)</script> <b onclick=x>bold</b>\n")
    out = to_html(md, Path("."))
    assert '<span style="color:#c00"><strong>method failure</strong>: x</span>' in out
    assert "one<br>two" in out
    assert "<script" not in out and "<b onclick" not in out and "&lt;script&gt;" in out


@pytest.mark.parametrize("base", ["javascript:alert(1)//", "JavaScript:alert(1)", "data:text/html,<b>x</b>",
                                  "file:///etc/", "//evil.example/", "vbscript:x"])
def test_read_refuses_a_link_base_that_is_not_http(tmp_path, base):
    one_line_exit_2(bench("read", "--out", tmp_path, "--link-base", base, "--impl", "python_ref"), "--link-base")
    assert not (tmp_path / "read.html").exists()


def test_read_takes_an_https_link_base(tmp_path):
    r = bench("read", "--out", tmp_path, "--link-base", "https://github.com/o/r/blob/abc/", "--impl", "python_ref")
    assert r.returncode == 0, r.stderr
    assert 'href="https://github.com/o/r/blob/abc/python_ref/' in (tmp_path / "read.html").read_text()


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
    gone = compare.missing_figures(load(old), load(new))   # "metric scenario where" (these records say host "h")
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


def _first(d: dict, metric: str) -> dict:
    return next(r for r in d["records"] if r["metric"] == metric)


RUN_CASES = {   # mutations of the committed run that reached a reader's arithmetic or indexing before
    "a split's rounds of two lengths": lambda d: _first(d, "attribution_io")["extra"].update(round_ms=[1.0]),
    "a split without its method": lambda d: _first(d, "attribution_tokenize")["extra"].update(method=None),
    "sorted batching without its speedup": lambda d: _first(d, "sorted_batching_s")["extra"].pop("speedup"),
    "lines of code that are null": lambda d: _first(d, "loc_code").update(value=None),
    "a bucket that is infinite": lambda d: _first(d, "attribution_model_kernels").update(value=float("inf")),
    "a change without its range": lambda d: _first(d, "change_lines")["extra"].pop("old"),
}


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_a_bad_whole_run_is_one_line(tmp_path, case):
    d = json.loads(COMMITTED.read_text())
    RUN_CASES[case](d)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.json").write_text(json.dumps(d))
    for args in (("report", "--out", bad), ("merge", bad, "--out", tmp_path / "m")):
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


# -- (d) an empty `bench change` range --------------------------------------------------------------------
def test_reversed_change_range_is_refused(tmp_path):
    from bench.costs.change_cost import ChangeError, change_cost
    d = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{ROOT}", str(d)], check=True)
    (d / "python_ref" / "pipeline.py").write_text((d / "python_ref" / "pipeline.py").read_text() + "# one more line\n")
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false", "-C", str(d),
                    "commit", "-qam", "a change"], check=True)
    assert change_cost("HEAD~1..HEAD", root=d)["rows"]["python_ref"]["added"] == 1
    with pytest.raises(ChangeError, match=r"reversed \(did you mean HEAD~1..HEAD\?\)"):
        change_cost("HEAD..HEAD~1", root=d)
    one_line_exit_2(bench("change", "HEAD..HEAD"), "no commits", "same commit")


# -- (e) a served pipeline after close() ------------------------------------------------------------------
def _served() -> list[str]:
    from contract.served import Served
    out = []
    for e in registry.REGISTRY:
        try:
            _, cls = registry._resolve(e)
        except (ImportError, AttributeError):
            continue   # not importable here: not a served class (those import without their build)
        if isinstance(cls, type) and issubclass(cls, Served):
            out.append(e.name)
    return out


SERVED = _served()


def test_the_registry_has_served_pipelines():
    assert {"minilm_embed", "minilm_embed_lite", "wasm_port"} <= set(SERVED)


@pytest.mark.parametrize("name", SERVED)
def test_a_closed_served_pipeline_says_so(name, mdir):
    from contract.api import Batch
    from contract.serve_pipe import ServeError
    require(name)
    pipe = registry.load_impl(name, mdir)
    batch = pipe.tokenize(["hello"])
    pipe.close()
    pipe.close()   # twice is fine
    for call in (lambda: pipe.embed(["hello"]), lambda: pipe.embed([]), lambda: pipe.tokenize(["hello"]),
                 lambda: pipe.forward(batch), lambda: pipe.forward(Batch(batch.ids[:0], batch.attention_mask[:0])),
                 lambda: pipe.embed_bytes([b"hello"]), lambda: pipe.time("embed", ["hello"]), pipe.info):
        with pytest.raises(ServeError, match=f"^{name}: the pipeline is closed"):
            call()


# -- a node's files in `bench fleet` ----------------------------------------------------------------------
def test_fleet_keeps_a_nodes_files_inside_its_directory(tmp_path):
    """A node names its host id and its files; neither may write outside --out/hosts/<host>/."""
    from bench.hosts.fleet import save
    out = tmp_path / "fleet"
    good = json.loads((result_set(tmp_path / "good", 10) / "results.json").read_text())
    good["machine"]["host_id"] = "../../escaped"
    job = {"label": None, "node": {"NodeManagerAddress": "10.0.0.1", "NodeID": "abcdef0123456789"},
           "device": "cpu", "k": 0}
    files = {"results.json": json.dumps(good).encode(), "../../../outside.txt": b"x", "/tmp/abs.txt": b"y",
             "report.md": b"ok"}
    d = save(out, job, {"files": files}, set())
    assert d.parent == out / "hosts" and d.name == "_.._escaped"
    assert sorted(p.name for p in d.iterdir()) == ["report.md", "results.json"]
    assert not (tmp_path / "outside.txt").exists() and not (out / "outside.txt").exists()
    # a results.json the loader refuses: kept for `bench merge` to refuse, the node's address names it
    d = save(out, job, {"files": {"results.json": b'{"records": 3}'}}, set())
    assert d.name == "10.0.0.1" and (d / "results.json").read_bytes() == b'{"records": 3}'
    one_line_exit_2(bench("merge", d, "--out", tmp_path / "m"), "not a bench results.json")
