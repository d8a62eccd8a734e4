"""dev: torch.profiler per-op totals of python_ref against python_ref_packed at 32 medium texts, and the
padding probe's waste (bench/attribution/padding.py), for dev/NOTES-attribution.md "What packing removes beyond
the rows". Usage: .venv/bin/python dev/padding_profile.py; again with MALLOC_MMAP_THRESHOLD_=33554432
MALLOC_TRIM_THRESHOLD_=4294967296 set to keep large blocks in the heap. Leaves out: walls (dev/mmap_ab.py).
"""
import torch, time
from statistics import median
from collections import defaultdict
from torch.profiler import profile, ProfilerActivity
from bench import registry
from bench.scenarios import texts_for
from contract.api import model_dir
from bench.attribution import overhead as oh, padding
torch.set_num_threads(2)
mdir = model_dir(None)
texts = texts_for(mdir, "medium", 32)
res = {}
for name in ("python_ref", "python_ref_packed"):
    p = registry.load_impl(name, mdir)
    b = p.tokenize(texts)
    args = oh.io_split(p, b, reps=1)["args"]
    for _ in range(2): p.model.forward(*args)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3): p.model.forward(*args)
    tot = defaultdict(float)
    for e in prof.key_averages():
        if e.key.startswith("aten::") and e.key in ("aten::linear", "aten::gelu", "aten::layer_norm", "aten::add", "aten::scaled_dot_product_attention", "aten::index_select", "aten::index_copy_", "aten::zeros", "aten::nonzero", "aten::sum", "aten::mul", "aten::reshape", "aten::index", "aten::div"):
            tot[e.key] = e.cpu_time_total / 3 / 1e3
    res[name] = tot
    if name == "python_ref":
        real = int(b.attention_mask.sum()); padded = b.ids.size
        w = padding.per_call(p.model.forward, args, padded, real, reps=3)
        print("probe waste ms", round(w["waste"]*1e3, 1), {k: round(v*1e3,1) for k, v in w["by_kind"].items()}, "per_token", round(w["per_token"]*1e3,1), "fill", real/padded)
keys = sorted(set(res["python_ref"]) | set(res["python_ref_packed"]))
for k in keys:
    a, c = res["python_ref"].get(k, 0), res["python_ref_packed"].get(k, 0)
    print(f"{k:40s} padded {a:8.1f} packed {c:8.1f} diff {a-c:8.1f}")
