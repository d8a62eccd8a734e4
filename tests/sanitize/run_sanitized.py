"""`make sanitize` driver: the C++ tokenizer (cpp_port/tokenizer.cpp) and the portable kernels
(wasm_port/kernels.cpp, kernels_native.cpp: threads too) through wasm_port's C ABI, built natively
with ASan+UBSan and loaded here with ctypes (so no torch is loaded into the sanitized process). Feeds the project corpus, a fuzz
pass, invalid UTF-8 and forward passes (every pooling, Dense layers, every FFN activation, a prompt left out
of pooling, no token types); checks ids against the HF tokenizers
peer (tokenizer.json set up from python_ref's spec: no torch). Then the same tokenizer under other
normalizer settings (model variants from tests/variants.py: no cleaning, cased, no CJK spacing,
truncation 128), fuzzed again. Any sanitizer report aborts the process (halt_on_error), which fails
`make sanitize`. `configure()` is also the native wasm test's loader (tests/test_wasm.py).
Usage: LD_PRELOAD=<libasan> python tests/sanitize/run_sanitized.py build/sanitize/libpb_san.so [N_FUZZ]
"""
from __future__ import annotations

import ctypes
import random
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.equivalence import fuzz, oracle  # noqa: E402
from contract.api import model_dir, read_spec  # noqa: E402
from contract.spec import DenseSpec  # noqa: E402

POOLINGS = ("mean", "cls", "max", "mean_sqrt_len_tokens")
ACTS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "relu")   # kernels.h Act's order


def open_lib(lib_path: str):
    lib = ctypes.CDLL(lib_path)
    lib.pb_last_error.restype = ctypes.c_char_p
    lib.pb_tensor_dest.restype = ctypes.c_void_p
    lib.pb_tensor_name.restype = ctypes.c_char_p
    lib.pb_set_config.argtypes = [ctypes.c_int] * 7 + [ctypes.c_float] + [ctypes.c_int] * 5 + [ctypes.c_void_p]
    return lib


def dest(lib, name: bytes, v: np.ndarray):
    """pb_tensor_dest for tensor `name` of v's shape (1 or 2 dimensions), or None (unknown name, wrong shape)."""
    d0, d1 = (list(v.shape) + [1, 1])[:2]
    return lib.pb_tensor_dest(name, v.ndim, ctypes.c_uint32(d0), ctypes.c_uint32(d1))


def set_config(lib, spec, dense) -> int:
    return lib.pb_set_config(spec.hidden_size, spec.num_attention_heads, spec.num_hidden_layers, spec.intermediate_size,
                             spec.vocab_size, spec.max_position_embeddings, spec.type_vocab_size, spec.layer_norm_eps,
                             ACTS.index(spec.hidden_act), POOLINGS.index(spec.pooling), spec.include_prompt,
                             spec.normalize, len(spec.dense), dense.ctypes.data)


def forward(lib, ids, mask, dim: int, prompt_length: int = 0) -> np.ndarray:
    out = np.zeros((ids.shape[0], dim), np.float32)
    assert lib.pb_forward(ids.ctypes.data_as(ctypes.c_void_p), mask.ctypes.data_as(ctypes.c_void_p), ids.shape[0],
                          ids.shape[1], prompt_length, out.ctypes.data_as(ctypes.c_void_p)) == 0, lib.pb_last_error()
    return out


def configure(lib, spec, weights: bool = True) -> None:
    """Set up the wasm C ABI from a python_ref ModelSpec: config and head, weights (the file's names through the
    spec's tensor_names), vocab + tokenizer settings."""
    from safetensors.numpy import load_file
    dense = np.array([[d.in_features, d.out_features, d.bias, d.activation == "tanh"] for d in spec.dense] or [[0] * 4],
                     dtype=np.int32)
    if weights:
        assert set_config(lib, spec, dense) == 0, lib.pb_last_error()
        names = {spec.tensor_name(lib.pb_tensor_name(i).decode()): lib.pb_tensor_name(i).decode()
                 for i in range(lib.pb_tensor_count()) if not lib.pb_tensor_name(i).startswith(b"dense.")}
        files = [(Path(spec.dir) / "model.safetensors", "")]
        files += [(Path(spec.dir) / d.path / "model.safetensors", f"dense.{k}.") for k, d in enumerate(spec.dense)]
        for path, prefix in files:
            for k, v in load_file(str(path)).items():
                if v.dtype != np.float32:
                    continue
                k = prefix + k if prefix else names.get(k.removeprefix(spec.tensor_prefix), "")
                k, v = k.encode(), np.ascontiguousarray(v)
                p = dest(lib, k, v)
                if p:
                    ctypes.memmove(p, v.ctypes.data, v.nbytes)
                    assert lib.pb_tensor_done(k) == 0, lib.pb_last_error()
        assert lib.pb_ready() == 0, lib.pb_last_error()
    vocab = (Path(spec.dir) / "vocab.txt").read_bytes()
    flags = spec.clean_text | spec.handle_chinese_chars << 1 | spec.strip_accents << 2 | spec.lowercase << 3
    assert lib.pb_load_vocab(vocab, len(vocab), spec.max_seq_length, flags, spec.cls_id, spec.sep_id, spec.unk_id,
                             spec.pad_id) == 0, lib.pb_last_error()
    recs = b"".join(np.array([i, len(c.encode())], "<i4").tobytes() + c.encode() for c, i in spec.added_tokens)
    assert lib.pb_set_added_tokens(recs, len(recs)) == 0, lib.pb_last_error()


def forward_head(lib, spec, ids, mask, prompt_length: int = 0) -> np.ndarray:
    """The model with spec's head and activation; the Dense layers get seeded random weights (no files needed)."""
    configure(lib, replace(spec, dense=()))
    dense = np.array([[d.in_features, d.out_features, d.bias, d.activation == "tanh"] for d in spec.dense] or [[0] * 4],
                     np.int32)
    assert set_config(lib, spec, dense) == 0, lib.pb_last_error()
    rng = np.random.default_rng(3)
    from safetensors.numpy import load_file
    tensors = {k.removeprefix("bert."): v for k, v in load_file(str(Path(spec.dir) / "model.safetensors")).items()}
    for k, d in enumerate(spec.dense):
        tensors[f"dense.{k}.linear.weight"] = rng.standard_normal((d.out_features, d.in_features), np.float32) * 0.1
        if d.bias:
            tensors[f"dense.{k}.linear.bias"] = rng.standard_normal(d.out_features, np.float32)
    for k, v in tensors.items():
        v = np.ascontiguousarray(v, dtype=np.float32)
        p = dest(lib, k.encode(), v)
        if p:
            ctypes.memmove(p, v.ctypes.data, v.nbytes)
            assert lib.pb_tensor_done(k.encode()) == 0, lib.pb_last_error()
    assert lib.pb_ready() == 0, lib.pb_last_error()
    return forward(lib, ids, mask, spec.dim, prompt_length)


def tokenize(lib, data: bytes, cap: int) -> list[int] | None:
    out = (ctypes.c_int32 * cap)()
    k = lib.pb_tokenize(data, len(data), out, cap)
    return None if k < 0 else list(out[:k])


def check_ids(lib, mdir, spec, texts: list[str], label: str) -> int:
    tok = oracle.hf_tokenizer(mdir)
    ref = [e.ids for e in tok.encode_batch(texts)]
    bad = [t[:60] for t, r in zip(texts, ref) if tokenize(lib, t.encode(), spec.max_seq_length) != r]
    print(f"tokenizer ({label}): {len(texts)} texts, {len(bad)} id mismatches vs HF tokenizers")
    return len(bad)


def check_refusals(lib, spec) -> None:
    """Weights and vocabularies the ABI must refuse in one line, and a CRLF vocab.txt it must accept."""
    from safetensors.numpy import load_file
    t = {k.removeprefix("bert."): v for k, v in load_file(str(Path(spec.dir) / "model.safetensors")).items()}
    w = np.ascontiguousarray(t["encoder.layer.0.intermediate.dense.weight"].T)   # (D, F): transposed, same size
    assert not dest(lib, b"encoder.layer.0.intermediate.dense.weight", w) and b"shape" in lib.pb_last_error()
    for name in (b"encoder.layer.0.output.dense.bias", b"encoder.layer.1.attention.self.query.weight"):
        v = np.array(t[name.decode()], np.float32)
        v.flat[v.size // 2] = np.nan
        p = dest(lib, name, v)
        ctypes.memmove(p, v.ctypes.data, v.nbytes)
        assert lib.pb_tensor_done(name) != 0 and b"NaN" in lib.pb_last_error(), name
    vocab = (Path(spec.dir) / "vocab.txt").read_bytes()
    flags = spec.clean_text | spec.handle_chinese_chars << 1 | spec.strip_accents << 2 | spec.lowercase << 3
    no_unk = vocab.replace(b"[UNK]\n", b"[UNK_]\n")
    assert lib.pb_load_vocab(no_unk, len(no_unk), spec.max_seq_length, flags, -1, -1, -1, -1) != 0
    assert b"[UNK]" in lib.pb_last_error(), lib.pb_last_error()
    texts = ["Hello WORLD, café [SEP] 日本", "", "x" * 300]
    configure(lib, spec, weights=False)   # vocab and added tokens as the spec says
    want = [tokenize(lib, x.encode(), spec.max_seq_length) for x in texts]
    crlf = vocab.replace(b"\n", b"\r\n")
    assert lib.pb_load_vocab(crlf, len(crlf), spec.max_seq_length, flags, -1, -1, -1, -1) == 0, lib.pb_last_error()
    assert [tokenize(lib, x.encode(), spec.max_seq_length) for x in texts] == want
    print("refused: a transposed weight, NaN weights, a vocab without [UNK]; a CRLF vocab.txt gives the same ids")


def main() -> int:
    lib_path, n_fuzz = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    mdir = model_dir()
    spec = read_spec(mdir)
    lib = open_lib(lib_path)
    configure(lib, spec)
    rng = random.Random(7)
    texts = oracle.read_corpus(oracle.PROJECT_CORPUS) + [fuzz.random_text(rng) for _ in range(n_fuzz)]
    texts += ["a" * 3_000_000, "日本 " * 500_000]
    bad = check_ids(lib, mdir, spec, texts, spec.name)
    invalid = [b"\xff", b"\xc0\xaf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"abc\xe2\x82",
               b"\x80", b"ok " * 1000 + b"\xfe"] + [bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
                                                   for _ in range(3000)]
    accepted = 0
    for data in invalid:
        got = tokenize(lib, data, spec.max_seq_length)
        try:
            data.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        assert (got is None) == (not valid), (data, got)
        accepted += got is not None
    print(f"invalid UTF-8: {len(invalid)} byte strings, every invalid one rejected ({accepted} valid ones accepted)")
    rows = [tokenize(lib, t.encode(), spec.max_seq_length) for t in texts[:64]]
    t = max(map(len, rows))
    ids = np.zeros((len(rows), t), np.int32)
    mask = np.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, :len(r)], mask[i, :len(r)] = r, 1
    out = forward(lib, ids, mask, spec.dim)
    norms = np.linalg.norm(out, axis=1)
    assert np.isfinite(out).all() and np.allclose(norms, 1, atol=1e-4), norms
    print(f"kernels: forward of {ids.shape} finite, unit rows")
    few_ids, few_mask = np.ascontiguousarray(ids[:12]), np.ascontiguousarray(mask[:12])   # ASan is slow: 12 rows below
    set_threads = getattr(lib, "_ZN14portbench_wasm11set_threadsEi", None)   # C++: native builds' thread pool
    if set_threads is not None:
        for n in (3, 2):
            assert set_threads(n) == n
            again = forward(lib, few_ids, few_mask, spec.dim)
            assert (again == out[:12]).all(), f"{n} threads differ from 1"
        set_threads(1)
        print("kernels: 3 and 2 threads give the same bits as 1")
    for pooling in POOLINGS[1:]:   # every other head: pooling, two Dense layers (seeded random), no Normalize
        head = replace(spec, pooling=pooling, normalize=False, dense=(DenseSpec("", spec.hidden_size, 64, True, "tanh"),
                                                                       DenseSpec("", 64, 32, False, "identity")))
        out = forward_head(lib, head, few_ids, few_mask)
        assert out.shape == (12, 32) and np.isfinite(out).all(), pooling
    print("kernels: cls, max and mean_sqrt_len pooling + Dense layers, finite")
    sub_ids, sub_mask = np.ascontiguousarray(ids[:8]), np.ascontiguousarray(mask[:8])
    for act in ACTS[1:]:   # the other FFN activations; no token types; a prompt left out of CLS and mean pooling
        out = forward_head(lib, replace(spec, hidden_act=act, type_vocab_size=0, tensor_names={
            k: v for k, v in spec.tensor_names.items() if "token_type" not in k}), sub_ids, sub_mask)
        assert np.isfinite(out).all(), act
    for pooling in ("cls", "mean"):
        out = forward_head(lib, replace(spec, pooling=pooling, include_prompt=False), sub_ids, sub_mask, prompt_length=3)
        assert np.isfinite(out).all(), pooling
    print(f"kernels: {', '.join(ACTS[1:])} without token types, and a prompt left out of pooling, finite")
    check_refusals(lib, spec)
    configure(lib, spec)
    import variants   # tests/variants.py: these variants are JSON edits only (no torch)
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("generic_noclean", "cased_strip", "no_chinese", "max_seq_128", "added_words"):
            vdir = variants.build(name, mdir, Path(tmp) / name)
            vspec = read_spec(vdir)
            configure(lib, vspec, weights=False)
            some = texts[:1100] + [fuzz.random_text(rng) for _ in range(n_fuzz // 4)]
            bad += check_ids(lib, vdir, vspec, some, name)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
