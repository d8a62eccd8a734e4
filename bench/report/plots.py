"""The report's PNG plots (matplotlib, Agg): attribution stacked bars, latency vs batch size with
crossovers, cold start, footprint. Each returns False when the records hold nothing to plot."""
from __future__ import annotations

from pathlib import Path

from ..registry import BUCKETS, REFERENCE
from .index import Index, cold_rows, crossovers, foot_rows, sweep_table

COLORS = {"tokenize": "#4c72b0", "model_kernels": "#dd8452", "dispatch_overhead": "#c44e52", "io": "#55a868"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_attribution(ix: Index, path: Path) -> bool:
    scs = [s for s in ix.main_scenarios() if any(r["scenario"] == s and r["metric"].startswith("attribution_")
                                            for r in ix.recs)]
    if not scs:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, len(scs), figsize=(5.2 * len(scs), 4.2), squeeze=False)
    for ax, sc in zip(axes[0], scs):
        impls = [i for i in dict.fromkeys(r["impl"] for r in ix.recs if r["scenario"] == sc
                                           and r["metric"] == "attribution_tokenize")]
        left = [0.0] * len(impls)
        for b in BUCKETS:
            vals = [ix.v(i, f"attribution_{b}", sc, 0.0) for i in impls]
            ax.barh(impls, vals, left=left, color=COLORS[b], label=b)
            left = [x + y for x, y in zip(left, vals)]
        ax.set_title(f"{sc}")
        ax.set_xlabel("ms per embed call")
        ax.invert_yaxis()
    axes[0][0].legend(loc="lower right", fontsize=8)
    fig.suptitle("attribution: where embed time goes")
    return _save(plt, fig, path)


def _save(plt, fig, path: Path) -> bool:
    """The end every plot shares: lay out, write the PNG, free the figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_sweep(ix: Index, path: Path) -> bool:
    st = sweep_table(ix)
    if not st:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, len(st), figsize=(5.5 * len(st), 4.2), squeeze=False)
    cross = crossovers(ix, table=st)
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
    return _save(plt, fig, path)


def plot_coldstart(ix: Index, path: Path) -> bool:
    rows = cold_rows(ix)
    if not rows:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 0.4 * len(rows) + 1.5))
    ax.barh([r[0] for r in rows], [r[1] for r in rows], color="#8172b3")
    for i, (_, v) in enumerate(rows):
        ax.text(v, i, f" {v:.2f}s", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds, fresh process -> first embedding (median)")
    ax.set_title("cold start")
    return _save(plt, fig, path)


def plot_footprint(ix: Index, path: Path) -> bool:
    rows = [r for r in foot_rows(ix) if "rss" in r or "own" in r]
    if not rows:
        return False
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 0.4 * len(rows) + 1.8))
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
    return _save(plt, fig, path)


PLOTS = (("attribution.png", plot_attribution), ("latency_vs_batch.png", plot_sweep),
         ("coldstart.png", plot_coldstart), ("footprint.png", plot_footprint))
