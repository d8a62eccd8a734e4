"""dev: forward walls of python_ref and python_ref_packed at 32 medium texts in one process (median of 6
after 2 warm); run it alternately with and without MALLOC_MMAP_THRESHOLD_=33554432
MALLOC_TRIM_THRESHOLD_=4294967296 (argv[1] labels the line). Leaves out: interleaving across the two settings
(the allocator reads them at process start).
"""
import sys, time, torch
from statistics import median
from bench import registry
from bench.scenarios import texts_for
from contract.api import model_dir
torch.set_num_threads(2)
mdir = model_dir(None)
texts = texts_for(mdir, "medium", 32)
out = []
for name in ("python_ref", "python_ref_packed"):
    p = registry.load_impl(name, mdir)
    b = p.tokenize(texts)
    p.forward(b); p.forward(b)
    ts = []
    for _ in range(6):
        t0 = time.perf_counter(); p.forward(b); ts.append(time.perf_counter() - t0)
    out.append(f"{name} {median(ts)*1e3:.1f}")
print(sys.argv[1], *out)
