"""The state of one `bench all` (or `bench latency`) run: its plan, deadline, model directory,
loaded pipes, records and notes, and which implementations it measures (from the registry).

The run keeps a wall-clock budget (`--budget SECONDS`; the plan's `budget_s` by default: 210 s for
`--quick`, 1200 s for the default plan; `--full` keeps none and adds the complete sweep and clean build
timings): suite/budget.py splits it over the parts by their expected cost (`estimates`), and the parts
that loop plan their rounds from their grant, so the run ends on time whatever the machine's load; the
plan's counts bound the rounds from above. An implementation that is not built is one line in the
notes, never an error.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

from .. import machine, registry
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
# fidelity_texts: the even sample of the corpus every forward embeds against upstream fp32 (equivalence/fidelity.py;
# 0: all of it): 4-8 s a torch forward at 128 on two cores (the part: 35 s with four rows); the corpus is 1114 texts
PLANS["quick"].update(fidelity_texts=128)
PLANS["default"].update(fidelity_texts=384)
PLANS["default"].update(reserve_s=150)   # on pace, ~200 s are left at the cold start (its own ~70, the browser, the report)
# the scenarios' rounds (6: the first count whose order-statistic interval of the median reaches 95%,
# stats.order_interval; not more at the cost of reps: a round of 4 reps at `single` is one hiccup from
# an outlier; 5 at least, where a round is one call: the reference's shares are medians of the rounds,
# and 3 let two quick runs differ by 6 points at `batch`). gain_rounds: the rounds every gain the
# scenario leaves undecided is read from, its settling rounds (latency/part.settle: embed only, of
# those and their baselines) added to reach them; a count, not a time, so that two runs read such a
# gain from as many rounds (a budget gave one run of a pair 8 at `batch`, the other 9: the interval of
# the median is [min, max] at 8, [2nd, 8th] at 9, and the 1.40x algorithm change was undecided in one,
# yes in the other, pair R). 9 where a round is one call: the least count whose interval passes over
# one disturbed round on each side; 12 in the default plan (two). At `single` a round is many calls
# and cheap: 30 (18 left minilm_embed's ~1.16x undecided in one run of pair R, yes in the other).
# settle_s: the reps budget of those rounds (where calls are short); settle_cap_s: their most seconds.
# gain_rounds_read / settle_read_cap_s: settling's second look, for the gains the decision table reads
# still undecided after the first (a 1.00x gain at 10% per-round spread: "no" by 9 rounds in about half
# the runs, by 24 in nine of ten; the AMD EPYC VM's quick runs spread 5-20%, pairs V and W differed in
# 4 and 8 rows, undecided against no, at gains of 0.98-1.08x).
# scenario_least_rounds: what the time share cannot cut the scenario's rounds below (the AMD EPYC VM's
# quick run got 4 at `batch`, and 3 at `long` once, where python_ref's shares then moved by 9 points)
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
# The run's wall-clock budget (budget_s; `bench all --budget SECONDS` overrides it) and what the allocator
# (suite/budget.py) splits it by. est: the parts that do not loop, seconds on a quiet 2-vCPU Xeon (issue 32's
# runs, dev/NOTES-suite.md): (fixed, per unit) where a unit is an implementation (load; compile: one that
# compiles), an implementation x a text (equivalence, fidelity), a cold-start row x a repeat, a browser page.
# elastic: the parts that loop, their seconds at the plan's counts (their weights). The optional parts are
# left out, the last listed first, where they do not fit (the browser bench in --quick: ~150 s of pages).
# A browser page: 39-41 s on the AMD EPYC VM (make bench: 272 and 288 s for 7 pages), ~30 on the Xeon.
# A scenario's attribution takes attr_fixed_s + attr_per_round x its rounds' seconds (the overhead model
# splits every round again, several forwards a repetition), the cross-checks at `single` xcheck_s more; the
# run corrects these by what the scenarios before took (latency/part.part_scenarios). settle_share: the
# least part of a scenario's grant its rounds and attribution leave to settling.
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
    """State shared by the parts: args, plan, model dir, pipes, records, notes, per-part seconds.

    plan: a plan dict to use instead of PLANS[--quick/--full/default] (tests shrink it); its
    optional "scenarios" entry replaces the scenario table {name: (batch, length)}."""

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
                from ..inputs import UsageError
                raise UsageError(f"--scenario {' '.join(bad)}: unknown; choose from {', '.join(self.scenarios)}")
            self.scenarios = {k: v for k, v in self.scenarios.items() if k in only}
        try:   # the fidelity budget the run judges the int8 rows by (--fidelity TOPK COS), checked before any work
            self.fidelity_budget = fidelity_budget(getattr(args, "fidelity", None))
        except ValueError as e:
            from ..inputs import UsageError
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
            from ..inputs import UsageError
            raise UsageError(f"--budget {given:g}: must be a positive number of seconds")
        self.budget_s = given if given is not None else self.plan.get("budget_s")
        self.shrunk = None
        if plan is None and given is not None and self.plan_name == "default" and given < PLANS["quick"]["budget_s"] * 3:
            # the default plan's fixed parts alone (the compile probe, equivalence on 192 texts, fidelity on 384)
            # take ~4 minutes here: a budget under ~10 minutes runs the quick plan's counts, said in a note
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
        """The budget's parts, in the order they run, with their estimates for what this run selected
        (suite/budget.py); the optional ones that cannot fit are left out now, each in a note."""
        self.budget = Budget(self.budget_s, [part_of(self, p, names) for p in parts], self.budget.clock)
        self.budget.t0 = self.t0
        for line in self.budget.plan():
            self.note(line)

    def left(self, reserve: bool = True) -> float:
        """Seconds left of the running part's grant (reserve=False: of the whole run's budget); inf
        without a budget."""
        return self.budget.part_left() if reserve and self.budget.current else self.budget.left()

    def deadline(self) -> float | None:
        """The clock time (time.perf_counter) the running part should end by; None without a budget."""
        d = self.budget.deadline()
        return d if d < float("inf") else None

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
        """One part: its line in the log, its grant asked of the budget, its seconds kept; a failure is
        one note (the other parts' results stand)."""
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
        from .. import results
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


def _out_dir(run: Run) -> Path:
    return Path(run.args.out)
