"""dev: how much of the per-round noise of a paired ratio is the interleaving's grain? An A/A test
(python_ref against a second python_ref) and two real pairs, timed two ways in the same process:
"block" (each implementation's reps back to back, as latency/timing.interleaved does) and "rep"
(one call of each implementation in turn, reps times, so every implementation's round median spans
the same stretch of time). Prints the per-round ratio spread (SD of log ratio) of each.
usage: python dev/ab_interleave.py [threads] [scenario] [rounds] [reps]"""
import math
import random
import sys
import time
from statistics import median, stdev

import torch

from bench import registry
from bench.scenarios import SCENARIOS, texts_for
from contract.api import model_dir

torch.set_num_threads(int((sys.argv[1:2] or ["2"])[0]))
sc = (sys.argv[2:3] or ["single"])[0]
rounds = int((sys.argv[3:4] or ["10"])[0])
reps = int((sys.argv[4:5] or ["12"])[0])
md = model_dir()
P = {"python_ref": registry.load_impl("python_ref", md), "python_ref#2": registry.load_impl("python_ref", md),
     "cython_ext": registry.load_impl("cython_ext", md), "cpp_port": registry.load_impl("cpp_port", md),
     "python_ref_packed": registry.load_impl("python_ref_packed", md)}
bs, ln = SCENARIOS[sc]
texts = texts_for(md, ln, bs)
for p in P.values():
    p.embed(texts); p.embed(texts)
rng = random.Random(0)


def one(p):
    t0 = time.perf_counter(); p.embed(texts); return time.perf_counter() - t0


res = {m: {n: [] for n in P} for m in ("block", "rep")}
for r in range(rounds):
    for mode in (("block", "rep") if r % 2 else ("rep", "block")):
        order = list(P); rng.shuffle(order)
        s = {n: [] for n in P}
        if mode == "block":
            for n in order:
                s[n] = [one(P[n]) for _ in range(reps)]
        else:
            for _ in range(reps):
                for n in order:
                    s[n].append(one(P[n]))
        for n in P:
            res[mode][n].append(median(s[n]))
pairs = [("python_ref", "python_ref#2"), ("python_ref", "cython_ext"), ("python_ref_packed", "cpp_port"),
         ("python_ref", "python_ref_packed")]
for mode, m in res.items():
    for a, b in pairs:
        lr = [math.log(x / y) for x, y in zip(m[a], m[b])]
        print(f"{sc} {mode:5s} {a:>17s}/{b:<17s} median ratio {math.exp(median(lr)):.3f}  SD(log ratio) {stdev(lr):.3f}")
