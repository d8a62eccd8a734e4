"""Any BERT-family sentence-transformers directory, in every port: model directories that differ from
all-MiniLM-L6-v2 the way Hub models do (tests/variants.py builds them at test time: other tokenizers,
heads, sizes, FFN activations, prompts, DistilBERT) against sentence-transformers loading the same
directory. Ids must equal its own tokenization (with its truncation; prompt + text where the model has a
default prompt), vectors must be within the tolerance table; a prompt given by name or as text must
give encode(prompt_name=) / encode(prompt=)'s answer, with the prompt's tokens counted as it counts
them; an unsupported setting must be refused in one line naming the file and the setting, by every port
and by minilm-embed. The three spec readers (contract/spec.py, cpp_port/model_spec.cpp,
wasm_port/js/spec.mjs) must agree on every directory.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import variants
from bench.equivalence import oracle
from bench import registry
from bench.equivalence.check import unpad
from bench.tolerances import tolerance
from conftest import require
from contract.api import ModelDirError, read_spec

ROOT = Path(__file__).resolve().parents[1]
ALL = ("base",) + variants.SUPPORTED + tuple(variants.REFUSED) + variants.SAME_AS_BASE
EDGE = ["Hello WORLD, Café naïve ÉCOLE", "x\x01y \x00 \ufffd z\u0085w\u2000v", "日本語 中文 and 한국어",
        "İstanbul ΣΑΣ straße ﬃ", "e\u0301\u0327 a\u0316\u0301", "[CLS] x[SEP]y [MASK] [unk]", "", "   ",
        "azqx 7zqx zqx9x a9x zqxzqx ,zqx. é9x [CLS]zqx zq x9 xzq"]   # tokens after letters, digits, punctuation


@pytest.fixture(scope="module")
def corpus_texts(corpus):
    longest = sorted(corpus, key=len)[-3:]   # reach 512 tokens: truncation at every max_seq_length
    return corpus[::12] + EDGE + longest, corpus[::60] + EDGE[:4] + longest[-1:]


@pytest.fixture(scope="module")
def vdir(mdir, tmp_path_factory):
    """variant name -> its directory, built once per module on first use."""
    root, built = tmp_path_factory.mktemp("variants"), {}

    def get(name: str) -> Path:
        if name == "base":
            return mdir
        if name not in built:
            built[name] = variants.build(name, mdir, root / name)
        return built[name]
    return get


_UPSTREAM: dict = {}


@pytest.fixture(scope="module")
def upstream(vdir, corpus_texts):
    """variant -> sentence-transformers' answers, computed once: ids of the id texts, vectors of the
    vector texts, and (for the oracle's own check) its preprocess() ids and the hf_tokenizers peer's."""
    ids_texts, emb_texts = corpus_texts

    def get(variant: str) -> dict:
        if variant not in _UPSTREAM:
            d = vdir(variant)
            p = oracle.st_prompt(d)   # the default prompt (""): in front of every text
            _UPSTREAM[variant] = {"ids": oracle.hf_ids(d, ids_texts), "emb": oracle.st_embed(d, emb_texts),
                                  "pre": oracle.st_preprocess_ids(d, emb_texts), "short_ids": oracle.hf_ids(d, emb_texts),
                                  "peer": [e.ids for e in oracle.hf_tokenizer(d).encode_batch([p + t for t in emb_texts])]}
        return _UPSTREAM[variant]
    return get


def _load(port, d):
    require(port)
    return registry.load_impl(port, d)


# -- every port against sentence-transformers, on every supported variant ------------------------

# the ports, and the interventions that run a model of their own in torch (python_ref_packed; the
# compiled one takes minutes, onnxruntime refuses other heads): each must honour every setting. The int8
# rows are not held to the fp32 tolerances: tests/test_fidelity.py checks them against their own budget
MODELS = registry.PORTS + [e.name for e in registry.REGISTRY
                           if e.kind == "intervention" and e.kernels == "torch" and not e.compiles and e.exact]
CASES = [(v, p) for v in variants.SUPPORTED for p in MODELS]


@pytest.mark.parametrize("variant,port", CASES, ids=[f"{v}-{p}" for v, p in CASES])
def test_port_matches_sentence_transformers(variant, port, vdir, corpus_texts, upstream):
    d = vdir(variant)
    ids_texts, emb_texts = corpus_texts
    pipe = _load(port, d)
    try:
        got_ids, got = unpad(pipe.tokenize(ids_texts)), pipe.embed(emb_texts)
    finally:
        getattr(pipe, "close", lambda: None)()
    want_ids, ref = upstream(variant)["ids"], upstream(variant)["emb"]
    bad = [i for i, (a, b) in enumerate(zip(got_ids, want_ids)) if a != b]
    assert not bad, f"{len(bad)} id mismatches, first {ids_texts[bad[0]][:80]!r}"
    spec = read_spec(d)
    assert max(map(len, want_ids)) == spec.max_seq_length   # the truncation is really exercised
    atol, min_cos = tolerance(registry.BY_NAME[port].torch_model)
    assert got.shape == ref.shape == (len(emb_texts), spec.dim) and got.dtype == np.float32
    cos = (got * ref).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
    assert np.abs(got - ref).max() <= atol and cos.min() >= min_cos, (np.abs(got - ref).max(), cos.min())


@pytest.mark.parametrize("variant", variants.SUPPORTED)
def test_variant_differs_from_the_base_model(variant, upstream):
    """Each variant changes upstream's answer (ids or vectors), so the test above can fail."""
    v, base = upstream(variant), upstream("base")
    same_vectors = v["emb"].shape == base["emb"].shape and np.abs(v["emb"] - base["emb"]).max() < 1e-3
    assert v["ids"] != base["ids"] or not same_vectors


@pytest.mark.parametrize("variant", variants.SUPPORTED)
def test_oracle_fast_path_equals_sentence_transformers_preprocess(variant, upstream):
    """oracle.hf_ids is sentence-transformers' own tokenizer; here it equals its public preprocess(),
    and the hf_tokenizers peer (tokenizer.json set up from python_ref's spec) gives the same ids."""
    u = upstream(variant)
    assert u["short_ids"] == u["pre"]
    assert u["peer"] == u["pre"]


# -- prompts given by the caller: encode(prompt_name=) and encode(prompt=), include_prompt true and false ----

PROMPT_ARGS = {"name": {"prompt_name": "tight"}, "text": {"prompt": "Represent: "}, "empty": {"prompt": ""},
               "document": {"prompt_name": "document"}}   # sentence-transformers' own "document": "" unless set
PROMPT_CASES = [(v, a, p) for v in ("prompts", "prompts_no_include") for a in PROMPT_ARGS for p in MODELS
                if a in ("name", "text") or v == "prompts_no_include"]


@pytest.mark.parametrize("variant,args,port", PROMPT_CASES, ids=[f"{v}-{a}-{p}" for v, a, p in PROMPT_CASES])
def test_port_matches_encode_with_a_prompt(variant, args, port, vdir, corpus_texts):
    """embed(texts, prompt_name=/prompt=) equals encode(texts, prompt_name=/prompt=); tokenize's ids are
    those of prompt + text and its prompt_length is sentence-transformers' (the [SEP] of the prompt alone not
    counted). "empty" and "document" (a name whose prompt is ""): no prompt at all, not the default one."""
    d, kw = vdir(variant), PROMPT_ARGS[args]
    texts = corpus_texts[1]
    pipe = _load(port, d)
    try:
        batch, got = pipe.tokenize(texts, **kw), pipe.embed(texts, **kw)
    finally:
        getattr(pipe, "close", lambda: None)()
    assert unpad(batch) == oracle.hf_ids(d, texts, **kw)
    assert batch.prompt_length == oracle.st_prompt_length(d, **kw)
    assert (batch.prompt_length == 0) == (args in ("empty", "document"))
    ref = oracle.st_embed(d, texts, **kw)
    atol, min_cos = tolerance(registry.BY_NAME[port].torch_model)
    cos = (got * ref).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
    assert np.abs(got - ref).max() <= atol and cos.min() >= min_cos, (np.abs(got - ref).max(), cos.min())
    if args in ("name", "text"):   # the prompt really moved the answer away from the default prompt's
        assert np.abs(ref - oracle.st_embed(d, texts)).max() > 10 * atol


@pytest.mark.parametrize("port", registry.PORTS)
def test_port_refuses_a_prompt_name_the_model_lacks(port, vdir):
    """One ValueError line naming the prompt and the model's prompts, before any work; a prompt that is not
    a str: TypeError."""
    pipe = _load(port, vdir("prompts"))
    try:
        for call in (pipe.tokenize, pipe.embed):
            with pytest.raises(ValueError, match=r'prompt_name "search" is not one of the model.s prompts '
                                                 r'\(document, passage, query, tight\)$'):
                call(["hello"], prompt_name="search")
            with pytest.raises(TypeError, match="prompt is int"):
                call(["hello"], prompt=3)
    finally:
        getattr(pipe, "close", lambda: None)()


def test_minilm_embed_takes_prompts(vdir, exe):
    """--prompt-name / --prompt on the binary's command line: encode(prompt_name=) / encode(prompt=)'s
    vectors; an unknown name is one line and exit code 2."""
    d, texts = vdir("prompts_no_include"), ["Hello WORLD", "Café naïve", ""]
    for kw, flags in (({"prompt_name": "tight"}, ["--prompt-name", "tight"]), ({"prompt": "x: "}, ["--prompt", "x: "]),
                      ({}, [])):
        out = subprocess.run([exe, "--model", str(d), *flags], input="\n".join(texts) + "\n", capture_output=True,
                             text=True, check=True).stdout
        got = np.array([json.loads(line) for line in out.splitlines()], dtype=np.float32)
        assert np.abs(got - oracle.st_embed(d, texts, **kw)).max() <= tolerance(True)[0], kw
    r = subprocess.run([exe, "--model", str(d), "--prompt-name", "search"], input="hi\n", capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and 'prompt_name "search"' in r.stderr



def test_bench_takes_prompts(vdir, tmp_path):
    """`bench embed` and `bench equivalence` with --prompt-name / --prompt: encode(prompt_name=) /
    encode(prompt=)'s vectors, every port equal to upstream under the prompt; an unknown name, or both
    flags, one line and exit code 2."""
    import sys
    d, texts = vdir("prompts_no_include"), ["Hello WORLD", "Café naïve"]
    bench = [sys.executable, "-m", "bench"]
    for kw, flags in (({"prompt_name": "tight"}, ["--prompt-name", "tight"]), ({"prompt": "x: "}, ["--prompt", "x: "])):
        out = subprocess.run([*bench, "embed", "--model", str(d), *flags, *texts], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
        got = np.array([json.loads(line)["embedding"] for line in out.splitlines()], dtype=np.float32)
        assert np.abs(got - oracle.st_embed(d, texts, **kw)).max() <= tolerance(True)[0] + 1e-6, kw
    corpus = tmp_path / "texts.txt"
    corpus.write_text("\n".join(texts + ["a third, longer text for the prompt to sit in front of"]) + "\n")
    r = subprocess.run([*bench, "equivalence", "--model", str(d), "--prompt-name", "query", "--corpus", str(corpus),
                        "--impl", "python_ref", "cpp_port", "--out", str(tmp_path / "out")], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    for flags, says in ((["--prompt-name", "search"], 'prompt_name "search"'),
                        (["--prompt-name", "query", "--prompt", "x"], "give one")):
        r = subprocess.run([*bench, "embed", "--model", str(d), *flags, "hi"], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and says in r.stderr, r.stderr

# -- the same model in another file layout (a CRLF vocab.txt): the base model's answer, everywhere ----

SAME_CASES = [(v, p) for v in variants.SAME_AS_BASE for p in registry.PORTS]


@pytest.mark.parametrize("variant,port", SAME_CASES, ids=[f"{v}-{p}" for v, p in SAME_CASES])
def test_port_gives_the_base_answer(variant, port, vdir, corpus_texts, upstream):
    ids_texts, emb_texts = corpus_texts
    pipe = _load(port, vdir(variant))
    try:
        got_ids, got = unpad(pipe.tokenize(ids_texts)), pipe.embed(emb_texts)
    finally:
        getattr(pipe, "close", lambda: None)()
    assert got_ids == upstream("base")["ids"]
    atol, _ = tolerance(registry.BY_NAME[port].torch_model)
    assert np.abs(got - upstream("base")["emb"]).max() <= atol


# -- unsupported settings: one line naming the file and the setting, everywhere ---------------

REFUSE_CASES = [(v, p) for v in variants.REFUSED for p in registry.PORTS]


@pytest.mark.parametrize("variant,port", REFUSE_CASES, ids=[f"{v}-{p}" for v, p in REFUSE_CASES])
def test_port_refuses_unsupported(variant, port, vdir):
    require(port)
    file, setting = variants.REFUSED[variant]
    with pytest.raises(ModelDirError) as e:
        registry.load_impl(port, vdir(variant))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(file + ":") and setting in msg, msg


@pytest.fixture(scope="module")
def exe():
    from cpp_port.pipeline import binary
    path = binary()
    require(None if path else "cpp_port: minilm-embed is not built", is_reason=True)
    return path


@pytest.mark.parametrize("variant", list(variants.REFUSED))
def test_minilm_embed_refuses_unsupported(variant, vdir, exe):
    file, setting = variants.REFUSED[variant]
    r = subprocess.run([exe, "--model", str(vdir(variant))], input="hello\n", capture_output=True, text=True)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"minilm-embed: {file}:") and setting in r.stderr, r.stderr


def _spec_or_error(d):
    try:
        return read_spec(d).to_dict()
    except ModelDirError as e:
        return str(e)


def test_spec_readers_agree(vdir, exe):
    """contract/spec.py, minilm-embed's C++ reader and the browser's JS reader: same spec, or the
    same refusal, for every variant."""
    require("wasm_port")
    for v in ALL:
        d, want = vdir(v), _spec_or_error(vdir(v))
        r = subprocess.run([exe, "--model", str(d), "--print-spec"], capture_output=True, text=True)
        cpp = json.loads(r.stdout) if r.returncode == 0 else r.stderr.strip().removeprefix("minilm-embed: ")
        r = subprocess.run(["node", str(ROOT / "wasm_port/js/node_runner.mjs"), "--model", str(d), "--print-spec"],
                           capture_output=True, text=True, check=True)
        js = json.loads(r.stdout)
        js = js["spec"] if js["ok"] else js["error"]
        assert cpp == want, (v, cpp, want)
        assert js == want, (v, js, want)


@pytest.mark.parametrize("variant", variants.SAME_AS_BASE)
def test_minilm_embed_gives_the_base_answer(variant, vdir, exe):
    texts = "Hello WORLD, Café naïve\n[CLS] x[SEP]y [MASK]\n日本語 中文 and 한국어\n"
    run = lambda d: subprocess.run([exe, "--model", str(d)], input=texts, capture_output=True, text=True,  # noqa: E731
                                   check=True).stdout
    assert run(vdir(variant)) == run(vdir("base"))


def test_minilm_embed_on_a_variant(vdir, exe):
    """The standalone binary reads the directory's settings itself: CLS pooling + Dense + cased."""
    d = vdir("combo")
    texts = ["Hello WORLD", "Café naïve", "a longer sentence " * 40]
    out = subprocess.run([exe, "--model", str(d)], input="\n".join(texts) + "\n", capture_output=True, text=True,
                         check=True).stdout
    got = np.array([json.loads(line) for line in out.splitlines()], dtype=np.float32)
    ref = oracle.st_embed(d, texts)
    assert got.shape == ref.shape == (3, 192)
    assert np.abs(got - ref).max() <= tolerance(True)[0]


# -- the browser page and the Pyodide path take the same settings ---------------------------------

@pytest.mark.parametrize("variant,kw", [("combo", {}), ("prompts_no_include", {"prompt_name": "tight"})])
def test_pyodide_path_on_a_variant(vdir, variant, kw):
    from wasm_port.pipeline import Pipeline, missing
    require(missing("pyodide"), is_reason=True)
    d = vdir(variant)
    texts = ["Hello WORLD, Café naïve", "a longer sentence " * 40, "日本語"]
    p = Pipeline(d, via="pyodide")
    try:
        batch, got = p.tokenize(texts, **kw), p.embed(texts, **kw)
    finally:
        p.close()
    assert unpad(batch) == oracle.hf_ids(d, texts, **kw) and batch.prompt_length == oracle.st_prompt_length(d, **kw)
    ref = oracle.st_embed(d, texts, **kw)
    assert np.abs(got - ref).max() <= tolerance(False)[0]


def test_browser_page_on_a_variant(vdir):
    from bench.browser import pages as browser
    require(browser.missing(), is_reason=True)
    d = vdir("combo")
    texts = ["Hello WORLD, Café naïve", "a longer sentence " * 40]
    with browser.serve(d) as (base, _), browser.chromium() as b:
        page = b.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{base}/wasm_port/web/index.html")
        assert page.evaluate("async () => await window.__demo.ready")
        got = np.array(page.evaluate("async (t) => await window.__demo.embed(t)", texts), dtype=np.float32)
    ref = oracle.st_embed(d, texts)
    assert got.shape == ref.shape and np.abs(got - ref).max() <= tolerance(False)[0]
