"""The overhead model (issue 10 item 1), its intervals (item 3) and records (item 5), tested on
truths built here: forwards whose op counts follow from their code or from config.json, a
synthetic forward whose removable cost C++ measures directly, and constructed interval cases."""
from __future__ import annotations

import math
import time
from statistics import median

import pytest
import torch
import torch.nn.functional as F

from bench import registry, stats
from bench.attribution import ceilings, crosscheck, overhead as oh, split
from bench.scenarios import texts_for
from contract.api import load_config
from tests.conftest import require


@pytest.fixture(scope="module")
def ref(mdir):
    return registry.load_impl("python_ref", mdir)


def test_counts_follow_from_the_code():
    x, w, b = torch.randn(1, 2, 8), torch.randn(8, 8), torch.randn(8)

    def fwd(n):
        for _ in range(n):
            F.linear(x, w, b).view(2, 8).shape
    rec = oh.CallRecorder()
    with rec:
        fwd(7)
    assert rec.calls == ["linear", "view", "attr"] * 7 and len(rec.t_in) == 21


def test_python_ref_counts_follow_from_config(ref, mdir):
    layers = int(load_config(mdir)["num_hidden_layers"])
    args = oh.io_split(ref, ref.tokenize(["a short text"]), reps=1)["args"]
    rec = oh.CallRecorder()
    with rec:
        ref.model.forward(*args)
    c = rec.calls
    assert c.count("linear") == 4 * layers and c.count("sdpa") == layers and c.count("gelu") == layers
    assert c.count("layer_norm") == 2 * layers + 1 and c.count("index") == 1
    assert not [k for k in c if k.startswith("?")], "every call the reference makes is calibrated"


def test_io_timer_finds_known_io_inside_an_embed_call(mdir):
    """Known truth: 20 ms slept in the pipeline's forward outside the model call is io, inside the
    embed call's forward; the shadowing wrappers are gone afterwards."""
    from python_ref.pipeline import Pipeline, TorchForward

    class Slow(Pipeline):
        def forward(self, batch):
            time.sleep(0.02)
            return TorchForward.forward(self, batch)
    p = Slow(mdir)
    batch = p.tokenize(["a short text"])
    with oh.IoTimer(p, batch) as t:
        t.once()
        io, fwd, embed = t.embed_once(["a short text"])
        assert len(t.args) == 2
    assert 0.02 <= io < 0.03 and io < fwd < embed, (io, fwd, embed)
    assert "forward" not in vars(p) and "forward" not in vars(p.model)


def test_replay_returns_recorded_results_and_detects_divergence():
    x = torch.ones(3)
    rec = oh.CallRecorder(keep=True)
    with rec:
        y = x + 1
    with oh.Replay(rec.results):
        z = x + 5
    assert z.device.type == "meta" and z.shape == y.shape   # the record's data-free stand-in, not a computation
    with pytest.raises(RuntimeError, match="diverged"), oh.Replay(rec.results):
        x * 2


def test_removable_cost_of_a_synthetic_forward_matches_cpp():
    """Known truth: n (linear, view) pairs from Python, at a size the pricing never uses (d=48),
    against the same ops timed from C++: the removable share is 1 - wall(C++) / wall(Python), both
    timed in every repetition of the split, next to what it measures (the machine's pace moves)."""
    require(oh.cpp_missing(), is_reason=True)
    from cpp_port import _core
    d, n = 48, 300
    t = oh.tiny(d)

    def fwd(x, w, b):
        for _ in range(n):
            F.linear(x, w, b).view(2, d)

    def walls():   # (C++, Python) seconds for the n pairs, each the better of two (shares are of the last)
        cpp, py = [], []
        for _ in range(2):
            cpp.append(n * (_core.op_cost("linear", n, d) + _core.op_cost("view", n, d)) / 1e9)
            t0 = time.perf_counter()
            fwd(t.x, t.w, t.b)
            py.append(time.perf_counter() - t0)
        return min(cpp), min(py)
    errs = []
    with oh.one_thread(), torch.inference_mode():
        fwd(t.x, t.w, t.b)
        for _ in range(5):
            s = oh.forward_split(fwd, (t.x, t.w, t.b), reps=9, each=walls)
            assert s["counts"] == {"linear": n, "view": n} and len(s["each"]) == 9
            truth = median(1 - c / w for c, w in s["each"])
            errs.append(abs(s["shares"]["python_overhead"] - truth) / truth)
    # the median block: a block that a change of the machine's pace split in two can be off by 0.3-0.7
    assert median(errs) < 0.35, errs   # per-op costs shift ~10% with the code around a call


def test_split_of_python_ref_is_consistent(ref, mdir):
    require(split.supports(ref), is_reason=True)
    texts = texts_for(mdir, "short", 1)
    walls = split.measure_walls({"python_ref": ref}, texts, rounds=3)["python_ref"]
    att = split.attribute("python_ref", ref, texts, walls)
    assert set(att["buckets"]) == set(split.BUCKETS)
    for k in split.BUCKETS:
        lo, hi = att["ci"][k]
        assert len(att["rounds"][k]) == 3 and lo <= att["buckets"][k] <= hi and att["buckets"][k] > 0
    assert att["buckets"]["model_kernels"] > att["buckets"]["framework_overhead"]
    assert att["rounds"]["padding_waste"] == [0.0] * 3, "one text: no padding to waste"
    recs = split.attribution_records(att, "single")
    assert {r.metric for r in recs} == {f"attribution_{k}" for k in (*split.BUCKETS, "unattributed", "embed_glue",
                                                                      "padding_waste")}
    assert {r.extra["piece_of"] for r in recs} == {None, "unattributed", "model_kernels"}


def test_splits_refuse_what_they_cannot_count(mdir):
    require("cpp_port")
    assert "no Python torch forward" in split.supports(registry.load_impl("cpp_port", mdir))


def test_intercept_is_a_positive_fixed_cost(ref):
    with oh.one_thread():   # two threads on a shared 2-core machine time the neighbours, not the fit
        r = crosscheck.intercept(ref, "a short text", sizes=(1, 2, 4), rounds=3, reps=3)
    assert r["intercept"] > 0 and r["slope"] > 0 and r["ci"][0] <= r["intercept"] <= r["ci"][1]


def test_pyspy_splits_python_from_native_samples():
    require(None if crosscheck.pyspy_exe() else "py-spy not installed", is_reason=True)
    r = crosscheck.pyspy_split(seconds=2, threads=1)
    assert "error" not in r, r.get("error")
    assert r["samples"] > 50 and math.isclose(r["python"] + r["binding"] + r["native"], 1.0)
    assert r["native"] > r["python"], "the reference's forward is kernel-bound on any machine"


def test_classify_reads_leaf_frames():
    raw = ("main (a.py:1);TorchForward.forward (p.py:2);f (m.py:3) 5\n"
           "main (a.py:1);TorchForward.forward (p.py:2);THPVariable_add (libtorch_python.so) 2\n"
           "main (a.py:1);TorchForward.forward (p.py:2);sgemm (libtorch_cpu.so) 9\n"
           "main (a.py:1);tokenize (t.py:4) 100\n")
    assert crosscheck.classify_stacks(raw) == {"python": 5, "binding": 2, "native": 9}


# --- stats: intervals, verdicts, records -------------------------------------------------------

def test_bootstrap_interval_is_seeded_and_brackets_the_median():
    v = [1.0, 1.1, 0.9, 1.05, 0.95]
    lo, hi = stats.bootstrap_ci(v)
    assert lo <= 1.0 <= hi and stats.bootstrap_ci(v) == [lo, hi]
    assert stats.bootstrap_ci([2.0]) == [2.0, 2.0]


def test_few_rounds_widen_the_interval_and_one_decides_nothing():
    """Two rounds 1.08 and 1.10: the bootstrap says [1.08, 1.10]; Student's t with one degree of
    freedom says 1.09 +- 12.7 * 0.0141 / sqrt(2) = [0.96, 1.22]: undecided at 1.10, as it should be."""
    two = [1.08, 1.10]
    assert stats.bootstrap_ci(two) == pytest.approx([1.08, 1.10])
    lo, hi = stats.interval(two)
    assert lo == pytest.approx(1.09 - 12.706 * 0.01414 / 2 ** 0.5, abs=2e-3) and hi == pytest.approx(2.18 - lo)
    assert stats.verdict([lo, hi]) == stats.UNDECIDED
    many = [1.30, 1.32, 1.31, 1.33, 1.29, 1.31, 1.32, 1.30, 1.31]   # nine rounds: the two agree, both decide
    assert stats.verdict(stats.interval(many)) == "yes" and stats.interval(many)[1] < 1.34
    assert all(math.isnan(x) for x in stats.interval([1.5])) and stats.verdict(stats.interval([1.5])) == stats.UNDECIDED


@pytest.mark.parametrize("ci,want", [([1.2, 1.4], "yes"), ([0.9, 1.05], "no"), ([1.05, 1.2], stats.UNDECIDED),
                                     ([math.nan, 1.0], stats.UNDECIDED)])
def test_verdict_says_undecided_when_the_interval_straddles(ci, want):
    assert stats.verdict(ci, 1.10) == want


def _att(embed, removable):
    return {"embed_rounds": embed, "rounds": {"tokenize": removable, "framework_overhead": [0.0] * len(embed)}}


def test_ceiling_and_gain_from_rounds():
    c = stats.ceiling(_att([10.0, 10.0, 10.0], [2.0, 2.0, 2.0]), ("tokenize", "framework_overhead"))
    assert c["value"] == pytest.approx(1.25) and c["share"] == pytest.approx(0.2)
    g = stats.gain([10.0, 12.0, 11.0], [8.0, 10.0, 9.0])
    assert g["value"] == pytest.approx(11.0 / 9.0) and g["ci"][0] <= g["value"] <= g["ci"][1]
    assert stats.gain_from_ratios([0.5, 0.5])["value"] == pytest.approx(2.0)


def test_unattributed_time_bounds_the_ceiling_from_above():
    att = {"embed_rounds": [10.0] * 4, "rounds": {"tokenize": [1.0] * 4, "embed_glue": [0.5] * 4,
                                                 "unattributed": [1.5, 1.6, 1.4, 1.5]}}
    c = stats.ceiling(att, ("tokenize", "embed_glue"))
    assert c["value"] == pytest.approx(10 / 8.5) and c["upper"]["value"] == pytest.approx(10 / 7.5)
    within = stats.gain([10.0] * 4, [8.0, 8.1, 7.9, 8.0])     # 1.25x: above 1.18x, below 1.33x
    assert stats.failure(c, within) is None and "could not place" in stats.above_ceiling(c, within)
    beyond = stats.gain([10.0] * 4, [6.0, 6.1, 5.9, 6.0])
    assert "above the ceiling" in stats.failure(c, beyond)
    # time the split over-booked (negative unattributed) is as uncertain as time it missed
    over = stats.ceiling({**att, "rounds": {**att["rounds"], "unattributed": [-0.5] * 4}}, ("tokenize", "embed_glue"))
    assert over["upper"]["value"] == pytest.approx(10 / 7.5)


def test_records_carry_intervals_and_flag_a_method_failure():
    ceil = stats.ceiling(_att([10.0] * 4, [1.0, 1.1, 0.9, 1.0]), ("tokenize",))
    ok = stats.port_record_pair("p", "single", ceil, stats.gain([10.0] * 4, [9.5, 9.4, 9.6, 9.5]), "python_ref")
    bad = stats.port_record_pair("q", "single", ceil, stats.gain([10.0] * 4, [5.0, 5.1, 4.9, 5.0]), "python_ref")
    for r in ok + bad:
        assert r.metric in ("port_ceiling", "port_gain") and len(r.extra["ci"]) == 2 and r.extra["vs"] == "python_ref"
    fails = stats.method_failures(ok + bad)
    assert [(i, s) for i, s, _ in fails] == [("q", "single")] and "above the ceiling" in fails[0][2]
    assert bad[1].extra["method_failure"] and not ok[1].extra["method_failure"]
    swap = stats.port_record_pair("w", "single", None, stats.gain([10.0], [5.0]), "python_ref")
    assert swap[0].value is None and "swaps the kernels" in swap[0].extra["reason"]
    assert stats.method_failures(swap) == []


def test_port_records_pick_each_ports_baseline():
    def att(embed, tok, po, waste):
        n = len(embed)
        return {"embed_rounds": embed, "rounds": {"tokenize": [tok] * n, "framework_overhead": [po] * n,
                                                  "padding_waste": [waste] * n, "embed_glue": [0.0] * n}}
    w = lambda e: {"embed": e, "tokenize": e, "forward": e}  # noqa: E731
    walls = {"python_ref": w([10.0, 10.0, 10.0]), "python_ref_packed": w([8.0, 8.0, 8.0]),
             "cpp_port": w([7.5, 7.6, 7.4]), "cython_ext": w([9.5, 9.5, 9.5]), "wasm_port": w([20.0, 20.0, 20.0])}
    atts = {"python_ref": att([10.0] * 3, 1.0, 0.5, 2.0), "python_ref_packed": att([8.0] * 3, 1.0, 0.5, 0.0)}
    recs = ceilings.port_records(atts, walls, "batch")
    by = {(r.impl, r.metric): r for r in recs}
    assert by[("cpp_port", "port_gain")].extra["vs"] == "python_ref_packed"
    assert by[("cpp_port", "port_ceiling")].value == pytest.approx(8.0 / 6.5)
    assert by[("python_ref_packed", "port_ceiling")].value == pytest.approx(10.0 / 8.0)
    assert by[("cython_ext", "port_ceiling")].value == pytest.approx(10.0 / 9.0)
    assert by[("wasm_port", "port_ceiling")].value is None and by[("wasm_port", "port_gain")].value == 0.5
    assert ("python_ref", "port_gain") not in by
    assert stats.method_failures(recs) == []
    del atts["python_ref_packed"], walls["python_ref_packed"]   # no packed row: bounded by python_ref's split
    c = {(r.impl, r.metric): r for r in ceilings.port_records(atts, walls, "batch")}[("cpp_port", "port_ceiling")]
    assert c.extra["vs"] == "python_ref" and c.value == pytest.approx(10.0 / 6.5)


def test_traced_twin_runs_the_same_forward_without_python(ref):
    with oh.one_thread():
        r = crosscheck.traced(ref, ref.tokenize(["a short text"]), rounds=2, reps=2)
    assert "error" not in r, r.get("error")
    assert r["forward"] > 0 and r["traced"] > 0 and len(r["rounds"]) == 2


def test_every_kind_prices_on_both_sides():
    """Each Python twin is one torch call of its kind (OpMix checks it), and op_cost knows every kind
    (no silent fallback): a mix of all of them prices from Python, C++ and the replaying mode."""
    require(oh.cpp_missing(), is_reason=True)
    kinds = [k for k in oh.PY_CALLS if k != "none"]
    assert set(oh.KIND_OF.values()) | {"index", "getitem"} <= set(kinds)
    m = oh.OpMix({k: 2 for k in kinds}).measure()
    assert m["py"] > 0 and m["cpp"] > 0 and m["mode"] > 0 and m["binding"] >= 0
    with pytest.raises(RuntimeError, match="exactly one torch call"):
        oh.OpMix({"none": 1})
