"""python_ref_packed (issue 10 item 2): cpp_port's packing in Python eager gives upstream's vectors,
runs packed exactly when the batch has padding, and is a registered intervention."""
from __future__ import annotations

import numpy as np
import pytest

from bench import registry
from bench.attribution import overhead as oh
from bench.equivalence.check import batched
from bench.scenarios import texts_for
from bench.tolerances import tolerance
from tests.conftest import require

NAME = "python_ref_packed"


@pytest.fixture(scope="module")
def packed(mdir):
    require(NAME)
    return registry.load_impl(NAME, mdir)


def test_registered_as_intervention_with_torch_tolerance():
    e = registry.BY_NAME[NAME]
    assert e.kind == "intervention" and e.torch_model


def test_matches_sentence_transformers_on_corpus(packed, st_third):
    atol, min_cos = tolerance(True)
    texts, ref = st_third   # corpus order
    ours = np.concatenate([packed.embed(c) for c in batched(texts, 32)])   # mixed lengths: padding, packed
    assert ours.shape == ref.shape and ours.dtype == np.float32
    diff = np.abs(ours - ref).max()
    cos = (ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    assert diff <= atol, f"max |Δ| {diff:.2e} > {atol:.0e}"
    assert cos.min() >= min_cos


@pytest.mark.parametrize("texts", [["one"], ["", "word " * 400, "a b"], []])
def test_edge_batches_match_python_ref(packed, mdir, texts):
    ref = registry.load_impl("python_ref", mdir)
    a, b = ref.embed(texts), packed.embed(texts)
    assert a.shape == b.shape == (len(texts), ref.dim)
    assert np.abs(a - b).max(initial=0.0) <= tolerance(True)[0]


def _kinds(pipe, texts):
    args = oh.io_split(pipe, pipe.tokenize(texts), reps=1)["args"]
    rec = oh.CallRecorder()
    with rec:
        pipe.model.forward(*args)
    return rec.calls


def test_packs_only_when_there_is_padding(packed, mdir):
    mixed = texts_for(mdir, "medium", 3) + texts_for(mdir, "short", 2)
    calls = _kinds(packed, mixed)
    layers = len(packed.model.m.layers)
    # per layer: unpad after attention (index_select) and pad before it (zeros + index_copy_), plus
    # the unpad after the embeddings and the pad before pooling
    assert calls.count("index_select") == layers + 1
    assert calls.count("index_copy") == layers + 1
    same = _kinds(packed, ["same text"] * 3)
    assert "index_select" not in same and "index_copy" not in same


def test_packed_rows_equal_unpacked_rows(packed, mdir):
    """The packed path on a padded batch gives each row what it gives that row alone (no padding)."""
    texts = texts_for(mdir, "medium", 2) + texts_for(mdir, "short", 2)
    together = packed.embed(texts)
    alone = np.concatenate([packed.embed([t]) for t in texts])
    assert np.abs(together - alone).max() <= tolerance(True)[0]
