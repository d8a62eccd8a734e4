"""`bench all`: every part of docs/DESIGN.md §7 in one run, into --out (results.json, report.md, PNGs,
index.html), then the decision table on the terminal. Glue only: each measurement's part is a `part.py`
of its own package. `bench latency` is the scenarios part alone (`run_latency`)."""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path

from .. import registry, results
from .prepare import part_load, part_tokenize, pin_threads, probe_compile
from .run import PLANS, Run, select

__all__ = ["PLANS", "Run", "select", "run_all", "run_latency", "pin_threads"]


def _start(run: Run) -> None:
    args = run.args
    pin_threads(args.threads)
    print(f"bench {getattr(args, 'cmd', 'all')} ({run.plan_name}): model {run.model_src}, device {run.device}, "
          f"{args.threads} threads", flush=True)
    if run.shrunk:
        run.note(run.shrunk)
    run.load_start = os.getloadavg()[0]
    if run.load_start > 0.5 * (os.cpu_count() or 1):
        run.note(f"the machine was busy at the start (load average {run.load_start:.1f} on {os.cpu_count()} cores): "
                 f"torch's {args.threads} OpenMP threads wait on each other when cores are taken, small batches "
                 "most; timings are inflated")


def _finish_notes(run: Run) -> None:
    """Notes on the run's own time: other processes' CPU during it, and a budget overrun over 5%."""
    from ..machine import others_cpu
    busy = others_cpu(run.cpu0)
    cores = os.cpu_count() or 1
    if busy is not None and busy >= 0.25:
        run.note(f"the machine was busy during the run: other processes took {busy:.1f} of its {cores} cores on "
                 "average (this run's own work left out); timings are inflated"
                 + (f", and the {run.budget.total:.0f} s budget bought fewer rounds than on a quiet machine"
                    if run.budget.bounded else ""))
    if run.budget.bounded and run.budget.elapsed() > 1.05 * run.budget.total:
        run.note(f"the run took {run.budget.elapsed():.0f} s of its {run.budget.total:.0f} s budget: the parts that "
                 "do not loop took longer than estimated")


@contextmanager
def _running(args, plan: dict | None):
    """A started Run; its display dropped and its pipes and files closed however it ends."""
    run = Run(args, plan)
    try:
        _start(run)
        yield run
    finally:
        run.progress = None
        run.close()


def _steps(run: Run, names: list[str], steps: list) -> None:
    """Each (budget key, label, work) in order, within the run's budget and under its display."""
    from .. import console
    run.allocate(names, [k for k, _, _ in steps])
    with console.RunProgress([k for k, _, _ in steps], eta=run.budget.eta) as run.progress:
        for key, label, work in steps:
            if key == "coldstart":
                run.close_pipes()   # before the cold-start children start, whether it runs or not
            if key == "report":
                _finish_notes(run)
            if run.skipped(key):
                continue
            with run.part(label, key):
                work()


def run_all(args, plan: dict | None = None) -> int:
    # imported here, not at the top: the parts import the run's state from .run
    from .. import report
    from ..browser.part import part_browser
    from ..costs.part import part_coldstart, part_maintenance
    from ..equivalence.part import part_equivalence, part_fidelity
    from ..latency.part import part_scenarios
    from ..latency.sweep import part_interventions, part_sweep
    t0 = time.time()
    with _running(args, plan) as run:
        names = select(run)
        out = Path(args.out)
        done: dict = {}

        def write_report():
            results.write(out / "results.json", run.machine(), run.recs)
            files = report.write_report(out)
            print(f"  wrote {', '.join(str(f) for f in files)}")

        # (budget key, label, work), in the order they run (suite/budget.py)
        steps = [("compile", "compile probe (its cold start)", lambda: probe_compile(run, names))] \
            if any(registry.BY_NAME[n].compiles for n in names) else []
        steps += [("load", "load", lambda: part_load(run, names)),
                  ("equivalence", "equivalence", lambda: part_equivalence(run, names)),
                  ("fidelity", "fidelity", lambda: part_fidelity(run)),
                  ("tokenize", "tokenize", lambda: part_tokenize(run)),
                  ("scenarios", "scenarios", lambda: done.update(part_scenarios(run))),
                  ("sweep", "sweep", lambda: part_sweep(run, done)),
                  ("interventions", "interventions", lambda: part_interventions(run)),
                  ("coldstart", "cold start + footprint", lambda: part_coldstart(run, names)),
                  ("maintenance", "maintenance", lambda: part_maintenance(run)),
                  ("browser", "browser", lambda: part_browser(run)),
                  ("report", "report", write_report)]
        _steps(run, names, steps)
        if (out / "results.json").is_file():
            report.print_decision_table(results.load(out / "results.json"))
        budget = f" of its {run.budget.total:.0f} s budget" if run.budget.bounded else ""
        print(f"bench all: {time.time() - t0:.0f}s{budget} ({', '.join(f'{k} {v:.0f}s' for k, v in run.parts.items())}); "
              f"results in {out}/", flush=True)
        return run.rc


def run_latency(args, plan: dict | None = None) -> int:
    """The scenarios of `bench all`, without attribution, into --out/latency.json."""
    from ..latency.part import part_scenarios
    with _running(args, plan) as run:
        names = [n for n in select(run) if registry.has_forward(n)]
        _steps(run, names, [("load", "load", lambda: part_load(run, names)),
                            ("scenarios", "scenarios", lambda: part_scenarios(run, attribute=False))])
        results.write(Path(args.out) / "latency.json", run.machine(), run.recs)
        return run.rc
