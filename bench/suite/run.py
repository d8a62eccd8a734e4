"""The state of one `bench all` (or `bench latency`) run: its plan, budget, model directory, loaded pipes,
records and notes, and which implementations it measures (from the registry; one not built is a note, never
an error). The plan's counts bound the rounds; the budget (suite/budget.py) ends the run on time."""
from __future__ import annotations

import os
import time
from contextlib import contextmanager

from .. import machine, registry, results
from ..inputs import UsageError
from ..results import Record
from ..scenarios import SCENARIOS, SWEEP_BATCHES, SWEEP_LENGTHS
from ..tolerances import fidelity_budget
from .budget import Budget, part_of

PLANS = {  # budgets in seconds of measuring (warm-up included); rounds floor/ceiling
    "quick": {"eq_texts": 32, "scenario_s": {"single": 6, "batch": 30, "long": 20, "batch256": 20},
              "sweep": ((1, 32), ("short", "medium")), "sweep_s": 6, "min_rounds": 3, "max_rounds": 5,
              "attr_reps": 3, "cold_n": 1, "sort_texts": 64, "sort_rounds": 1, "compile": False,
              "xcheck_rounds": 3, "xcheck_reps": 3, "pyspy_s": 2.0},
    "default": {"eq_texts": 192, "scenario_s": {"single": 20, "batch": 100, "long": 70, "batch256": 60},
                "sweep": ((1, 8, 32, 128), ("short", "medium")), "sweep_s": 25, "min_rounds": 3, "max_rounds": 9,
                "attr_reps": 5, "cold_n": 3, "sort_texts": 512, "sort_rounds": 2, "compile": True,
                "xcheck_rounds": 5, "xcheck_reps": 5, "pyspy_s": 3.0},
}
# reserve_s: cold start runs its cold_n repeats only with more than this left of the budget (costs/part.py)
PLANS["quick"].update(reserve_s=95)
# fidelity_texts: the even sample of the corpus each forward embeds against upstream fp32 (0: all; fidelity.py)
PLANS["quick"].update(fidelity_texts=128)
PLANS["default"].update(fidelity_texts=384)
PLANS["default"].update(reserve_s=150)   # the cold start's repeats, the browser and the report (dev/NOTES-suite.md)
# scenario_rounds, scenario_min_rounds: the scenarios' rounds, asked and floor; scenario_least_rounds: the time
# share's floor. gain_rounds, then gain_rounds_read (the gains the decision table reads): settling's two looks,
# fixed counts of rounds (latency/part.settle); settle_s: a settling round's reps budget; settle_cap_s,
# settle_read_cap_s: each look's most seconds. Why these counts: dev/NOTES-suite.md.
PLANS["quick"].update(scenario_rounds=6, scenario_min_rounds=5, scenario_least_rounds=5,
                      gain_rounds={"single": 30, "batch": 9, "long": 9},
                      settle_s={"single": 12, "batch": 0, "long": 0},
                      settle_cap_s={"single": 25, "batch": 90, "long": 60},
                      gain_rounds_read={"single": 60, "batch": 24, "long": 24},
                      settle_read_cap_s={"single": 25, "batch": 120, "long": 90})
PLANS["default"].update(scenario_rounds=10, gain_rounds={"single": 40, "batch": 12, "long": 12},
                        settle_s={"single": 20, "batch": 0, "long": 0},
                        settle_cap_s={"single": 45, "batch": 180, "long": 120},
                        gain_rounds_read={"single": 80, "batch": 32, "long": 32},
                        settle_read_cap_s={"single": 45, "batch": 240, "long": 180})
# budget_s: the run's wall-clock budget (suite/budget.py; --budget overrides it). est: the parts that do not loop,
# (fixed s, s per unit: an implementation, one that compiles, an implementation x a text, a cold-start row x a
# repeat, a browser page) on a quiet 2-vCPU machine (dev/NOTES-suite.md). elastic: the looping parts' seconds at
# the plan's counts. A scenario's attribution: attr_fixed_s + attr_per_round x its rounds' seconds (+ xcheck_s at
# `single`), corrected as the scenarios run; settle_share: the least part of its grant left to settling.
PLANS["quick"].update(budget_s=210, settle_share=0.3,
                      est={"compile": (0, 30), "load": (1, 0.5), "equivalence": (3, 0.03), "fidelity": (2, 0.016),
                           "tokenize": (2, 0), "coldstart": (2, 1.6), "maintenance": (2, 0), "browser": (5, 38),
                           "report": (8, 0)},
                      elastic={"scenarios": 110, "sweep": 8, "interventions": 6},
                      attr_per_round={"single": 3.0, "batch": 3.0, "long": 3.0, "batch256": 3.0},
                      attr_fixed_s={"single": 5.0, "batch": 5.0, "long": 5.0, "batch256": 5.0}, xcheck_s=10)
PLANS["default"].update(budget_s=1200, settle_share=0.3, optional=(),
                        est={**PLANS["quick"]["est"], "compile": (0, 90)},
                        elastic={"scenarios": 600, "sweep": 220, "interventions": 40},
                        attr_per_round=PLANS["quick"]["attr_per_round"], attr_fixed_s=PLANS["quick"]["attr_fixed_s"],
                        xcheck_s=15)
PLANS["full"] = {**PLANS["default"], "sweep": (SWEEP_BATCHES, SWEEP_LENGTHS), "sweep_s": 60,
                 "fidelity_texts": 0, "budget_s": None}
SCENARIO_SHARE = {"single": 0.12, "batch": 0.45, "long": 0.3, "batch256": 0.3}   # of the scenarios' grant


class Run:
    """State shared by the parts. plan: a plan dict instead of PLANS[--quick/--full/default] (tests shrink
    it); its optional "scenarios" entry replaces the scenario table {name: (batch, length)}."""

    def __init__(self, args, plan: dict | None = None):
        from contract.api import model_dir
        self.args, self.device = args, args.device
        self.plan_name = "full" if getattr(args, "full", False) else ("quick" if args.quick else "default")
        self.plan = plan if plan is not None else PLANS[self.plan_name]
        self.scenarios = self.plan.get("scenarios", SCENARIOS)
        only = getattr(args, "scenario", None)
        if only:   # --scenario: a subset, in the table's order
            bad = sorted(set(only) - set(self.scenarios))
            if bad:
                raise UsageError(f"--scenario {' '.join(bad)}: unknown; choose from {', '.join(self.scenarios)}")
            self.scenarios = {k: v for k, v in self.scenarios.items() if k in only}
        try:   # the fidelity budget the run judges the int8 rows by (--fidelity TOPK COS), checked before any work
            self.fidelity_budget = fidelity_budget(getattr(args, "fidelity", None))
        except ValueError as e:
            raise UsageError(str(e)) from None
        self.weights = getattr(args, "weights", "real") or "real"
        self._tmp = None
        if self.weights == "random":   # one directory for everyone, peers included (contract/weights.py)
            from contract.weights import random_weights_dir
            self._tmp = random_weights_dir(args.model)
            self.mdir = model_dir(self._tmp.name)
            self.model_src = f"{args.model or model_dir(None)} with seeded random weights"
        else:
            self.mdir = model_dir(args.model)
            self.model_src = str(self.mdir)
        self.recs: list[Record] = []
        self.notes: list[str] = []
        self.parts: dict[str, float] = {}
        self.pipes: dict = {}
        self.loaded: dict = {}
        self.cold_done: dict = {}
        self.t0 = time.perf_counter()
        self.rc = 0
        self.overhead_model = False   # whether the overhead model splits (attribution/part.prepare)
        given = getattr(args, "budget", None)
        if given is not None and given <= 0:
            raise UsageError(f"--budget {given:g}: must be a positive number of seconds")
        self.budget_s = given if given is not None else self.plan.get("budget_s")
        self.shrunk = None
        if plan is None and given is not None and self.plan_name == "default" and given < PLANS["quick"]["budget_s"] * 3:
            # the default plan's fixed parts alone take ~4 minutes: the quick plan's counts (docs/DESIGN.md §7)
            self.plan_name, self.plan = "quick", PLANS["quick"]
            self.shrunk = (f"--budget {given:g} s: the quick plan's counts (equivalence on {self.plan['eq_texts']} "
                           f"texts, fidelity on {self.plan['fidelity_texts']}, no torch.compile row): the default "
                           "plan's parts that do not loop need more than such a budget leaves the measuring")
        self.budget = Budget(self.budget_s, [])   # the parts come with allocate(), once the run knows them
        self.progress = None
        self.cpu0 = machine.cpu_times()

    @property
    def device_kind(self) -> str:
        return "cuda" if self.device.startswith("cuda") else "cpu"

    def allocate(self, names: list[str], parts: list[str]) -> None:
        """The budget's parts, in the order they run; the optional ones that cannot fit are left out now, in notes."""
        self.budget = Budget(self.budget_s, [part_of(self, p, names) for p in parts], self.budget.clock)
        self.budget.t0 = self.t0
        for line in self.budget.plan():
            self.note(line)

    def left(self, reserve: bool = True) -> float:
        """Seconds left of the running part's grant (reserve=False: of the run's budget); inf without one."""
        return self.budget.part_left() if reserve and self.budget.current else self.budget.left()

    def skipped(self, key: str) -> bool:
        """Whether the budget leaves part `key` out (said in a note, once)."""
        if key not in self.budget.parts:
            return False
        why = self.budget.fits(key)
        if why and why not in self.notes:
            self.note(why)
        return why is not None

    @contextmanager
    def part(self, name: str, key: str | None = None):
        """One part: its line in the log, its grant, its seconds kept; a failure is one note."""
        key = key or name
        t0 = time.perf_counter()
        for line in self.budget.yield_to(key) if key in self.budget.parts else ():
            self.note(line)
        grant = self.budget.begin(key) if key in self.budget.parts else None
        line = f"\n== {name}"
        if grant is not None and self.budget.bounded:
            line += f" (up to ~{grant:.0f} s; {self.budget.left():.0f} s of the {self.budget.total:.0f} s budget left)"
        print(line, flush=True)
        if self.progress is not None:
            self.progress.part(key)
        try:
            yield
        except Exception as e:  # one part failing must not lose the others' results
            import traceback
            self.note(f"{name}: failed ({type(e).__name__}: {e})")
            traceback.print_exc()
        finally:
            self.parts[name] = time.perf_counter() - t0
            if key in self.budget.parts:
                self.budget.end(key)

    def note(self, line: str) -> None:
        self.notes.append(line)
        print(f"  note: {line}", flush=True)

    def add(self, recs) -> None:
        self.recs += recs

    def close_pipes(self) -> None:
        """Free memory and child processes (wasm_port's Node) before the cold-start children start."""
        import gc
        self.loaded = {n: True for n in self.pipes}
        for p in self.pipes.values():
            getattr(p, "close", lambda: None)()
        self.pipes.clear()
        gc.collect()

    def close(self) -> None:
        self.close_pipes()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def machine(self) -> dict:
        """The machine descriptor plus what this run was (results.json's "machine")."""
        load = getattr(self, "load_start", None)
        mach = results.machine(self.args.threads)
        mach.update(device=self.device, plan=self.plan_name, notes=self.notes, weights=self.weights,
                    load_average_start=round(load, 2) if load is not None else None,
                    load_average_end=round(os.getloadavg()[0], 2),
                    parts_s={k: round(v, 1) for k, v in self.parts.items()}, model=self.model_src,
                    fidelity_budget=self.fidelity_budget, budget={**self.budget.record(), "plan": self.plan_name,
                                                                  "taken_s": round(time.perf_counter() - self.t0, 1)},
                    others_cpu=machine.others_cpu(self.cpu0))
        try:   # the settings that decide the answer (pooling, case, truncation, head), named in the report
            from contract.spec import read_spec
            spec = read_spec(self.mdir)
            mach.update(model_name=spec.name, model_settings=spec.summary(), model_spec=spec.to_dict())
        except Exception as e:   # the run refused this model earlier; never lose the measurements here
            mach["model_settings"] = f"unreadable spec: {type(e).__name__}: {e}"
        return mach


def select(run: Run) -> list[str]:
    """Implementations to run: --impl, else every registered one; one note per one left out."""
    args = run.args
    wanted = list(args.impl) if args.impl else registry.names()
    names = []
    for n in wanted:
        e = registry.BY_NAME[n]
        why = registry.why_missing(n)
        if why:
            run.note(f"{n} not measured: {why}")
        elif e.compiles and not run.plan["compile"] and not args.impl:
            run.note(f"{n} skipped in --quick (it compiles for minutes here); run without --quick")
        elif run.device_kind not in e.devices:
            run.note(f"{n} not measured on {run.device}: it runs on {' / '.join(e.devices)} only")
        else:
            names.append(n)
            if run.device_kind in e.notes:
                run.note(e.notes[run.device_kind])
    return names
