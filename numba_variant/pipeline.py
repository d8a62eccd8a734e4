"""numba_variant Pipeline: the Numba tokenizer (tokenizer.py) + python_ref's torch model.

Glue only: the port is the tokenizer; forward() is python_ref's, so any gain measured is the tokenizer's.
"""
from __future__ import annotations

from contract.api import load_spec
from python_ref.pipeline import TokenizerPort


def missing() -> str | None:
    """One line saying what is not available here, or None (bench/registry.available())."""
    try:
        import numba  # noqa: F401
    except ImportError as e:
        return f"numba_variant: numba is not installed ({e})"
    return None


def load_tokenizer(model=None):
    """The tokenizer alone (no torch model) of a model directory or spec: for the tokenizer bench and tests."""
    from .tokenizer import Tokenizer
    return Tokenizer.from_spec(load_spec(model))


class Pipeline(TokenizerPort):
    name = "numba_variant"
    load_tokenizer = staticmethod(load_tokenizer)
