"""`bench all`: every part of docs/DESIGN.md §7 in one run, into --out (results.json, report.md,
PNGs, index.html), then the decision table on the terminal. Glue only: each part is a function of
this package (run.py: the run's state and plan; prepare.py, timing.py, costs.py: the parts), each
part a measure/ module. `bench latency` is the scenarios part alone (`run_latency`).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from .. import registry, results
from .costs import part_browser, part_coldstart, part_maintenance
from .prepare import part_equivalence, part_fidelity, part_load, part_tokenize, pin_threads, probe_compile
from .run import PLANS, Run, select
from .timing import part_interventions, part_scenarios, part_sweep

__all__ = ["PLANS", "Run", "select", "run_all", "run_latency", "pin_threads"]


def _start(run: Run) -> None:
    args = run.args
    pin_threads(args.threads)
    print(f"bench {getattr(args, 'cmd', 'all')} ({run.plan_name}): model {run.model_src}, device {run.device}, "
          f"{args.threads} threads", flush=True)
    run.load_start = os.getloadavg()[0]
    if run.load_start > 0.5 * (os.cpu_count() or 1):
        run.note(f"the machine was busy at the start (load average {run.load_start:.1f} on {os.cpu_count()} cores): "
                 f"torch's {args.threads} OpenMP threads wait on each other when cores are taken, small batches "
                 "most; timings are inflated")


def run_all(args, plan: dict | None = None) -> int:
    from .. import report
    t0 = time.time()
    run = Run(args, plan)
    try:
        _start(run)
        names = select(run)
        if any(registry.BY_NAME[n].compiles for n in names):
            with run.part("compile probe (its cold start)"):
                probe_compile(run, names)
        with run.part("load"):
            part_load(run, names)
        with run.part("equivalence"):
            part_equivalence(run, names)
        with run.part("fidelity"):
            part_fidelity(run)
        with run.part("tokenize"):
            part_tokenize(run)
        done = {}
        with run.part("scenarios"):
            done = part_scenarios(run)
        with run.part("sweep"):
            part_sweep(run, done)
        with run.part("interventions"):
            part_interventions(run)
        run.close_pipes()
        with run.part("cold start + footprint"):
            part_coldstart(run, names)
        with run.part("maintenance"):
            part_maintenance(run)
        with run.part("browser"):
            part_browser(run)
        out = Path(args.out)
        results.write(out / "results.json", run.machine(), run.recs)
        with run.part("report"):
            files = report.write(out)
            print(f"  wrote {', '.join(str(f) for f in files)}")
        report.print_decision_table(report.load(out / "results.json"))
        print(f"bench all: {time.time() - t0:.0f}s ({', '.join(f'{k} {v:.0f}s' for k, v in run.parts.items())}); "
              f"results in {out}/", flush=True)
        return run.rc
    finally:
        run.close()


def run_latency(args, plan: dict | None = None) -> int:
    """The scenarios of `bench all` (same plan, same measuring path), without attribution; the
    records go to --out/latency.json."""
    run = Run(args, plan)
    try:
        _start(run)
        names = [n for n in select(run) if registry.has_forward(n)]
        with run.part("load"):
            part_load(run, names)
        with run.part("scenarios"):
            part_scenarios(run, attribute=False)
        results.write(Path(args.out) / "latency.json", run.machine(), run.recs)
        return run.rc
    finally:
        run.close()
