"""dev: interleaved forward walls of python_ref vs cpp_port (and python_ref_packed) on one scenario.
usage: python dev/ab_forward.py [threads] [scenario] [rounds]"""
import sys
import time
from statistics import median

import torch

from bench import registry
from bench.scenarios import SCENARIOS, texts_for
from contract.api import model_dir

torch.set_num_threads(int((sys.argv[1:2] or ["1"])[0]))
sc = (sys.argv[2:3] or ["single"])[0]
rounds = int((sys.argv[3:4] or ["7"])[0])
md = model_dir()
names = [n for n in ("python_ref", "cpp_port", "python_ref_packed") if n in registry.BY_NAME]
P = {n: registry.load_impl(n, md) for n in names}
bs, ln = SCENARIOS[sc]
texts = texts_for(md, ln, bs)
B = {n: p.tokenize(texts) for n, p in P.items()}
reps = 30 if bs == 1 else 2
out = {n: [] for n in P}
for r in range(rounds):
    for n, p in (P.items() if r % 2 else reversed(list(P.items()))):
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter(); p.forward(B[n]); ts.append(time.perf_counter() - t0)
        out[n].append(median(ts))
for n, v in out.items():
    print(n, f"{median(v)*1e3:.3f} ms", " ".join(f"{x*1e3:.2f}" for x in v),
          f"ratio vs python_ref {median(a / b for a, b in zip(out['python_ref'], v)):.3f}")
