"""`make sanitize` driver: the C++ tokenizer (cpp_port/tokenizer.cpp) and the portable kernels
(wasm_port/kernels.cpp) through wasm_port's C ABI, built natively with ASan+UBSan and loaded here
with ctypes (so no torch is loaded into the sanitized process). Feeds the project corpus, a fuzz
pass, invalid UTF-8 and a forward pass with the real weights; checks ids against HF tokenizers.
Any sanitizer report aborts the process (halt_on_error), which fails `make sanitize`.
Usage: LD_PRELOAD=<libasan> python tests/sanitize/run_sanitized.py build/sanitize/libpb_san.so [N_FUZZ]
"""
from __future__ import annotations

import ctypes
import json
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench import fuzz, oracle  # noqa: E402
from python_ref.api import model_dir  # noqa: E402


def load(lib_path: str, mdir: Path):
    lib = ctypes.CDLL(lib_path)
    lib.pb_last_error.restype = ctypes.c_char_p
    lib.pb_tensor_dest.restype = ctypes.c_void_p
    lib.pb_set_config.argtypes = [ctypes.c_int] * 7 + [ctypes.c_float]
    cfg = json.loads((mdir / "config.json").read_text())
    assert lib.pb_set_config(cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"],
                             cfg["intermediate_size"], cfg["vocab_size"], cfg["max_position_embeddings"],
                             cfg["type_vocab_size"], cfg["layer_norm_eps"]) == 0, lib.pb_last_error()
    from safetensors.numpy import load_file
    for k, v in load_file(str(mdir / "model.safetensors")).items():
        if v.dtype != np.float32:
            continue
        k, v = k.removeprefix("bert."), np.ascontiguousarray(v)
        p = lib.pb_tensor_dest(k.encode(), ctypes.c_uint32(v.size))
        if p:
            ctypes.memmove(p, v.ctypes.data, v.nbytes)
            assert lib.pb_tensor_done(k.encode()) == 0, lib.pb_last_error()
    assert lib.pb_ready() == 0, lib.pb_last_error()
    vocab = (mdir / "vocab.txt").read_bytes()
    assert lib.pb_load_vocab(vocab, len(vocab)) == 0, lib.pb_last_error()
    return lib, cfg


def tokenize(lib, data: bytes) -> list[int] | None:
    out = (ctypes.c_int32 * 256)()
    k = lib.pb_tokenize(data, len(data), out, 256)
    return None if k < 0 else list(out[:k])


def main() -> int:
    lib_path, n_fuzz = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    mdir = model_dir()
    lib, cfg = load(lib_path, mdir)
    rng = random.Random(7)
    texts = oracle.read_corpus(oracle.PROJECT_CORPUS) + [fuzz.random_text(rng) for _ in range(n_fuzz)]
    texts += ["a" * 3_000_000, "日本 " * 500_000]
    ref = oracle.hf_ids(mdir, texts)
    bad = [t[:60] for t, r in zip(texts, ref) if tokenize(lib, t.encode()) != r]
    print(f"tokenizer: {len(texts)} texts, {len(bad)} id mismatches vs HF tokenizers")
    invalid = [b"\xff", b"\xc0\xaf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"abc\xe2\x82",
               b"\x80", b"ok " * 1000 + b"\xfe"] + [bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
                                                   for _ in range(3000)]
    accepted = 0
    for data in invalid:
        got = tokenize(lib, data)
        try:
            data.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        assert (got is None) == (not valid), (data, got)
        accepted += got is not None
    print(f"invalid UTF-8: {len(invalid)} byte strings, every invalid one rejected ({accepted} valid ones accepted)")
    rows = [tokenize(lib, t.encode()) for t in texts[:64]]
    t = max(map(len, rows))
    ids = np.zeros((len(rows), t), np.int32)
    mask = np.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, :len(r)], mask[i, :len(r)] = r, 1
    out = np.zeros((len(rows), cfg["hidden_size"]), np.float32)
    assert lib.pb_forward(ids.ctypes.data_as(ctypes.c_void_p), mask.ctypes.data_as(ctypes.c_void_p),
                          ids.shape[0], ids.shape[1], out.ctypes.data_as(ctypes.c_void_p)) == 0, lib.pb_last_error()
    norms = np.linalg.norm(out, axis=1)
    assert np.isfinite(out).all() and np.allclose(norms, 1, atol=1e-4), norms
    print(f"kernels: forward of {ids.shape} finite, unit rows")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
