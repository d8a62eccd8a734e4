"""The one case list that tests and perf runs share: texts for each scenario, drawn from the corpus
by upstream token length (so 'short', 'medium' and 'long' mean the same thing on any corpus)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .equivalence import oracle

LENGTHS = {"short": (6, 24), "medium": (48, 128), "long": (256, 10**9)}  # token counts, [lo, hi]
SCENARIOS = {  # name: (batch size, length class)
    "single": (1, "short"),
    "batch": (32, "medium"),
    "long": (8, "long"),
    "batch256": (256, "short"),   # CUDA only: the tokenizer-bound regime on a GPU
}
SWEEP_BATCHES = (1, 8, 32, 128)
SWEEP_LENGTHS = ("short", "medium", "long")
TOKENIZE_BATCH = 64


@lru_cache(maxsize=4)
def by_length(mdir: Path) -> dict[str, list[str]]:
    """The project corpus's texts by length class (LENGTHS)."""
    from contract.spec import read_spec
    texts = oracle.read_corpus(oracle.PROJECT_CORPUS)
    lens = [len(ids) for ids in oracle.hf_ids(mdir, texts)]
    # "long" means reaching the model's truncation: 256 tokens for all-MiniLM-L6-v2, its max_seq_length for others
    bounds = {**LENGTHS, "long": (read_spec(mdir).max_seq_length, LENGTHS["long"][1])}
    out = {k: [t for t, n in zip(texts, lens) if lo <= n <= hi and len(t) < 20_000] for k, (lo, hi) in bounds.items()}
    for k, v in out.items():
        if not v:
            raise ValueError(f"corpus {oracle.PROJECT_CORPUS} has no {k} texts ({bounds[k]} tokens)")
    return out


def texts_for(mdir: Path, length: str, n: int) -> list[str]:
    pool = by_length(mdir)[length]
    return [pool[i % len(pool)] for i in range(n)]
