"""The run's wall-clock budget (issue 32): the allocator on a fake clock (an overrun is taken from the
parts after it; optional parts that cannot fit are left out and said), settling stopping at the
budget and saying so, the progress display (in a terminal: parts, rounds, elapsed and the time left;
elsewhere: no bars, a line per part), and one real `bench all` under --budget on a tiny plan that would
take longer without it, finishing within the budget and a small margin."""
from __future__ import annotations

import argparse
import io
import json
import re
import time
from types import SimpleNamespace

import pytest

from bench.suite.budget import Budget, Part, Slice


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t

    def tick(self, s: float):
        self.t += s


def _run(b: Budget, clock: Clock, took: dict) -> dict:
    """Each part takes took[name] seconds (an elastic one: its grant, unless took says less). -> grants."""
    grants = {}
    for name in b.order:
        if b.fits(name):
            continue
        grants[name] = g = b.begin(name)
        clock.tick(took.get(name, g if b.parts[name].elastic else b.parts[name].est))
        b.end(name)
    return grants


def test_an_overrun_is_taken_from_the_parts_after_it():
    parts = [Part("load", 10), Part("scenarios", 90, elastic=True), Part("sweep", 10, elastic=True),
             Part("coldstart", 20, optional=True), Part("report", 10)]
    clock = Clock()
    b = Budget(180, parts, clock)
    assert b.plan() == []
    # on time: the elastic parts share what the fixed ones leave, 9:1
    grants = _run(b, clock, {})
    assert grants["scenarios"] == pytest.approx((180 - 40) * 0.9) and grants["sweep"] == pytest.approx(14)
    assert b.elapsed() == pytest.approx(180)

    # load overran 3x: the fixed parts to come are reserved at 3x their estimates, the rest shrinks
    clock = Clock()
    b = Budget(180, parts, clock)
    grants = _run(b, clock, {"load": 30})
    assert b.record()["parts"]["load"]["spent_s"] == 30
    assert grants["scenarios"] == pytest.approx((180 - 30 - 3 * 30) * 0.9)
    assert b.elapsed() <= 180 + 1e-9

    # the scenarios overran their grant by 25 s (their least rounds): the sweep gets nothing, the cold
    # start no longer fits and is left out, said with the budget; the run still ends within it
    clock = Clock()
    b = Budget(180, parts, clock)
    grants = _run(b, clock, {"scenarios": 126 + 25})
    assert grants["sweep"] == 0.0 and "coldstart" not in grants
    assert b.dropped["coldstart"].startswith("coldstart left out: its ~20 s do not fit the run's budget of 180 s")
    assert b.record()["parts"]["coldstart"]["left_out"] and b.elapsed() <= 180


def _took(b: Budget, clock: Clock, took: dict) -> None:
    """The fixed parts named ran, each for the seconds given."""
    for name, s in took.items():
        b.begin(name)
        clock.tick(s)
        b.end(name)


def test_the_pace_is_not_hidden_by_one_part_estimated_far_too_high():
    # make bench's case: the compile probe took a quarter of its 90 s estimate, the other fixed parts
    # 1.6x theirs; pooled, the pace reads 1.0 and the browser bench overran the budget. The weighted
    # median reads the 1.6 the parts after the loops will run at.
    parts = [Part("compile", 90), Part("equivalence", 42), Part("fidelity", 48), Part("tokenize", 1),
             Part("scenarios", 600, elastic=True), Part("browser", 165), Part("report", 8)]
    clock = Clock()
    b = Budget(1200, parts, clock)
    _took(b, clock, {"compile": 23, "equivalence": 68, "fidelity": 78, "tokenize": 4})
    assert b.pace() == pytest.approx(68 / 42)   # the median by weight: compile 90 s of 181 in all, then this
    assert b.reserve(after="scenarios") == pytest.approx((165 + 8) * 68 / 42)
    # parts that ran faster than estimated (pace 0.7): the parts to come are still reserved at their
    # estimates, not below (make bench: the browser bench granted 190 s of the 271 it took)
    clock = Clock()
    b = Budget(1200, parts, clock)
    _took(b, clock, {"compile": 20, "equivalence": 29, "fidelity": 34, "tokenize": 1})
    assert b.pace() < 1 and b.reserve(after="scenarios") == pytest.approx(165 + 8)


def test_a_slow_machine_gives_the_optional_parts_time_to_the_measuring():
    # load ran 3x its estimate: reserving 3x for the cold start would leave the scenarios 27 s of their
    # 90; the cold start is left out as they start, and they get its time
    parts = [Part("load", 10), Part("scenarios", 90, elastic=True), Part("coldstart", 20, optional=True),
             Part("report", 10)]
    clock = Clock()
    b = Budget(150, parts, clock)
    b.begin("load")
    clock.tick(30)
    b.end("load")
    notes = b.yield_to("scenarios")
    assert notes == [b.dropped["coldstart"]] and "beside scenarios at this run's pace" in notes[0]
    assert b.begin("scenarios") == pytest.approx(150 - 30 - 3 * 10)
    assert Budget(150, parts, Clock()).yield_to("scenarios") == []   # on pace: nothing to give


def test_optional_parts_that_cannot_fit_are_left_out_before_the_run():
    parts = [Part("load", 10), Part("scenarios", 100, elastic=True), Part("coldstart", 25, optional=True),
             Part("browser", 150, optional=True, label="the browser bench"), Part("report", 8)]
    b = Budget(180, parts, Clock())
    notes = b.plan()
    assert notes == [b.dropped["browser"]] and notes[0].startswith("the browser bench left out: its ~150 s")
    assert "coldstart" not in b.dropped
    nb = Budget(None, parts, Clock())   # --full: no budget, nothing left out, every elastic grant unbounded
    assert nb.plan() == [] and nb.share("scenarios") == float("inf") and nb.fits("browser") is None


def test_eta_and_slices():
    clock = Clock()
    b = Budget(100, [Part("load", 10), Part("scenarios", 60, elastic=True), Part("report", 10)], clock)
    assert b.eta() == pytest.approx(10 + 60 + 10)          # each part at its expected cost
    b.begin("load")
    clock.tick(4)
    assert b.eta() == pytest.approx(6 + 60 + 10)
    clock.tick(6)
    b.end("load")
    g = b.begin("scenarios")
    assert g == pytest.approx(80)                           # all that the report leaves
    sl = Slice(b, {"single": 1, "batch": 3})
    assert sl.take("single") == pytest.approx(20)
    clock.tick(40)                                          # single overran its 20 s by 20
    assert sl.take("batch") == pytest.approx(40)            # batch gets what is left of the grant
    assert b.eta() == pytest.approx(20 + 10)                # expected 60 of the part (20 left), report 10
    assert Slice(None, {"a": 1}).take("a") == float("inf")


class Sleeper:
    def __init__(self, ms: float):
        self.s = ms / 1e3

    def embed(self, texts):
        time.sleep(self.s)


def test_settling_stops_at_the_budget_and_says_so():
    from bench.attribution.ceilings import undecided
    from bench.latency.points import measure_point
    from bench.attribution.split import round_walls
    from bench.latency.part import settle
    # python_ref_packed exactly 1.10x faster: undecided however many rounds (test_stability's setting)
    pipes = {"python_ref": Sleeper(40.0), "python_ref_packed": Sleeper(40.0 / 1.10)}
    res = measure_point(pipes, ["t"], 1.0, calls=("embed",), min_rounds=3, max_rounds=3)
    walls = {n: round_walls(res["samples"], n) for n in pipes}
    undecided(walls)   # its first call imports the interval's libraries: not inside the timed settling
    notes = []
    run = SimpleNamespace(plan={"settle_s": {"batch": 0.1}, "gain_rounds": {"batch": 40}}, device="cpu",
                          note=notes.append, budget=SimpleNamespace(total=180.0))
    t0 = time.perf_counter()
    out = settle(run, "batch", pipes, ["t"], walls, deadline=t0 + 1.0)   # ~11 rounds of 77 ms fit, not 37
    took = time.perf_counter() - t0
    got = len(out["python_ref"]["embed"])
    assert took < 1.3 and 3 < got < 40 and len(out["python_ref_packed"]["embed"]) == got   # paired by index
    assert len(notes) == 1 and f"read {got} rounds, not the plan's 40" in notes[0]
    assert "budget of 180 s" in notes[0] and "undecided where those cannot decide" in notes[0]
    # no time left at all: no warm-up, no round, the same note
    notes.clear()
    out = settle(run, "batch", pipes, ["t"], walls, deadline=time.perf_counter() - 1)
    assert out is walls and len(notes) == 1 and "read 3 rounds" in notes[0]


def test_the_display_in_a_terminal_and_none_elsewhere():
    from rich.console import Console

    from bench import console
    buf = io.StringIO()
    with console.RunProgress(["load", "scenarios", "report"], eta=lambda: 125.0, show=True,
                             console=Console(file=buf, force_terminal=True, width=150)) as rp:
        rp.part("scenarios")
        console.rounds("batch (32 x medium)")(3, 6)
        rp.pb.refresh()
        with console.progress() as pb:   # a part's own progress is the display's second line
            t = pb.add_task("equivalence", total=4)
            pb.advance(t)
        rp.pb.refresh()
    shown = buf.getvalue()
    assert "scenarios" in shown and "part 2/3" in shown and "batch (32 x medium): rounds" in shown and "3/6" in shown
    assert "~2:05 left" in shown and "equivalence" in shown and "1/4" in shown
    assert console._RUN is None
    # not a terminal: nothing drawn, progress() does nothing
    with console.RunProgress(["load"], eta=lambda: 1.0, show=False) as rp:
        assert rp.pb is None and console.rounds("x") is None
        with console.progress() as pb:
            pb.update(pb.add_task("x", total=2), description="y")


def _bars(text: str) -> list[str]:
    """Lines that look like a progress bar: a run of '━' not part of a table's frame, or 'n/m h:mm:ss'."""
    frame = set("┏┓┗┛┡┩┃│┳┻╇└┘┌┐├┤┼─╍")
    return [ln for ln in text.splitlines()
            if ("━" in ln and not (set(ln.strip()[:1]) & frame)) or re.search(r"\d+/\d+\s+\d+:\d\d:\d\d", ln)]


def test_the_small_run_log_has_no_progress_bars_and_a_line_per_part():
    import bench_run
    _, data, printed = bench_run.small_run()
    assert not _bars(printed), _bars(printed)[:3]
    parts = [ln for ln in printed.splitlines() if ln.startswith("== ")]
    assert [p.split(" (")[0] for p in parts] == [f"== {k}" for k in data["machine"]["parts_s"]] + ["== report"]
    assert data["machine"]["budget"]["total_s"] is None   # the tiny plan keeps no budget


def test_bench_all_keeps_its_budget_on_a_tiny_plan(tmp_path):
    """A tiny plan whose counts alone would take minutes (50 rounds a scenario, settling to 400):
    with --budget 45 the run ends within it and a small margin, says where the budget bound, and
    its verdicts are what its rounds say."""
    import contextlib

    import torch

    import bench_run
    from bench import suite
    (tmp_path / "corpus.txt").write_text("Hello there!\nÉtienne's café [MASK] 日本\n\nshort one\n")
    plan = {**bench_run.tiny_plan(), "scenario_s": {k: 5.0 for k in bench_run.TINY}, "scenario_rounds": 50,
            "max_rounds": 50, "scenario_min_rounds": 50, "gain_rounds": 200, "gain_rounds_read": 400,
            "settle_cap_s": 1000.0, "settle_read_cap_s": 1000.0, "sweep_s": 5.0, "budget_s": 60}
    args = argparse.Namespace(cmd="all", model=None, device="cpu", impl=["python_ref", "python_ref_packed", "hf_tokenizers"],
                              threads=1, corpus=str(tmp_path / "corpus.txt"), quick=True, out=str(tmp_path), full=False,
                              weights="real", budget=45.0)
    n = torch.get_num_threads()
    buf = io.StringIO()
    t0 = time.perf_counter()
    try:
        with contextlib.redirect_stdout(buf):
            rc = suite.run_all(args, plan=plan)
    finally:
        torch.set_num_threads(n)
    took = time.perf_counter() - t0
    assert rc == 0, buf.getvalue()[-3000:]
    assert took <= 45 * 1.1 + 5, (took, buf.getvalue()[-3000:])
    data = json.loads((tmp_path / "results.json").read_text())
    b = data["machine"]["budget"]
    assert b["total_s"] == 45 and b["parts"]["scenarios"]["granted_s"] is not None
    notes = data["machine"]["notes"]
    assert any("budget of 45 s" in x for x in notes), notes   # where it bound, said with the budget
    gains = [r for r in data["records"] if r["metric"] == "port_gain"]
    assert gains and all(len(g["extra"]["rounds"]) < 200 for g in gains)
    assert not _bars(buf.getvalue())
