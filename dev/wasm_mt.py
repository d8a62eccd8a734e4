"""Throw-away measurement for dev/NOTES-wasm.md (issue 28 items 3-4): wasm_port's builds in Node against
minilm-embed-lite at the same thread count, forward only, each timed inside its own process (op
"time"), rounds interleaved in a shuffled order, median of the per-round medians. Per thread count:
the lite binaries, and wasm_port's Node runner once per --variant: "simd128" (--relaxed 0) and
"relaxed" (Node started with --experimental-wasm-relaxed-simd, --relaxed 1); on N > 1 threads the
runner loads the -mt build. --wasm FILE adds a single-threaded plain module run from FILE (an old
build, 1 thread only). Prints a table (ms, ratio to the first lite, useful GFLOP/s, fraction of the
build's own peak probe on those threads) and one JSON object.
Usage: .venv/bin/python dev/wasm_mt.py [--variant simd128 relaxed] [--threads 1 2] [--rounds 7]
       [--scen single batch] [--lite .venv/bin/minilm-embed-lite (repeatable; the first is the ratios' base)]"""
import argparse, json, os, random, statistics as st, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.equivalence import oracle
from bench.scenarios import texts_for
from contract.api import model_dir, read_spec
from contract.serve_pipe import ServePipe

ROOT = Path(__file__).resolve().parents[1]
ap = argparse.ArgumentParser()
ap.add_argument("--wasm", action="append", default=[])
ap.add_argument("--variant", nargs="+", default=["simd128", "relaxed"])
ap.add_argument("--lite", action="append", default=[])
ap.add_argument("--rounds", type=int, default=7)
ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
ap.add_argument("--scen", nargs="+", default=["batch"])
args = ap.parse_args()
args.lite = args.lite or [str(ROOT / ".venv/bin/minilm-embed-lite")]

m = model_dir()
spec = read_spec(m)
D, F, L = spec.hidden_size, spec.intermediate_size, spec.num_hidden_layers
SCEN = {"single": ("short", 1), "batch": ("medium", 32), "long": ("long", 8)}
texts = {s: texts_for(m, *SCEN[s]) for s in args.scen}


def gflop(tx):
    lens = [min(len(i), spec.max_seq_length) for i in oracle.hf_ids(m, tx)]
    return (2 * sum(lens) * (4 * D * D + 2 * D * F) + sum(4 * t * t * D for t in lens)) * L / 1e9


work = {s: gflop(t) for s, t in texts.items()}


class Proc:
    def __init__(self, cmd):
        self.pipe = ServePipe(cmd, "x", cmd[0])

    def time(self, tx, reps):
        return st.median(self.pipe.call({"op": "time", "what": "forward", "texts": tx, "warmup": 1, "repeat": reps})["ms"])


out = {"load_start": os.getloadavg()[0], "gflop": work, "rows": []}
for th in args.threads:
    impls = {("lite" if i == 0 else f"lite:{Path(x).name}"): Proc([x, "--serve", "--model", str(m), "--threads", str(th)])
             for i, x in enumerate(args.lite)}
    runner = ["node", "--experimental-wasm-relaxed-simd", str(ROOT / "wasm_port/js/node_runner.mjs"), "--model", str(m)]
    for v in args.variant:
        impls[f"wasm:{v}"] = Proc(runner + ["--threads", str(th), "--relaxed", "1" if v == "relaxed" else "0"])
    for w in args.wasm if th == 1 else []:
        impls[f"file:{Path(w).stem}"] = Proc(runner + ["--wasm", w, "--relaxed", "0"])
    peaks = {}
    for n, p in impls.items():
        if not n.startswith("lite"):
            r = p.pipe.call({"op": "peak", "threads": th, "ms": 400})
            peaks[n] = r
    info = {n: p.pipe.call({"op": "info"}) for n, p in impls.items()}
    ms = {(n, s): [] for n in impls for s in texts}
    rng = random.Random(th)
    for _ in range(args.rounds):
        for s in texts:
            order = list(impls)
            rng.shuffle(order)
            for n in order:
                ms[(n, s)].append(impls[n].time(texts[s], 20 if s == "single" else 3))
    for s in texts:
        lite = st.median(ms[("lite", s)])
        for n in impls:
            v = ms[(n, s)]
            p50 = st.median(v)
            g = work[s] / p50 * 1e3
            pk = peaks.get(n)
            row = {"impl": n, "threads": th, "scen": s, "forward_ms": round(p50, 2), "vs_lite": round(p50 / lite, 2),
                   "gflops": round(g, 1), "peak": pk and round(pk["gflops"], 1), "peak_threads": pk and pk["threads"],
                   "of_peak": pk and round(g / pk["gflops"], 3), "build": info[n].get("build"),
                   "ran_threads": info[n].get("threads"), "spread": round((max(v) - min(v)) / p50, 3)}
            out["rows"].append(row)
            print(f"{n:>28} {th}t {s:>6} {p50:9.2f} ms  x{row['vs_lite']:5.2f} lite  {g:6.1f} GFLOP/s"
                  + (f"  peak {pk['gflops']:.1f} on {pk['threads']}t -> {100 * row['of_peak']:.0f}%" if pk else "")
                  + f"  build={row['build']} threads={row['ran_threads']} spread {row['spread']:.2f}", file=sys.stderr)
    for p in impls.values():
        p.pipe.close()
out["load_end"] = os.getloadavg()[0]
print(json.dumps(out, indent=1))
