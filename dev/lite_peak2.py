"""Throw-away measurement for dev/NOTES-lite.md (issue 28): dev/lite_peak.py's method with the
binaries named on the command line, a `long` scenario and onnxruntime beside them. The work (FLOPs
per scenario from the real token counts), this machine's FMA peak (dev/lite_fmapeak.cpp, 1 and 2
threads), then per thread count: every lite binary given (--lite PATH, repeatable; label = file
name), the LibTorch binary (.venv/bin/minilm-embed) and an onnxruntime CPU session, forward only,
the binaries timed inside themselves (--serve "time"), onnxruntime around session.run; rounds
interleaved in a shuffled order, median of the per-round medians, and each binary's speed-up over
LibTorch and onnxruntime as the median of per-round ratios (peer ms / its ms). Prints a table and
one JSON object.
Usage: .venv/bin/python dev/lite_peak2.py --lite build/k/lite-base --lite build/k/minilm-embed-lite
       [--rounds 7] [--threads 1 2] [--scen single batch long] [--no-torch] [--no-ort] [--no-peak]"""
import argparse, json, os, random, statistics as st, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import numpy as np
from bench.equivalence import oracle
from bench.scenarios import texts_for
from contract.api import model_dir, read_spec
from contract.serve_pipe import ServePipe

ROOT = Path(__file__).resolve().parents[1]
ap = argparse.ArgumentParser()
ap.add_argument("--lite", action="append", default=[])
ap.add_argument("--rounds", type=int, default=7)
ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
ap.add_argument("--scen", nargs="+", default=["single", "batch", "long"])
ap.add_argument("--no-torch", action="store_true")
ap.add_argument("--no-ort", action="store_true")
ap.add_argument("--no-peak", action="store_true")
ap.add_argument("--model", default=None)
ap.add_argument("--dump", default=None, help="write DIR/<scenario>.ids (int32 n, t, ids, mask) for dev/lite_forward_bench.cpp and stop")
args = ap.parse_args()

m = Path(args.model) if args.model else model_dir()
spec = read_spec(m)
D, F, L = spec.hidden_size, spec.intermediate_size, spec.num_hidden_layers
SCEN = {"single": ("short", 1), "batch": ("medium", 32), "long": ("long", 8)}
texts = {s: texts_for(m, *SCEN[s]) for s in args.scen}
if args.dump:
    from python_ref.pipeline import Pipeline
    ref = Pipeline(m, "cpu")
    for s, tx in texts.items():
        b = ref.tokenize(tx)
        ids, mask = np.asarray(b.ids, np.int32), np.asarray(b.attention_mask, np.int32)
        with open(Path(args.dump) / f"{s}.ids", "wb") as f:
            f.write(np.array(ids.shape, np.int32).tobytes() + ids.tobytes() + mask.tobytes())
    sys.exit(0)


def work(tx):
    lens = [min(len(i), spec.max_seq_length) for i in oracle.hf_ids(m, tx)]
    lin = 2 * sum(lens) * (4 * D * D + 2 * D * F) * L
    att = sum(4 * t * t * D for t in lens) * L   # per row at its own length (lite drops trailing padding)
    return {"texts": len(tx), "tokens": sum(lens), "max_len": max(lens), "gflop": (lin + att) / 1e9,
            "gflop_linear": lin / 1e9, "gflop_attention": att / 1e9}


def fma_peak(threads, vb=64):
    exe = Path(tempfile.gettempdir()) / f"lite_fmapeak{vb}"
    subprocess.run(["g++", "-O3", "-march=native", "-ffp-contract=fast", f"-DVB={vb}", "-pthread",
                    str(ROOT / "dev/lite_fmapeak.cpp"), "-o", str(exe)], check=True)
    return max(float(subprocess.run([str(exe), str(threads)], capture_output=True, text=True).stdout.split("=")[-1])
               for _ in range(3))


class Bin:
    def __init__(self, exe, threads):
        self.pipe = ServePipe([str(exe), "--serve", "--model", str(m), "--threads", str(threads)], "x", str(exe))

    def time(self, tx, reps):
        return st.median(self.pipe.call({"op": "time", "what": "forward", "texts": tx, "warmup": 1,
                                         "repeat": reps})["ms"])

    def close(self):
        self.pipe.close()


class Ort:
    def __init__(self, threads):
        import onnxruntime as ort
        from alternatives.peers import onnx_path
        from python_ref.pipeline import Pipeline
        self.ref = Pipeline(m, "cpu")
        o = ort.SessionOptions()
        o.intra_op_num_threads = threads
        o.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.sess = ort.InferenceSession(str(onnx_path(m)), o, providers=["CPUExecutionProvider"])
        self.names = {i.name for i in self.sess.get_inputs()}
        self.feeds = {}

    def time(self, tx, reps):
        key = id(tx)
        if key not in self.feeds:
            b = self.ref.tokenize(tx)
            f = {"input_ids": b.ids, "attention_mask": b.attention_mask, "token_type_ids": np.zeros_like(b.ids)}
            self.feeds[key] = {k: v for k, v in f.items() if k in self.names}
        feed = self.feeds[key]
        self.sess.run(None, feed)
        ms = []
        for _ in range(reps):
            t0 = time.perf_counter()
            self.sess.run(None, feed)
            ms.append((time.perf_counter() - t0) * 1e3)
        return st.median(ms)

    def close(self):
        pass


out = {"load_start": os.getloadavg()[0], "work": {s: work(t) for s, t in texts.items()}}
rows = []
for th in args.threads:
    if not args.no_peak:
        out[f"fma_peak_{th}t"] = fma_peak(th)
    peak = out.get(f"fma_peak_{th}t")
    impls = {Path(p).name: Bin(p, th) for p in args.lite}
    if not args.no_torch:
        impls["libtorch"] = Bin(ROOT / ".venv/bin/minilm-embed", th)
    if not args.no_ort:
        impls["onnxruntime"] = Ort(th)
    ms = {(n, s): [] for n in impls for s in texts}
    rng = random.Random(th)
    for _ in range(args.rounds):
        for s in texts:
            order = list(impls)
            rng.shuffle(order)
            for n in order:
                ms[(n, s)].append(impls[n].time(texts[s], 20 if s == "single" else 2))
    for (n, s), v in ms.items():
        g = out["work"][s]["gflop"]
        p50 = st.median(v)
        r = {"impl": n, "threads": th, "scen": s, "forward_ms": round(p50, 3), "gflops": round(g / p50 * 1e3, 1),
             "of_fma_peak": round(g / p50 * 1e3 / peak, 3) if peak else None,
             "spread": round((max(v) - min(v)) / p50, 3), "rounds_ms": [round(x, 3) for x in v]}
        for peer in ("libtorch", "onnxruntime"):   # paired by round: a busy round slows both sides
            if (peer, s) in ms and peer != n:
                r[f"vs_{peer}"] = round(st.median(b / a for a, b in zip(v, ms[(peer, s)])), 3)
        rows.append(r)
    for p in impls.values():
        p.close()
out["rows"] = rows
out["load_end"] = os.getloadavg()[0]
for r in rows:
    pk = "" if r["of_fma_peak"] is None else "%5.1f%%" % (100 * r["of_fma_peak"])
    vs = " ".join(f"{k[3:]} {v:.2f}x" for k, v in r.items() if k.startswith("vs_"))
    print(f"{r['impl']:>22} {r['threads']}t {r['scen']:>6} {r['forward_ms']:9.2f} ms {r['gflops']:7.1f} GFLOP/s "
          f"{pk} (spread {r['spread']:.2f}) {vs}",
          file=sys.stderr)
print(json.dumps(out, indent=1))
