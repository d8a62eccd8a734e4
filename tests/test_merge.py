"""`bench merge`: two hosts whose verdicts were planted to differ (onnxruntime 1.8x faster than
torch eager on one, 0.88x on the other, as the issue saw on EPYC vs Xeon) merge into one report
that lists exactly those verdicts with their figures; sets from different commits or models are
refused unless --allow-mixed, which marks them. Result sets are built here (tests/hostsets.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bench.hosts import merge
from bench.cli import main
from bench.results import ResultsError
from hostsets import attribution, gains, latency, machine, write

PROFILE = {"tokenize": 5.0, "model_kernels": 300.0, "framework_overhead": 20.0, "io": 2.0}   # python_ref, batch


def host(tmp_path, name, cpu, ort_gain, seed, **mach):
    rng = np.random.default_rng(seed)
    ref = 400.0
    recs = latency(rng, "python_ref", "batch", ref, noise=0.0, host=name)
    recs += latency(rng, "cpp_port", "batch", ref / 1.02, noise=0.0, host=name)     # a 2% port: no verdict
    recs += latency(rng, "onnxruntime", "batch", ref / ort_gain, noise=0.0, host=name)
    recs += attribution("python_ref", "batch", PROFILE, host=name)
    recs += gains(recs, "batch")
    return write(tmp_path / name, machine(name, cpu, **mach), recs)


@pytest.fixture
def two_hosts(tmp_path):
    return (host(tmp_path, "epyc", "AMD EPYC 9454", 1.8, 1),
            host(tmp_path, "xeon", "Intel Xeon Platinum 8480+", 0.88, 2, isa={"avx2": True, "amx_tile": True}))


def test_differing_verdicts_are_listed_with_their_figures(tmp_path, two_hosts, capsys):
    out = tmp_path / "merged"
    assert main(["merge", *map(str, two_hosts), "--out", str(out)]) == 0
    sets = merge.load_sets(two_hosts)
    a, b = (s.label for s in sets)
    assert a != b and a.startswith("epyc-") and b.startswith("xeon-")
    diffs = {(d["scenario"], d["verdict"]): d for d in merge.differing(sets)}
    rt = diffs[("batch", "best runtime change")]
    assert rt["values"] == {a: "onnxruntime faster than python_ref", b: "onnxruntime slower than python_ref"}
    assert "onnxruntime 1.80x" in rt["figures"][a] and "onnxruntime 0.88x" in rt["figures"][b]
    assert diffs[("batch", "intervention")]["values"][a] == "runtime change: onnxruntime"
    assert diffs[("batch", "intervention")]["values"][b].startswith("none of the measured changes")
    # the profile and the port are the same on both: not listed
    assert ("batch", "dominant bucket") not in diffs and ("batch", "best port") not in diffs
    md = (out / "report.md").read_text()
    assert "## Verdicts that differ between hosts" in md and "onnxruntime slower than python_ref" in md
    assert "| CPU | AMD EPYC 9454 | Intel Xeon Platinum 8480+ |" in md
    assert "amx_tile" in md   # the ISA row shows what differs
    assert md.count(f"| {a} | {b} |") >= 3   # machines, key figures, decision tables: a column per host
    html = (out / "index.html").read_text()
    assert "data:image/png;base64," in html and (out / "gains.png").stat().st_size > 1000
    assert json.loads((out / "merged.json").read_text())["sets"][1]["label"] == b
    printed = capsys.readouterr().out
    assert "verdicts that differ between hosts: 3" in printed and "run-level part" not in printed   # two machines
    assert diffs[("batch", "runtime change pays?")]["values"] == {a: "yes", b: "no"}
    assert rt["how_sure"] == "onnxruntime: the hosts' intervals do not overlap"


def test_same_verdicts_list_nothing(tmp_path):
    a = host(tmp_path, "one", "CPU A", 1.5, 3)
    b = host(tmp_path, "two", "CPU B", 1.6, 4)
    files, diffs = merge.write_merged([a, b], tmp_path / "m")
    assert diffs == []
    assert "None: every host's decision table reaches the same verdicts." in (tmp_path / "m" / "report.md").read_text()


def test_mixed_commits_refused_unless_allowed(tmp_path):
    a = host(tmp_path, "one", "CPU A", 1.5, 3, sha="a" * 40)
    b = host(tmp_path, "two", "CPU B", 1.5, 4, sha="b" * 40)
    assert main(["merge", str(a), str(b), "--out", str(tmp_path / "m")]) == 2   # one line on stderr, exit 2
    with pytest.raises(ResultsError, match="commits differ.*--allow-mixed"):
        merge.write_merged([a, b], tmp_path / "m")
    assert main(["merge", str(a), str(b), "--out", str(tmp_path / "m"), "--allow-mixed"]) == 0
    md = (tmp_path / "m" / "report.md").read_text()
    assert "**Mixed:** commits differ" in md and " †" in md and "commit bbbbbbbbbbbb" in md


def test_mixed_models_refused(tmp_path):
    a = host(tmp_path, "one", "CPU A", 1.5, 3, model_sha="1" * 16)
    b = host(tmp_path, "two", "CPU B", 1.5, 4, model_sha="2" * 16)
    with pytest.raises(ResultsError, match="models differ"):
        merge.write_merged([a, b], tmp_path / "m")


def test_same_host_twice_gets_two_columns(tmp_path):
    a = host(tmp_path, "one", "CPU A", 1.5, 3)
    sets = merge.load_sets([a, a])
    assert sets[0].label != sets[1].label and sets[1].label.endswith("#2")


def test_partial_set_is_marked_not_fatal(tmp_path):
    """A host whose run measured nothing still gets its column; its missing figures say so."""
    a = host(tmp_path, "one", "CPU A", 1.5, 3)
    b = write(tmp_path / "empty", machine("empty", "CPU E"), [])
    files, diffs = merge.write_merged([a, b], tmp_path / "m")
    d = {(x["scenario"], x["verdict"]): x for x in diffs}
    label_b = merge.load_sets([a, b])[1].label
    assert d[("batch", "intervention")]["values"][label_b] == "not measured"


def _ort_sets(tmp_path, planted: dict):
    dirs = []
    for name, ratios in planted.items():
        rng = np.random.default_rng(0)
        recs = latency(rng, "python_ref", "batch", 400.0, values=[400.0] * 5, host=name)
        recs += latency(rng, "onnxruntime", "batch", 0, values=[400.0 / g for g in ratios], host=name)
        recs += attribution("python_ref", "batch", PROFILE, host=name)
        recs += gains(recs, "batch")
        dirs.append(write(tmp_path / name, machine(name, "CPU"), recs))
    return merge.load_sets(dirs)


def test_a_difference_within_noise_says_so(tmp_path):
    """onnxruntime's per-round gains 0.98..1.14 (median 1.06) on one host and 0.96..1.12 (median
    1.04) on the other: the points fall either side of the 5% line, the intervals say undecided on
    both, so nothing differs. 1.08..1.14 against 1.00..1.10: faster on one, undecided on the other,
    and the intervals overlap: listed, with 'may be noise'."""
    sets = _ort_sets(tmp_path / "1", {"a": [0.98, 1.02, 1.06, 1.10, 1.14], "b": [0.96, 1.00, 1.04, 1.08, 1.12]})
    lo, hi = sets[0].gain_iv("onnxruntime", "batch")
    assert lo < 1.06 < hi and sets[0].gain("onnxruntime", "batch") == pytest.approx(1.06)
    assert [x for x in merge.differing(sets) if x["scenario"] == "batch"] == []
    sets = _ort_sets(tmp_path / "2", {"a": [1.08, 1.10, 1.11, 1.12, 1.14], "b": [1.00, 1.03, 1.05, 1.08, 1.10]})
    d = {x["verdict"]: x for x in merge.differing(sets) if x["scenario"] == "batch"}
    assert set(d) == {"best runtime change"}   # both undecided at 1.10x: the same intervention on both
    a, b = (s.label for s in sets)
    assert d["best runtime change"]["values"] == {a: "onnxruntime faster than python_ref",
                                                  b: "onnxruntime undecided at this precision vs python_ref"}
    assert d["best runtime change"]["how_sure"] == "onnxruntime: the hosts' intervals overlap: may be noise"
    assert "[" in d["best runtime change"]["figures"][a]   # the interval is shown


def test_direction_is_called_from_the_interval():
    """A direction is faster / slower / about even only when the widened interval says so: pair J's
    onnxruntime at `single` (1.01x and 1.11x in two quick runs, overlapping intervals) was 'about even'
    and 'faster' from the points alone; from the intervals both are undecided."""
    from bench.stats import widen
    iv = (1.7, 1.9)
    assert merge._direction(1.8, iv) == "faster than python_ref"
    assert merge._direction(0.88, (0.86, 0.90)) == "slower than python_ref"
    assert merge._direction(1.0, (0.995, 1.005)) == "about even"
    j1, j2 = merge._direction(1.01, (0.87, 1.12)), merge._direction(1.11, (1.04, 1.24))
    assert j1 == j2 and j1.startswith("undecided")
    # the edge: an interval whose widened low end is just past 1 + EVEN is faster, just short is not
    lo = widen((1.0, 1.0), 1.0)[0]   # how far below its point the resolution alone reaches
    edge = (1 + merge.EVEN) / lo
    assert merge._direction(edge * 1.001, (edge * 1.001,) * 2) == "faster than python_ref"
    assert merge._direction(edge * 0.999, (edge * 0.999,) * 2).startswith("undecided")
    assert merge._direction(1.2, None) == "faster than python_ref (no rounds, no interval)"
    assert merge._direction(None) == "not measured"
