"""Throw-away measurement for dev/NOTES-wasm.md: matmul FLOPs of one forward, torch.mm GFLOP/s on the
model's shapes (1 and 2 threads), and wasm_port's whole-forward GFLOP/s timed inside Node."""
import json, time, sys
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the repo root
from contract.api import model_dir, load_config
from wasm_port.pipeline import Pipeline

cfg = load_config(model_dir())
D, F, L, H = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
def flops(T, n=1):  # matmul flops of a forward over n rows of T tokens
    lin = 2 * T * (3 * D * D + D * D + 2 * D * F)
    att = 2 * 2 * T * T * D
    return n * L * (lin + att)
def torch_gflops(M, K, N, threads):
    torch.set_num_threads(threads)
    a, b = torch.randn(M, K), torch.randn(K, N)
    for _ in range(5): a @ b
    t0 = time.perf_counter(); r = 50
    for _ in range(r): a @ b
    return 2 * M * K * N * r / (time.perf_counter() - t0) / 1e9
p = Pipeline()
one = "A short sentence to embed in the browser."
T1 = p.tokenize([one]).ids.shape[1]
eight = [f"Sentence number {i}: the quick brown fox jumps over the lazy dog." for i in range(8)]
T8 = p.tokenize(eight).ids.shape[1]
long = ["word " * 300] * 8
res = {}
for name, texts, T in (("batch1", [one], T1), ("batch8", eight, T8), ("long8x256", long, 256)):
    ms = sorted(p.time("forward", texts, warmup=3, repeat=15))
    med = ms[len(ms) // 2]
    fl = flops(T, len(texts))
    res[name] = {"T": T, "mflop": fl / 1e6, "ms_p50": med, "gflops": fl / med / 1e6}
for th in (1, 2):
    res[f"torch_mm_{th}t"] = {f"{M}x{K}x{N}": round(torch_gflops(M, K, N, th), 1)
                              for M, K, N in ((T1, D, 3 * D), (8 * T8, D, F), (2048, D, F), (2048, F, D))}
print(json.dumps(res, indent=1))
p.close()
