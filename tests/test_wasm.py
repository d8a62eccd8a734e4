"""wasm_port: the emscripten build through its Node runner, the Pyodide path, the native build of
the same kernels (ctypes), and the ONNX export the browser peer uses. Upstream is the judge:
ids vs HF tokenizers, embeddings vs sentence-transformers, computed here at test time."""
from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.equivalence import oracle
from bench.equivalence.check import unpad
from bench.tolerances import tolerance
from conftest import require
from contract.api import Batch, pad_rows, read_spec

ROOT = Path(__file__).resolve().parents[1]
ATOL, MIN_COS = tolerance(torch_model=False)


def close_enough(got: np.ndarray, ref: np.ndarray):
    assert got.shape == ref.shape and got.dtype == np.float32
    diff, cos = np.abs(got - ref).max(), (got * ref).sum(1).min()
    assert diff <= ATOL and cos >= MIN_COS, f"max |d| {diff:.2e}, min cos {cos:.7f}"


def sample(corpus: list[str], k: int = 48) -> list[str]:
    """A spread of the corpus plus its longest texts (truncation at max_seq_length)."""
    longest = sorted(corpus, key=len)[-6:]
    return corpus[:: max(1, len(corpus) // (k - 6))][: k - 6] + longest


@pytest.fixture(scope="module")
def wasm(mdir):
    require("wasm_port")
    from wasm_port.pipeline import Pipeline
    p = Pipeline(mdir)
    yield p
    p.close()


@pytest.fixture(scope="module")
def pyo(mdir):
    from wasm_port.pipeline import Pipeline, missing
    require(missing("pyodide"), is_reason=True)
    p = Pipeline(mdir, via="pyodide")
    yield p
    p.close()


# -- ids ---------------------------------------------------------------------------------------------

def test_raw_utf8_ids_equal_hf_on_corpus(wasm, mdir, corpus):
    got = wasm.tokenize_bytes([t.encode("utf-8") for t in corpus])
    assert got == oracle.hf_ids(mdir, corpus)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
       | st.text(st.sampled_from("aé東 .,!?-\u0301\u00a0\t\nÅßΣ'\"#"), max_size=60))
def test_ids_equal_hf_on_hypothesis_text(wasm, mdir, text):
    want = oracle.hf_ids(mdir, [text])[0]
    assert wasm.tokenize([text]).ids[0].tolist() == want
    assert wasm.tokenize_bytes([text.encode("utf-8")])[0] == want


# -- embeddings --------------------------------------------------------------------------------------

def test_embeddings_match_sentence_transformers(wasm, mdir, corpus):
    texts = sample(corpus)
    ref = oracle.st_embed(mdir, texts)
    close_enough(wasm.embed(texts), ref)
    ids = oracle.hf_ids(mdir, texts)   # forward() alone, fed upstream's ids
    close_enough(wasm.forward(pad_rows(ids)), ref)


def test_random_weights_equal_python_ref_random(mdir):
    require("wasm_port")
    from python_ref.pipeline import Pipeline as Ref
    from wasm_port.pipeline import Pipeline
    texts = ["random weights, same seed", "two"]
    p = Pipeline(mdir, weights="random")
    try:
        got = p.embed(texts)
    finally:
        p.close()
    ref = Ref(mdir, weights="random").embed(texts)
    assert np.abs(got - ref).max() <= ATOL


# -- the four builds: threads (minilm_mt.wasm's worker pool) and relaxed SIMD -------------------------

BUILDS = {"simd128": (1, False), "simd128-mt": (2, False), "relaxed": (1, True), "relaxed-mt": (2, True)}


@pytest.fixture(scope="module")
def builds(mdir):
    """Each build in its own Node runner. A threaded one that came up on fewer threads fails in the
    Pipeline (never a silent fallback); an engine without relaxed SIMD is a missing component."""
    from wasm_port.pipeline import Pipeline, missing
    require(missing(threads=2), is_reason=True)
    out = {}
    try:
        for build, (threads, relaxed) in BUILDS.items():
            out[build] = p = Pipeline(mdir, threads=threads, relaxed=relaxed)
            assert p.threads == threads
            if relaxed and not p.build.startswith("relaxed"):
                require("wasm_port: this Node does not validate f32x4.relaxed_madd (relaxed SIMD)", is_reason=True)
            assert p.build == build
        yield out
    finally:
        for p in out.values():
            p.close()


def test_every_build_matches_sentence_transformers(builds, mdir, corpus):
    texts = sample(corpus)
    ref = oracle.st_embed(mdir, texts)
    for build, p in builds.items():
        close_enough(p.embed(texts), ref)


def test_threaded_builds_equal_single_threaded_bits(builds, mdir, corpus):
    """The pool splits rows, columns, heads and elements, never a sum: the same bits as one thread."""
    batch = pad_rows(oracle.hf_ids(mdir, sample(corpus)))
    for one, many in (("simd128", "simd128-mt"), ("relaxed", "relaxed-mt")):
        assert np.array_equal(builds[one].forward(batch), builds[many].forward(batch)), (one, many)


def test_peak_op_says_the_threads_it_measured(builds):
    """The peak of a threaded module is measured on all its threads at once, or on fewer when asked;
    a single-threaded module says 1 whatever is asked."""
    mt, st = builds["simd128-mt"], builds["simd128"]
    assert [mt.peak(n, 100)["threads"] for n in (2, 1)] == [2, 1]
    assert st.peak(2, 100)["threads"] == 1
    assert all(b.peak(1, 100)["gflops"] > 0.1 for b in (mt, st))


def test_threaded_build_never_falls_back_silently(mdir, monkeypatch):
    """A Node without SharedArrayBuffer loads the single-threaded module: the Pipeline that asked for 2
    threads must refuse to run on 1, naming why."""
    import wasm_port.pipeline as wp
    require(wp.missing(threads=2), is_reason=True)
    monkeypatch.setattr(wp, "node_flags", lambda: ("--no-harmony-sharedarraybuffer",))
    with pytest.raises(wp.WasmRunnerError, match="asked for 2 threads.*has 1.*SharedArrayBuffer"):
        wp.Pipeline(mdir, threads=2)


# -- the wasm ABI boundary -----------------------------------------------------------------------------

BAD_UTF8 = [b"\xff", b"abc\xc3", b"\xc3\x28", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
            b"ok \x80 ok", b"\xc0\xaf", "long text ".encode() * 10_000 + b"\xfe"]


@pytest.mark.parametrize("raw", BAD_UTF8, ids=lambda b: b[:12].hex())
def test_invalid_utf8_into_wasm_is_clear_error(wasm, mdir, raw):
    for fn in (wasm.tokenize_bytes, wasm.embed_bytes):
        with pytest.raises(ValueError, match=r"invalid UTF-8 at byte \d+"):
            fn([b"fine", raw])
    assert wasm.tokenize(["still alive"]).ids.tolist() == oracle.hf_ids(mdir, ["still alive"])  # still usable


def test_forward_rejects_bad_ids_and_shapes(wasm):
    with pytest.raises(RuntimeError, match="outside the vocabulary"):
        wasm.forward(Batch(np.array([[101, 10**9, 102]]), np.ones((1, 3), dtype=np.int64)))
    with pytest.raises(RuntimeError, match="max_position_embeddings"):
        wasm.forward(Batch(np.full((1, 600), 101), np.ones((1, 600), dtype=np.int64)))
    assert wasm.embed(["still alive"]).shape == (1, wasm.dim)


def test_long_input_bounded_memory(wasm, mdir):
    before = wasm.info()["memory_bytes"]
    text = "word " * 2_000_000                      # 10 MB
    emb = wasm.embed([text, text[:1000]])
    grown = wasm.info()["memory_bytes"] - before
    assert grown <= len(text) + 32 * 2**20, grown   # the bytes themselves + bounded scratch
    close_enough(emb[:1], oracle.st_embed(mdir, [text[:5000]]))


def test_timing_op_runs_inside_node(wasm):
    for what in ("embed", "forward", "tokenize"):
        ms = wasm.time(what, ["a sentence to time"], warmup=1, repeat=4)
        assert len(ms) == 4 and all(0 < m < 10_000 for m in ms)


def test_cold_start_mode(mdir):
    require("wasm_port")
    out = subprocess.run(["node", str(ROOT / "wasm_port/js/node_runner.mjs"), "--model", str(mdir), "--cold", "hi"],
                         capture_output=True, text=True, timeout=120, check=True)
    r = json.loads(out.stdout)
    assert r["ok"] and 0 < r["load_ms"] < r["total_ms"] and abs(r["norm0"] - 1) < 1e-5


# -- Pyodide path ----------------------------------------------------------------------------------------

def test_pyodide_ids_equal_hf_on_corpus(pyo, mdir, corpus):
    assert unpad(pyo.tokenize(corpus)) == oracle.hf_ids(mdir, corpus)


def test_pyodide_embeddings_match_sentence_transformers(pyo, mdir, corpus):
    texts = sample(corpus, 16)
    close_enough(pyo.embed(texts), oracle.st_embed(mdir, texts))
    with pytest.raises(ValueError, match=r"\[1\]"):
        pyo.embed(["ok", "\ud800"])


# -- native build of the same kernels + ABI (ctypes) ------------------------------------------------------

@pytest.fixture(scope="module")
def native():
    so = ROOT / "wasm_port" / "libpbwasm_native.so"
    srcs = [ROOT / "wasm_port" / f for f in ("kernels.cpp", "kernels_native.cpp", "kernels.h", "exports.cpp")]
    srcs += [ROOT / "cpp_port" / f for f in ("tokenizer.cpp", "tokenizer.h")]
    if not so.exists() or so.stat().st_mtime < max(s.stat().st_mtime for s in srcs):
        if not (shutil.which("cmake") and shutil.which("ninja")):
            require("wasm_port native test: cmake/ninja not found", is_reason=True)
        build = ROOT / "build" / "dev-wasm_port"
        subprocess.run(["cmake", "-S", str(ROOT / "wasm_port"), "-B", str(build), "-G", "Ninja",
                        "-DCMAKE_BUILD_TYPE=Release"], check=True, capture_output=True)
        subprocess.run(["cmake", "--build", str(build), "-j2"], check=True, capture_output=True)
    from sanitize.run_sanitized import open_lib
    return open_lib(str(so))


def test_native_kernels_match_sentence_transformers(native, mdir, corpus):
    from sanitize.run_sanitized import configure
    spec = read_spec(mdir)
    configure(native, spec)
    texts = sample(corpus, 24)
    raw = [t.encode() for t in texts]
    out = np.zeros((len(raw), spec.dim), np.float32)
    lens = (ctypes.c_uint32 * len(raw))(*map(len, raw))
    assert native.pb_embed(b"".join(raw), lens, len(raw), 0, out.ctypes.data_as(ctypes.c_void_p)) == 0
    close_enough(out, oracle.st_embed(mdir, texts))
    bad = b"\xe0\x80\x80"
    rc = native.pb_embed(bad, (ctypes.c_uint32 * 1)(len(bad)), 1, 0, out.ctypes.data_as(ctypes.c_void_p))
    assert rc == -2 and b"invalid UTF-8" in native.pb_last_error()


# -- the ONNX export used by the transformers.js browser peer ---------------------------------------------

def test_onnx_export_matches_python_ref(mdir, corpus):
    import onnxruntime as ort
    from python_ref.pipeline import Pipeline as Ref
    from wasm_port.export_onnx import export
    onnx_path = export(mdir) / "onnx" / "model.onnx"
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    ref = Ref(mdir)
    texts = sample(corpus, 16)
    b = ref.tokenize(texts)
    (h,) = sess.run(None, {"input_ids": b.ids, "attention_mask": b.attention_mask,
                           "token_type_ids": np.zeros_like(b.ids)})           # (N, T, D)
    m = b.attention_mask[..., None].astype(np.float32)
    pooled = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    got = (pooled / np.linalg.norm(pooled, axis=1, keepdims=True)).astype(np.float32)
    close_enough(got, ref.forward(b))
