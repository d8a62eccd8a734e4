"""The cost parts of `bench all`: what a port costs rather than how fast it is: cold start and
footprint (fresh child processes, after the pipes are closed) and maintenance."""
from __future__ import annotations

from pathlib import Path

from .. import console, registry
from ..results import Record
from ..scenarios import texts_for
from ..suite.run import Run


def part_coldstart(run: Run, names: list[str]) -> None:
    """Runs after the pipes are closed: the children get the machine to themselves."""
    from . import coldstart, footprint
    names = [n for n in names if registry.has_forward(n) and run.loaded.get(n)]
    more = texts_for(run.mdir, "medium", 8)
    with console.progress() as pb:
        task = pb.add_task("cold start", total=sum(len(registry.cold_rows(n)) for n in names))
        n = run.plan["cold_n"] if run.left(reserve=False) > run.plan["reserve_s"] else 1
        rows = coldstart.coldstarts(names, run.mdir, run.device, run.args.threads, n, more,
                                    progress=lambda label: (pb.update(task, description=f"cold start: {label}"),
                                                            pb.advance(task)), done=run.cold_done)
    run.add([Record("model_weights", "disk_bytes", "footprint", float(footprint.dir_bytes(Path(run.mdir))), "B",
                    run.device, extra={"dir": run.model_src})])
    table = []
    for label, r in rows.items():
        impl = registry.owner(label)
        if "error" in r:
            run.note(f"cold start {label}: {r['error']}")
            continue
        ex = {"row": label, "kind": r.get("kind"), "runs": r.get("runs"), "child": r.get("child"),
              "n": len(r.get("runs") or [1])}
        run.add([Record(impl, "coldstart", f"coldstart:{label}", r["first_s"], "s", run.device, extra=ex),
                 Record(impl, "peak_rss", f"footprint:{label}", float(r["peak_rss"]), "B", run.device,
                        extra={"row": label, "after": "load + 1 text + 8 medium texts"})])
        disk = footprint.disk_for(label, r)
        total = disk and disk["own"] + disk["deps"] + disk["runtime"]
        if disk:
            run.add([Record(impl, "disk_bytes", f"footprint:{label}", float(total), "B", run.device,
                            extra={"row": label, **disk})])
        table.append([label, r["first_s"], r["peak_rss"] / 2**20, total / 1e6 if disk else "-",
                      disk["own"] / 1e6 if disk else "-"])
    console.print_coldstart(table)


def part_maintenance(run: Run) -> None:
    from . import maintenance
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
    from .change_cost import ChangeError, change_cost
    try:
        ch = change_cost(getattr(run.args, "change", None))
    except ChangeError as e:   # a shallow clone, no git: the rest of maintenance stands
        run.note(f"change cost not measured: {e}")
        return
    run.add([Record(impl, "change_lines", "maintenance", float(v["added"] + v["removed"]), "lines",
                    extra={**v, "label": ch["label"], "old": ch["old"], "new": ch["new"], "commits": ch["commits"]})
             for impl, v in ch["rows"].items()])
    console.print_change(ch)
