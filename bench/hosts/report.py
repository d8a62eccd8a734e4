"""The merged report's writing half (merge.py decides which verdicts differ): the machine, key-figure and per-host
decision tables, report.md, a gains plot with a bar per host, index.html and merged.json naming the sets that went in.
Leaves out: per-host plots of attribution, sweep and footprint (each host's own report has them)."""
from __future__ import annotations

import json
from pathlib import Path

from .. import registry
from ..registry import BUCKETS, REFERENCE as REF
from ..scenarios import SCENARIOS


def compared() -> tuple:
    """The ports, then the cheaper fixes (runtime and algorithm changes), compared with the reference: from the
    registry, read at call time (tests register more)."""
    return tuple(registry.ports() + registry.interventions())


EVEN = 0.05   # a gain within 5% of 1 is "about even", as the decision table's own 5% rule


def describe_host(m: dict) -> list[tuple[str, object]]:
    """One host's machine descriptor as (row name, value) pairs for the machines table."""
    isa = m.get("isa") or {}
    ver = m.get("versions") or {}
    c = m.get("commit") or {}   # results.load: an object or absent
    gpu = (m.get("gpu"), m.get("gpu_driver") and f"driver {m['gpu_driver']}", m.get("cuda") and f"CUDA {m['cuda']}")
    return [("CPU", m.get("cpu")), ("cores / threads used", f"{m.get('cores')} / {m.get('threads')}"),
            ("ISA", " ".join(k for k in ("avx2", "fma", "avx512f", "avx512_vnni", "amx_tile", "neon") if isa.get(k))),
            ("memory GiB", m.get("memory_gib")), ("GPU", " ".join(str(x) for x in gpu if x)),
            ("OS", m.get("os") or m.get("platform"))] + \
        [(k, ver.get(k) or m.get(k)) for k in ("python", "torch", "onnxruntime", "node", "emscripten")] + \
        [("commit", str(c.get("sha", "unknown"))[:12] + (" (dirty)" if c.get("dirty") else "")),
         ("device / plan", f"{m.get('device', 'cpu')} / {m.get('plan', '?')}"),
         ("load average start / end", f"{m.get('load_average_start', '?')} / {m.get('load_average_end', '?')}")]


def machine_rows(sets) -> list[list]:
    cols = [describe_host(s.m) for s in sets]
    return [[name] + [col[k][1] or "-" for col in cols] for k, (name, _) in enumerate(cols[0])]


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _cell(v) -> str:
    if v is None:
        return "-"
    return f"{v:.2f}x" if isinstance(v, float) else str(v)


def figure_rows(sets) -> list[list]:
    """[section, figure, value per host...] for every key figure measured on at least one host."""
    rows = []
    impls = list(dict.fromkeys(r["impl"] for s in sets for r in s.recs if r["metric"] == "latency_p50"))
    for sc in SCENARIOS:
        for impl in impls:
            vals = [s.v(impl, "latency_p50", sc) for s in sets]
            if any(v is not None for v in vals):
                rows.append([f"{sc} p50 ms (gain vs {REF})", impl] +
                            [f"{_num(v)} ({_cell(s.gain(impl, sc))})" if v is not None else "-"
                             for s, v in zip(sets, vals)])
        for impl in impls:
            vals = [s.v(impl, "throughput", sc) for s in sets]
            if sc in ("batch", "long") and any(vals):
                rows.append([f"{sc} texts/s", impl] + [_num(v) if v else "-" for v in vals])
    for impl in dict.fromkeys(r["impl"] for s in sets for r in s.recs if r["metric"] == "tokenize_texts_s"):
        rows.append(["tokenizer texts/s", impl] + [_num(v) if (v := s.v(impl, "tokenize_texts_s", "tokenize"))
                                                   else "-" for s in sets])
    for sc in SCENARIOS:
        if any(s.v(REF, "attribution_tokenize", sc) is not None for s in sets):
            rows.append([f"{sc} {REF} profile", " / ".join(BUCKETS)] + [shares_cell(s, sc) for s in sets])
    for sc in dict.fromkeys(r["scenario"] for s in sets for r in s.recs
                            if r["metric"] == "coldstart" and r["scenario"].startswith("coldstart:")):
        vals = [next((r["value"] for r in s.recs if r["metric"] == "coldstart" and r["scenario"] == sc), None)
                for s in sets]
        rows.append(["cold start s", sc.split(":", 1)[1]] + [f"{v:.2f}" if v else "-" for v in vals])
    return rows


def shares_cell(s, sc: str) -> str:
    b = {k: s.v(REF, f"attribution_{k}", sc) or 0.0 for k in BUCKETS}
    tot = sum(b.values())
    return " / ".join(f"{100 * b[k] / tot:.0f}%" for k in BUCKETS) if tot else "-"


def _md_table(cols, rows) -> str:
    esc = (lambda x: str(x).replace("|", "\\|").replace("\n", "<br>"))
    out = ["| " + " | ".join(esc(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    return "\n".join(out + ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]) + "\n"


def decision_side_by_side(sets) -> dict:
    """{scenario: [[field, value per host...]]}"""
    per = {s.label: {r["scenario"]: r for r in s.decisions} for s in sets}
    fields = (("dominant bucket", "dominant"), ("port ceiling", "ceiling"), ("best port", "best_port"),
              ("best runtime change", "best_runtime"), ("intervention the numbers support", "intervention"),
              ("does a port pay?", "port_pays"))
    out = {}
    for sc in dict.fromkeys(sc for d in per.values() for sc in d):
        out[sc] = [[name] + [_cell(per[s.label].get(sc, {}).get(k)) for s in sets] for name, k in fields]
    return out


def gains(sets) -> dict:
    """{scenario: {impl: [gain vs python_ref per host]}} for the ports and runtime changes measured."""
    out = {}
    for sc in SCENARIOS:
        d = {i: [s.gain(i, sc) for s in sets] for i in compared()}
        d = {i: g for i, g in d.items() if any(g)}
        if d:
            out[sc] = d
    return out


def plot_gains(sets, path: Path) -> bool:
    """A bar per host and gain (`gains`), a panel per scenario; False when nothing was measured."""
    gains_ = gains(sets)
    if not gains_:
        return False
    labels = [s.label for s in sets]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(gains_), figsize=(5.2 * len(gains_), 4.2), squeeze=False)
    w = 0.8 / len(labels)
    for ax, (sc, by_impl) in zip(axes[0], gains_.items()):
        impls = list(by_impl)
        for k, label in enumerate(labels):
            ax.bar([x + k * w for x in range(len(impls))], [by_impl[i][k] or 0 for i in impls], w, label=label)
        ax.axhline(1.0, color="grey", ls=":")
        ax.set_xticks([x + w * (len(labels) - 1) / 2 for x in range(len(impls))], impls, rotation=30, fontsize=8)
        ax.set_title(sc)
        ax.set_ylabel(f"gain vs {REF} (p50 ÷ p50)")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"gain over {REF}, one bar per host (above the dotted line: faster)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def merged_markdown(sets, diffs, why, plots) -> str:
    cols = [s.label + (" †" if s.marks else "") for s in sets]
    md = ["# portbench: results across hosts\n",
          f"{len(sets)} result sets: " + ", ".join(f"`{s.label}` ({s.path})" for s in sets) + ".\n"]
    if why:
        md.append("\n**Mixed:** " + "; ".join(why) + ". Columns marked † differ: " +
                  "; ".join(f"{s.label}: {', '.join(s.marks)}" for s in sets if s.marks) + ".\n"
                  if any(s.marks for s in sets) else "\n**Note:** " + "; ".join(why) + ".\n")
    md.append("\nEach host measured on its own (warm-up, interleaved rounds, medians); a figure compares "
              "implementations within one host's run. Across hosts, compare the verdicts, not raw milliseconds "
              "of different plans or loads (see the load averages).\n")
    md.append("\n## Verdicts that differ between hosts\n\n")
    if diffs:
        md.append(f"Figures: each host's gain vs {REF} (p50 ÷ p50) with a 95% bootstrap interval over its "
                  "per-round paired ratios where rounds were recorded. A difference whose intervals overlap may be "
                  "noise: re-run before acting on it.\n\n")
        md.append(_md_table(["scenario", "verdict"] + cols + ["figures behind it", "how sure"],
                            [[d["scenario"], d["verdict"]] + [d["values"][s.label] for s in sets] +
                             ["\n".join(f"{k}: {v}" for k, v in d["figures"].items()), d["how_sure"]] for d in diffs]))
    else:
        md.append("None: every host's decision table reaches the same verdicts.\n")
    md.append("\n## Machines\n\n" + _md_table(["", *cols], machine_rows(sets)))
    md.append("\n## Key figures\n\n" + _md_table(["figure", "impl", *cols], figure_rows(sets)))
    if "gains.png" in plots:
        md.append("\n![gains](gains.png)\n")
    md.append("\n## Decision table per host\n\n")
    for sc, rows in decision_side_by_side(sets).items():
        md.append(f"**{sc}**\n\n" + _md_table(["", *cols], rows) + "\n")
    return "".join(md)


def render_report(sets, diffs, why, out: Path) -> list[Path]:
    from ..report import to_html
    plots = ["gains.png"] if plot_gains(sets, out / "gains.png") else []
    md = merged_markdown(sets, diffs, why, plots)
    (out / "report.md").write_text(md)
    (out / "index.html").write_text(to_html(md, out).replace("<title>portbench report", "<title>portbench: hosts"))
    (out / "merged.json").write_text(json.dumps(
        {"sets": [{"label": s.label, "path": s.path, "machine": s.m, "marks": s.marks} for s in sets],
         "mixed": why, "differing": diffs}, indent=1, default=str))
    return [out / "report.md", out / "index.html", out / "merged.json"] + [out / p for p in plots]
