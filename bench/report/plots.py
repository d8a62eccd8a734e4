"""The report's PNG plots (matplotlib, Agg): attribution shares with ceilings and gains, latency vs batch size,
cold start, footprint. Each returns False when the records hold nothing to plot."""
from __future__ import annotations

from pathlib import Path

from ..registry import REFERENCE
from .index import Index, cold_figures, crossovers, foot_rows, sweep_table

COLORS = {"tokenize": "#4c72b0", "model_kernels": "#dd8452", "framework_overhead": "#c44e52", "io": "#55a868",
          "unattributed": "#cccccc"}


def _subplots(*args, **kw):
    """plt.subplots on the Agg backend (matplotlib is imported only to draw)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt.subplots(*args, **kw)


def _removed(x) -> float:
    """A gain (or ceiling) as the share of the baseline's time it removes, 1 - 1/x, clipped to [-0.05, 1]."""
    if x is None or not x > 0:
        return -0.05
    return max(-0.05, min(1.0, 1.0 - 1.0 / x))


def plot_attribution(ix: Index, path: Path) -> bool:
    """100% stacked bars of each embed wall by bucket, with each row's ceiling (▼) and gain (●, 95% interval)
    as the share of the baseline's time they remove."""
    scs = [s for s in ix.main_scenarios() if any(r["scenario"] == s and r["metric"].startswith("attribution_")
                                            for r in ix.recs)]
    if not scs:
        return False
    impls_of = {sc: ix.splits(sc) for sc in scs}
    n = max(len(v) for v in impls_of.values())
    fig, axes = _subplots(1, len(scs), figsize=(5.6 * len(scs), 0.45 * n + 2.2), squeeze=False)
    for ax, sc in zip(axes[0], scs):
        atts = impls_of[sc]
        names = [a["impl"] for a in atts]
        parts = {a["impl"]: {k: max(0.0, a["shares"].get(k) or 0.0) for k in COLORS} for a in atts}
        left = [0.0] * len(atts)
        for k in COLORS:
            vals = [parts[i][k] / (sum(parts[i].values()) or 1) for i in names]
            ax.barh(names, vals, left=left, color=COLORS[k], label=k, height=0.6)
            left = [x + y for x, y in zip(left, vals)]
        for y, i in enumerate(names):
            g, c = ix.r(i, "port_gain", sc), ix.r(i, "port_ceiling", sc)
            if c and c["value"] is not None:
                ax.plot([_removed(c["value"])], [y - 0.38], "v", color="black", ms=7)
            if g and g["value"]:
                x, lo, hi = _removed(g["value"]), *sorted(_removed(v) for v in g["extra"]["ci"] or (0, 0))
                color = "#c00000" if g["extra"].get("method_failure") else "black"
                ax.errorbar([x], [y + 0.38], xerr=[[x - min(lo, x)], [max(hi, x) - x]], fmt="o", color=color,
                            ms=4, capsize=2)
                ax.text(1.02, y, f"{g['value']:.2f}x" + (f" ≤{c['value']:.2f}x" if c and c["value"] else ""),
                        va="center", fontsize=7, color=color)
        ax.set_xlim(-0.05, 1.22)
        ax.set_title(sc)
        ax.set_xlabel("share of the embed wall; ▼ ceiling, ● gain (share of the baseline's time removed)", fontsize=7)
        ax.invert_yaxis()
    h, lb = axes[0][0].get_legend_handles_labels()
    fig.legend(h, lb, loc="lower center", ncol=len(lb), fontsize=8, frameon=False)
    fig.suptitle("attribution: where embed time goes (100% = its embed wall), with ceilings and gains")
    return _save(fig, path, rect=(0, 0.07, 1, 1))


def _save(fig, path: Path, rect=(0, 0, 1, 1)) -> bool:
    """The end every plot shares: lay out, write the PNG, free the figure."""
    import matplotlib.pyplot as plt
    fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_sweep(ix: Index, path: Path) -> bool:
    st = sweep_table(ix)
    if not st:
        return False
    fig, axes = _subplots(1, len(st), figsize=(5.5 * len(st), 4.2), squeeze=False)
    cross = crossovers(st)
    for ax, (length, d) in zip(axes[0], st.items()):
        for impl, pts in d.items():
            ax.plot([b for b, _ in pts], [v for _, v in pts], marker="o", label=impl)
        for ln, impl, x in cross:
            if ln == length:
                ax.axvline(x, ls=":", color="grey")
                ax.annotate(f"{impl}\nx {REFERENCE}\n@{x:.0f}", (x, ax.get_ylim()[1]), fontsize=7, va="top")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel("ms per text (p50 / batch)")
        ax.set_title(f"{length} texts")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"latency vs batch size (dotted: crossover with {REFERENCE})")
    return _save(fig, path)


def plot_coldstart(ix: Index, path: Path) -> bool:
    rows = cold_figures(ix)
    if not rows:
        return False
    fig, ax = _subplots(figsize=(7.5, 0.4 * len(rows) + 1.5))
    ax.barh([r[0] for r in rows], [r[1] for r in rows], color="#8172b3")
    for i, (_, v) in enumerate(rows):
        ax.text(v, i, f" {v:.2f}s", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds, fresh process -> first embedding (median)")
    ax.set_title("cold start")
    return _save(fig, path)


def plot_footprint(ix: Index, path: Path) -> bool:
    rows = [r for r in foot_rows(ix) if "rss" in r or "own" in r]
    if not rows:
        return False
    fig, (a1, a2) = _subplots(1, 2, figsize=(12, 0.4 * len(rows) + 1.8))
    names = [r["row"] for r in rows]
    a1.barh(names, [r.get("rss", 0) / 2**20 for r in rows], color="#937860")
    a1.set_xlabel("peak RSS, MiB")
    a1.invert_yaxis()
    left = [0.0] * len(rows)
    for k, c in (("own", "#4c72b0"), ("deps", "#dd8452"), ("runtime", "#8c8c8c")):
        vals = [r.get(k, 0) / 1e6 for r in rows]
        a2.barh(names, vals, left=left, color=c, label=k)
        left = [x + y for x, y in zip(left, vals)]
    a2.set_xlabel("bytes on disk, MB (model weights apart)")
    a2.invert_yaxis()
    a2.legend(fontsize=8)
    fig.suptitle("footprint")
    return _save(fig, path)


PLOTS = (("attribution.png", plot_attribution), ("latency_vs_batch.png", plot_sweep),
         ("coldstart.png", plot_coldstart), ("footprint.png", plot_footprint))
