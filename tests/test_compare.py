"""`bench compare OLD NEW`: a planted 20% slowdown fails the gate, two runs of the same code do not,
the threshold and the direction of rates are honoured, and results without rounds are never judged.
The result sets are built here (tests/hostsets.py) from a seeded RNG: the truth is known."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bench.hosts import compare
from bench.cli import main
from hostsets import latency, machine, write

BASE = {("python_ref", "single"): 20.0, ("python_ref", "batch"): 400.0, ("cpp_port", "single"): 12.0,
        ("cpp_port", "batch"): 350.0, ("onnxruntime", "long"): 300.0}


def build(tmp_path, name: str, seed: int, factor: dict | None = None, noise: float = 0.02, **kw):
    rng = np.random.default_rng(seed)
    recs = [r for (impl, sc), ms in BASE.items()
            for r in latency(rng, impl, sc, ms * (factor or {}).get((impl, sc), 1.0), noise=noise, **kw)]
    return write(tmp_path / name, machine("ci-box", "Built CPU"), recs)


def rows_by(rows, verdict):
    return {(r.impl, r.scenario, r.metric) for r in rows if r.verdict == verdict}


def test_planted_slowdown_fails_the_gate(tmp_path, capsys):
    old = build(tmp_path, "old", seed=1)
    new = build(tmp_path, "new", seed=2, factor={("cpp_port", "batch"): 1.20})
    assert main(["compare", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "cpp_port" in out
    rows = compare.compare(compare.load_set(old), compare.load_set(new), 0.05)
    slower = rows_by(rows, "slower")
    # latency up and both rates down: the three figures of that one point, and nothing else
    assert slower == {("cpp_port", "batch", "latency_p50"), ("cpp_port", "batch", "throughput"),
                      ("cpp_port", "batch", "throughput_tokens")}
    lat = next(r for r in rows if (r.impl, r.scenario, r.metric) == ("cpp_port", "batch", "latency_p50"))
    assert lat.lo < 1.20 < lat.hi and lat.lo > 1.05 and lat.p < 0.05
    thr = next(r for r in rows if (r.impl, r.scenario, r.metric) == ("cpp_port", "batch", "throughput"))
    assert thr.hi < 1 / 1.05   # a rate's ratio goes down when it gets slower


def test_two_runs_of_the_same_code_pass(tmp_path, capsys):
    for seed in range(3):   # three independent pairs drawn from one distribution
        old, new = build(tmp_path, f"a{seed}", seed=10 + seed), build(tmp_path, f"b{seed}", seed=20 + seed)
        assert main(["compare", str(old), str(new)]) == 0
        rows = compare.compare(compare.load_set(old), compare.load_set(new), 0.05)
        assert not rows_by(rows, "slower") and not rows_by(rows, "faster")
        assert all(r.p is not None for r in rows if r.metric != "latency_p90")
    assert "0 gated regressions" in capsys.readouterr().out


def test_speedup_is_reported_not_failed(tmp_path):
    old = build(tmp_path, "old", seed=3)
    new = build(tmp_path, "new", seed=4, factor={("python_ref", "single"): 1 / 1.25})
    assert main(["compare", str(old), str(new)]) == 0
    rows = compare.compare(compare.load_set(old), compare.load_set(new), 0.05)
    assert ("python_ref", "single", "latency_p50") in rows_by(rows, "faster")


def test_threshold_decides(tmp_path):
    """A real 3% slowdown with little noise: inside a 5% threshold, beyond a 1% one."""
    old = build(tmp_path, "old", seed=5, noise=0.002)
    new = build(tmp_path, "new", seed=6, factor={("python_ref", "batch"): 1.03}, noise=0.002)
    assert main(["compare", str(old), str(new), "--threshold", "5%"]) == 0
    assert main(["compare", str(old), str(new), "--threshold", "1%"]) == 1


def test_without_rounds_no_claim(tmp_path, capsys):
    old = build(tmp_path, "old", seed=7, with_rounds=False)
    new = build(tmp_path, "new", seed=8, factor={("cpp_port", "batch"): 1.5}, with_rounds=False)
    assert main(["compare", str(old), str(new), "--all"]) == 0
    out = capsys.readouterr().out
    assert "no rounds recorded" in out and "no regression can be claimed" in out
    rows = compare.compare(compare.load_set(old), compare.load_set(new), 0.05)
    assert all(r.verdict == "no rounds recorded: no significance test" and r.p is None for r in rows)
    lat = next(r for r in rows if (r.impl, r.scenario, r.metric) == ("cpp_port", "batch", "latency_p50"))
    assert lat.ratio == pytest.approx(1.5, rel=0.1)   # the ratio is still shown


def test_too_few_rounds_is_undecided_or_unchanged(tmp_path):
    """Two rounds a side and 5% noise cannot support a claim about a 6% change."""
    old = build(tmp_path, "old", seed=9, rounds=2, noise=0.05)
    new = build(tmp_path, "new", seed=10, rounds=2, noise=0.05, factor={("cpp_port", "single"): 1.06})
    rows = compare.compare(compare.load_set(old), compare.load_set(new), 0.05)
    r = next(r for r in rows if (r.impl, r.scenario, r.metric) == ("cpp_port", "single", "latency_p50"))
    assert r.verdict != "slower" and r.n_old == 2


def test_threshold_parsing_and_bad_input(tmp_path, capsys):
    """Bad input is one line and exit 2 (the gate's 1 means a regression); tests/test_hostile_results.py
    has the rest, through the real command line."""
    from bench.inputs import UsageError
    from bench.results import ResultsError
    assert compare.parse_threshold("5%") == pytest.approx(0.05)
    assert compare.parse_threshold("0.05") == pytest.approx(0.05)
    assert compare.parse_threshold("5") == pytest.approx(0.05)
    with pytest.raises(UsageError, match="not a number"):
        compare.parse_threshold("five")
    assert main(["compare", str(tmp_path / "nowhere"), str(tmp_path)]) == 2
    assert "no results.json" in capsys.readouterr().err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{not json")
    assert main(["compare", str(tmp_path / "bad"), str(tmp_path / "bad")]) == 2
    assert "not JSON" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "results.json").write_text(json.dumps({"machine": {}}))
    with pytest.raises(ResultsError, match="not a bench results.json"):
        compare.load_set(tmp_path / "other")


def test_different_hosts_are_named(tmp_path, capsys):
    old = build(tmp_path, "old", seed=11)
    rng = np.random.default_rng(12)
    recs = [r for (impl, sc), ms in BASE.items() for r in latency(rng, impl, sc, ms)]
    new = write(tmp_path / "new", machine("other-box", "Other CPU"), recs)
    main(["compare", str(old), str(new)])
    assert "different hosts" in capsys.readouterr().out
