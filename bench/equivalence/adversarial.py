"""`bench tokenize`'s adversarial figure: seconds for each port to embed one 10 MB text built to defeat a
tokenizer (docs/DESIGN.md §5 promises linear time; the target is under 5 s a text): marks (a letter, then
combining marks out of canonical order, all stripped by an uncased model), kept_marks (marks the normalizer
keeps: one 10 MB [UNK] word), cjk (no ASCII space at all). Median and range of 3 embeds (the quick plan: 2)
after a warm-up. A figure, not a test: tests/test_adversarial.py checks linear scaling from 100 KB to 1 MB."""
from __future__ import annotations

import statistics
import time

from .. import console, registry
from ..results import Record

MB10 = 10_000_000
TEXTS = {  # name: builder of a text of about n UTF-8 bytes
    "marks": lambda n: "a" + "\u0301\u0316" * ((n - 1) // 4),
    "kept_marks": lambda n: "a" + "\U0001D16D\U0001D165" * ((n - 1) // 8),
    "cjk": lambda n: "日本語中文" * (n // 15),
}


def _embed_s(pipe, text: str) -> float:
    if hasattr(pipe, "time"):   # wasm_port: timed inside Node
        return pipe.time("embed", [text], warmup=0, repeat=1)[0] / 1e3
    t0 = time.perf_counter()
    pipe.embed([text])
    return time.perf_counter() - t0


def run_part(run) -> None:
    """Every loaded port that embeds: the records into the run, the table."""
    pipes = {n: p for n, p in run.pipes.items() if n in registry.ports(with_reference=True) and registry.has_forward(n)}
    rounds = 2 if run.plan_name == "quick" else 3
    recs = []
    for name, build in TEXTS.items():
        text = build(MB10)
        for impl, pipe in pipes.items():
            pipe.embed(["warm up"])
            secs = sorted(_embed_s(pipe, text) for _ in range(rounds))
            recs.append(Record(impl, "adversarial_embed_s", name, statistics.median(secs), "s",
                               extra={"rounds_s": secs, "bytes": len(text.encode()), "target_s": 5.0}))
    run.add(recs)
    console.table(f"adversarial 10 MB texts: seconds to embed one (median [min-max] of {rounds} rounds; target < 5 s)"
                  if recs else "adversarial 10 MB texts: no port loaded", ["impl"] + list(TEXTS),
                  [[impl] + [f"{r.value:.2f} [{r.extra['rounds_s'][0]:.2f}-{r.extra['rounds_s'][-1]:.2f}]"
                             for r in recs if r.impl == impl] for impl in pipes])
