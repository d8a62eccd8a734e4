"""Throw-away check for dev/NOTES-lite.md (issue 28): a lite binary's vectors against
sentence-transformers on model variants (tests/variants.py, plus 'odd': hidden 72, 3 heads of 24,
intermediate 100, so no size is a multiple of a vector or a GEMM panel), and its bits at 2 and 3
threads against 1. Texts: the project corpus's first N texts, the bench's long texts and a few
lengths around the attention tiles. Prints one line per variant; exit 1 on any miss.
Usage: .venv/bin/python dev/lite_exact.py build/k/minilm-embed-lite [variant ...] [--n 60]"""
import argparse, base64, sys, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import numpy as np
import variants
from bench.equivalence import oracle
from bench.scenarios import texts_for
from bench.tolerances import tolerance
from contract.api import model_dir
from contract.serve_pipe import ServePipe

ap = argparse.ArgumentParser()
ap.add_argument("exe")
ap.add_argument("variants", nargs="*", default=["base", "small", "deep", "dense", "max_seq_512", "cls", "max",
                                                  "mean_sqrt", "odd"])
ap.add_argument("--n", type=int, default=60)
args = ap.parse_args()
base = model_dir()
corpus = oracle.read_corpus(oracle.PROJECT_CORPUS)
words = "the quick brown fox jumps over a lazy dog and keeps running far away".split()
texts = corpus[:args.n] + texts_for(base, "long", 4) + \
    [" ".join(words[i % len(words)] for i in range(n)) for n in (1, 15, 31, 32, 33, 63, 64, 65, 100, 300, 600)]
tol, _ = tolerance(False)


def embed(exe, mdir, th):
    p = ServePipe([exe, "--serve", "--model", str(mdir), "--threads", str(th)], "x", exe)
    try:
        r = p.call({"op": "embed", "texts": texts})
        return np.frombuffer(base64.b64decode(r["data"]), np.float32).reshape(r["n"], r["dim"])
    finally:
        p.close()


bad = 0
with tempfile.TemporaryDirectory() as tmp:
    for v in args.variants:
        if v == "base":
            mdir = base
        elif v == "odd":
            mdir = Path(tmp) / v
            d = variants._Dir(base, mdir)
            variants._arch(d, 3, num_hidden_layers=2, hidden_size=72, num_attention_heads=3, intermediate_size=100)
        else:
            mdir = variants.build(v, base, Path(tmp) / v)
        ref = oracle.st_embed(mdir, texts)
        outs = {th: embed(args.exe, mdir, th) for th in (1, 2, 3)}
        diff = float(np.abs(outs[1] - ref).max())
        same = all(np.array_equal(outs[1], outs[t]) for t in (2, 3))
        ok = diff <= tol and same
        bad += not ok
        print(f"{v:>12}: max|diff| vs sentence-transformers {diff:.2e} (tolerance {tol:g}), "
              f"2 and 3 threads bit-identical to 1: {same}  {'ok' if ok else 'FAIL'}", flush=True)
sys.exit(1 if bad else 0)
