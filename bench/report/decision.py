"""The decision logic: docs/DESIGN.md's opening table filled in from one machine's records. For
each scenario: the dominant bucket in the reference's profile, the port ceiling, the best measured
port and runtime change, and the intervention the numbers support; then cold start / footprint and
the browser. Ports and runtime changes are the registry's; nothing here names one.
Leaves out: intervals and "undecided" verdicts (planned with the bootstrap of docs/DESIGN.md §7)."""
from __future__ import annotations

from .. import registry
from ..measure.attribution import from_records
from ..measure.ceilings import ceiling, port_ceiling, shares
from .index import Index

DESIGN_ROWS = {  # the design's opening table: dominant bucket -> (cheapest fitting intervention, does a port pay?)
    "model_kernels": ("a better runtime (ONNX Runtime, torch.compile, TensorRT), quantisation, fusion",
                      "no: the kernels are already native"),
    "dispatch_overhead": ("Cython or Numba on the bounded hot loop; a C++ layer", "yes, in proportion to that share"),
    "tokenize": ("Cython or Numba on the bounded hot loop; a C++ layer", "yes, in proportion to that share"),
    "io": ("an async pipeline, batching, prefetch, sorting by length", "no"),
}
DECISION_COLS = ["scenario", f"dominant bucket ({registry.REFERENCE})", "port ceiling", "best port (gain)",
                 "best runtime change (gain)", "intervention the numbers support", "does a port pay?"]


def _scenario_row(ix: Index, sc: str, ref: dict) -> dict:
    c, sh = ceiling(ref), shares(ref)
    bp, pg = ix.best(registry.ports(), sc)
    br, rg = ix.best(registry.interventions(), sc)
    dom = c["dominant"]
    port_pays = pg >= 1.10 and pg > rg
    if max(pg, rg) < 1.05:
        supported = "none of the measured options gains 5%: " + DESIGN_ROWS[dom][0]
    elif port_pays:
        supported = f"port: {bp} ({pg:.2f}x)"
        pc = port_ceiling(bp, ref)
        if pc is None:
            supported += " — it also swaps the kernels, so the ceiling does not bound it"
        elif pg > pc * 1.05:
            supported += f" — above its {pc:.2f}x ceiling: noise or a kernel difference, re-run before acting"
    else:
        supported = f"runtime change: {br} ({rg:.2f}x)"
    if sc == "batch":
        sb = ix.r(registry.REFERENCE, "sorted_batching_s", "large_input")
        if sb and sb["extra"].get("speedup", 1) >= 1.05:
            supported += f"; for large mixed inputs sort by length ({sb['extra']['speedup']:.2f}x)"
    return {"scenario": sc, "dominant": f"{dom} ({100 * sh[dom]:.0f}%)", "dominant_bucket": dom,
            "ceiling": c["max_speedup"], "port_share": c["port_share"],
            "best_port": f"{bp} {pg:.2f}x" if bp else "-", "best_runtime": f"{br} {rg:.2f}x" if br else "-",
            "intervention": supported, "port_pays": ("yes: " if port_pays else "no: ") +
            (f"{bp} {pg:.2f}x of a {c['max_speedup']:.2f}x ceiling" if bp else "no port measured"),
            "design_says": DESIGN_ROWS[dom][1]}


def _cold_row(ix: Index) -> dict | None:
    ref_name = registry.REFERENCE
    cold = {r["extra"].get("row", r["impl"]): r["value"] for r in ix.recs if r["metric"] == "coldstart"
            and r["scenario"].startswith("coldstart:")}
    if ref_name not in cold:
        return None
    rss = {r["extra"].get("row", r["impl"]): r["value"] for r in ix.recs if r["metric"] == "peak_rss"}
    ports = {k: v for k, v in cold.items() if registry.owner(k) in registry.ports()}
    others = {k: v for k, v in cold.items() if registry.owner(k) in registry.interventions()}
    bp = min(ports, key=ports.get) if ports else None
    br = min(others, key=others.get) if others else None
    gain = (lambda k: cold[ref_name] / cold[k] if k else 0.0)
    pays = bp is not None and gain(bp) >= 1.10 and cold[bp] <= cold.get(br, float("inf"))
    best = bp if pays else (br if br and gain(br) >= 1.10 else None)
    return {"scenario": "cold start / footprint", "dominant": "process start + imports + load",
            "dominant_bucket": "footprint", "ceiling": None, "port_share": None,
            "best_port": f"{bp} {cold[bp]:.2f}s vs {ref_name} {cold[ref_name]:.2f}s" if bp else "-",
            "best_runtime": f"{br} {cold[br]:.2f}s" if br else "-",
            "intervention": (f"{'a compiled binary with a smaller runtime' if pays else 'a lighter runtime'}: "
                             f"{best} ({gain(best):.1f}x faster start, {rss.get(best, 0) / 2**20:.0f} vs "
                             f"{rss.get(ref_name, 0) / 2**20:.0f} MiB peak)") if best
            else f"none measured starts 10% faster than {ref_name}",
            "port_pays": "yes" if pays else "no", "design_says": "yes"}


def _browser_row(ix: Index) -> dict:
    br = [r for r in ix.recs if r["scenario"] == "browser" and r["metric"] == "coldstart"]
    web = [n for n in registry.ports() if registry.BY_NAME[n].browser_pages]
    outside = [(n, ix.v(n, "latency_p50", "single")) for n in web if ix.v(n, "latency_p50", "single")]
    return {"scenario": "must run in the browser", "dominant": "deployability", "dominant_bucket": "browser",
            "ceiling": None, "port_share": None,
            "best_port": ", ".join(f"{r['impl']} {r['value']:.0f} ms cold" for r in br) or
            ", ".join(f"{n} outside the browser {v:.1f} ms single" for n, v in outside) or "-",
            "best_runtime": "-", "intervention": "WASM: the compiled module (or Pyodide)" if (br or outside)
            else "no browser-capable port measured here", "port_pays": "yes: only WASM gets you there",
            "design_says": "yes: only WASM gets you there"}


def decision_rows(data: dict) -> list[dict]:
    """One row per scenario measured (+ cold start/footprint, + browser): the dominant bucket in the
    reference's profile, the port ceiling, the best measured port and runtime change, and what the
    numbers support."""
    ix = Index(data)
    rows = []
    for sc in ix.main_scenarios():
        ref = from_records(ix.recs, registry.REFERENCE, sc)
        if ref is not None:
            rows.append(_scenario_row(ix, sc, ref))
    cold = _cold_row(ix)
    if cold:
        rows.append(cold)
    rows.append(_browser_row(ix))
    return rows


def decision_cells(row: dict) -> list:
    return [row["scenario"], row["dominant"], f"{row['ceiling']:.2f}x" if row["ceiling"] else "-", row["best_port"],
            row["best_runtime"], row["intervention"], row["port_pays"]]


def print_decision_table(data: dict) -> None:
    from ..console import print_decision
    print_decision(DECISION_COLS, [decision_cells(r) for r in decision_rows(data)])
