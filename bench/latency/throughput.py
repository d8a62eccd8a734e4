"""Tokenizer throughput (docs/DESIGN.md §7): single thread, the corpus in batches of 64, str in -> ids
out, with a paired speed-up over the tokenizer peer. The one measuring path of tokenize_texts_s and
tokenize_mb_s, for `bench tokenize` and `bench all` alike (method: latency/timing.py)."""
from __future__ import annotations

from statistics import median

from ..equivalence import oracle
from .. import registry
from ..results import Record
from ..scenarios import TOKENIZE_BATCH
from .timing import InnerTime, interleaved, summary, timing_extra


def tokenize_throughput(pipes: dict, texts: list[str], quick=False) -> list[Record]:
    """Single-thread tokenizer throughput over `texts` in batches of 64, str in -> ids out."""
    chunks = [texts[i:i + TOKENIZE_BATCH] for i in range(0, len(texts), TOKENIZE_BATCH)]
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


def corpus_texts(path=None) -> list[str]:
    return oracle.read_corpus(path or oracle.PROJECT_CORPUS)
