"""The report (DESIGN §7 output): results.json -> report.md, PNG plots (matplotlib, Agg) and a
static index.html that works offline (plots inlined as base64). It ends with DESIGN's decision
table filled in from this machine's measurements; `print_decision_table` shows it on the terminal.

`python -m bench.report DIR` rebuilds the report from DIR/results.json.
Leaves out: interactive plots, comparisons across machines.
"""
from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path

from .measure.attribution import BUCKETS, ceiling, from_records, port_ceiling, shares

PORTS = ("cython_ext", "numba_variant", "cpp_port", "wasm_port")
RUNTIME_CHANGES = ("python_ref_compile", "onnxruntime")
MAIN_SCENARIOS = ("single", "batch", "long", "batch256")
COLORS = {"tokenize": "#4c72b0", "model_kernels": "#dd8452", "dispatch_overhead": "#c44e52", "io": "#55a868"}
DESIGN_ROWS = {  # DESIGN's opening table: dominant bucket -> (cheapest fitting intervention, does a port pay?)
    "model_kernels": ("a better runtime (ONNX Runtime, torch.compile, TensorRT), quantisation, fusion",
                      "no: the kernels are already native"),
    "dispatch_overhead": ("Cython or Numba on the bounded hot loop; a C++ layer", "yes, in proportion to that share"),
    "tokenize": ("Cython or Numba on the bounded hot loop; a C++ layer", "yes, in proportion to that share"),
    "io": ("an async pipeline, batching, prefetch, sorting by length", "no"),
}


def load(path) -> dict:
    return json.loads(Path(path).read_text())


class Index:
    """records -> lookups by (impl, metric, scenario)."""

    def __init__(self, data: dict):
        self.data, self.recs = data, data["records"]
        self.by = {(r["impl"], r["metric"], r["scenario"]): r for r in self.recs}

    def v(self, impl, metric, scenario, default=None):
        r = self.by.get((impl, metric, scenario))
        return r["value"] if r else default

    def r(self, impl, metric, scenario):
        return self.by.get((impl, metric, scenario))

    def impls(self, metric, scenario) -> list[str]:
        return [r["impl"] for r in self.recs if r["metric"] == metric and r["scenario"] == scenario]

    def scenarios(self, prefix: str = "", metric: str = "latency_p50") -> list[str]:
        seen = []
        for r in self.recs:
            if r["metric"] == metric and r["scenario"].startswith(prefix) and r["scenario"] not in seen:
                seen.append(r["scenario"])
        return seen

    def gain(self, impl, scenario, base="python_ref"):
        a, b = self.v(base, "latency_p50", scenario), self.v(impl, "latency_p50", scenario)
        return a / b if a and b else None


def _f(x, nd=3):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}g}" if abs(x) < 1e4 else f"{x:,.0f}"
    return str(x)


def _md_table(cols, rows) -> str:
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_f(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


# -- the decision table -----------------------------------------------------------------------------
def decision_rows(data: dict) -> list[dict]:
    """One row per scenario measured (+ cold start/footprint, + browser): the dominant bucket in
    python_ref's profile, the port ceiling, the best measured port and runtime change, and what the
    numbers support."""
    ix = Index(data)
    rows = []
    for sc in [s for s in MAIN_SCENARIOS if s in ix.scenarios()]:
        ref = from_records(ix.recs, "python_ref", sc)
        if ref is None:
            continue
        c, sh = ceiling(ref), shares(ref)
        ports = {p: ix.gain(p, sc) for p in PORTS if ix.gain(p, sc)}
        rts = {p: ix.gain(p, sc) for p in RUNTIME_CHANGES if ix.gain(p, sc)}
        bp = max(ports, key=ports.get) if ports else None
        br = max(rts, key=rts.get) if rts else None
        pg, rg = (ports[bp] if bp else 0.0), (rts[br] if br else 0.0)
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
            sb = ix.r("python_ref", "sorted_batching_s", "large_input")
            if sb and sb["extra"].get("speedup", 1) >= 1.05:
                supported += f"; for large mixed inputs sort by length ({sb['extra']['speedup']:.2f}x)"
        rows.append({"scenario": sc, "dominant": f"{dom} ({100 * sh[dom]:.0f}%)", "dominant_bucket": dom,
                     "ceiling": c["max_speedup"], "port_share": c["port_share"],
                     "best_port": f"{bp} {pg:.2f}x" if bp else "-", "best_runtime": f"{br} {rg:.2f}x" if br else "-",
                     "intervention": supported, "port_pays": ("yes: " if port_pays else "no: ") +
                     (f"{bp} {pg:.2f}x of a {c['max_speedup']:.2f}x ceiling" if bp else "no port measured"),
                     "design_says": DESIGN_ROWS[dom][1]})
    cold = {r["extra"].get("row", r["impl"]): r["value"] for r in ix.recs if r["metric"] == "coldstart"}
    if cold and "python_ref" in cold:
        from .measure.coldstart import impl_of
        rss = {r["extra"].get("row", r["impl"]): r["value"] for r in ix.recs if r["metric"] == "peak_rss"}
        ports = {k: v for k, v in cold.items() if impl_of(k) in PORTS}
        others = {k: v for k, v in cold.items() if impl_of(k) in RUNTIME_CHANGES}
        bp = min(ports, key=ports.get) if ports else None
        br = min(others, key=others.get) if others else None
        gain = (lambda k: cold["python_ref"] / cold[k] if k else 0.0)
        pays = bp is not None and gain(bp) >= 1.10 and cold[bp] <= cold.get(br, float("inf"))
        best = bp if pays else (br if br and gain(br) >= 1.10 else None)
        rows.append({"scenario": "cold start / footprint", "dominant": "process start + imports + load",
                     "dominant_bucket": "footprint", "ceiling": None, "port_share": None,
                     "best_port": f"{bp} {cold[bp]:.2f}s vs python_ref {cold['python_ref']:.2f}s" if bp else "-",
                     "best_runtime": f"{br} {cold[br]:.2f}s" if br else "-",
                     "intervention": (f"{'a compiled binary with a smaller runtime' if pays else 'a lighter runtime'}: "
                                      f"{best} ({gain(best):.1f}x faster start, {rss.get(best, 0) / 2**20:.0f} vs "
                                      f"{rss.get('python_ref', 0) / 2**20:.0f} MiB peak)") if best
                     else "none measured starts 10% faster than python_ref",
                     "port_pays": "yes" if pays else "no", "design_says": "yes"})
    br = [r for r in ix.recs if r["scenario"] == "browser" and r["metric"] == "coldstart"]
    wasm_node = ix.v("wasm_port", "latency_p50", "single")
    rows.append({"scenario": "must run in the browser", "dominant": "deployability", "dominant_bucket": "browser",
                 "ceiling": None, "port_share": None,
                 "best_port": ", ".join(f"{r['impl']} {r['value']:.0f} ms cold" for r in br) or
                 (f"wasm_port in Node {wasm_node:.1f} ms single" if wasm_node else "-"),
                 "best_runtime": "-", "intervention": "WASM: the compiled module (or Pyodide)" if (br or wasm_node)
                 else "wasm_port not measured here", "port_pays": "yes: only WASM gets you there",
                 "design_says": "yes: only WASM gets you there"})
    return rows


DECISION_COLS = ["scenario", "dominant bucket (python_ref)", "port ceiling", "best port (gain)",
                 "best runtime change (gain)", "intervention the numbers support", "does a port pay?"]


def _decision_cells(row: dict) -> list:
    return [row["scenario"], row["dominant"], f"{row['ceiling']:.2f}x" if row["ceiling"] else "-", row["best_port"],
            row["best_runtime"], row["intervention"], row["port_pays"]]


def print_decision_table(data: dict) -> None:
    from rich.console import Console
    from rich.table import Table
    t = Table(title="decision table (DESIGN), filled from this machine's measurements")
    for c in DECISION_COLS:
        t.add_column(c, overflow="fold")
    for row in decision_rows(data):
        t.add_row(*[str(c) for c in _decision_cells(row)])
    Console(width=None if sys.stdout.isatty() else 200).print(t)


# -- plots --------------------------------------------------------------------------------------------
def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_attribution(ix: Index, path: Path) -> bool:
    scs = [s for s in MAIN_SCENARIOS if any(r["scenario"] == s and r["metric"].startswith("attribution_")
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


def sweep_table(ix: Index) -> dict:
    """{length: {impl: [(batch, per-text ms)]}} from sweep:<b>x<len> records."""
    out: dict = {}
    for r in ix.recs:
        m = re.fullmatch(r"sweep:(\d+)x(\w+)", r["scenario"])
        if m and r["metric"] == "latency_p50":
            b = int(m.group(1))
            out.setdefault(m.group(2), {}).setdefault(r["impl"], []).append((b, r["value"] / b))
    for d in out.values():
        for v in d.values():
            v.sort()
    return out


def _save(plt, fig, path: Path) -> bool:
    """The end every plot shares: lay out, write the PNG, free the figure."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def crossovers(ix: Index, base: str = "python_ref", table: dict | None = None) -> list[tuple]:
    """(length, impl, batch where impl's per-text latency crosses base's) for each pair that crosses."""
    from .measure.sweep import crossover
    out = []
    for length, d in (table if table is not None else sweep_table(ix)).items():
        if base not in d:
            continue
        xs = [b for b, _ in d[base]]
        for impl, pts in d.items():
            if impl == base or [b for b, _ in pts] != xs or len(xs) < 2:
                continue
            x = crossover(xs, [v for _, v in pts], [v for _, v in d[base]])
            if x is not None:
                out.append((length, impl, x))
    return out


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
                ax.annotate(f"{impl}\nx python_ref\n@{x:.0f}", (x, ax.get_ylim()[1]), fontsize=7, va="top")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel("ms per text (p50 / batch)")
        ax.set_title(f"{length} texts")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("latency vs batch size (dotted: crossover with python_ref)")
    return _save(plt, fig, path)


def cold_rows(ix: Index) -> list[tuple]:
    rows = [(r["extra"].get("row", r["impl"]), r["value"]) for r in ix.recs if r["metric"] == "coldstart"
            and r["scenario"].startswith("coldstart:")]
    rows += [(f"{r['impl']} (browser)", r["value"] / 1e3) for r in ix.recs
             if r["metric"] == "coldstart" and r["scenario"] == "browser"]
    return rows


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


def foot_rows(ix: Index) -> list[dict]:
    rows = {}
    for r in ix.recs:
        if r["scenario"].startswith("footprint:"):
            row = rows.setdefault(r["scenario"].split(":", 1)[1], {})
            if r["metric"] == "peak_rss":
                row["rss"] = r["value"]
            elif r["metric"] == "disk_bytes":
                row.update(own=r["extra"]["own"], deps=r["extra"]["deps"], runtime=r["extra"]["runtime"],
                           packages=r["extra"].get("packages", {}))
    for r in ix.recs:
        if r["scenario"] == "browser" and r["metric"] in ("bytes_total", "bytes_runtime", "wasm_memory"):
            rows.setdefault(f"{r['impl']} (browser)", {})[r["metric"]] = r["value"]
    return [{"row": k, **v} for k, v in rows.items()]


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


# -- markdown ----------------------------------------------------------------------------------------
def markdown(data: dict, plots: list[str]) -> str:
    ix = Index(data)
    m = data["machine"]
    md = ["# portbench report\n",
          f"Machine: **{m.get('cpu')}**, {m.get('cores')} cores, {m.get('threads')} torch threads (pinned, equal "
          f"for all), Python {m.get('python')}, torch {m.get('torch')}, host `{m.get('host')}`, device "
          f"`{m.get('device', 'cpu')}`, plan `{m.get('plan', '?')}`, load average {m.get('load_average_start', '?')} at "
          f"the start and {m.get('load_average_end', '?')} at the end. Model: `{m.get('model', '?')}`.\n",
          "Method: warm-up first, every implementation interleaved round by round (A/B pairs under the same "
          "conditions), medians; repeats set by a time budget per part. Gains are python_ref's p50 over the "
          "implementation's p50 on the same texts.\n"]
    if m.get("notes"):
        md.append("Notes:\n\n" + "".join(f"- {n}\n" for n in m["notes"]))
    if m.get("parts_s"):
        md.append("Time per part: " + ", ".join(f"{k} {v:.0f}s" for k, v in m["parts_s"].items()) + ".\n")

    eq = [r for r in ix.recs if r["scenario"] == "equivalence" and r["metric"] == "equivalence_id_mismatches"]
    if eq:
        e0 = eq[0]["extra"]
        md.append(f"\n## Equivalence\n\nOn {e0.get('corpus')}: ids against HF tokenizers (exact) on all "
                  f"{e0.get('texts')} texts, embeddings against sentence-transformers on an even sample of "
                  f"{e0.get('embedded', e0.get('texts'))} (`bench equivalence` embeds them all).\n\n")
        md.append(_md_table(["impl", "id mismatches", "max abs diff", "tolerance", "min cosine", "ok"],
                            [[r["impl"], int(r["value"]), ix.v(r["impl"], "equivalence_max_abs", "equivalence"),
                              r["extra"].get("tol"), r["extra"].get("min_cos"),
                              "yes" if r["extra"].get("ok") else f"NO {r['extra'].get('error', '')}"] for r in eq]))

    md.append("\n## Latency and throughput\n\n")
    rows = []
    for sc in [s for s in MAIN_SCENARIOS if s in ix.scenarios()]:
        for impl in ix.impls("latency_p50", sc):
            r = ix.r(impl, "latency_p50", sc)
            rows.append([sc, impl, r["extra"]["batch"], r["value"], ix.v(impl, "latency_p90", sc),
                         ix.v(impl, "latency_p99", sc), ix.v(impl, "throughput", sc),
                         ix.v(impl, "throughput_tokens", sc), ix.gain(impl, sc),
                         r["extra"].get("ratio_vs_sentence_transformers"), r["extra"].get("n")])
    md.append(_md_table(["scenario", "impl", "batch", "p50 ms", "p90 ms", "p99 ms", "texts/s", "tokens/s",
                         "gain vs python_ref", "time ÷ sentence_transformers", "samples"], rows))
    tok = ix.impls("tokenize_texts_s", "tokenize")
    if tok:
        md.append("\nTokenizer alone (single thread, batches of 64, the whole corpus):\n\n")
        md.append(_md_table(["impl", "texts/s", "MB/s", "× hf_tokenizers"],
                            [[i, ix.v(i, "tokenize_texts_s", "tokenize"), ix.v(i, "tokenize_mb_s", "tokenize"),
                              ix.r(i, "tokenize_texts_s", "tokenize")["extra"].get("speedup_vs_hf_tokenizers")]
                             for i in tok]))

    md.append("\n## Attribution: where the time goes, the ceiling and the gain\n\n"
              "Buckets per embed call: `tokenize` (wall of tokenize), `model_kernels` (torch.profiler: self CPU "
              "time of the ops that do data work, i.e. every aten op except composite wrappers such as "
              "aten::linear and view/allocation ops; on CUDA the CUDA kernel time), `io` (numpy↔torch↔device "
              "for the batch in and the embeddings out; for wasm_port the Python↔Node pipe), `dispatch_overhead` "
              "(forward wall − kernels − io: interpreter, dispatcher, allocator, glue). cpp_port's LibTorch ops "
              "run in the same process and the profiler sees them; wasm_port's buckets are timed inside Node "
              "(its kernels are its own). `sum err` compares the four buckets (measured separately) with the "
              "embed wall.\n\n")
    for sc in [s for s in MAIN_SCENARIOS if s in ix.scenarios()]:
        ref = from_records(ix.recs, "python_ref", sc)
        rows = []
        for impl in ix.impls("attribution_tokenize", sc):
            a = from_records(ix.recs, impl, sc)
            s = shares(a)
            rows.append([impl] + [f"{a['buckets'][b] * 1e3:.3g} ({100 * s[b]:.0f}%)" for b in BUCKETS] +
                        [a["embed_wall"] * 1e3, f"{100 * a['sum_error']:.1f}%",
                         port_ceiling(impl, ref) if ref else None, ix.gain(impl, sc)])
        md.append(f"**{sc}**" + (f": python_ref's profile gives a port ceiling of "
                                 f"**{ceiling(ref)['max_speedup']:.2f}x** (tokenize + dispatch = "
                                 f"{100 * ceiling(ref)['port_share']:.0f}% of the time; tokenizer alone "
                                 f"{ceiling(ref)['tokenizer_max_speedup']:.2f}x)" if ref else "") + "\n\n")
        md.append(_md_table(["impl"] + [f"{b} ms" for b in BUCKETS] + ["embed wall ms", "sum err",
                                                                        "its ceiling", "measured gain"], rows))
        md.append("\n")
    if "attribution.png" in plots:
        md.append("![attribution](attribution.png)\n")

    st = sweep_table(ix)
    if st:
        md.append("\n## Sweep: batch size × length\n\nPer-text latency (p50 ÷ batch, ms):\n\n")
        for length, d in st.items():
            bs = sorted({b for v in d.values() for b, _ in v})
            md.append(f"*{length}*\n\n" + _md_table(["impl"] + [f"batch {b}" for b in bs],
                                                     [[i] + [dict(v).get(b) for b in bs] for i, v in d.items()]) + "\n")
        cross = crossovers(ix, table=st)
        md.append("\nCrossovers with python_ref (batch size where the order flips): " +
                  ("; ".join(f"{impl} on {ln} texts at ~{x:.0f}" for ln, impl, x in cross) or "none in this range")
                  + ".\n\n")
        if "latency_vs_batch.png" in plots:
            md.append("![latency vs batch](latency_vs_batch.png)\n")

    md.append("\n## Cheaper interventions first\n\n")
    comp = ix.r("python_ref_compile", "compile_s", "compile")
    if comp:
        md.append(f"- torch.compile: {comp['value']:.1f}s of compiling before the first results "
                  "(not in the latencies below).\n")
    sb = ix.r("python_ref", "sorted_batching_s", "large_input")
    if sb:
        e = sb["extra"]
        md.append(f"- Sorting a large input by length (python_ref, {e['texts']} mixed texts, batch {e['batch']}): "
                  f"{ix.v('python_ref', 'unsorted_batching_s', 'large_input'):.2f}s unsorted, {sb['value']:.2f}s "
                  f"sorted = **{e['speedup']:.2f}x**; padded tokens {e['padded_unsorted']} → {e['padded_sorted']} "
                  f"(real: {e['tokens']}); same embeddings (max |Δ| {e['max_abs_diff']:.1e}).\n")
    rows = []
    for sc in [s for s in MAIN_SCENARIOS if s in ix.scenarios()]:
        ports = {p: ix.gain(p, sc) for p in PORTS if ix.gain(p, sc)}
        rts = {p: ix.gain(p, sc) for p in RUNTIME_CHANGES if ix.gain(p, sc)}
        bp, br = (max(ports, key=ports.get) if ports else None), (max(rts, key=rts.get) if rts else None)
        win = "-" if not (bp or br) else ("runtime change" if br and (not bp or rts[br] >= ports[bp]) else "port")
        rows.append([sc, f"{bp} {ports[bp]:.2f}x" if bp else "-", f"{br} {rts[br]:.2f}x" if br else "not measured",
                     win])
    md.append("\nDoes a runtime change beat a port?\n\n" + _md_table(["scenario", "best port", "best runtime change",
                                                                     "winner"], rows))

    cr = cold_rows(ix)
    if cr:
        md.append("\n## Cold start\n\nA fresh process, from its start to the first embedding, timed from the parent "
                  "(median). Files are in the page cache after the first run. numba_variant's JIT cold row uses an "
                  "empty NUMBA_CACHE_DIR, its cached row the cache that run wrote.\n\n")
        md.append(_md_table(["row", "seconds"], cr))
        if "coldstart.png" in plots:
            md.append("\n![cold start](coldstart.png)\n")
    fr = foot_rows(ix)
    if fr:
        wb = ix.v("model_weights", "disk_bytes", "footprint")
        md.append("\n## Footprint\n\nPeak RSS of the cold-start child (load, one text, then 8 medium texts). "
                  "Bytes on disk of what that process actually used: `own` (this repo's files), `deps` (third-party "
                  "packages whole, or just the libraries mapped), `runtime` (interpreter + stdlib, or node); system "
                  f"libraries apart. Model weights apart: {wb / 1e6:.1f} MB.\n\n" if wb else "\n## Footprint\n\n")
        md.append(_md_table(["row", "peak RSS MiB", "own MB", "deps MB", "runtime MB", "largest deps",
                             "browser bytes MB", "wasm memory MiB"],
                            [[r["row"], r.get("rss", 0) / 2**20 if "rss" in r else None,
                              r["own"] / 1e6 if "own" in r else None, r["deps"] / 1e6 if "deps" in r else None,
                              r["runtime"] / 1e6 if "runtime" in r else None,
                              ", ".join(f"{k} {v / 1e6:.0f}MB" for k, v in list(r.get("packages", {}).items())[:3]),
                              r["bytes_total"] / 1e6 if "bytes_total" in r else None,
                              r["wasm_memory"] / 2**20 if "wasm_memory" in r else None] for r in fr]))
        if "footprint.png" in plots:
            md.append("\n![footprint](footprint.png)\n")

    loc = [r for r in ix.recs if r["metric"] == "loc_code"]
    if loc:
        md.append("\n## Maintenance\n\nLines of code (cloc; generated tables apart), glue lines (bindings, C ABI, "
                  "adapters, loaders), build time, and what each brings.\n\n")
        tc = {r["impl"]: r["extra"]["toolchain"] for r in ix.recs if r["metric"] == "toolchain"}
        rows = []
        for r in loc:
            i, e = r["impl"], r["extra"]
            b = ix.r(i, "build_s", "maintenance")
            rows.append([i, int(r["value"]), ", ".join(f"{k} {n}" for k, n in e["by_language"].items()),
                         int(ix.v(i, "loc_glue", "maintenance", 0)), e.get("generated", 0),
                         f"{b['value']:.0f}s ({b['extra']['how']})" if b else "not measured",
                         ", ".join(tc.get(i, []))])
        md.append(_md_table(["impl", "code", "by language", "glue", "generated", "build", "toolchain"], rows))
        vers = next((r["extra"]["versions"] for r in ix.recs if r["metric"] == "toolchain"), None)
        if vers:
            md.append("\nVersions here: " + "; ".join(f"{k} {v}" for k, v in vers.items()) + ".\n")

    brs = [r for r in ix.recs if r["host"] == "chromium" and r["metric"].startswith("latency")]
    if brs:
        md.append("\n## Browser (headless Chromium, one thread)\n\n")
        md.append(_md_table(["impl", "scenario", "metric", "value", "unit"],
                            [[r["impl"], r["scenario"], r["metric"], r["value"], r["unit"]] for r in brs]))

    md.append("\n## Decision table\n\nDESIGN's table, filled in from this machine: the dominant bucket in "
              "python_ref's profile, the most a port can gain (1 / (1 − share of tokenize + dispatch)), the best "
              "gains measured, and the intervention those numbers support.\n\n")
    md.append(_md_table(DECISION_COLS, [_decision_cells(r) for r in decision_rows(data)]))
    return "".join(md)


HTML = """<!doctype html><html><head><meta charset="utf-8"><title>portbench report</title><style>
body{font:14px/1.45 system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:12.5px}th,td{border:1px solid #ccc;padding:3px 7px}
th{background:#f2f2f2}tr:nth-child(even){background:#fafafa}img{max-width:100%}code{background:#f4f4f4}
</style></head><body>
@BODY@
</body></html>
"""


def to_html(md: str, out: Path) -> str:
    try:
        from markdown_it import MarkdownIt
        body = MarkdownIt("commonmark").enable("table").render(md)
    except ImportError:   # rich depends on markdown-it-py, so this is a fallback only
        import html
        body = f"<pre>{html.escape(md)}</pre>"

    def inline(m):
        f = out / m.group(1)
        if not f.is_file():
            return m.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(f.read_bytes()).decode()}"'
    return HTML.replace("@BODY@", re.sub(r'src="([\w.-]+\.png)"', inline, body))


def write(out_dir, data: dict | None = None) -> list[Path]:
    """report.md, the PNGs and index.html into out_dir, from data or out_dir/results.json."""
    out = Path(out_dir)
    data = data if data is not None else load(out / "results.json")
    ix = Index(data)
    plots = [name for name, fn in (("attribution.png", plot_attribution), ("latency_vs_batch.png", plot_sweep),
                                   ("coldstart.png", plot_coldstart), ("footprint.png", plot_footprint))
             if fn(ix, out / name)]
    md = markdown(data, plots)
    (out / "report.md").write_text(md)
    (out / "index.html").write_text(to_html(md, out))
    return [out / "report.md", out / "index.html"] + [out / p for p in plots]


if __name__ == "__main__":
    d = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
    print("\n".join(str(p) for p in write(d)))
    print_decision_table(load(d / "results.json"))
