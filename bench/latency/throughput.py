"""Tokenizer throughput (docs/DESIGN.md §7): single thread, the corpus in batches of 64, str in -> ids
out, with a paired speed-up over the tokenizer peer. The one measuring path of tokenize_texts_s and
tokenize_mb_s, for `bench tokenize` and `bench all` alike (method: latency/timing.py). Also whether the
GIL is really released: thread_speedup, the same batches from 1 Python thread vs several at once."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from statistics import median

from .. import registry
from ..results import Record
from ..scenarios import TOKENIZE_BATCH
from .timing import InnerTime, interleaved, paired_ratio, round_ratios, summary, timing_extra


def _batches(texts: list[str]) -> list[list[str]]:
    return [texts[i:i + TOKENIZE_BATCH] for i in range(0, len(texts), TOKENIZE_BATCH)]


def tokenize_throughput(pipes: dict, texts: list[str], quick=False) -> list[Record]:
    """Single-thread tokenizer throughput over `texts` in batches of 64, str in -> ids out."""
    chunks = _batches(texts)
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    peer = registry.TOKENIZE_PEER

    def run(name, p):
        if registry.kernels(name) == "inner" and hasattr(p, "time"):  # timed inside its runtime, never across a pipe
            return lambda: InnerTime(sum(median(p.time("tokenize", c, warmup=1, repeat=3)) for c in chunks) / 1e3)
        f = getattr(p, "encode_raw", p.tokenize)  # hf_tokenizers: encode_batch alone, no padding (strict)
        return lambda: [f(c) for c in chunks]

    res = interleaved({n: run(n, p) for n, p in pipes.items()}, rounds=3 if quick else 7, reps=1, warmup=1)
    recs = []
    for n, samples in res.items():
        t = summary(samples)["p50"]
        extra = {"batch": TOKENIZE_BATCH, "texts": len(texts), "mb": mb, "threads": 1,
                 **timing_extra(samples, {peer: res[peer]} if peer in res else {}, invert=True)}
        recs.append(Record(n, "tokenize_texts_s", "tokenize", len(texts) / t, "texts/s", extra=extra))
        recs.append(Record(n, "tokenize_mb_s", "tokenize", mb / t, "MB/s", extra=extra))
    return recs


def threaded_speedup(pipes: dict, texts: list[str], threads: int = 2, quick: bool = False) -> list[Record]:
    """thread_speedup: t(1 thread) / t(`threads` threads, each its share of the batches), paired over
    rounds; a port that holds the GIL scores ~1.0 whatever the core count."""
    chunks = _batches(texts)
    pool = ThreadPoolExecutor(threads)
    fns = {}
    for n, p in pipes.items():
        fns[(n, 1)] = lambda p=p: [p.tokenize(c) for c in chunks]
        fns[(n, threads)] = lambda p=p: list(pool.map(p.tokenize, chunks))
    res = interleaved(fns, rounds=3 if quick else 7, reps=1, warmup=1)
    pool.shutdown()
    return [Record(n, "thread_speedup", "tokenize", paired_ratio(res[(n, 1)], res[(n, threads)]), "x",
                   extra={"threads": threads, "texts": len(texts),
                          "round_speedups": round_ratios(res[(n, 1)], res[(n, threads)])}) for n in pipes]
