"""Inputs built to defeat a tokenizer (issue 12), over every port: linear time and upstream's ids on
10x longer texts of combining marks (stripped or kept) and of CJK without spaces; NFD's canonical
reordering in linear time and equal to unicodedata's; the pieces python_ref and numba_variant cut
long texts into, against HF on hypothesis text; embed()'s internal batching (the vectors of one
forward, memory bounded by one batch). The 10 MB figures are a bench part (`bench tokenize`)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import variants
from bench.equivalence import oracle
from bench import registry
from bench.equivalence.adversarial import TEXTS
from bench.equivalence.check import unpad
from bench.tolerances import tolerance
from python_ref import tokenizer as ref
from contract.api import pad_rows, split_batch

PORTS = registry.PORTS
ROOT = Path(__file__).resolve().parents[1]


def _best(fn, n: int = 2) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


# -- linear time (items 7, 8) -------------------------------------------------------------------

@pytest.mark.parametrize("pipe", PORTS, indirect=True)
@pytest.mark.parametrize("kind", list(TEXTS))
def test_adversarial_text_scales_linearly(pipe, mdir, kind):
    """100 KB -> 1 MB: at most ~10x the time (quadratic is 100x; below 25x leaves room for noise), and
    upstream's ids, which the first 100 KB already decide (a letter, one [UNK] word, 254 ideographs)."""
    small, big = TEXTS[kind](100_000), TEXTS[kind](1_000_000)
    pipe.tokenize([small])   # warm: tables, pages, JIT
    t_small, t_big = _best(lambda: pipe.tokenize([small])), _best(lambda: pipe.tokenize([big]))
    assert unpad(pipe.tokenize([big])) == oracle.hf_ids(mdir, [small])
    assert t_big < 25 * t_small + 0.25, (t_small, t_big)


MARKS = [chr(c) for c in range(0x300, 0x370)] + [c for c in map(chr, range(0x370, 0x20000))
                                                  if unicodedata.combining(c)][::7]
STARTERS = list("aeoéÅ日") + ["\u1e69", "\u0344", "\u0f73", "\u0f75", "\uac01", "\u1100", "\u0958", " "]


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(MARKS + STARTERS), max_size=200))
def test_nfd_equals_unicodedata(text):
    assert ref.nfd(text) == unicodedata.normalize("NFD", text)


def test_nfd_keeps_upstreams_exceptions():
    (ch, kept), = ref.NFD_FIX.items()
    assert unicodedata.normalize("NFD", ch) != kept
    assert ref.nfd("a" + ch + "\u0316\u0301") == "a" + kept + "\u0316\u0301"


def test_nfd_is_linear():
    small, big = "a" + "\u0301\u0316" * 50_000, "a" + "\u0301\u0316" * 500_000
    t_small, t_big = _best(lambda: ref.nfd(small)), _best(lambda: ref.nfd(big))
    assert ref.nfd(small) == "a" + "\u0316" * 50_000 + "\u0301" * 50_000
    assert t_big < 25 * t_small + 0.1, (t_small, t_big)


# -- pieces: long texts cut where tokenizing piece by piece equals the whole (python_ref, numba_variant)

def _run(pool, lo, hi):
    return st.text(st.sampled_from(pool), min_size=lo, max_size=hi)


KEPT = [c for c in MARKS if not ref.is_nonspacing_mark(c)]
CJK = [chr(c) for lo, hi in ref.CJK_RANGES[:2] for c in range(lo, lo + 40)]
chunks = st.one_of(_run(CJK, 1, 700), _run(MARKS, 1, 700), _run(KEPT, 1, 150), _run(list("abcxyzé"), 1, 400),
                   _run(list("abc ,.-"), 1, 700), st.sampled_from(["[SEP]", "[MASK", " [CLS] ", "\x01", "\u3000",
                                                                  "\u0085", "e\u0301", "İ", "日本", "\ufffd"]))
long_texts = st.lists(chunks, min_size=2, max_size=25).map("".join)
HYP = settings(max_examples=int(os.environ.get("PORTBENCH_HYPOTHESIS_EXAMPLES", "40")), deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.mark.parametrize("pipe", PORTS, indirect=True)
@HYP
@given(text=long_texts)
def test_long_texts_equal_hf(pipe, mdir, text):
    assert unpad(pipe.tokenize([text])) == oracle.hf_ids(mdir, [text])


def test_cut_characters_are_safe(mdir):
    """Every character pieces() may cut before starts a word and cannot be reordered across, under every
    normalizer setting: checked on all of them (ASCII, whitespace, the CJK blocks)."""
    from dataclasses import replace

    from contract.api import load_spec
    spec = load_spec(mdir)
    for flags in [(1, 1, 1, 1), (0, 0, 0, 0), (1, 0, 1, 0), (0, 1, 0, 1)]:
        tok = ref.Tokenizer(Path(spec.dir) / "vocab.txt", replace(spec, **dict(zip(
            ("clean_text", "handle_chinese_chars", "strip_accents", "lowercase"), map(bool, flags)))))
        cands = [chr(c) for c in range(128)] + sorted(ref.WHITESPACE) + \
            [chr(c) for lo, hi in ref.CJK_RANGES for c in range(lo, hi + 1)]
        cut = [c for c in cands if tok.cuts.fullmatch(c)]
        assert len(cut) > 30 and all(tok.is_cut(c) for c in cut), flags


# -- embed in batches (item 9) ----------------------------------------------------------------------

def test_split_batch_respects_the_budget():
    rows = [[7] * k for k in (3, 50, 50, 1, 200, 9, 9, 9, 120, 2)]
    b = pad_rows(rows, 0)
    parts = split_batch(b, max_tokens=160)
    assert all(p.ids.shape[0] * p.ids.shape[1] <= 160 or p.ids.shape[0] == 1 for p in parts)
    assert [r for p in parts for r in unpad(p)] == rows and len(parts) > 3
    assert split_batch(b, max_tokens=10_000) == [b]


@pytest.mark.parametrize("pipe", ["python_ref", "cpp_port"], indirect=True)
def test_embed_in_batches_equals_one_forward(pipe, corpus):
    texts = corpus[:150]   # padded to 256 tokens: 150 x 256 is over MAX_BATCH_TOKENS, so embed splits it
    batch = pipe.tokenize(texts)
    assert len(split_batch(batch)) > 1                      # the input really is split
    got, one = pipe.embed(texts), pipe.forward(batch)
    assert got.shape == one.shape and got.dtype == np.float32
    assert np.abs(got - one).max() <= tolerance(True)[0]


_CHILD = """
import json, sys
from bench import registry
name, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
hwm = lambda: int([l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]) * 1024
p = registry.load_impl(name, d)
texts = [" ".join(["hello", "world"] * 46 + [str(i % 10)]) for i in range(n)]   # 95 tokens each
p.embed(texts[:400])                         # one full batch at least: the peak a batch needs
base = hwm()
out = p.embed(texts)
print(json.dumps({"base": base, "peak": hwm(), "shape": list(out.shape), "t": p.tokenize(texts[:1]).ids.shape[1]}))
"""


@pytest.mark.parametrize("name", ["python_ref", "cpp_port"])
def test_embed_memory_is_bounded_by_one_batch(name, mdir, tmp_path):
    """20,000 texts of 95 tokens in a child process (a small random-weight model, so it is quick): the
    peak grows by far less than one forward over all of them would need for its FFN activations alone."""
    from conftest import require
    require(name)
    d = variants.build("small", mdir, tmp_path / "small")
    n = 20_000
    r = subprocess.run([sys.executable, "-c", _CHILD, name, str(d), str(n)], capture_output=True, text=True,
                       cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    m = json.loads(r.stdout.strip().splitlines()[-1])
    cfg = json.loads((d / "config.json").read_text())
    assert m["t"] == 95 and m["shape"] == [n, cfg["hidden_size"]]
    unbatched = n * m["t"] * cfg["intermediate_size"] * 4    # bytes: one FFN activation, all texts at once
    assert m["peak"] - m["base"] < unbatched / 4, (m, unbatched)
