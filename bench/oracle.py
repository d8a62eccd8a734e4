"""Upstream, the judge: HF tokenizers for ids, sentence-transformers for embeddings, computed live.

Leaves out: nothing is cached on disk, so a test can never compare against stale numbers.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@lru_cache(maxsize=4)
def hf_tokenizer(mdir: Path, max_len: int = 256):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(mdir / "tokenizer.json"))
    tok.enable_truncation(max_len)  # tokenizer.json ships truncation 128 and fixed padding: override
    tok.no_padding()
    return tok


def hf_ids(mdir: Path, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in hf_tokenizer(mdir).encode_batch(texts)]


@lru_cache(maxsize=4)
def st_model(mdir: Path, device: str = "cpu"):
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(str(mdir), device=device)


def st_embed(mdir: Path, texts: list[str], device: str = "cpu", batch_size: int = 32) -> np.ndarray:
    return st_model(mdir, device).encode(texts, batch_size=batch_size, convert_to_numpy=True,
                                         show_progress_bar=False).astype(np.float32)


def read_corpus(path: str | Path) -> list[str]:
    """.txt (one text per line) or .jsonl ({"text": ...} per line)."""
    path = Path(path)
    # split on "\n" only: str.splitlines() would also cut at U+2028, U+0085 etc. inside texts
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line.removesuffix("\r") for line in lines]
    if path.suffix == ".jsonl":
        return [json.loads(line)["text"] for line in lines if line.strip()]
    return lines


PROJECT_CORPUS = Path(__file__).resolve().parent.parent / "testdata" / "corpus.jsonl"
