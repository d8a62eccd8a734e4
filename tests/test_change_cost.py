"""The maintenance report's per-change cost (bench/costs/change_cost.py, issue 11 item 4), on a
change whose truth the test builds: a commit in a throwaway clone that adds and removes known lines
in known ports' files. The counts must come back exactly, and the rebuild column must follow what
each port compiles (wasm_port and minilm-embed-lite compile cpp_port's tokenizer; python_ref and
numba_variant have no build step). Also: a bad range is one line, exit 2; the report shows the table."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.costs.change_cost import ChangeError, change_cost, parse_range
from bench import registry

ROOT = Path(__file__).resolve().parents[1]
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    d = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{ROOT}", str(d)], check=True)
    tok = d / "cpp_port" / "tokenizer.cpp"
    tok.write_text(tok.read_text() + "// one\n// two\n// three\n")
    api = d / "python_ref" / "pipeline.py"
    lines = api.read_text().splitlines(keepends=True)
    api.write_text("".join(lines[:-1]))   # one line removed
    subprocess.run(GIT + ["-C", str(d), "commit", "-qam", "known change"], check=True)
    return d


def test_known_change_recovered(clone):
    d = change_cost("HEAD~1..HEAD", root=clone)
    rows = d["rows"]
    assert d["commits"] == 1
    assert (rows["cpp_port"]["added"], rows["cpp_port"]["removed"], rows["cpp_port"]["files"]) == (3, 0, 1)
    assert (rows["python_ref"]["added"], rows["python_ref"]["removed"]) == (0, 1)
    assert rows["cpp_port"]["rebuild"] and "cpp_port/tokenizer.cpp" in rows["cpp_port"]["why"]
    assert rows["wasm_port"]["rebuild"] and rows["wasm_port"]["added"] == 0   # compiles the borrowed tokenizer
    assert not rows["python_ref"]["rebuild"] and not rows["numba_variant"]["rebuild"]
    assert not rows["cython_ext"]["rebuild"]   # its own tokenizer; python_ref's model is Python
    assert set(registry.ports(with_reference=True)) <= set(rows)


def test_bad_ranges_are_errors(clone):
    with pytest.raises(ChangeError, match="not in this checkout"):
        change_cost("0123abc..HEAD", root=clone)
    with pytest.raises(ChangeError, match="OLD..NEW"):
        parse_range("HEAD")
    out = subprocess.run([sys.executable, "-m", "bench", "change", "nosuchcommit..HEAD"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_report_shows_the_change(clone):
    from bench.report import markdown
    d = change_cost("HEAD~1..HEAD", root=clone)
    recs = [{"impl": i, "metric": "change_lines", "scenario": "maintenance", "value": v["added"] + v["removed"],
             "unit": "lines", "device": "cpu", "host": "h",
             "extra": {**v, "label": d["label"], "old": d["old"], "new": d["new"], "commits": d["commits"]}}
            for i, v in d["rows"].items()]
    recs.append({"impl": "python_ref", "metric": "loc_code", "scenario": "maintenance", "value": 1.0, "unit": "lines",
                 "device": "cpu", "host": "h", "extra": {"by_language": {}, "glue": 0, "generated": 0}})
    md = markdown({"machine": {}, "records": recs}, [])
    assert "What one change cost each port" in md and "| cpp_port | 3 | 0 | 1 |" in md
