"""Throw-away bench: tokenizer throughput of cython_ext and numba_variant against HF tokenizers.

Single thread, project corpus in batches of 64, Python str in -> padded int64 arrays out for the
ports; HF measured strictly as `Tokenizer.encode_batch` alone (no padding, no arrays, no checks;
TOKENIZERS_PARALLELISM=false, truncation 256). Warm-up pass first, then rounds in which the
implementations run interleaved (order rotated each round); prints the median per implementation.
`--threads 2` also times cython_ext with that many threads splitting the batches.

    .venv/bin/python dev/bench_tokenizers.py [--rounds 15] [--python-ref] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

os.environ["TOKENIZERS_PARALLELISM"] = "false"
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.equivalence import oracle  # noqa: E402
from contract.api import model_dir  # noqa: E402


def threaded(fn, batches, k):
    def work(part):
        for b in part:
            fn(b)
    ts = [threading.Thread(target=work, args=(batches[i::k],)) for i in range(k)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--python-ref", action="store_true", help="also time python_ref (slow)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    mdir = model_dir()
    texts = oracle.read_corpus(oracle.PROJECT_CORPUS)
    batches = [texts[i:i + args.batch] for i in range(0, len(texts), args.batch)]
    nbytes = sum(len(t.encode()) for t in texts)

    from cython_ext.pipeline import load_tokenizer as cy_load
    from numba_variant.pipeline import load_tokenizer as nb_load
    hf, cy, nb = oracle.hf_tokenizer(mdir), cy_load(mdir), nb_load(mdir)
    impls = {"hf_tokenizers (encode_batch only)": hf.encode_batch,
             "cython_ext": cy.encode_batch, "numba_variant": nb.encode_batch}
    if args.python_ref:
        from python_ref.pipeline import load_tokenizer
        impls["python_ref"] = load_tokenizer(mdir).encode_batch
    runs = {name: (lambda f=f: [f(b) for b in batches]) for name, f in impls.items()}
    if args.threads > 1:
        runs[f"cython_ext x{args.threads} threads"] = lambda: threaded(cy.encode_batch, batches, args.threads)
    for run in runs.values():  # warm-up: JIT, pages, caches
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - t0)
    base = statistics.median(times[names[0]])
    print(f"corpus: {len(texts)} texts, {nbytes} UTF-8 bytes, batches of {args.batch}; "
          f"median of {args.rounds} interleaved rounds, single thread unless stated")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (min shown as a load-insensitive check)")
    print(f"{'impl':40s} {'ms/pass':>9s} {'min ms':>8s} {'texts/s':>10s} {'MB/s':>8s} {'vs HF':>7s}")
    for name in names:
        m = statistics.median(times[name])
        print(f"{name:40s} {m * 1e3:9.1f} {min(times[name]) * 1e3:8.1f} {len(texts) / m:10.0f} "
              f"{nbytes / m / 1e6:8.2f} {base / m:7.2f}x")


if __name__ == "__main__":
    main()
