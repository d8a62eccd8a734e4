"""The parts of a run that measure what a port costs rather than how fast it is: cold start and
footprint (fresh child processes, after the pipes are closed), maintenance, and the browser bench
(only when an entry with browser pages is selected)."""
from __future__ import annotations

import re

from pathlib import Path

from .. import console, registry
from ..results import Record
from ..scenarios import texts_for
from .run import Run


def part_coldstart(run: Run, names: list[str]) -> None:
    """Runs after the pipes are closed: the children get the machine to themselves."""
    from ..measure import coldstart, footprint
    names = [n for n in names if registry.has_forward(n) and run.loaded.get(n)]
    more = texts_for(run.mdir, "medium", 8)
    with console.progress() as pb:
        task = pb.add_task("cold start", total=sum(len(registry.cold_rows(n)) for n in names))
        n = run.plan["cold_n"] if run.left(reserve=False) > run.plan["reserve_s"] else 1
        rows = coldstart.coldstarts(names, run.mdir, run.device, run.args.threads, n, more,
                                    progress=lambda label: (pb.update(task, description=f"cold start: {label}"),
                                                            pb.advance(task)), done=run.cold_done)
    run.add([Record("model_weights", "disk_bytes", "footprint", float(footprint.model_bytes(run.mdir)), "B",
                    run.device, extra={"dir": run.model_src})])
    table = []
    for label, r in rows.items():
        impl = coldstart.impl_of(label)
        if "error" in r:
            run.note(f"cold start {label}: {r['error']}")
            continue
        ex = {"row": label, "kind": r.get("kind"), "runs": r.get("runs"), "child": r.get("child"),
              "n": len(r.get("runs") or [1])}
        run.add([Record(impl, "coldstart", f"coldstart:{label}", r["first_s"], "s", run.device, extra=ex),
                 Record(impl, "peak_rss", f"footprint:{label}", float(r["peak_rss"]), "B", run.device,
                        extra={"row": label, "after": "load + 1 text + 8 medium texts"})])
        disk = footprint.disk_for(label, r)
        if disk:
            run.add([Record(impl, "disk_bytes", f"footprint:{label}", float(disk["own"] + disk["deps"] + disk["runtime"]),
                            "B", run.device, extra={"row": label, **disk})])
        table.append([label, r["first_s"], r["peak_rss"] / 2**20,
                      (disk["own"] + disk["deps"] + disk["runtime"]) / 1e6 if disk else "-",
                      disk["own"] / 1e6 if disk else "-"])
    console.print_coldstart(table)


def part_maintenance(run: Run) -> None:
    from ..measure import maintenance
    m = maintenance.measure_maintenance(full=run.plan_name == "full")
    for impl, v in m["lines"].items():
        run.add([Record(impl, "loc_code", "maintenance", float(v["code"]), "lines", extra=v),
                 Record(impl, "loc_glue", "maintenance", float(v["glue"]), "lines", extra={"files": v["glue_files"]}),
                 Record(impl, "loc_tooling", "maintenance", float(v["tooling"]), "lines",
                        extra={"files": v["tooling_files"], "how": "serves the peers or the harness; not in loc_code"})])
    for impl, v in m["build"].items():
        if v["seconds"] is not None:
            run.add([Record(impl, "build_s", "maintenance", v["seconds"], "s", extra=v)])
        else:
            run.note(f"build time of {impl}: {v['how']}")
    run.add([Record(impl, "toolchain", "maintenance", float(len(t)), "items",
                    extra={"toolchain": t, "versions": m["versions"]}) for impl, t in m["toolchains"].items()])
    console.print_maintenance(m)
    from ..measure.change_cost import ChangeError, change_cost
    try:
        ch = change_cost(getattr(run.args, "change", None))
    except ChangeError as e:   # a shallow clone, no git: the rest of maintenance stands
        run.note(f"change cost not measured: {e}")
        return
    run.add([Record(impl, "change_lines", "maintenance", float(v["added"] + v["removed"]), "lines",
                    extra={**v, "label": ch["label"], "old": ch["old"], "new": ch["new"], "commits": ch["commits"]})
             for impl, v in ch["rows"].items()])
    console.print_change(ch)


def part_browser(run: Run) -> None:
    """The browser bench (whatever --device: the browser runs the wasm build), when the entries
    asked for (--impl, else all) include one that owns browser pages (registry: browser_pages)."""
    wanted = run.args.impl or registry.names()
    if not any(registry.BY_NAME[n].browser_pages for n in wanted):
        run.note("browser bench not run: no implementation asked for runs in the browser")
        return
    from ..measure import browser
    why = browser.missing()
    if why:
        run.note(f"browser bench not run: {why}")
        return
    res = browser.run_browser_bench(run.args.quick, Path(run.args.out), model=str(run.mdir), threads=run.args.threads)
    for r in res.get("records", []):
        run.add([Record(r["impl"], r["metric"], r["scenario"], float(r["value"]), r["unit"], r.get("device", "cpu"),
                        r.get("host", "chromium"), r.get("extra", {}))])
        if r["metric"] == "error":
            err = re.sub(r"https?://127\.0\.0\.1:\d+", "the page server", r["extra"].get("error", ""))
            run.note(f"browser {r['impl']}: {err[:200]}")   # the port of a server gone after the run: not a link
    browser.print_table(res)
