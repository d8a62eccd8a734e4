"""Scenario runners: embed latency (single/batch/long), forward-only ratios and tokenizer throughput.
Each returns Records; the CLI prints them. Method in latency.py."""
from __future__ import annotations

from pathlib import Path
from statistics import median

from .. import oracle, registry
from ..results import Record
from ..scenarios import SCENARIOS, TOKENIZE_BATCH, texts_for
from .latency import InnerTime, interleaved, paired_ratio, summary


def embed_latency(pipes: dict, mdir: Path, scenarios=("single", "batch"), quick=False, device="cpu",
                  peer="sentence_transformers") -> list[Record]:
    recs = []
    for sc in scenarios:
        bsz, length = SCENARIOS[sc]
        texts = texts_for(mdir, length, bsz)
        res = interleaved({n: (lambda p=p: p.embed(texts)) for n, p in pipes.items()},
                          rounds=5 if quick else 9, reps=20 if sc == "single" else 5,
                          budget_s=(4 if quick else 20))
        for n, samples in res.items():
            s = summary(samples)
            extra = {"batch": bsz, "length": length, "n": s["n"]}
            if peer in res and n != peer:
                extra[f"ratio_vs_{peer}"] = paired_ratio(samples, res[peer])
            for q in ("p50", "p90", "p99"):
                recs.append(Record(n, f"latency_{q}", sc, s[q] * 1e3, "ms", device, extra=extra))
            recs.append(Record(n, "throughput", sc, bsz / s["p50"], "texts/s", device, extra=extra))
    return recs


def forward_ratio(pipes: dict, mdir: Path, scenario="batch", quick=False, device="cpu",
                  peer="sentence_transformers") -> list[Record]:
    """Model forward only (same pre-tokenized batch for all), as a paired ratio to `peer`."""
    bsz, length = SCENARIOS[scenario]
    batch = registry.load("python_ref", mdir, device).tokenize(texts_for(mdir, length, bsz))
    fwd = {n: p for n, p in pipes.items() if "forward" in registry.BY_NAME[n].stages}
    res = interleaved({n: (lambda p=p: p.forward(batch)) for n, p in fwd.items()},
                      rounds=5 if quick else 9, reps=5, budget_s=(4 if quick else 20))
    recs = []
    for n, samples in res.items():
        extra = {"batch": bsz, "length": length}
        if peer in res:
            extra[f"ratio_vs_{peer}"] = paired_ratio(samples, res[peer])
        recs.append(Record(n, "forward_p50", scenario, summary(samples)["p50"] * 1e3, "ms", device, extra=extra))
    return recs


def tokenize_throughput(pipes: dict, texts: list[str], quick=False, peer="hf_tokenizers") -> list[Record]:
    """Single-thread tokenizer throughput over `texts` in batches of 64, str in -> ids out."""
    chunks = [texts[i:i + TOKENIZE_BATCH] for i in range(0, len(texts), TOKENIZE_BATCH)]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6

    def run(p):
        if hasattr(p, "time"):  # wasm_port: timed inside Node, never across the pipe
            return lambda: InnerTime(sum(median(p.time("tokenize", c, warmup=1, repeat=3)) for c in chunks) / 1e3)
        f = getattr(p, "encode_raw", p.tokenize)  # hf_tokenizers: encode_batch alone, no padding (strict)
        return lambda: [f(c) for c in chunks]

    res = interleaved({n: run(p) for n, p in pipes.items()}, rounds=3 if quick else 7, reps=1, warmup=1)
    recs = []
    for n, samples in res.items():
        t = summary(samples)["p50"]
        extra = {"batch": TOKENIZE_BATCH, "texts": len(texts), "mb": mb, "threads": 1}
        if peer in res:
            extra[f"speedup_vs_{peer}"] = 1.0 / paired_ratio(samples, res[peer])
        recs.append(Record(n, "tokenize_texts_s", "tokenize", len(texts) / t, "texts/s", extra=extra))
        recs.append(Record(n, "tokenize_mb_s", "tokenize", mb / t, "MB/s", extra=extra))
    return recs


def corpus_texts(path=None) -> list[str]:
    return oracle.read_corpus(path or oracle.PROJECT_CORPUS)
