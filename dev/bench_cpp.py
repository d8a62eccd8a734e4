"""Measurements for dev/NOTES-cpp.md (throw-away, not the project bench).

1. tokenizer: cpp_port (taking Python str, returning padded numpy) vs HF tokenizers encode_batch,
   the corpus in batches of 64, single thread.
2. forward: cpp_port's LibTorch forward vs python_ref's torch forward, batch 32 and batch 1.
3. cold start: a fresh minilm-embed vs a fresh `python -c` embedding one text.
All single-threaded (torch.set_num_threads(1) for both sides), A/B interleaved, warmed, median.
Run: .venv/bin/python dev/bench_cpp.py [--rounds N] [--only tok,fwd,cold]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ["TOKENIZERS_PARALLELISM"] = "false"
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.equivalence import oracle  # noqa: E402
from contract.api import Batch, model_dir  # noqa: E402


def interleaved(fns: dict, rounds: int, warm: int = 2) -> dict:
    """Median seconds per call of each fn, interleaved (order reversed every other round, so no
    one always runs right after another's cache pollution), after warm-up rounds."""
    times = {k: [] for k in fns}
    for r in range(warm + rounds):
        for k, fn in (list(fns.items()) if r % 2 else list(fns.items())[::-1]):
            t0 = time.perf_counter()
            fn()
            if r >= warm:
                times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def bench_tokenizer(mdir, corpus, rounds):
    from cpp_port.pipeline import Pipeline
    cpp = Pipeline(mdir)
    hf = oracle.hf_tokenizer(mdir)
    # Long texts let cpp_port stop reading after 254 pieces while HF tokenizes everything, so the
    # texts that fit untruncated are timed on their own too (the per-byte work, like for like).
    fits = [t for t, ids in zip(corpus, oracle.hf_ids(mdir, corpus)) if len(ids) < 256]
    for label, texts in (("whole corpus", corpus), ("texts that fit in 256 tokens", fits)):
        batches = [texts[i:i + 64] for i in range(0, len(texts), 64)]
        raw = [[t.encode() for t in b] for b in batches]
        nbytes = sum(len(t.encode()) for t in texts)
        res = interleaved({
            "hf_tokenizers encode_batch": lambda: [hf.encode_batch(b) for b in batches],
            "cpp_port tokenize(str)": lambda: [cpp.tokenize(b) for b in batches],
            "cpp_port tokenize_bytes": lambda: [cpp.tokenize_bytes(b) for b in raw],
        }, rounds)
        base = res["hf_tokenizers encode_batch"]
        print(f"\n## tokenizer, {label}: {len(texts)} texts, {nbytes / 1e6:.3f} MB UTF-8, batches of 64, 1 thread")
        for k, v in res.items():
            print(f"  {k:30s} {v * 1e3:8.2f} ms  {len(texts) / v:10.0f} texts/s  {nbytes / v / 1e6:7.1f} MB/s"
                  f"  speed-up vs HF {base / v:5.2f}x")


def bench_forward(mdir, corpus, rounds):
    from cpp_port.pipeline import Pipeline
    from python_ref.pipeline import Pipeline as Ref
    cpp, ref = Pipeline(mdir), Ref(mdir)
    from bench.scenarios import texts_for  # the project bench's own cases
    for name, texts in (("batch 32 (medium texts)", texts_for(mdir, "medium", 32)),
                        ("batch 1 (short text)", texts_for(mdir, "short", 1))):
        b = ref.tokenize(texts)
        b = Batch(np.ascontiguousarray(b.ids), np.ascontiguousarray(b.attention_mask))
        print(f"  max |cpp - ref| = {np.abs(cpp.forward(b) - ref.forward(b)).max():.2e}")
        n = 20 if len(texts) > 1 else 200
        res = interleaved({"python_ref forward": lambda: [ref.forward(b) for _ in range(n)],
                           "cpp_port forward": lambda: [cpp.forward(b) for _ in range(n)]}, rounds)
        r, c = res["python_ref forward"] / n, res["cpp_port forward"] / n
        print(f"\n## forward {name}, shape {tuple(b.ids.shape)}, {b.attention_mask.mean():.0%} real tokens, 1 thread")
        print(f"  python_ref {r * 1e3:8.3f} ms   cpp_port {c * 1e3:8.3f} ms   cpp/ref = {c / r:.3f}x")


def bench_cold(mdir, rounds):
    from cpp_port.pipeline import binary
    exe = binary()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmds = {
        "minilm-embed": ([exe, "--model", str(mdir), "--threads", "1"], "hello world\n"),
        "python_ref (python -c)": ([sys.executable, "-c", "import torch; torch.set_num_threads(1);"
                                   "from python_ref.pipeline import Pipeline;"
                                   f"print(Pipeline({str(mdir)!r}).embed(['hello world'])[0][:3])"], ""),
    }
    fns = {k: (lambda c=c, i=i: subprocess.run(c, input=i, capture_output=True, text=True, check=True, env=env, cwd=ROOT))
           for k, (c, i) in cmds.items()}
    res = interleaved(fns, rounds, warm=1)
    print("\n## cold start: process start to first embedding (page cache warm)")
    for k, v in res.items():
        print(f"  {k:24s} {v * 1e3:8.0f} ms")
    print(f"  ratio minilm-embed / python_ref = {res['minilm-embed'] / res['python_ref (python -c)']:.3f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--only", default="tok,fwd,cold")
    a = ap.parse_args()
    torch.set_num_threads(1)
    mdir = model_dir()
    corpus = oracle.read_corpus(oracle.PROJECT_CORPUS)
    print(f"machine: {os.cpu_count()} cpus, torch {torch.__version__}, threads {torch.get_num_threads()}")
    if "tok" in a.only:
        bench_tokenizer(mdir, corpus, a.rounds)
    if "fwd" in a.only:
        bench_forward(mdir, corpus, a.rounds)
    if "cold" in a.only:
        bench_cold(mdir, max(5, a.rounds // 3))
