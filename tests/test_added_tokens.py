"""Added tokens, found as upstream finds them (leftmost-longest, in any position) in linear time, by
every port: python_ref's automaton against a brute-force search whose truth is plain; a model with
10,000 added tokens and a 100,000-character word against HF tokenizers in every port, within seconds
(the per-position search this replaced took 8-64 s); the spec readers load that many in linear time.
Directories where the tokens follow letters and digits are tests/variants.py's added_words (every port
against sentence-transformers in test_model_variants.py)."""
from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

import pytest

from bench.equivalence import oracle
from bench import registry
from bench.equivalence.check import unpad
from contract.weights import random_weights_dir
from conftest import require
from python_ref.added_tokens import AddedTokens

ROOT = Path(__file__).resolve().parents[1]
N_TOKENS, WORD_CHARS, SECONDS = 10_000, 100_000, 5.0


def _brute(text: str, tokens: dict[str, int]) -> list[tuple[int, int, int]]:
    """Leftmost-longest by definition: at each position the longest token starting there, else move on."""
    out, i = [], 0
    while i < len(text):
        best = max((t for t in tokens if t and text.startswith(t, i)), key=len, default=None)
        if best:
            out.append((i, i + len(best), tokens[best]))
            i += len(best)
        else:
            i += 1
    return out


def test_automaton_equals_leftmost_longest_by_definition():
    rng = random.Random(1)
    for trial in range(3000):
        alpha = "ab" if trial % 2 else "abé"
        tokens = {"".join(rng.choice(alpha) for _ in range(rng.randint(0, 5))): k for k in range(rng.randint(1, 6))}
        text = "".join(rng.choice(alpha + "x") for _ in range(rng.randint(0, 30)))
        ac = AddedTokens(tokens)
        assert list(ac.finditer(text)) == _brute(text, {t: i for t, i in tokens.items() if t}), (tokens, text)


@pytest.fixture(scope="module")
def many_tokens(mdir, tmp_path_factory):
    """The packaged model with N_TOKENS added tokens (random lowercase words, ids after the
    vocabulary) and seeded random weights of the grown vocabulary; and one 100,000-letter word."""
    rng = random.Random(7)
    d = tmp_path_factory.mktemp("many_added")
    for f in mdir.iterdir():
        if f.name not in ("tokenizer.json", "config.json", "model.safetensors"):
            (d / f.name).symlink_to(f)
    tj = json.loads((mdir / "tokenizer.json").read_text())
    n, words = len(tj["model"]["vocab"]), set()
    while len(words) < N_TOKENS:
        w = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 12)))
        if w not in tj["model"]["vocab"]:
            words.add(w)
    tj["added_tokens"] += [{"id": n + k, "content": w, "special": False, "single_word": False, "lstrip": False,
                            "rstrip": False, "normalized": False} for k, w in enumerate(sorted(words))]
    (d / "tokenizer.json").write_text(json.dumps(tj))
    cfg = json.loads((mdir / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "vocab_size": n + N_TOKENS}))
    tmp = random_weights_dir(d)
    word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(WORD_CHARS))
    yield Path(tmp.name), word
    tmp.cleanup()


@pytest.mark.parametrize("name", registry.PORTS)
def test_many_added_tokens_and_a_long_word_in_every_port(name, many_tokens):
    require(name)
    d, word = many_tokens
    texts = [word, "x" + word[:3000] + " " + word[5000:9000]]
    want = oracle.hf_ids(d, texts)
    assert any(i >= 30522 for i in want[0])   # the added tokens are really found
    pipe = registry.load_impl(name, d)
    try:
        pipe.tokenize(["warm up"])
        t0 = time.perf_counter()
        got = unpad(pipe.tokenize(texts))
        took = time.perf_counter() - t0
    finally:
        getattr(pipe, "close", lambda: None)()
    assert got == want
    assert took < SECONDS, f"{name}: {took:.1f} s for {N_TOKENS} added tokens and a {WORD_CHARS}-char word"


def test_spec_readers_load_many_added_tokens_in_linear_time(many_tokens):
    """The C++ and JS readers on N_TOKENS added tokens (the C++ one was quadratic: 0.7 s at 10,000)."""
    from cpp_port.pipeline import binary
    require(None if binary() else "cpp_port: minilm-embed is not built", is_reason=True)
    require("wasm_port")
    d, _ = many_tokens
    for cmd in ([binary(), "--model", str(d), "--print-spec"],
                ["node", str(ROOT / "wasm_port/js/node_runner.mjs"), "--model", str(d), "--print-spec"]):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout).get("spec", json.loads(r.stdout))["added_tokens"]) >= N_TOKENS
        assert time.perf_counter() - t0 < SECONDS, cmd[0]
