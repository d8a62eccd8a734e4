"""Equivalence (docs/DESIGN.md §7): ids versus HF tokenizers (exact) and embeddings versus
sentence-transformers (within the tolerance table), per implementation, on any corpus. A LOSSY row (the
int8 rows) is checked for its ids only; its vectors are equivalence/fidelity.py's."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import oracle
from .. import registry
from ..tolerances import tolerance


@dataclass
class Row:
    impl: str
    texts: int
    id_mismatches: int | None = None
    first_bad: str = ""
    max_abs: float | None = None
    min_cos: float | None = None
    tol: float | None = None
    error: str = ""
    exact: bool = True          # False: ids only here (vectors: the fidelity budget)

    @property
    def ok(self) -> bool:
        return not self.error and (self.max_abs is None or (
            self.max_abs <= self.tol and self.min_cos >= tolerance(True)[1])) and self.id_mismatches in (None, 0)


def unpad(batch) -> list[list[int]]:
    lens = batch.attention_mask.sum(1)
    return [row[:n].tolist() for row, n in zip(batch.ids, lens)]


def batched(texts, n):
    for i in range(0, len(texts), n):
        yield texts[i:i + n]


def compare_ids(row: Row, pipe, texts: list[str], ref_ids: list[list[int]]) -> None:
    """row.id_mismatches and row.first_bad: pipe's ids of texts (batches of 64) against ref_ids."""
    ids = [r for chunk in batched(texts, 64) for r in unpad(pipe.tokenize(chunk))]
    bad = [i for i, (a, b) in enumerate(zip(ids, ref_ids)) if a != b]
    row.id_mismatches = len(bad) + abs(len(ids) - len(ref_ids))
    if bad:
        row.first_bad = texts[bad[0]][:60]


def check_equivalence(name: str, texts: list[str], mdir: Path, device: str = "cpu", ref_ids=None, ref_emb=None,
                      pipe=None) -> Row:
    """One Row for `name` on `texts`; `pipe`: an already loaded pipeline of it (else loaded and closed here)."""
    entry = registry.BY_NAME[name]
    row = Row(name, len(texts), exact=entry.exact)
    own = pipe is None
    try:
        if own:
            pipe = registry.load_impl(name, mdir, device=device)
        compare_ids(row, pipe, texts, ref_ids if ref_ids is not None else oracle.hf_ids(mdir, texts))
        if "forward" in entry.stages and entry.exact:
            ref_emb = ref_emb if ref_emb is not None else oracle.st_embed(mdir, texts, device)
            emb = np.concatenate([pipe.embed(c) for c in batched(texts, 32)])
            row.max_abs = float(np.abs(emb - ref_emb).max())
            cos = (emb * ref_emb).sum(1) / np.maximum(
                np.linalg.norm(emb, axis=1) * np.linalg.norm(ref_emb, axis=1), 1e-12)
            row.min_cos = float(cos.min()) if len(cos) else 1.0
            row.tol = tolerance(entry.torch_model, device)[0]
    except Exception as e:  # one broken implementation must not hide the others' results
        row.error = f"{type(e).__name__}: {e}"
    finally:
        if own and pipe is not None:
            getattr(pipe, "close", lambda: None)()
    return row
