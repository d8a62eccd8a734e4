"""Verdicts that hold from run to run (issue 10 item 3 and its acceptance): the run-to-run resolution
widens what a verdict reads, settling rounds go only where the scenario's rounds left a verdict open,
and `bench merge` of repeated runs recovers a run-level spread and share moves planted in result sets
built here. The settling and lead-in tests time real calls whose costs are known (sleeps of set
lengths; a planted first-calls ramp)."""
from __future__ import annotations

import math
import time
from types import SimpleNamespace

import numpy as np
import pytest

from bench.hosts import merge, stability
from bench import stats
from bench.latency.timing import LEAD_S, interleaved, lead_calls, paired_ratio
from bench.latency.points import measure_point
from bench.attribution.split import round_walls
from bench.latency.part import rounds_short, settle, spread_record
from hostsets import attribution, machine, write


def test_resolution_widens_what_a_verdict_reads():
    assert stats.widen([1.05, 1.2], 1.1, resolution=0.0) == pytest.approx([1.05, 1.2])
    tight = [1.115, 1.145]                      # the rounds alone: wholly above 1.10
    assert stats.verdict(tight, value=1.13, resolution=0.0) == "yes"
    lo, hi = stats.widen(tight, 1.13)
    want = 1.13 * math.exp(-math.hypot(math.log(1.13 / 1.115), stats.RESOLUTION))
    assert lo == pytest.approx(want) and lo < 1.10 < 1.13 < hi
    assert stats.verdict(tight, value=1.13) == stats.UNDECIDED   # two runs need not agree on that
    assert stats.verdict([1.35, 1.45], value=1.4) == "yes" and stats.verdict([0.98, 1.02], value=1.0) == "no"
    assert stats.verdict([math.nan, 1.0], value=1.0) == stats.UNDECIDED


class Sleeper:
    """An implementation whose embed costs a known time."""

    def __init__(self, ms: float):
        self.s = ms / 1e3

    def embed(self, texts):
        time.sleep(self.s)


class Ramper(Sleeper):
    """embed costs `ms`, but 2 * ms for its first `slow` calls after another Ramper ran (what a
    runtime whose threads went idle does: dev/NOTES-attribution.md, "Lead-in")."""
    last = None

    def __init__(self, ms: float, slow: int):
        super().__init__(ms)
        self.slow, self.run = slow, 0

    def embed(self, texts):
        if Ramper.last is not self:
            Ramper.last, self.run = self, 0
        self.run += 1
        time.sleep(self.s * (2 if self.run <= self.slow else 1))


def test_lead_in_times_each_implementation_in_its_steady_state():
    # a: 8 ms steady, 16 ms for its first 3 calls after b; b: 8 ms. The steady truth: a/b = 1.0
    assert lead_calls(0.008) == int(LEAD_S // 0.008) >= 3 and lead_calls(0.4) == 0 and lead_calls(0.0) == 0
    a, b = Ramper(8.0, 3), Ramper(8.0, 0)
    fns = {"a": lambda: a.embed(None), "b": lambda: b.embed(None)}
    cold = interleaved(fns, rounds=3, reps=4, warmup=0)
    assert paired_ratio(cold["a"], cold["b"]) > 1.5     # the planted ramp is there without a lead-in
    lead = {n: lead_calls(0.008) for n in fns}
    warm = interleaved(fns, rounds=3, reps=4, warmup=0, lead=lead)
    assert paired_ratio(warm["a"], warm["b"]) == pytest.approx(1.0, rel=0.1)
    # measure_point sets it from its own calibration, and says so in the plan
    res = measure_point({"a": a, "b": b}, ["t"], 0.6, calls=("embed",), min_rounds=3, max_rounds=3)
    got = res["plan"]["lead_calls"]   # from the calibrating call: a sleep overshoots, so 8 ms may read 8.4
    assert set(got) == {"a", "b"} and all(lead_calls(0.0085) <= n <= lead_calls(0.008) for n in got.values())
    assert paired_ratio(res["samples"][("a", "embed")], res["samples"][("b", "embed")]) == pytest.approx(1.0, rel=0.1)


class Paced(Sleeper):
    """embed costs `ms` x the next of `factors` (cycling): a machine whose pace moves by a known amount."""

    def __init__(self, ms: float, factors):
        super().__init__(ms)
        self.factors, self.i = list(factors), 0

    def embed(self, texts):
        self.i += 1
        time.sleep(self.s * self.factors[self.i % len(self.factors)])


def test_a_machine_whose_pace_moves_is_said_not_quiet():
    # two implementations of equal cost, one at a planted pace: steady (a quiet machine), then moving
    # by SD 0.3 of log from call to call (one call a round); their per-round ratio's spread is
    # recovered from the rounds, and said where above QUIET
    rng = np.random.default_rng(5)
    for sd in (0.0, 0.3):
        notes = []
        run = SimpleNamespace(device="cpu", note=notes.append)
        factors = np.exp(rng.normal(0.0, sd, 40)) if sd else [1.0]
        pipes = {"python_ref": Sleeper(30.0), "cython_ext": Paced(30.0, factors)}
        res = measure_point(pipes, ["t"], 0.1, calls=("embed",), min_rounds=16, max_rounds=16, max_reps=1)
        (rec,) = spread_record(run, "batch", {n: round_walls(res["samples"], n) for n in pipes})
        recs = [vars(rec)]
        assert set(rec.extra["gains"]) == {"cython_ext"} and rec.value == rec.extra["gains"]["cython_ext"]
        if sd:
            assert rec.value == pytest.approx(sd, rel=0.4) and rec.value > stability.QUIET
            line = stability.noisy_line(recs)
            assert notes == [line]                                   # the run's note is the report's line
            assert line.startswith("not a quiet machine") and f"{100 * rec.value:.0f}% at batch" in line
        else:   # a sleep's wake-up jitter only
            assert rec.value < 0.03 and not notes and stability.noisy_line(recs) is None
    assert spread_record(run, "batch", {"python_ref": {"embed": [1.0] * 5}}) == []   # no gain, no figure
    # the median over the gains: one disturbed gain among three does not make a machine noisy
    sp = stability.pair_spread({"a": [1.0, 1.01, 0.99], "b": [1.0, 1.02, 0.98], "c": [1.0, 2.0, 0.5], "d": [1.0, 1.1]})
    assert set(sp["gains"]) == {"a", "b", "c"} and sp["value"] == pytest.approx(sp["gains"]["b"])


def _no_rate(sd: float, looks, gain: float = 1.0, runs: int = 400) -> float:
    """How often a gain of `gain` at per-round spread sd (log-normal) ends "no", read as settling
    reads it: each look's count of rounds in turn while it stays undecided (stats.interval, verdict)."""
    rng = np.random.default_rng(11)
    no = 0
    for _ in range(runs):
        r: list = []
        for n in looks:
            r += list(np.exp(rng.normal(math.log(gain), sd, n - len(r))))
            v = stats.verdict(stats.interval(r), value=float(np.median(r)))
            if v != stats.UNDECIDED:
                break
        no += v == "no"
    return no / runs


def test_what_a_quiet_machine_buys_at_the_quick_plans_counts():
    """QUIET's comment and settle's docstring, simulated with the verdicts' own interval rule at the
    quick plan's counts (9 rounds at `batch`, then 24): at QUIET a 1.00x gain is "no" by the first
    look in ~9 runs of 10 and by the second in practically all; at 10% in about half, then ~9 of 10."""
    from bench.suite.run import PLANS
    one, two = PLANS["quick"]["gain_rounds"]["batch"], PLANS["quick"]["gain_rounds_read"]["batch"]
    assert (one, two) == (9, 24)
    assert 0.8 <= _no_rate(stability.QUIET, [one]) < 0.97 and _no_rate(stability.QUIET, [one, two]) >= 0.98
    assert 0.35 <= _no_rate(0.10, [one]) <= 0.65 and 0.8 <= _no_rate(0.10, [one, two]) < 0.97


def test_a_scenario_short_of_its_planned_rounds_is_said():
    """The quick plan asks 5 rounds of a scenario; a slower machine's time share may give fewer:
    the run then says so, with what it costs, and is silent at the plan's count."""
    from bench.suite.run import PLANS
    quick, default = PLANS["quick"], PLANS["default"]
    note = rounds_short(quick, "batch", quick["scenario_min_rounds"] - 1)
    assert note.startswith(f"batch: {quick['scenario_min_rounds'] - 1} round(s) only, fewer than the plan's 5")
    assert "verdicts that may move" in note
    assert rounds_short(quick, "batch", quick["scenario_min_rounds"]) is None
    assert rounds_short(default, "long", default["min_rounds"]) is None   # no scenario_min_rounds: min_rounds
    assert rounds_short(default, "long", default["min_rounds"] - 1)


def test_settling_adds_rounds_only_to_undecided_gains_and_their_baselines():
    # python_ref 40 ms; cython_ext the same (gain 1.0: decided "no" by three rounds); python_ref_packed
    # exactly 1.10x faster (on the threshold: undecided however many rounds). 40 ms, not less: a
    # sleep's wake-up jitter on a busy machine must stay well under the 2% three rounds can absorb
    pipes = {"python_ref": Sleeper(40.0), "cython_ext": Sleeper(40.0), "python_ref_packed": Sleeper(40.0 / 1.10)}
    res = measure_point(pipes, ["t"], 1.0, calls=("embed",), min_rounds=3, max_rounds=3)
    walls = {n: round_walls(res["samples"], n) for n in pipes}
    before = {n: list(w["embed"]) for n, w in walls.items()}
    notes = []
    run = SimpleNamespace(plan={"settle_s": {"batch": 1.6}, "gain_rounds": {"batch": 8}}, device="cpu",
                          left=lambda: float("inf"), note=notes.append)
    out = settle(run, "batch", pipes, ["t"], walls)
    added = {n: len(out[n]["embed"]) - 3 for n in pipes}
    # a count, not a time: the undecided gain reads the plan's 8 rounds, 3 of the scenario's and 5 more
    assert added["cython_ext"] == 0 and added["python_ref_packed"] == added["python_ref"] == 5
    assert not notes
    assert {n: w["embed"] for n, w in walls.items()} == before          # the scenario's rounds untouched
    assert out["python_ref"]["embed"][:3] == before["python_ref"]         # appended: pairing by index holds
    g = stats.gain(out["python_ref"]["embed"], out["python_ref_packed"]["embed"])
    assert g["value"] == pytest.approx(1.10, rel=0.03) and stats.verdict(g["ci"], value=g["value"]) == stats.UNDECIDED
    run.plan["gain_rounds"] = {"batch": 3}                                # the scenario's rounds reach it
    assert settle(run, "batch", pipes, ["t"], walls) is walls
    del run.plan["gain_rounds"]                                           # none planned: nothing runs
    assert settle(run, "batch", pipes, ["t"], walls) is walls
    # a cap that holds 2 of the 5 rounds (a round: two 40 ms calls and their lead-in): fewer, and said
    run.plan.update(gain_rounds={"batch": 8}, settle_cap_s={"batch": 0.4})
    out = settle(run, "batch", pipes, ["t"], walls)
    assert len(out["python_ref"]["embed"]) == 3 + 2 and len(notes) == 1
    assert "read 5 rounds, not the plan's 8" in notes[0] and "cap (0.4 s)" in notes[0]


def test_settlings_second_look_reads_only_what_the_decision_table_reads():
    # python_ref_packed (the algorithm change: a decision-table row) and wasm_port (it swaps the
    # kernels: no row) both exactly 1.10x faster, undecided however many rounds: the first look takes
    # both to gain_rounds, the second the row's gain alone (and its baseline) to gain_rounds_read
    pipes = {"python_ref": Sleeper(40.0), "python_ref_packed": Sleeper(40.0 / 1.10), "wasm_port": Sleeper(40.0 / 1.10)}
    res = measure_point(pipes, ["t"], 1.0, calls=("embed",), min_rounds=3, max_rounds=3)
    walls = {n: round_walls(res["samples"], n) for n in pipes}
    notes = []
    run = SimpleNamespace(plan={"settle_s": {"batch": 1.0}, "gain_rounds": {"batch": 5}, "gain_rounds_read": {"batch": 8}},
                          device="cpu", left=lambda: float("inf"), note=notes.append)
    out = settle(run, "batch", pipes, ["t"], walls)
    assert [len(out[n]["embed"]) for n in ("python_ref", "python_ref_packed", "wasm_port")] == [8, 8, 5]
    assert len(stats.gain(out["python_ref"]["embed"], out["wasm_port"]["embed"])["rounds"]) == 5   # paired by index
    assert not notes
    run.plan["settle_read_cap_s"] = {"batch": 0.2}                     # the second look's own cap binds
    out = settle(run, "batch", pipes, ["t"], walls)
    assert 5 <= len(out["python_ref_packed"]["embed"]) < 8 and len(notes) == 1 and "(gain_rounds_read)" in notes[0]


def _sets(tmp_path, run_sd: float, n_sets: int = 4, cells: int = 40, rounds: int = 9, within: float = 0.03):
    """n_sets result sets of one machine: every cell's true log gain, plus a per-set offset of SD
    run_sd (the planted run-level part), plus per-round noise of SD `within`; the reference's
    tokenize share moves by 2 points from one set to the next."""
    rng = np.random.default_rng(7)
    mu = rng.normal(0.1, 0.2, cells)
    paths = []
    for i in range(n_sets):
        recs = attribution("python_ref", "batch", {"tokenize": 10.0 + 2.0 * i, "model_kernels": 88.0 - 2.0 * i,
                                                    "framework_overhead": 1.5, "io": 0.5})
        for k in range(cells):
            r = np.exp(mu[k] + rng.normal(0.0, run_sd) + rng.normal(0.0, within, rounds))
            recs.append(_gain(f"impl{k}", r))
        paths.append(write(tmp_path / f"run{i}", machine("vm", "AMD EPYC"), recs))
    return merge.load_sets(paths)


def _gain(impl, rounds):
    from bench.results import Record
    return Record(impl, "port_gain", "batch", float(np.median(rounds)), "x",
                  extra={"vs": "python_ref", "ci": [float(rounds.min()), float(rounds.max())],
                         "rounds": [float(x) for x in rounds]})


@pytest.mark.parametrize("planted", [0.0, 0.03])
def test_merge_recovers_a_planted_run_level_spread(tmp_path, planted):
    sets = _sets(tmp_path, planted)
    sp = stability.run_spread(sets)
    assert sp["cells"] == 40 and sp["within_se"] == pytest.approx(0.03 * math.sqrt(math.pi / 2 / 9), rel=0.25)
    assert sp["run_sd"] == pytest.approx(planted, abs=0.008)
    moves = stability.share_moves(sets)
    assert [(sc, k) for sc, k, _ in moves] == [("batch", "tokenize")] and moves[0][2] == pytest.approx(6.0)
    text = "\n".join(stability.agreement_lines(sets))
    assert "move by at most 6.0 points" in text and "run-level part" in text and "quiet" not in text
    sets[1].data["records"].append({"impl": "python_ref", "metric": "pair_spread", "scenario": "long", "value": 0.2,
                                    "unit": "sd_log", "device": "cpu", "host": "vm", "extra": {}})
    said = [ln for ln in stability.agreement_lines(sets) if "not a quiet machine" in ln]   # that set's, named
    assert len(said) == 1 and said[0].startswith(f"{sets[1].label or sets[1].path}: ") and "20% at long" in said[0]


def test_the_median_interval_covers_whatever_the_rounds_distribution():
    """Rounds drawn from a heavy-tailed distribution whose median is known (1.05 times a Student t
    with 2 degrees of freedom, scaled): the order-statistic interval covers it at least 95% of the
    time at every round count from 6, and one disturbed round does not drag it along."""
    rng = np.random.default_rng(3)
    for n in (6, 9, 15, 24):
        hits = sum(lo <= 1.05 <= hi for lo, hi in (stats.order_interval(1.05 + 0.03 * rng.standard_t(2, n))
                                                   for _ in range(2000)))
        assert hits / 2000 >= 0.945, n
    assert stats.order_interval([1.0] * 5) is None and len(stats.interval([1.0, 1.1, 1.2])) == 2
    calm = list(1.1 + 0.01 * rng.standard_normal(24))
    lo, hi = stats.interval(calm)
    lo2, hi2 = stats.interval(calm[:-1] + [2.2])       # one round twice as slow
    assert hi2 - hi < 0.02 and lo2 >= lo - 1e-12
    assert stats.t_interval(calm[:-1] + [2.2])[1] - hi > 0.05    # what the mean's interval would have done
