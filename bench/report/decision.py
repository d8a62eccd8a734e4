"""The decision table (docs/DESIGN.md §7, "The decision table leads the report") filled in from one machine's
records: a row per scenario, then cold start / footprint and the browser. Every verdict, interval and ceiling
is the run's, read from its records: nothing is judged again here."""
from __future__ import annotations

from .. import registry
from ..stats import THRESHOLD, UNDECIDED, fmt_ci
from .index import Index, numeric

DESIGN_ROWS = {  # the design's opening table: dominant bucket -> (cheapest fitting intervention, does a port pay?)
    "model_kernels": ("a better runtime (ONNX Runtime, torch.compile, TensorRT), fusion",   # quantisation: only as measured
                      "no: the kernels are already native"),
    "framework_overhead": ("Cython or Numba on the bounded hot loop; a C++ layer", "yes, in proportion to that share"),
    "tokenize": ("Cython or Numba on the bounded hot loop; a C++ layer", "yes, in proportion to that share"),
    "io": ("an async pipeline, batching, prefetch, sorting by length", "no"),
}
LABEL = {"algorithm": "algorithm change", "language": "language port", "tokenizer": "tokenizer port"}
QUANT_COL = "quantisation (int8): gain · fidelity to upstream fp32"   # shown only where this run measured int8
DECISION_COLS = ["scenario", f"dominant bucket ({registry.REFERENCE}) · full-port ceiling",
                 *(f"{LABEL[c]}: gain vs ceiling" for c in registry.CHANGES), "best runtime change",
                 QUANT_COL, "does a port pay?", "what moved the number", "intervention the numbers support"]


def _said(c: dict) -> str:
    """A change's gain as the table says it: 'impl 1.36x [1.33, 1.43]'."""
    return f"{c['impl']} {fmt_ci(c['gain'], c['gain_ci'])}"


def _change(ix: Index, impl: str, sc: str) -> dict | None:
    g, c = ix.r(impl, "port_gain", sc), ix.r(impl, "port_ceiling", sc)
    if not g or g["value"] is None:
        return None
    ge, ce = g["extra"], (c or {}).get("extra", {})
    # the run's verdict and interval (stats.port_record_pair); older files: the rounds' interval, no verdict: undecided
    d = {"impl": impl, "vs": ge["vs"], "gain": g["value"], "gain_ci": ge.get("verdict_ci") or ge["ci"],
         "verdict": ge.get("verdict") or UNDECIDED,
         "ceiling": c["value"] if c else None, "ceiling_ci": ce.get("ci"), "upper": ce.get("upper"),
         "failure": ge.get("method_failure"), "note": ge.get("note")}
    ceil = ("ceiling " + fmt_ci(d["ceiling"], d["ceiling_ci"]) if d["ceiling"] is not None
            else "no ceiling: " + ce.get("reason", "").split(": ")[0] if c else "")
    d["cell"] = f"{d['verdict']}: {_said(d)} over {d['vs']}" + (f"; {ceil}" if ceil else "")
    if d["failure"]:
        d["cell"] += " — METHOD FAILURE"
    return d


def fidelity_verdict(ix: Index, impl: str) -> dict | None:
    """impl's fidelity_topk record, as judged by the run: {"within", "short", "text"}; None: not measured."""
    r = ix.r(impl, "fidelity_topk", "fidelity")
    if not r:
        return None
    ex, cmin = r.get("extra") or {}, ix.v(impl, "fidelity_cos_min", "fidelity")
    b = ex.get("budget") if isinstance(ex.get("budget"), dict) else {}
    vs = (lambda x, floor: f" {'≥' if x >= floor else '<'} {floor:g}" if numeric(floor) else "")  # noqa: E731
    top = f"top-{ex.get('k', 'k')} agreement {r['value']:.3f}{vs(r['value'], b.get('topk_mean'))}"
    cos = f", min cos {cmin:.4f}{vs(cmin, b.get('cos_min'))}" if numeric(cmin) else ""
    within = ex.get("within_budget") is True
    side = f"{'within' if within else 'outside'} the fidelity budget"
    worst = f" (worst {ex['worst']:.2f})" if numeric(ex.get("worst")) else ""
    return {"within": within, "short": f"{side}: {top}{cos}", "text": f"{top}{worst}{cos}: {side}"}


def _quantisation(ix: Index, sc: str) -> list[dict]:
    """Each int8 row measured at sc: its gain (as _change) with this run's fidelity; supported: a yes
    gain within the fidelity budget; why: in a few words, when it is not."""
    out = [c for c in (_change(ix, e.name, sc) for e in registry.REGISTRY if not e.exact) if c]
    for c in out:
        f = c["fidelity"] = fidelity_verdict(ix, c["impl"])
        c["supported"] = c["verdict"] == "yes" and f is not None and f["within"]
        unmeasured = "fidelity not measured in this run"
        c["qcell"] = f"{c['verdict']}: {_said(c)} over {c['vs']}; " + (f["text"] if f else unmeasured)
        c["why"] = unmeasured if f is None else f["short"] if not f["within"] else f"gain {c['verdict']}"
    return out


def _scenario_row(ix: Index, sc: str, quick: bool) -> dict:
    """One scenario's row; without the reference's full_port_ceiling record (not split), the gains alone."""
    full = ix.r(registry.REFERENCE, "full_port_ceiling", sc)
    fx = full["extra"] if full else {}
    dom, sci = fx["dominant"] if full else None, fx.get("dominant_ci")
    if full:
        dominant = f"{dom} {100 * fx['dominant_share']:.0f}%" + (f" [{100 * sci[0]:.0f}, {100 * sci[1]:.0f}]"
                                                                  if sci else "")
    elif ix.r(registry.REFERENCE, "attribution_model_kernels", sc):
        dominant = "split, but no full_port_ceiling record (a results file from before it was written: run again)"
    else:
        dominant = "not split in this run (no attribution: its notes say why)"
    row = {"scenario": sc, "dominant_bucket": dom, "indicative": quick, "dominant": dominant,
           "ceiling": full["value"] if full else None, "ceiling_ci": fx.get("ci"), "port_share": fx.get("share"),
           "design_says": DESIGN_ROWS.get(dom, ("-", "-"))[1]}   # a bucket the design does not name: no row of it
    for ch in (*registry.CHANGES, "runtime"):   # each change's best row
        found = [c for c in (_change(ix, e.name, sc) for e in registry.REGISTRY if e.change == ch) if c]
        row[ch] = max(found, key=lambda c: c["gain"]) if found else None
    row["quantisation"] = qs = _quantisation(ix, sc)
    row["quant_cell"] = " · ".join(q["qcell"] for q in qs) or "-"   # (never "|": a markdown cell)
    ports = [row[ch] for ch in registry.CHANGES if row[ch] and registry.BY_NAME[row[ch]["impl"]].kind == "port"]
    vs = [p["verdict"] for p in ports]
    row["verdict"] = ("not measured" if not vs else "yes" if "yes" in vs else "no" if all(v == "no" for v in vs)
                      else UNDECIDED)
    row["port_pays"] = f"{row['verdict']}: " + (", ".join(f"{_said(p)} over {p['vs']}" for p in ports)
                                                if ports else "no port measured")
    if quick and ports:
        row["port_pays"] += " (indicative: --quick)"
    best = max(ports, key=lambda p: p["gain"]) if ports else None
    row["best_port"] = f"{best['impl']} {best['gain']:.2f}x" if best else "-"
    rt = row["runtime"]
    row["best_runtime"] = _said(rt) if rt else "-"
    changes = [(ch, row[ch]) for ch in registry.CHANGES if row[ch]]
    paid = [(ch, c) for ch, c in changes if c["verdict"] == "yes"]
    open_ = [(ch, c) for ch, c in changes if c["verdict"] == UNDECIDED]
    if paid:
        row["moved"] = "; ".join(f"the {LABEL[ch]} ({_said(c)})" for ch, c in paid)
    elif changes:
        top_ch, top = max(changes, key=lambda x: x[1]["gain"])
        row["moved"] = (f"none of the three gains {THRESHOLD:.2f}x for sure; largest: the {LABEL[top_ch]} "
                        f"({_said(top)})")
    else:
        row["moved"] = "no change measured"
    if open_:
        row["moved"] += "; undecided: " + ", ".join(f"{LABEL[ch]} {c['impl']}" for ch, c in open_)
    sup = [f"{LABEL[ch]}: {c['impl']}" for ch, c in paid]
    if rt and rt["verdict"] == "yes":
        sup.append(f"runtime change: {rt['impl']} ({rt['gain']:.2f}x)")
    sup += [f"quantisation: {_said(q)} over {q['vs']}, {q['fidelity']['text']}" for q in qs if q["supported"]]
    row["intervention"] = "; ".join(sup) or (f"none of the measured changes gains {THRESHOLD:.2f}x"
                                             + (" within the fidelity budget" if qs else "")
                                             + (f": {DESIGN_ROWS[dom][0]}" if dom in DESIGN_ROWS else ""))
    if any(not q["supported"] for q in qs):
        row["intervention"] += "; quantisation measured, not supported: " + ", ".join(
            f"{q['impl']} {q['gain']:.2f}x over {q['vs']} ({q['why']})" for q in qs if not q["supported"])
    sb = ix.r(registry.REFERENCE, "sorted_batching_s", "large_input")
    if sc == "batch" and sb and sb["extra"].get("speedup", 1) >= 1.05:
        row["intervention"] += f"; for large mixed inputs sort by length ({sb['extra']['speedup']:.2f}x)"
    row["failures"] = [(c["impl"], c["failure"]) for c in [c for _, c in changes] + ([rt] if rt else []) + qs
                       if c["failure"]]
    return row


def _cold_row(ix: Index) -> dict | None:
    ref_name = registry.REFERENCE
    cold = {r["extra"].get("row", r["impl"]): r["value"] for r in ix.recs if r["metric"] == "coldstart"
            and r["scenario"].startswith("coldstart:")}
    if ref_name not in cold:
        return None
    rss = {r["extra"].get("row", r["impl"]): r["value"] for r in ix.recs if r["metric"] == "peak_rss"}
    exact = [n for n in registry.interventions() if registry.BY_NAME[n].exact]   # int8: no answer without fidelity
    bp = min((k for k in cold if registry.owner(k) in registry.ports()), key=cold.get, default=None)
    br = min((k for k in cold if registry.owner(k) in exact), key=cold.get, default=None)
    gain = (lambda k: cold[ref_name] / cold[k] if k else 0.0)
    pays = bp is not None and gain(bp) >= THRESHOLD and cold[bp] <= cold.get(br, float("inf"))
    best = bp if pays else (br if br and gain(br) >= THRESHOLD else None)
    return {"scenario": "cold start / footprint", "dominant": "process start + imports + load",
            "dominant_bucket": "footprint", "ceiling": None, "port_share": None, "verdict": "yes" if pays else "no",
            "best_port": f"{bp} {cold[bp]:.2f}s vs {ref_name} {cold[ref_name]:.2f}s" if bp else "-",
            "best_runtime": f"{br} {cold[br]:.2f}s" if br else "-", "moved": "the binary's smaller runtime"
            if pays else "-",
            "intervention": (f"{'a compiled binary with a smaller runtime' if pays else 'a lighter runtime'}: "
                             f"{best} ({gain(best):.1f}x faster start, {rss.get(best, 0) / 2**20:.0f} vs "
                             f"{rss.get(ref_name, 0) / 2**20:.0f} MiB peak)") if best
            else f"none measured starts 10% faster than {ref_name}",
            "port_pays": "yes" if pays else "no", "design_says": "yes", "failures": []}


def _browser_row(ix: Index) -> dict:
    br = ix.every("coldstart", "browser")
    web = [n for n in registry.ports() if registry.BY_NAME[n].browser_pages]
    outside = [(n, ix.v(n, "latency_p50", "single")) for n in web if ix.v(n, "latency_p50", "single")]
    return {"scenario": "must run in the browser", "dominant": "deployability", "dominant_bucket": "browser",
            "ceiling": None, "port_share": None, "verdict": "yes",
            "best_port": ", ".join(f"{r['impl']} {r['value']:.0f} ms cold" for r in br) or
            ", ".join(f"{n} outside the browser {v:.1f} ms single" for n, v in outside) or "-",
            "best_runtime": "-", "moved": "-", "intervention": "WASM: the compiled module (or Pyodide)" if (br or outside)
            else "no browser-capable port measured here", "port_pays": "yes: only WASM gets you there",
            "design_says": "yes: only WASM gets you there", "failures": []}


def decision_rows(data: dict) -> list[dict]:
    """One dict per row: each scenario measured (+ cold start/footprint, + browser)."""
    ix = Index(data)
    quick = data.get("machine", {}).get("plan") == "quick"
    gained = {r["scenario"] for r in ix.recs if r["metric"] == "port_gain" and r["impl"] in registry.names()}
    rows = [_scenario_row(ix, sc, quick) for sc in ix.main_scenarios()
            if ix.r(registry.REFERENCE, "full_port_ceiling", sc) or sc in gained]
    return rows + [r for r in (_cold_row(ix), _browser_row(ix)) if r]


def decision_cells(row: dict) -> list:
    ch = [row[c]["cell"] if row.get(c) else "-" for c in registry.CHANGES]
    dom = row["dominant"] + (f" · {fmt_ci(row['ceiling'], row.get('ceiling_ci'))}" if row.get("ceiling") else "")
    return [row["scenario"], dom, *ch, row["best_runtime"], row.get("quant_cell", "-"), row["port_pays"],
            row.get("moved", "-"), row["intervention"]]


def decision_view(data: dict) -> tuple:
    """What the report and the terminal show of the decision: (rows, columns, cells, method failures as
    (scenario, impl, reason), --quick?, the noisy-machine line or None); the quantisation column only where
    this run measured an int8 row."""
    from ..hosts.stability import noisy_line
    rows = decision_rows(data)
    cols, cells = list(DECISION_COLS), [decision_cells(r) for r in rows]
    if not any(r.get("quantisation") for r in rows):
        i = cols.index(QUANT_COL)
        cols, cells = cols[:i] + cols[i + 1:], [c[:i] + c[i + 1:] for c in cells]
    fails = [(r["scenario"], impl, why) for r in rows for impl, why in r.get("failures", [])]
    return rows, cols, cells, fails, data.get("machine", {}).get("plan") == "quick", noisy_line(data.get("records", []))


def print_decision_table(data: dict) -> None:
    from ..console import print_decision
    print_decision(*decision_view(data)[1:])
