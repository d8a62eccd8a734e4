"""dev: one look at the overhead split of python_ref's forward (issue 10). Not a test.
usage: python dev/try_overhead.py [threads] [scenario]"""
import sys
import time
from statistics import median

import torch

from bench import registry
from bench.attribution import overhead as oh
from bench.scenarios import SCENARIOS, texts_for
from contract.api import model_dir

torch.set_num_threads(int((sys.argv[1:2] or ["1"])[0]))
sc = (sys.argv[2:3] or ["single"])[0]
md = model_dir()
p = registry.load_impl("python_ref", md)
bs, ln = SCENARIOS[sc]
texts = texts_for(md, ln, bs)
b = p.tokenize(texts)
io = oh.io_split(p, b)
fwd, args = p.model.forward, io["args"]
for r in range(3):
    s = oh.forward_split(fwd, args, reps=3)
    walls = []
    for _ in range(5 if bs > 1 else 50):
        t0 = time.perf_counter(); p.forward(b); walls.append(time.perf_counter() - t0)
    fw = median(walls)
    tot = s["kernels"] + s["python_overhead"] + io["io"]
    print(f"round {r}: fwd {fw*1e3:.3f} ms | kernels {s['kernels']*1e3:.3f} binding {s['binding']*1e3:.3f} "
          f"between {s['between_ops']*1e3:.3f} io {io['io']*1e3:.3f} | sum {tot*1e3:.3f} unattributed "
          f"{(fw-tot)/fw*100:.1f}% | replay {s['replay_wall']*1e3:.3f} mode {s['mode_cost']*1e3:.3f}")
print(s["counts"], s["uncalibrated"])
