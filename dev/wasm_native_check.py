"""Throw-away: load wasm_port's native build via ctypes, compare to python_ref's torch model."""
import ctypes, json, sys, time
from pathlib import Path
import numpy as np, torch
from safetensors.numpy import load_file
ROOT = Path(__file__).resolve().parents[1]   # the repo root
sys.path.insert(0, str(ROOT))
from contract.api import model_dir
from python_ref.pipeline import Pipeline

lib = ctypes.CDLL(str(ROOT / "wasm_port" / "libpbwasm_native.so"))
lib.pb_last_error.restype = ctypes.c_char_p
lib.pb_tensor_dest.restype = ctypes.c_void_p
lib.pb_tensor_name.restype = ctypes.c_char_p
lib.pb_set_config.argtypes = [ctypes.c_int] * 7 + [ctypes.c_float]
md = model_dir()
cfg = json.loads((md / "config.json").read_text())
rc = lib.pb_set_config(cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"], cfg["intermediate_size"],
                       cfg["vocab_size"], cfg["max_position_embeddings"], cfg["type_vocab_size"], cfg["layer_norm_eps"])
assert rc == 0, lib.pb_last_error()
for k, v in load_file(str(md / "model.safetensors")).items():
    k = k.removeprefix("bert.")
    if v.dtype != np.float32: continue
    v = np.ascontiguousarray(v)
    p = lib.pb_tensor_dest(k.encode(), ctypes.c_uint32(v.size))
    if not p: print("skip", k, lib.pb_last_error()); continue
    ctypes.memmove(p, v.ctypes.data, v.nbytes)
    assert lib.pb_tensor_done(k.encode()) == 0
assert lib.pb_ready() == 0, lib.pb_last_error()
voc = (md / "vocab.txt").read_bytes()
assert lib.pb_load_vocab(voc, len(voc)) == 0
ref = Pipeline()
texts = ["Hello world!", "The quick brown fox jumps over the lazy dog. " * 30, "", "Ünïcödé 東京 test"]
b = ref.tokenize(texts)
ids = b.ids.astype(np.int32); mask = b.attention_mask.astype(np.int32)
out = np.zeros((len(texts), cfg["hidden_size"]), np.float32)
t0 = time.perf_counter()
rc = lib.pb_forward(ids.ctypes.data_as(ctypes.c_void_p), mask.ctypes.data_as(ctypes.c_void_p), ids.shape[0], ids.shape[1], out.ctypes.data_as(ctypes.c_void_p))
print("forward ms", (time.perf_counter()-t0)*1e3, rc, lib.pb_last_error())
r = ref.forward(b)
print("maxdiff", np.abs(out - r).max(), "mincos", (out * r).sum(1).min())
# embed via ABI
enc = [t.encode() for t in texts]
buf = b"".join(enc); lens = (ctypes.c_uint32 * len(enc))(*[len(e) for e in enc])
out2 = np.zeros_like(out)
rc = lib.pb_embed(buf, lens, len(enc), out2.ctypes.data_as(ctypes.c_void_p))
print("embed rc", rc, np.abs(out2 - r).max())
bad = b"ok \xff\xfe"
lens = (ctypes.c_uint32 * 1)(len(bad))
print("bad utf8 rc", lib.pb_embed(bad, lens, 1, out2.ctypes.data_as(ctypes.c_void_p)), lib.pb_last_error())
