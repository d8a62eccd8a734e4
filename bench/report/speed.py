"""The report's sections about answers and speed: the header (machine, method, notes), equivalence,
latency and throughput (with the tokenizer alone), attribution with ceilings and gains, the sweep,
and the cheaper interventions. Each section is a function (Index, plots) -> markdown."""
from __future__ import annotations

from .. import registry
from ..measure.attribution import from_records
from ..registry import BUCKETS
from ..measure.ceilings import ceiling, port_ceiling, shares
from .index import Index, crossovers, md_table, sweep_table


def header(ix: Index, plots: list[str]) -> str:
    m = ix.data["machine"]
    md = ["# portbench report\n",
          f"Machine: **{m.get('cpu')}**, {m.get('cores')} cores, {m.get('threads')} torch threads (pinned, equal "
          f"for all), Python {m.get('python')}, torch {m.get('torch')}, host `{m.get('host')}`, device "
          f"`{m.get('device', 'cpu')}`, plan `{m.get('plan', '?')}`, load average {m.get('load_average_start', '?')} at "
          f"the start and {m.get('load_average_end', '?')} at the end. Model: `{m.get('model', '?')}`"
          + (", **seeded random weights** (`--weights random`: timings hold, vectors are not the model's)"
             if m.get("weights") == "random" else "") + ".\n",
          "Method: warm-up first, every implementation interleaved round by round (A/B pairs under the same "
          f"conditions), medians; repeats set by a time budget per part. Gains are {registry.REFERENCE}'s p50 over "
          "the implementation's p50 on the same texts; each timed record keeps its per-round medians in "
          "results.json (`round_medians_ms`).\n"]
    if m.get("notes"):
        md.append("Notes:\n\n" + "".join(f"- {n}\n" for n in m["notes"]))
    if m.get("parts_s"):
        md.append("Time per part: " + ", ".join(f"{k} {v:.0f}s" for k, v in m["parts_s"].items()) + ".\n")
    return "".join(md)


def equivalence(ix: Index, plots: list[str]) -> str:
    eq = [r for r in ix.recs if r["scenario"] == "equivalence" and r["metric"] == "equivalence_id_mismatches"]
    if not eq:
        return ""
    e0 = eq[0]["extra"]
    return (f"\n## Equivalence\n\nOn {e0.get('corpus')}: ids against HF tokenizers (exact) on all "
            f"{e0.get('texts')} texts, embeddings against sentence-transformers on an even sample of "
            f"{e0.get('embedded', e0.get('texts'))} (`bench equivalence` embeds them all).\n\n" +
            md_table(["impl", "id mismatches", "max abs diff", "tolerance", "min cosine", "ok"],
                     [[r["impl"], int(r["value"]), ix.v(r["impl"], "equivalence_max_abs", "equivalence"),
                       r["extra"].get("tol"), r["extra"].get("min_cos"),
                       "yes" if r["extra"].get("ok") else f"NO {r['extra'].get('error', '')}"] for r in eq]))


def latency(ix: Index, plots: list[str]) -> str:
    peer, tpeer = registry.EMBED_PEER, registry.TOKENIZE_PEER
    rows = []
    for sc in ix.main_scenarios():
        for impl in ix.impls("latency_p50", sc):
            r = ix.r(impl, "latency_p50", sc)
            rows.append([sc, impl, r["extra"]["batch"], r["value"], ix.v(impl, "latency_p90", sc),
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


def attribution(ix: Index, plots: list[str]) -> str:
    ref_name = registry.REFERENCE
    measured = {r["impl"] for r in ix.recs if r["metric"].startswith("attribution_")}
    inner = [e.name for e in registry.REGISTRY if e.kernels == "inner" and e.name in measured]
    md = ["\n## Attribution: where the time goes, the ceiling and the gain\n\n"
          "Buckets per embed call: `tokenize` (wall of tokenize), `model_kernels` (torch.profiler: self CPU "
          "time of the ops that do data work, i.e. every aten op except composite wrappers such as "
          "aten::linear and view/allocation ops; on CUDA the CUDA kernel time), `io` (numpy↔torch↔device "
          "for the batch in and the embeddings out; for a port timed inside its own runtime, the pipe to it), "
          "`dispatch_overhead` (forward wall − kernels − io: interpreter, dispatcher, allocator, glue). LibTorch "
          "ops run in the same process and the profiler sees them" +
          (f"; {', '.join(inner)}: buckets timed inside its own runtime (its kernels are its own)" if inner else "") +
          ". `sum err` compares the four buckets (measured separately) with the embed wall. `its ceiling`: the "
          f"most it can gain over {ref_name}, from the buckets it replaces (the registry says which).\n\n"]
    for sc in ix.main_scenarios():
        ref = from_records(ix.recs, ref_name, sc)
        rows = []
        for impl in ix.impls("attribution_tokenize", sc):
            a = from_records(ix.recs, impl, sc)
            if a is None:
                continue
            s = shares(a)
            rows.append([impl] + [f"{a['buckets'][b] * 1e3:.3g} ({100 * s[b]:.0f}%)" for b in BUCKETS] +
                        [a["embed_wall"] * 1e3, f"{100 * a['sum_error']:.1f}%",
                         port_ceiling(impl, ref) if ref else None, ix.gain(impl, sc)])
        if not rows:
            continue
        c = ceiling(ref) if ref else None
        md.append(f"**{sc}**" + (f": {ref_name}'s profile gives a port ceiling of **{c['max_speedup']:.2f}x** "
                                 f"(tokenize + dispatch = {100 * c['port_share']:.0f}% of the time; tokenizer alone "
                                 f"{c['tokenizer_max_speedup']:.2f}x)" if c else "") + "\n\n")
        md.append(md_table(["impl"] + [f"{b} ms" for b in BUCKETS] + ["embed wall ms", "sum err", "its ceiling",
                                                                     "measured gain"], rows))
        md.append("\n")
    if "attribution.png" in plots:
        md.append("![attribution](attribution.png)\n")
    return "".join(md)


def sweep(ix: Index, plots: list[str]) -> str:
    st = sweep_table(ix)
    if not st:
        return ""
    md = ["\n## Sweep: batch size × length\n\nPer-text latency (p50 ÷ batch, ms):\n\n"]
    for length, d in st.items():
        bs = sorted({b for v in d.values() for b, _ in v})
        md.append(f"*{length}*\n\n" + md_table(["impl"] + [f"batch {b}" for b in bs],
                                                [[i] + [dict(v).get(b) for b in bs] for i, v in d.items()]) + "\n")
    cross = crossovers(ix, table=st)
    md.append(f"\nCrossovers with {registry.REFERENCE} (batch size where the order flips): " +
              ("; ".join(f"{impl} on {ln} texts at ~{x:.0f}" for ln, impl, x in cross) or "none in this range")
              + ".\n\n")
    if "latency_vs_batch.png" in plots:
        md.append("![latency vs batch](latency_vs_batch.png)\n")
    return "".join(md)


def interventions(ix: Index, plots: list[str]) -> str:
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
    for sc in ix.main_scenarios():
        bp, pg = ix.best(registry.ports(), sc)
        br, rg = ix.best(registry.interventions(), sc)
        win = "-" if not (bp or br) else ("runtime change" if br and (not bp or rg >= pg) else "port")
        rows.append([sc, f"{bp} {pg:.2f}x" if bp else "-", f"{br} {rg:.2f}x" if br else "not measured", win])
    md.append("\nDoes a runtime change beat a port?\n\n" + md_table(["scenario", "best port", "best runtime change",
                                                                    "winner"], rows))
    return "".join(md)
