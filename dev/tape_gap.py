"""dev: the tape against the Python forward and cpp_port's forward, and the tape with every intermediate
kept alive (what releasing at last use is worth), interleaved rounds. Usage (in a set-up clone):
  .venv/bin/python dev/tape_gap.py [short 1 | medium 32 | long 8]
Leaves out: the split (bench/attribution/overhead.py); this is the raw comparison behind dev/NOTES-attribution.md "The tape".
"""
from __future__ import annotations

import sys
import time
from statistics import median

import torch

from bench import registry
from bench.attribution import overhead as oh, tape as tp
from bench.attribution.ops import _core
from bench.scenarios import texts_for
from contract.api import model_dir

torch.set_num_threads(2)
mdir = model_dir(None)
length, n = (sys.argv[1], int(sys.argv[2])) if len(sys.argv) > 2 else ("short", 1)
texts = texts_for(mdir, length, n)
py, cpp = registry.load_impl("python_ref_packed", mdir), registry.load_impl("cpp_port", mdir)
args, batch = oh.io_split(py, py.tokenize(texts), reps=1)["args"], cpp.tokenize(texts)
tape = tp.Tape(py.model.forward, args)
ops, out = tp.record(py.model.forward, args)
steps, ins, nslots, _, keep = tp.build(ops, out)
del ops
kept = _core().Tape([(*s[:4], []) for s in steps], ins, nslots)   # nothing released


def timed(f):
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


fns = {"python": lambda: py.model.forward(*args), "tape": tape.run, "tape_all_kept": kept.run,
       "cpp_port": lambda: cpp.forward(batch)}
reps = 30 if length == "short" else 3
walls = {k: [] for k in fns}
for r in range(8):
    for k, f in (fns.items() if r % 2 else reversed(fns.items())):
        f()
        walls[k].append(median(timed(f) for _ in range(reps)))
print(f"{length} x{n}, ms (median of 8 rounds x {reps}):",
      {k: round(median(v) * 1e3, 3) for k, v in walls.items()})
