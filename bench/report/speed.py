"""The report's sections about answers and speed: the header (machine, method, notes), equivalence,
latency and throughput (with the tokenizer alone), attribution with ceilings and gains, the sweep,
and the cheaper interventions. Each section is a function (Index, plots) -> markdown."""
from __future__ import annotations

from .. import registry
from ..registry import BUCKETS, PIECES
from ..stats import fmt_ci
from .index import Index, crossovers, md_table, numeric, sweep_table


def header(ix: Index, plots: list[str]) -> str:
    m = ix.data["machine"]
    md = ["# portbench report\n",
          f"Machine: **{m.get('cpu')}**, {m.get('cores')} cores, {m.get('threads')} torch threads (pinned, equal "
          f"for all), Python {m.get('python')}, torch {m.get('torch')}, host `{m.get('host')}`, device "
          f"`{m.get('device', 'cpu')}`, plan `{m.get('plan', '?')}`, load average {m.get('load_average_start', '?')} at "
          f"the start and {m.get('load_average_end', '?')} at the end. Model: `{m.get('model', '?')}`"
          + (", **seeded random weights** (`--weights random`: timings hold, vectors are not the model's)"
             if m.get("weights") == "random" else "") + ".\n",
          f"Model settings (every port takes them from the directory's spec): {m.get('model_settings', '?')}.\n",
          "Method: warm-up first, every implementation interleaved round by round (A/B pairs under the same "
          f"conditions), medians; repeats set by a time budget per part. In the latency table, gains are "
          f"{registry.REFERENCE}'s p50 over the implementation's p50 on the same texts; in the decision table and "
          "the attribution, each change's gain is the median of its per-round paired ratios over its baseline, "
          "with a 95% interval. Each timed record keeps its per-round medians in results.json "
          "(`round_medians_ms`).\n"]
    if m.get("notes"):
        md.append("Notes:\n\n" + "".join(f"- {n}\n" for n in m["notes"]))
    if m.get("parts_s"):
        md.append("Time per part: " + ", ".join(f"{k} {v:.0f}s" for k, v in m["parts_s"].items()) + ".\n")
    md.append(time_budget_line(m))
    return "".join(md)


def time_budget_line(m: dict) -> str:
    """The run's budget and what it took (suite/budget.py), and other processes' CPU meanwhile; or ""."""
    b = m.get("budget") or {}
    busy = m.get("others_cpu")
    busy = (f" Other processes took {busy:.1f} of the machine's {m.get('cores', '?')} cores on average during the "
            "run (its own work left out).") if isinstance(busy, (int, float)) else ""
    if not b.get("total_s"):
        return ("No wall-clock budget (`--full`)." + busy + "\n") if b else (busy.strip() + "\n" if busy else "")
    out = [p for p, v in (b.get("parts") or {}).items() if isinstance(v, dict) and v.get("left_out")]
    return (f"Budget: {b['total_s']:.0f} s of wall clock (`--budget`; the {b.get('plan', '?')} plan's default "
            f"otherwise), {b.get('taken_s', 0):.0f} s taken before the report"
            + (f"; left out to keep it: {', '.join(out)}" if out else "") + "." + busy + "\n")


def equivalence(ix: Index, plots: list[str]) -> str:
    eq = ix.every("equivalence_id_mismatches", "equivalence")
    if not eq:
        return fidelity(ix)
    e0 = eq[0]["extra"]
    return (f"\n## Equivalence\n\nOn {e0.get('corpus')}: ids against HF tokenizers (exact) on all "
            f"{e0.get('texts')} texts, embeddings against sentence-transformers on an even sample of "
            f"{e0.get('embedded', e0.get('texts'))} (`bench equivalence` embeds them all). The int8 rows are held "
            "to ids here, their vectors to the fidelity budget (below), never to the fp32 contract.\n\n" +
            md_table(["impl", "id mismatches", "max abs diff", "tolerance", "min cosine", "ok"],
                     [[r["impl"], int(r["value"]), ix.v(r["impl"], "equivalence_max_abs", "equivalence"),
                       r["extra"].get("tol") or ("fidelity budget" if r["extra"].get("exact") is False else None),
                       r["extra"].get("min_cos"),
                       "yes" if r["extra"].get("ok") else f"NO {r['extra'].get('error', '')}"] for r in eq])
            + fidelity(ix))


# the CPU features int8 kernels lean on (machine.ISA_FLAGS' names), said beside the int8 rows
INT8_ISA = {"avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI", "amx_int8": "AMX-INT8", "avx512f": "AVX-512",
            "avx2": "AVX2", "neon": "NEON"}


def fidelity(ix: Index) -> str:
    """Every forward's fidelity to upstream fp32 (equivalence/fidelity.py), the budget the run judged the int8
    rows by, the CPU features their gain rests on, and what no int8 row stands for (registry.UNBUILT)."""
    top = ix.every("fidelity_topk", "fidelity")
    if not top:
        return ""
    m, e0 = ix.data.get("machine", {}), top[0].get("extra") or {}
    b = m.get("fidelity_budget") or e0.get("budget") or {}
    rows = []
    for r in top:
        ex = r.get("extra") or {}
        got = [ix.v(r["impl"], f"fidelity_{k}", "fidelity") for k in ("max_abs", "cos_mean", "cos_min")]
        figures = zip([*got, r["value"], ex.get("worst")], (".1e", ".5f", ".5f", ".4f", ".2f"))
        rows.append([r["impl"], ex.get("texts"), *(format(x, spec) if numeric(x) else "-" for x, spec in figures),
                     "fp32 contract" if ex.get("exact", True) else "fidelity budget",
                     "yes" if ex.get("within_budget") is True else f"no: {ex.get('misses', '')}"])
    md = [f"\n## Fidelity to upstream fp32\n\nEvery forward against sentence-transformers' fp32 vectors on "
          f"{e0.get('texts')} texts of {e0.get('corpus', 'the corpus')} (an even sample of its {e0.get('corpus_texts')}"
          f"; the {e0.get('plan', '?')} plan): the largest |Δ|, the mean and least cosine, and retrieval agreement: "
          f"the share of each text's {e0.get('k', 10)} nearest neighbours (cosine, itself excluded) that are "
          f"upstream's, mean and worst over texts. Budget of this run: mean agreement ≥ {b.get('topk_mean', '?')} and "
          f"min cosine ≥ {b.get('cos_min', '?')} (`bench all --fidelity TOPK COS`); the decision table names "
          "quantisation only for an int8 row within it whose gain is a yes.\n\n",
          md_table(["impl", "texts", "max abs diff", "mean cosine", "min cosine", "top-k agreement", "worst",
                    "held to", "within budget"], rows)]
    if any((r.get("extra") or {}).get("exact") is False for r in top):
        isa = m.get("isa") or {}
        have = ", ".join(f"{v} {'yes' if isa.get(k) else 'no'}" for k, v in INT8_ISA.items() if k in isa)
        md.append(f"\nThe int8 rows' gain rests on the CPU's int8 dot products: this machine has {have or 'unknown'}. "
                  "torch's dynamic int8 Linear runs fbgemm's u8·s8 kernels (AVX-512 VNNI where present, else AVX2; "
                  "not AMX); onnxruntime's MLAS takes AMX tiles for its larger int8 matrix products where the CPU and "
                  "the OS grant them (asking at import), else AVX-512 VNNI / AVX-VNNI"
                  + (f" (this run's process held AMX tile permission: {'yes' if m['amx_granted'] else 'no'})"
                     if isinstance(m.get("amx_granted"), bool) else "") + ". A CPU without them gains less.\n")
    md += [f"\n- {line}\n" for line in registry.UNBUILT]
    return "".join(md)


def latency(ix: Index, plots: list[str]) -> str:
    peer, tpeer = registry.EMBED_PEER, registry.TOKENIZE_PEER
    rows = []
    for sc in ix.main_scenarios():
        for impl in ix.impls("latency_p50", sc):
            r = ix.r(impl, "latency_p50", sc)
            rows.append([sc, impl, r["extra"].get("batch", "-"), r["value"], ix.v(impl, "latency_p90", sc),
                         ix.v(impl, "latency_p99", sc), ix.v(impl, "throughput", sc),
                         ix.v(impl, "throughput_tokens", sc), ix.v(impl, "forward_p50", sc), ix.gain(impl, sc),
                         r["extra"].get(f"ratio_vs_{peer}"), r["extra"].get("n"), r["extra"].get("rounds")])
    md = ["\n## Latency and throughput\n\n",
          md_table(["scenario", "impl", "batch", "p50 ms", "p90 ms", "p99 ms", "texts/s", "tokens/s",
                    "forward p50 ms", f"gain vs {registry.REFERENCE}", f"time ÷ {peer}", "samples", "rounds"], rows)]
    tok = ix.impls("tokenize_texts_s", "tokenize")
    if tok:
        md.append("\nTokenizer alone (single thread, batches of 64, the whole corpus):\n\n")
        md.append(md_table(["impl", "texts/s", "MB/s", f"× {tpeer}"],
                           [[i, ix.v(i, "tokenize_texts_s", "tokenize"), ix.v(i, "tokenize_mb_s", "tokenize"),
                             ix.r(i, "tokenize_texts_s", "tokenize")["extra"].get(f"speedup_vs_{tpeer}")]
                            for i in tok]))
    return "".join(md)


def peak(ix: Index, plots: list[str]) -> str:
    """Each forward's useful GFLOP/s against the multiply-add peak of the runtime it runs in (peak_fraction)."""
    rows = []
    for sc in ix.main_scenarios():
        for impl in ix.impls("peak_fraction", sc):
            r = ix.r(impl, "peak_fraction", sc)
            e = r["extra"]
            over = " (above the probed peak: the probe read low; not a fraction to read)" if r["value"] > 1 else ""
            rows.append([sc, impl, e["tokens"], e["gflop"], e["forward_ms"], e["useful_gflops"],
                         f"{e['peak_gflops']:.0f} ({e['peak_runtime']}, {e['peak_lanes']} lanes, "
                         f"{e['peak_threads']} threads)", f"{100 * r['value']:.0f}%{over}"])
    if not rows:
        return ""
    return ("\n## Kernels against the machine's peak\n\nUseful work: the encoder's matmul FLOPs on the real tokens "
            "(padding not counted) over the forward's p50. Peak: independent multiply-add chains at the kernels' "
            "vector width (peak.cpp), probed by the build whose kernels are its own: natively (FMA at its -march) "
            "for every native row, SIMD128 in Node for the WebAssembly row. A slow row near its peak is the "
            "platform; far from it, the code.\n\n"
            + md_table(["scenario", "impl", "tokens", "GFLOP", "forward p50 ms", "useful GFLOP/s", "peak GFLOP/s",
                        "of peak"], rows))


def _cell(a: dict, k: str) -> str:
    """'ms [lo, hi] (share%)' of bucket or part k of a from_records dict; ≈ marks a residual."""
    v, ci, sh = a["values"].get(k), (a["ci"] or {}).get(k), a["shares"].get(k)
    if v is None:
        return "-"
    out = ("≈" if k in a.get("residual", ()) else "") + f"{v * 1e3:.3g}"
    if ci and ci[0] != ci[1]:
        out += f" [{ci[0] * 1e3:.3g}, {ci[1] * 1e3:.3g}]"
    return out + (f" ({100 * sh:.1f}%)" if sh is not None else "")


def attribution(ix: Index, plots: list[str]) -> str:
    md = ["\n## Attribution: where the time goes, the ceiling and the gain\n\n"
          "Each embed call split into the same four buckets for every implementation, ms per call with a 95% "
          "interval over the scenario's rounds and the share of the embed wall: `tokenize` (its wall); "
          "`model_kernels` (inside the framework's ops: dispatch, allocator, kernels, as a C++ caller pays them); "
          "`framework_overhead` (driving the ops: the Python between them and its per-op calling cost above "
          "C++'s, what a C++ port removes); `io` (numpy↔torch↔device). `unattributed` is the embed wall minus "
          "the four, shown, never folded in; its measured part `embed_glue` is how much slower the forward runs "
          "right after the tokenizer than alone. `padding_waste` (part of model_kernels) is what padding costs the "
          "per-token layers: the padded forward's wall − the same forward's on its real tokens unpadded, in the same "
          "rounds, less attention's difference (packing keeps attention padded). Methods: Python torch forwards by "
          "the overhead model (kernels: the forward's own ops replayed from LibTorch C++, the tape; framework "
          "overhead: the forward's wall − that, its priced part beside it); the others by a profiler or "
          "inside their own runtime, where `framework_overhead` is a residual (marked ≈). Gains are paired per "
          "round over the baseline named (registry fact `baseline`); the ceiling is the most that change can gain, "
          "from the baseline's split and the buckets it removes (fact `replaces`); `upper` counts the "
          "unattributed time as removable too.\n\n"]
    cols = (*BUCKETS, "unattributed", *PIECES)
    for sc in ix.main_scenarios():
        rows = []
        for a in ix.splits(sc):
            g, c = ix.r(a["impl"], "port_gain", sc), ix.r(a["impl"], "port_ceiling", sc)
            ge, up = (g or {}).get("extra", {}), (c or {}).get("extra", {}).get("upper")
            ceil = ("-" if not c else "n/a: " + c["extra"].get("reason", "").split(": ")[0] if c["value"] is None else
                    fmt_ci(c["value"], c["extra"]["ci"]) + (f", upper {fmt_ci(up['value'], up['ci'])}" if up else ""))
            note = (f'<span style="color:#c00">**method failure**: {ge["method_failure"]}</span>'
                    if ge.get("method_failure") else ge.get("note") or "-")
            gain = f"{fmt_ci(g['value'], ge['ci'])} vs {ge['vs']}" if g else "-"
            rows.append([a["impl"], a["method"].split(":")[0].split(";")[0], *(_cell(a, k) for k in cols),
                         a["embed_wall"] * 1e3, gain, ceil, note])
        if not rows:
            continue
        md.append(f"**{sc}**\n\n")
        md.append(md_table(["impl", "method", *(f"{b} ms" for b in cols), "embed wall ms", "gain [95% CI]",
                            "ceiling [95% CI]", "note"], rows))
        md.append("\n" + overhead_views(ix, sc))
    if "attribution.png" in plots:
        md.append("![attribution](attribution.png)\n")
    return "".join(md)


def overhead_views(ix: Index, sc: str) -> str:
    """The reference's removable per-call cost seen several ways (attribution/part.py crosschecks)."""
    views = ix.every("overhead_view", sc)
    if not views:
        return ""
    rows = [[r["extra"]["view"], "-" if r["value"] is None else fmt_ci(r["value"], r["extra"].get("ci"), 3, " ms"),
             r["extra"].get("error") or r["extra"].get("how", "")] for r in views]
    return (f"The removable overhead of {registry.REFERENCE}'s forward at {sc}, ms per call: the overhead "
            "model's `framework_overhead` beside views that share none of its measurements. The model prices "
            "calls and bytecode as they run in a hot loop, so it is a lower bound (docs/DESIGN.md §7); where the "
            "views are larger, the ceiling's `upper` is the bound to read.\n\n" +
            md_table(["view", "ms per forward [95% CI]", "how"], rows) + "\n")


def sweep(ix: Index, plots: list[str]) -> str:
    st = sweep_table(ix)
    if not st:
        return ""
    md = ["\n## Sweep: batch size × length\n\nPer-text latency (p50 ÷ batch, ms):\n\n"]
    for length, d in st.items():
        bs = sorted({b for v in d.values() for b, _ in v})
        md.append(f"*{length}*\n\n" + md_table(["impl"] + [f"batch {b}" for b in bs],
                                                [[i] + [dict(v).get(b) for b in bs] for i, v in d.items()]) + "\n")
    cross = crossovers(st)
    md.append(f"\nCrossovers with {registry.REFERENCE} (batch size where the order flips): " +
              ("; ".join(f"{impl} on {ln} texts at ~{x:.0f}" for ln, impl, x in cross) or "none in this range")
              + ".\n\n")
    if "latency_vs_batch.png" in plots:
        md.append("![latency vs batch](latency_vs_batch.png)\n")
    return "".join(md)


def cheaper_interventions(ix: Index, plots: list[str]) -> str:
    ref_name = registry.REFERENCE
    md = ["\n## Cheaper interventions first\n\n"]
    for n in registry.interventions():
        comp = ix.r(n, "compile_s", "compile")
        if comp:
            md.append(f"- {n}: {comp['value']:.1f}s of compiling before the first results (not in the latencies).\n")
    sb = ix.r(ref_name, "sorted_batching_s", "large_input")
    if sb:
        e = sb["extra"]
        md.append(f"- Sorting a large input by length ({ref_name}, {e['texts']} mixed texts, batch {e['batch']}): "
                  f"{ix.v(ref_name, 'unsorted_batching_s', 'large_input'):.2f}s unsorted, {sb['value']:.2f}s "
                  f"sorted = **{e['speedup']:.2f}x**; padded tokens {e['padded_unsorted']} → {e['padded_sorted']} "
                  f"(real: {e['tokens']}); same embeddings (max |Δ| {e['max_abs_diff']:.1e}).\n")
    rows = []
    exact = [n for n in registry.interventions() if registry.BY_NAME[n].exact]   # int8: the decision table, with fidelity
    for sc in ix.main_scenarios():
        bp, pg = ix.best(registry.ports(), sc)
        br, rg = ix.best(exact, sc)
        win = "-" if not (bp or br) else ("runtime change" if br and (not bp or rg >= pg) else "port")
        rows.append([sc, f"{bp} {pg:.2f}x" if bp else "-", f"{br} {rg:.2f}x" if br else "not measured", win])
    md.append("\nDoes a runtime change beat a port?\n\n" + md_table(["scenario", "best port", "best runtime change",
                                                                    "winner"], rows))
    return "".join(md)
