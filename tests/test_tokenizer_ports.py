"""cython_ext and numba_variant tokenizers, specifically: ids equal HF tokenizers (computed here,
at test time) on the corpus, on hypothesis text aimed at what is contextual in BERT normalisation
(NFD reordering, added tokens, word length after normalisation, truncation, chunk/prefix cuts),
the bad-input contract, linear time on 10 MB, and cython_ext's thread safety.
The registry-wide tests (test_equivalence.py, test_bad_input.py) cover embeddings and all ports."""
from __future__ import annotations

import os
import threading
import time
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.equivalence import oracle
from bench.equivalence.check import unpad
from python_ref import tokenizer as ref

PORTS = ["cython_ext", "numba_variant"]
_TOKS: dict = {}


def _require(name):
    from conftest import require
    require(name)


@pytest.fixture(params=PORTS)
def tok(request, mdir):
    _require(request.param)
    if request.param not in _TOKS:
        mod = __import__(f"{request.param}.pipeline", fromlist=["load_tokenizer"])
        _TOKS[request.param] = mod.load_tokenizer(mdir)
    return _TOKS[request.param]


def check_same(tok, mdir, texts):
    b = tok.encode_batch(texts)
    assert b.ids.dtype == np.int64 and b.attention_mask.dtype == np.int64
    assert b.ids.shape == b.attention_mask.shape and b.ids.shape[0] == len(texts)
    want = oracle.hf_ids(mdir, texts)
    got = unpad(b)
    for t, g, w in zip(texts, got, want):
        assert g == w, f"text {t[:120]!r}"
    assert b.ids.shape[1] == max(map(len, want), default=0)                  # padded to the longest row
    assert (b.ids[b.attention_mask == 0] == 0).all()                  # [PAD] = 0


def test_corpus_equals_hf(tok, mdir, corpus):
    check_same(tok, mdir, corpus)                                     # one batch of everything
    for i in range(0, len(corpus), 64):                               # and the bench's batches
        check_same(tok, mdir, corpus[i:i + 64])


# ---- hypothesis: broad text, then strategies aimed at what is not per-character

# marks with a nonzero combining class that BERT does NOT strip (not Mn for upstream): their
# relative order after NFD's canonical reordering is visible in the ids
KEPT_MARKS = [c for c in map(chr, range(0x300, 0x20000))
              if unicodedata.combining(c) and not ref.is_nonspacing_mark(c)]
STRIPPED_MARKS = [c for c in map(chr, range(0x300, 0x3000)) if ref.is_nonspacing_mark(c)][:200]
CJK = [chr(c) for lo, hi in ref.CJK_RANGES for c in (lo, lo + 1, (lo + hi) // 2, hi)]
CONTROLS = [c for c in map(chr, range(0, 0x10000)) if ref.is_control(c)][:100] + ["\0", "\ufffd", "\t", "\n", "\r"]
SPECIAL = ["[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", "[MASK", "[cls]", "[[SEP]]"]
TRICKY = ["İ", "Σ", "ß", "ﬃ", "Å", "é", "e\u0301", "\u00a0", "\u3000", "\u2028", "\u0085", "##", "#"]

broad = st.text(st.characters(codec="utf-8"), max_size=200)
letters = st.sampled_from(list("abcdeéxyzАБВ日本ابج") + TRICKY)
pieces = st.one_of(letters, st.sampled_from(KEPT_MARKS), st.sampled_from(STRIPPED_MARKS),
                   st.sampled_from(CJK), st.sampled_from(CONTROLS), st.sampled_from(SPECIAL),
                   st.sampled_from([" ", "  ", ".", ",", "-", "'", "\u2019"]))
targeted = st.lists(pieces, max_size=80).map("".join)
# words whose length lands near 100 characters after normalisation ('é' -> 'e', 'İ' -> 'i̇' = 2)
long_words = st.tuples(st.sampled_from(["a", "é", "İ", "日", "xy", "e\u0301"]),
                       st.integers(40, 110), st.sampled_from(["", " tail", ".", "a"])
                       ).map(lambda t: "word " + t[0] * t[1] + t[2])
many_tokens = st.tuples(st.lists(st.sampled_from(["the", "cat", "sat", "xqzw", "naïve", "日", ",", "[SEP]"]),
                                 min_size=1, max_size=8), st.integers(50, 400)
                        ).map(lambda t: " ".join(t[0] * t[1]))

HYP = settings(max_examples=int(os.environ.get("PORTBENCH_HYPOTHESIS_EXAMPLES", "150")), deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@HYP
@given(texts=st.lists(broad, max_size=6))
def test_hypothesis_broad_text(tok, mdir, texts):
    check_same(tok, mdir, texts)


@HYP
@given(texts=st.lists(st.one_of(targeted, long_words, many_tokens), min_size=1, max_size=6))
def test_hypothesis_targeted(tok, mdir, texts):
    check_same(tok, mdir, texts)


def test_reordered_kept_marks(tok, mdir):
    """NFD canonical reordering is the one non-per-character step: kept marks out of order."""
    by_ccc = sorted(KEPT_MARKS, key=unicodedata.combining)
    lo, hi = by_ccc[0], by_ccc[-1]
    assert unicodedata.combining(lo) < unicodedata.combining(hi)
    texts = [f"a{hi}{lo}b", f"x{hi}\u0301{lo} y{lo}{hi}", f"{hi}{lo}" * 50, f"é{hi}{lo}[SEP]{hi}{lo}"]
    check_same(tok, mdir, texts)


def test_cuts_at_chunk_and_prefix_boundaries(tok, mdir):
    """python_ref reads 2048-char chunks, numba_variant 4096-char prefixes: marks and words at the cuts."""
    texts = []
    for n in (2040, 2047, 2048, 2049, 4090, 4095, 4096, 4097):
        texts.append("\x01" * n + " café e\u0301 word" * 300)           # few pieces before the cut
        texts.append("a" * n + " e\u0301\u0301 " + "b" * 50 + " naïve" * 300)
        texts.append(" " * n + "日本語 " * 200)
    check_same(tok, mdir, texts)


# ---- bad input (docs/DESIGN.md §5), checked on the tokenizer alone

@pytest.mark.parametrize("bad,exc,index", [
    ([1], TypeError, 0), (["ok", b"bytes"], TypeError, 1), (["a", None], TypeError, 1),
    (["\ud800"], ValueError, 0), (["fine", "x\udfffy"], ValueError, 1), (["a", "b", "日\udbff"], ValueError, 2),
    (["\ud800", 3], ValueError, 0), ([3, "\ud800"], TypeError, 0), (["ok", "𝄞\udc00"], ValueError, 1)])
def test_bad_items_name_their_index(tok, bad, exc, index):
    with pytest.raises(exc, match=rf"texts\[{index}\]"):
        tok.encode_batch(bad)


def test_single_str_and_other_sequences(tok, mdir):
    with pytest.raises(TypeError):
        tok.encode_batch("not a list")
    want = oracle.hf_ids(mdir, ["a b", "c"])
    assert unpad(tok.encode_batch(("a b", "c"))) == want
    assert unpad(tok.encode_batch(t for t in ["a b", "c"])) == want
    assert unpad(tok.encode_batch(np.array(["a b", "c"]))) == want


def test_empty(tok, mdir):
    b = tok.encode_batch([])
    assert b.ids.shape[0] == 0 and b.attention_mask.shape[0] == 0 and b.ids.ndim == 2
    assert unpad(tok.encode_batch([""])) == oracle.hf_ids(mdir, [""])
    assert tok.encode_batch(["", "a"]).attention_mask.tolist()[0][:2] == [1, 1]


@pytest.mark.parametrize("unit", ["a", "word ", "日本 ", "\x01", "é, ", "e\u0301" * 3 + " "])
def test_10mb_text_bounded_time(tok, mdir, unit):
    big = unit * (10_000_000 // len(unit))
    t0 = time.perf_counter()
    got = unpad(tok.encode_batch([big, "short"]))
    dt = time.perf_counter() - t0
    assert got == oracle.hf_ids(mdir, [big[:300_000], "short"])
    assert dt < 5.0, dt


# ---- cython_ext: thread safety (8 threads at once == sequential), pages filled concurrently

def test_cython_threads_equal_sequential(mdir, corpus):
    _require("cython_ext")
    from cython_ext.pipeline import load_tokenizer
    tok = load_tokenizer(mdir)  # fresh: pages for non-Latin scripts get filled while threads race
    batches = [corpus[i:i + 64] for i in range(0, len(corpus), 64)]
    seq_tok = load_tokenizer(mdir)
    want = [unpad(seq_tok.encode_batch(b)) for b in batches]
    results: dict = {}
    barrier = threading.Barrier(8)

    def work(k):
        barrier.wait()
        results[k] = [unpad(tok.encode_batch(b)) for b in batches[k % 2::2] + batches[(k + 1) % 2::2]]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(8):
        order = batches[k % 2::2] + batches[(k + 1) % 2::2]
        expect = [want[batches.index(b)] for b in order]
        assert results[k] == expect, k
