"""Is the GIL really released? Tokenize the corpus from 1 Python thread, then from `threads`
threads at once (each its share of the batches); speed-up = t(1) / t(threads), paired over rounds.
A port that holds the GIL scores ~1.0 whatever the core count."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..results import Record
from ..scenarios import TOKENIZE_BATCH
from .timing import interleaved, paired_ratio, round_ratios


def threaded_speedup(pipes: dict, texts: list[str], threads: int = 2, quick: bool = False) -> list[Record]:
    chunks = [texts[i:i + TOKENIZE_BATCH] for i in range(0, len(texts), TOKENIZE_BATCH)]
    pool = ThreadPoolExecutor(threads)

    def serial(p):
        return lambda: [p.tokenize(c) for c in chunks]

    def parallel(p):
        return lambda: list(pool.map(p.tokenize, chunks))

    fns = {}
    for n, p in pipes.items():
        fns[(n, 1)], fns[(n, threads)] = serial(p), parallel(p)
    res = interleaved(fns, rounds=3 if quick else 7, reps=1, warmup=1)
    pool.shutdown()
    return [Record(n, "thread_speedup", "tokenize", paired_ratio(res[(n, 1)], res[(n, threads)]), "x",
                   extra={"threads": threads, "texts": len(texts),
                          "round_speedups": round_ratios(res[(n, 1)], res[(n, threads)])}) for n in pipes]
