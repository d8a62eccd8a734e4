"""dev: per-call time by position in a block, after a block of another pipe (single short text).
usage: python dev/lead_ramp.py IMPL1,IMPL2,... (the NOTES: onnxruntime,cpp_port,cython_ext,python_ref_packed,python_ref)"""
import sys, time
from statistics import median
import torch
from bench import registry
from bench.scenarios import texts_for
from contract.api import model_dir
torch.set_num_threads(2)
md = model_dir()
names = sys.argv[1].split(",")
P = {n: registry.load_impl(n, md) for n in set(names) | {"python_ref"}}
texts = texts_for(md, "short", 1)
for p in P.values():
    for _ in range(3): p.embed(texts)
pos = {n: [[] for _ in range(12)] for n in names}
for t in range(25):
    for n in names:
        for _ in range(12): P["python_ref"].embed(texts)
        for i in range(12):
            t0 = time.perf_counter(); P[n].embed(texts); pos[n][i].append(time.perf_counter() - t0)
for n in names:
    print(f"{n:18s}", " ".join(f"{median(v)*1e3:5.2f}" for v in pos[n]))
