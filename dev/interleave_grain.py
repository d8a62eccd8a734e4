"""dev: per-round ratio noise and bias vs interleaving grain k at one scenario: each round runs
reps calls of every pipe, in turns of k calls (k = reps: the bench's blocks; k = 1: call by call).
usage: python dev/interleave_grain.py SCENARIO ROUNDS REPS K1,K2,... (the NOTES: single 20 12 12,4,2,1)"""
import math, random, sys, time
from statistics import median, stdev
import torch
from bench import registry
from bench.scenarios import SCENARIOS, texts_for
from contract.api import model_dir
torch.set_num_threads(2)
sc = sys.argv[1]; rounds = int(sys.argv[2]); reps = int(sys.argv[3]); ks = [int(k) for k in sys.argv[4].split(",")]
md = model_dir()
P = {"python_ref": registry.load_impl("python_ref", md), "python_ref#2": registry.load_impl("python_ref", md),
     "cython_ext": registry.load_impl("cython_ext", md), "cpp_port": registry.load_impl("cpp_port", md),
     "python_ref_packed": registry.load_impl("python_ref_packed", md), "onnxruntime": registry.load_impl("onnxruntime", md)}
bs, ln = SCENARIOS[sc]; texts = texts_for(md, ln, bs)
for p in P.values():
    p.embed(texts); p.embed(texts)
rng = random.Random(0)
def one(p):
    t0 = time.perf_counter(); p.embed(texts); return time.perf_counter() - t0
res = {k: {n: [] for n in P} for k in ks}
for r in range(rounds):
    for k in (ks if r % 2 else ks[::-1]):
        order = list(P); rng.shuffle(order)
        s = {n: [] for n in P}
        for _ in range(reps // k):
            for n in order:
                s[n] += [one(P[n]) for _ in range(k)]
        for n in P:
            res[k][n].append(median(s[n]))
pairs = [("python_ref", "python_ref#2"), ("python_ref", "cython_ext"), ("python_ref_packed", "cpp_port"),
         ("python_ref", "python_ref_packed"), ("python_ref", "onnxruntime")]
for k, m in res.items():
    print(f"k={k:2d} " + "  ".join(f"{b}: {math.exp(median(lr)):.3f} sd {stdev(lr):.3f}" for a, b in pairs
                                   for lr in [[math.log(x / y) for x, y in zip(m[a], m[b])]]))
