"""dev experiment (issue 10, shares at `batch`): python_ref's per-round model_kernels share of the
embed wall by three estimators, R rounds, cpp_port run between the parts as the other
implementations of a bench round would.

  A  first method: block kernels x (round forward wall / block forward) / round embed wall
     (two one-call ratios across calls)
  C  kernels / the recorded call's own wall x the model call's share of an embed call (the recorded
     wall carries the recording mode's per-call cost: biased low at `single`)
  D  (sum t_in - binding) / (sum t_in + between ops) of the same recorded calls x the model call's
     share of an embed call: what split.attribute does since 9788983

Run: .venv/bin/python dev/share_stability.py [batch|single|long] [ROUNDS]
Findings (2 threads, this VM): at batch, per-round SD A 4.0-5.2 points, C 0.6, D 0.1; at single
A 7.1, C 1.0 (median 84, the recording mode's cost), D 0.7 (dev/NOTES-attribution.md).
Leaves out: the settling rounds, the other eight implementations of a real round.
"""
import statistics as st
import sys
import time

import numpy as np
import torch

from bench import registry
from bench.measure import overhead as oh, split
from bench.scenarios import SCENARIOS, texts_for
from python_ref.api import model_dir

sc = sys.argv[1] if len(sys.argv) > 1 else "batch"
R = int(sys.argv[2]) if len(sys.argv) > 2 else 8
torch.set_num_threads(2)
md = model_dir()
p, q = registry.load("python_ref", md), registry.load("cpp_port", md)
bs, ln = SCENARIOS[sc]
texts = texts_for(md, ln, bs)
b = p.tokenize(texts)
p.embed(texts), p.forward(b), q.embed(texts)
calib = split.calibrate([p], texts_for(md, "medium", 4), rounds=3)


def tm(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


reps = max(2, min(9, int(0.1 / min(tm(lambda: p.forward(b)) for _ in range(3)))))
est = {"A": [], "C": [], "D": [], "model share of embed": []}
for r in range(R):
    for _ in range(3):
        q.embed(texts)
    e, f = tm(lambda: p.embed(texts)), tm(lambda: p.forward(b))
    em = split.embed_split(p, texts, reps=reps)
    s = oh.forward_split(p.model.forward, em["args"], oh.calib_round(calib, r), reps=reps, padded_rows=b.ids.size)
    c, d = [], []
    for _ in range(reps):
        rec = oh.Record()
        t0 = time.perf_counter()
        with rec:
            p.model.forward(*em["args"])
        w = time.perf_counter() - t0
        c.append((sum(rec.t_in) - s["binding"]) / w)
        d.append((sum(rec.t_in) - s["binding"]) / (sum(rec.t_in) + s["between_ops"]))
    est["A"].append(s["kernels"] * (f / em["forward"]) / e)
    est["C"].append(st.median(c) * em["model_share"])
    est["D"].append(st.median(d) * em["model_share"])
    est["model share of embed"].append(em["model_share"])
for k, v in est.items():
    x = np.array(v) * 100
    print(f"{k:22s} {np.round(x, 1)}  SD {x.std(ddof=1):.2f}  median {np.median(x):.1f}")
