"""Every registered port against upstream: ids == HF tokenizers, embeddings ~ sentence-transformers."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.equivalence import oracle
from bench import registry
from bench.equivalence.check import batched, unpad
from bench.tolerances import tolerance

PORTS = registry.PORTS


@pytest.mark.parametrize("pipe", PORTS, indirect=True)
def test_ids_equal_hf_on_corpus(pipe, mdir, corpus):
    ref = oracle.hf_ids(mdir, corpus)
    ours = [r for chunk in batched(corpus, 64) for r in unpad(pipe.tokenize(chunk))]
    bad = [(i, corpus[i][:80]) for i, (a, b) in enumerate(zip(ours, ref)) if a != b]
    assert len(ours) == len(ref)
    assert not bad, f"{len(bad)} mismatches, first: {bad[:3]}"


@pytest.fixture(scope="module")
def st_by_length(mdir, st_third):
    """conftest's st_third in upstream token-length order: batches of similar lengths, as
    sentence-transformers' encode makes them, still pad inside each batch; one batch of mixed
    lengths against one forward is tests/test_adversarial.py's, mixed batches against upstream
    tests/test_packed.py's."""
    texts, ref = st_third
    lens = [len(ids) for ids in oracle.hf_ids(mdir, texts)]
    order = sorted(range(len(texts)), key=lambda i: lens[i])
    return [texts[i] for i in order], ref[order]


@pytest.mark.parametrize("pipe", PORTS, indirect=True)
def test_embeddings_match_sentence_transformers(pipe, st_by_length):
    entry = registry.BY_NAME[pipe.name]
    atol, min_cos = tolerance(entry.torch_model)
    texts, ref = st_by_length
    ours = np.concatenate([pipe.embed(c) for c in batched(texts, 32)])
    assert ours.shape == ref.shape and ours.dtype == np.float32
    diff = np.abs(ours - ref).max()
    cos = (ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    assert diff <= atol, f"max |Δ| {diff:.2e} > {atol:.0e}"
    assert cos.min() >= min_cos


# Text from every corner of Unicode (surrogates excluded: they are bad input, tested elsewhere),
# plus the structures that break tokenizers: combining runs, long words, added tokens, many words.
ANY_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
STRUCTURED = st.lists(st.one_of(
    st.sampled_from(["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", "[cls]", " ", "\t", "\u3000", "##", "\u0301",
                     "\u0898\u0301", "e\u0301\u0327", "İ", "ΣΑΣ", "ß", "日本", "👨‍👩‍👧", "\x00", "\ufffd", "a" * 100]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FF), max_size=12),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8),
), max_size=25).map("".join)


def _hyp_check(pipe, mdir, text):
    got = unpad(pipe.tokenize([text]))[0]
    assert got == oracle.hf_ids(mdir, [text])[0], repr(text)


@pytest.mark.parametrize("pipe", PORTS, indirect=True)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(ANY_TEXT, STRUCTURED))
def test_ids_equal_hf_on_hypothesis_text(pipe, mdir, text):
    _hyp_check(pipe, mdir, text)


@pytest.mark.parametrize("pipe", PORTS, indirect=True)
def test_truncation_and_padding(pipe, mdir):
    texts = ["short", "word " * 400, ""]
    b = pipe.tokenize(texts)
    ref = oracle.hf_ids(mdir, texts)
    assert b.ids.dtype == np.int64 and b.attention_mask.dtype == np.int64
    assert b.ids.shape == b.attention_mask.shape == (3, max(map(len, ref)))
    assert unpad(b) == ref
    assert (b.ids[b.attention_mask == 0] == 0).all()


@pytest.fixture(scope="module")
def custom_added_dir(mdir, tmp_path_factory):
    """The packaged model with its own added tokens: [MASK] dropped, '<ent>' and a non-ASCII one
    added (ids after the vocab, as upstream assigns them), and the embedding table grown to match
    (vocab_size + 2 rows, as transformers' resize_token_embeddings does). The rest is symlinked."""
    import json

    from safetensors.numpy import load_file, save_file
    d = tmp_path_factory.mktemp("added")
    for f in mdir.iterdir():
        if f.name not in ("tokenizer.json", "config.json", "model.safetensors"):
            (d / f.name).symlink_to(f)
    spec = json.loads((mdir / "tokenizer.json").read_text())
    n = len(spec["model"]["vocab"])
    extra = [{"id": n + i, "special": False, "content": c, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False} for i, c in enumerate(["<ent>", "日本x"])]
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] != "[MASK]"] + extra
    (d / "tokenizer.json").write_text(json.dumps(spec))
    cfg = json.loads((mdir / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "vocab_size": n + len(extra)}))
    w = load_file(str(mdir / "model.safetensors"))
    key = next(k for k in w if k.endswith("word_embeddings.weight"))
    w[key] = np.concatenate([w[key], w[key][:len(extra)]])     # (n + 2, D)
    save_file(w, str(d / "model.safetensors"))
    return d


@pytest.mark.parametrize("name", PORTS)
def test_model_dirs_own_added_tokens(name, custom_added_dir):
    from conftest import require
    require(name)
    texts = ["a <ent> b [MASK] c", "x<ent><ent>y 日本x日本", "[CLS]<en t> é\u0301<ent>\u0301", ""]
    ref = oracle.hf_ids(custom_added_dir, texts)
    vocab = len((custom_added_dir / "vocab.txt").read_text(encoding="utf-8").splitlines())
    assert any(i >= vocab for row in ref for i in row)  # the new tokens are really in play
    pipe = registry.load_impl(name, custom_added_dir)
    try:
        assert unpad(pipe.tokenize(texts)) == ref
    finally:
        getattr(pipe, "close", lambda: None)()


@pytest.mark.parametrize("name", PORTS)
def test_random_weights_option(name):
    """`--weights random` (for timing where the real weights cannot travel): every port builds the
    same seeded model as python_ref's, and it is not the real one."""
    from conftest import require
    require(name)
    texts = ["hello world", "a longer sentence with more words in it"]
    want = registry.load_impl("python_ref", weights="random").embed(texts)
    pipe = registry.load_impl(name, weights="random")
    try:
        got = pipe.embed(texts)
    finally:
        getattr(pipe, "close", lambda: None)()
    assert np.abs(got - want).max() <= tolerance(registry.BY_NAME[name].torch_model)[0]
    assert np.abs(got - registry.load_impl("python_ref").embed(texts)).max() > 0.01
