"""Issue 28's acceptance from one `bench latency` run: each pair's per-round ratio (interleaved rounds,
the base's median over the other's, bench.stats.gain: median and its 95% interval), p50s, and the
kernels' peak fractions.   .venv/bin/python dev/acceptance_28.py OUT/latency.json"""
import json
import sys

from bench import stats

PAIRS = [("minilm_embed", "minilm_embed_lite"), ("onnxruntime", "minilm_embed_lite"), ("minilm_embed_lite", "wasm_port")]

recs = json.load(open(sys.argv[1]))["records"]
p50 = {(r["impl"], r["scenario"]): r for r in recs if r["metric"] == "latency_p50"}
threads = json.load(open(sys.argv[1]))["machine"].get("threads")
print(f"threads {threads}")
for scen in ("single", "batch", "long"):
    for base, impl in PAIRS:
        b, i = p50.get((base, scen)), p50.get((impl, scen))
        if not (b and i):
            continue
        g = stats.gain(b["extra"]["round_medians_ms"], i["extra"]["round_medians_ms"])
        lo, hi = g["ci"]
        print(f"{scen:7s} {impl} vs {base}: p50 {i['value']:.1f} vs {b['value']:.1f} ms; "
              f"{base}/{impl} per round {g['value']:.2f}x [{lo:.2f}, {hi:.2f}] over {len(b['extra']['round_medians_ms'])} rounds")
for r in recs:
    if r["metric"] == "peak_fraction":
        e = r["extra"]
        print(f"peak_fraction {r['impl']:18s} {r['scenario']:7s} {r['value']:.2f} "
              f"({e['useful_gflops']:.0f} of {e['peak_gflops']:.0f} GFLOP/s, {e['peak_runtime']}, {e['peak_threads']} thread(s))")
