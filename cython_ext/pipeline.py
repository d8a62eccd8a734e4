"""cython_ext Pipeline: the Cython tokenizer (_tokenizer.pyx) + python_ref's torch model (TorchForward).

Glue only: the port is the tokenizer; forward() is python_ref's, so any gain measured is the tokenizer's.
"""
from __future__ import annotations

from typing import Sequence

from python_ref.api import Batch, model_dir
from python_ref.pipeline import TorchForward


def missing() -> str | None:
    """One line saying what is not built, or None (bench/registry.available())."""
    try:
        from . import _tokenizer  # noqa: F401
    except ImportError as e:
        return f"cython_ext: extension not built ({e}); run `pip install --no-build-isolation -e .`"
    return None


def load_tokenizer(model: str | None = None):
    """The Cython tokenizer alone (no torch model): for the tokenizer bench and tests."""
    from ._tokenizer import Tokenizer
    return Tokenizer.from_dir(model_dir(model))


class Pipeline(TorchForward):
    name = "cython_ext"

    def __init__(self, model: str | None = None, device: str = "cpu", weights: str = "real"):
        mdir = model_dir(model)
        self.tokenizer = load_tokenizer(mdir)
        super().__init__(mdir, device, weights)

    def tokenize(self, texts: Sequence[str]) -> Batch:
        return self.tokenizer.encode_batch(texts)  # checks the bad-input contract itself, in C
