"""Every reproducer `bench fuzz` ever saved, replayed for every port against HF tokenizers;
plus a short fuzz pass, so the fuzzer itself is exercised in CI."""
from __future__ import annotations

import json

import pytest

from bench.equivalence import fuzz, oracle
from bench import registry
from bench.equivalence.check import unpad

CASES = sorted(fuzz.REGRESSIONS.glob("*.json"))


@pytest.mark.parametrize("pipe", registry.PORTS, indirect=True)
def test_saved_regressions(pipe, mdir):
    texts = [json.loads(p.read_text())["text"] for p in CASES] + ["x[CLS]y"]
    assert unpad(pipe.tokenize(texts)) == oracle.hf_ids(mdir, texts)


@pytest.mark.parametrize("pipe", registry.PORTS, indirect=True)
def test_short_fuzz_pass(pipe, mdir):
    import random
    rng = random.Random(1234)
    texts = [fuzz.random_text(rng) for _ in range(300)]
    got, ref = unpad(pipe.tokenize(texts)), oracle.hf_ids(mdir, texts)
    bad = [t for t, a, b in zip(texts, got, ref) if a != b]
    assert not bad, [ascii(t[:80]) for t in bad[:3]]


def test_shrink_finds_a_minimal_reproducer(mdir):
    class OffByOne:  # a tokenizer that is wrong exactly when the text holds a 'q'
        def __init__(self):
            self.ref = registry.load_impl("python_ref", mdir)

        def tokenize(self, texts):
            b = self.ref.tokenize(texts)
            for i, t in enumerate(texts):
                if "q" in t:
                    b.ids[i, 0] = 7
            return b

    small = fuzz.shrink(OffByOne(), mdir, "hello quick brown fox " * 5)
    assert small == "q"
