"""numba_variant Pipeline: the Numba tokenizer (tokenizer.py) + python_ref's torch model (TorchForward).

Glue only: the port is the tokenizer; forward() is python_ref's, so any gain measured is the tokenizer's.
"""
from __future__ import annotations

from typing import Sequence

from python_ref.api import Batch, model_dir
from python_ref.pipeline import TorchForward


def missing() -> str | None:
    """One line saying what is not available, or None (bench/registry.available())."""
    try:
        import numba  # noqa: F401
    except ImportError as e:
        return f"numba_variant: numba is not installed ({e})"
    return None


def load_tokenizer(model: str | None = None):
    """The Numba tokenizer alone (no torch model): for the tokenizer bench and tests."""
    from .tokenizer import Tokenizer
    return Tokenizer.from_dir(model_dir(model))


class Pipeline(TorchForward):
    name = "numba_variant"

    def __init__(self, model: str | None = None, device: str = "cpu", weights: str = "real"):
        mdir = model_dir(model)
        self.tokenizer = load_tokenizer(mdir)
        super().__init__(mdir, device, weights)

    def tokenize(self, texts: Sequence[str]) -> Batch:
        return self.tokenizer.encode_batch(texts)
