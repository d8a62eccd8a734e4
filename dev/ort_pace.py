"""dev: onnxruntime vs python_ref at one short text, block by block over ~150 s, with a pace probe
(pure-Python busy loop) per block: does the ratio follow the machine's pace?
usage: python dev/ort_pace.py [SECONDS] (the NOTES: 150)"""
import math, os, sys, time
from statistics import median
os.environ.setdefault("PORTBENCH_THREADS", "2")
import torch
torch.set_num_threads(2)
from bench import registry
from bench.scenarios import texts_for
from contract.api import model_dir
md = model_dir()
P = {n: registry.load_impl(n, md) for n in ("python_ref", "onnxruntime", "cpp_port")}
texts = texts_for(md, "short", 1)
for p in P.values():
    for _ in range(5): p.embed(texts)
def busy():
    t0 = time.perf_counter(); x = 0
    for i in range(4000): x += i * i
    return time.perf_counter() - t0
rows = []
t_end = time.time() + float(sys.argv[1] if len(sys.argv) > 1 else 150)
while time.time() < t_end:
    m = {}
    for n, p in P.items():
        ts = []
        for _ in range(15):
            t0 = time.perf_counter(); p.embed(texts); ts.append(time.perf_counter() - t0)
        m[n] = median(ts)
    m["busy"] = median(busy() for _ in range(5))
    rows.append(m)
for i, m in enumerate(rows):
    if i % 5 == 0:
        print(f"{i:3d} busy {m['busy']*1e6:5.0f}us ref {m['python_ref']*1e3:5.2f} ort {m['onnxruntime']*1e3:5.2f} cpp {m['cpp_port']*1e3:5.2f}  ort gain {m['python_ref']/m['onnxruntime']:.3f} cpp gain {m['python_ref']/m['cpp_port']:.3f}")
b = [m["busy"] for m in rows]; cut = median(b)
for lab, sel in (("fast", [m for m in rows if m["busy"] <= cut]), ("slow", [m for m in rows if m["busy"] > cut])):
    print(lab, len(sel), "busy", f"{median(m['busy'] for m in sel)*1e6:.0f}us",
          "ort gain", f"{median(m['python_ref']/m['onnxruntime'] for m in sel):.3f}",
          "cpp gain", f"{median(m['python_ref']/m['cpp_port'] for m in sel):.3f}")
import numpy as np
lb = np.log(b); 
for n in ("onnxruntime", "cpp_port"):
    lr = np.log([m["python_ref"]/m[n] for m in rows])
    print(n, "corr(log busy, log gain)", f"{np.corrcoef(lb, lr)[0,1]:.2f}")
