"""The report's sections about what a port costs: cold start, footprint, maintenance, the browser, and the
decision table the report opens with. Each section is a function (Index, plots) -> markdown."""
from __future__ import annotations

from .. import registry
from ..stats import RESOLUTION, THRESHOLD
from .decision import decision_view
from .index import Index, cold_figures, foot_rows, md_table


def coldstart(ix: Index, plots: list[str]) -> str:
    cr = cold_figures(ix)
    if not cr:
        return ""
    present = {label for label, _ in cr}
    jit = [lb for e in registry.REGISTRY for k, lb in registry.cold_rows(e.name) if k == "jit" and lb in present]
    md = ["\n## Cold start\n\nA fresh process, from its start to the first embedding, timed from the parent "
          "(median). Files are in the page cache after the first run." +
          (f" JIT rows ({', '.join(jit)}): the cold one with an empty cache dir, the cached one with the cache "
           "that run wrote." if jit else "") + "\n\n", md_table(["row", "seconds"], cr)]
    if "coldstart.png" in plots:
        md.append("\n![cold start](coldstart.png)\n")
    return "".join(md)


def footprint(ix: Index, plots: list[str]) -> str:
    fr = foot_rows(ix)
    if not fr:
        return ""
    wb = ix.v("model_weights", "disk_bytes", "footprint")
    md = ["\n## Footprint\n\nPeak RSS of the cold-start child (load, one text, then 8 medium texts). "
          "Bytes on disk of what that process actually used: `own` (this repo's files), `deps` (third-party "
          "packages whole, or just the libraries mapped), `runtime` (interpreter + stdlib, or node); system "
          f"libraries apart. Model weights apart: {wb / 1e6:.1f} MB.\n\n" if wb else "\n## Footprint\n\n"]

    def size(r, k, unit=1e6):
        return r[k] / unit if k in r else None
    md.append(md_table(["row", "peak RSS MiB", "own MB", "deps MB", "runtime MB", "largest deps",
                        "browser bytes MB", "wasm memory MiB"],
                       [[r["row"], size(r, "rss", 2**20), size(r, "own"), size(r, "deps"), size(r, "runtime"),
                         ", ".join(f"{k} {v / 1e6:.0f}MB" for k, v in list(r.get("packages", {}).items())[:3]),
                         size(r, "bytes_total"), size(r, "wasm_memory", 2**20)] for r in fr]))
    if "footprint.png" in plots:
        md.append("\n![footprint](footprint.png)\n")
    return "".join(md)


def maintenance(ix: Index, plots: list[str]) -> str:
    loc = [r for r in ix.recs if r["metric"] == "loc_code"]
    if not loc:
        return ""
    md = ["\n## Maintenance\n\nLines of code (cloc; generated tables apart), glue lines (bindings, C ABI, "
          "adapters, loaders), tooling that lives in a port's folder but serves the peers or the harness (counted "
          "apart, not in `code`), build time, and what each brings.\n\n"]
    tc = {r["impl"]: r["extra"]["toolchain"] for r in ix.recs if r["metric"] == "toolchain"}
    rows = []
    for r in loc:
        i, e = r["impl"], r["extra"]
        b = ix.r(i, "build_s", "maintenance")
        tool = ix.r(i, "loc_tooling", "maintenance")
        rows.append([i, int(r["value"]), ", ".join(f"{k} {n}" for k, n in e["by_language"].items()),
                     int(ix.v(i, "loc_glue", "maintenance", 0)), e.get("generated", 0),
                     (f"{int(tool['value'])} ({', '.join(tool['extra']['files'])})" if tool and tool["value"] else "-"),
                     f"{b['value']:.0f}s ({b['extra']['how']})" if b else "not measured", ", ".join(tc.get(i, []))])
    md.append(md_table(["impl", "code", "by language", "glue", "generated", "tooling (apart)", "build", "toolchain"],
                       rows))
    ch = [r for r in ix.recs if r["metric"] == "change_lines"]
    if ch:
        x = ch[0]["extra"]
        md.append(f"\nWhat one change cost each port: **{x['label']}** ({x['commits']} commits, `git diff "
                  f"{x['old']} {x['new']}`; another change: `bench all --change OLD..NEW` or `bench change OLD..NEW`). "
                  "Lines added and removed in the port's own files (its registry dirs, generated tables apart), and "
                  "whether it had to be rebuilt (a file it compiles changed).\n\n")
        md.append(md_table(["impl", "lines added", "lines removed", "files", "generated lines", "rebuild"],
                           [[r["impl"], r["extra"]["added"], r["extra"]["removed"], r["extra"]["files"],
                             r["extra"]["generated"] or "-", ("yes (" + ", ".join(r["extra"]["why"][:3]) + ")")
                             if r["extra"]["rebuild"] else "no"] for r in ch]))
    vers = next((r["extra"]["versions"] for r in ix.recs if r["metric"] == "toolchain"), None)
    if vers:
        md.append("\nVersions here: " + "; ".join(f"{k} {v}" for k, v in vers.items()) + ".\n")
    return "".join(md)


def browser(ix: Index, plots: list[str]) -> str:
    brs = [r for r in ix.recs if r["host"] == "chromium" and r["metric"].startswith(("latency", "peak_fraction"))]
    if not brs:
        return ""
    return ("\n## Browser (headless Chromium, cross-origin isolated; each page on 1 thread and on the run's)\n\n" +
            md_table(["impl", "threads", "build", "isolated", "scenario", "metric", "value", "unit"],
                     [[r["impl"], *(r.get("extra", {}).get(k, "") for k in ("threads", "build", "crossOriginIsolated")),
                       r["scenario"], r["metric"], r["value"], r["unit"]] for r in brs]))


def decision(ix: Index, plots: list[str]) -> str:
    """The answer first: the decision table, its method failures in red, and what a --quick plan means."""
    rows, cols, cells, fails, quick, noisy = decision_view(ix.data)
    md = ["\n## Decision table: does a port pay?\n\ndocs/DESIGN.md's table, filled in from this machine. Per "
          f"scenario: the dominant bucket in {registry.REFERENCE}'s split (share of the embed wall, 95% interval) "
          "and the most a full port could gain from it; then each change apart, its measured gain over its "
          "baseline beside its ceiling: the algorithm change (packing the per-token layers, in Python), the "
          "language port over that, the tokenizer ports; the best runtime change. A gain's interval is its "
          f"rounds' widened by the run-to-run resolution (±{RESOLUTION:.0%}: what one run's rounds cannot see); a "
          f"verdict is yes or no only when that whole interval is on one side of {THRESHOLD:.2f}x, else *undecided "
          "at this precision*.\n\n",
          md_table(cols, [[f'<span style="color:#c00">{c}</span>' if isinstance(c, str) and
                           "METHOD FAILURE" in c else c for c in row] for row in cells])]
    for sc, impl, why in fails:
        md.append(f'\n<span style="color:#c00">**method failure** at {sc}: {impl}: {why}</span>\n')
    if any(r.get("quantisation") for r in rows):   # only where this run measured an int8 row
        b = ix.data.get("machine", {}).get("fidelity_budget") or {}
        md.append("\nQuantisation: each int8 row's gain over its baseline beside its fidelity to upstream fp32 on the "
                  "corpus (*Fidelity to upstream fp32* below, with the CPU features the gain rests on); it is named "
                  f"as an intervention only where its gain is a yes and this run recorded it within the fidelity "
                  f"budget (mean top-{b.get('k', 10)} agreement ≥ {b.get('topk_mean', '?')}, min cosine ≥ "
                  f"{b.get('cos_min', '?')}).\n")
    if quick:
        md.append("\n**--quick**: few rounds per point, so these intervals are wider than the default plan's and "
                  "the verdicts are indicative; run without --quick before acting on them.\n")
    if noisy:
        md.append(f"\n**{noisy[0].upper() + noisy[1:]}.**\n")
    return "".join(md)
