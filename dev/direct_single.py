"""dev (issue 10): a direct truth for the overhead model where one exists. With no padding
(one text, or N copies of one), cpp_port runs the very graph python_ref runs, so python_ref's
forward wall - cpp_port's is what a C++ port removes from the forward; compare with the split's
python_overhead + io. usage: python dev/direct_single.py [threads] [rounds] [n_texts]"""
import sys
import time
from statistics import median

import torch

from bench import registry, stats
from bench.attribution import split
from bench.scenarios import texts_for
from contract.api import model_dir

threads, rounds, n = (int(a) for a in (sys.argv[1:4] + ["1", "9", "1"][len(sys.argv[1:4]):]))
torch.set_num_threads(threads)
md = model_dir()
ref, cpp = registry.load_impl("python_ref", md), registry.load_impl("cpp_port", md)
texts = texts_for(md, "short", 1) * n
bref, bcpp = ref.tokenize(texts), cpp.tokenize(texts)
assert (bref.ids == bcpp.ids).all() and bref.attention_mask.all()
reps = max(3, int(0.15 / 0.006 / n))
w = {"ref": [], "cpp": []}
for r in range(rounds):
    for k, (p, b) in (("ref", (ref, bref)), ("cpp", (cpp, bcpp))) if r % 2 == 0 else (("cpp", (cpp, bcpp)), ("ref", (ref, bref))):
        p.forward(b)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            p.forward(b)
            ts.append(time.perf_counter() - t0)
        w[k].append(median(ts))
diff = [a - b for a, b in zip(w["ref"], w["cpp"])]
walls = split.measure_walls({"ref": ref}, texts, rounds=rounds)["ref"]
att = split.attribute("python_ref", ref, texts, walls)
po = [a + b for a, b in zip(att["rounds"]["python_overhead"], att["rounds"]["io"])]
ms = lambda e: f"{e['value'] * 1e3:.3f} ms [{e['ci'][0] * 1e3:.3f}, {e['ci'][1] * 1e3:.3f}]"  # noqa: E731
print(f"threads {threads}, {n} text(s), {rounds} rounds x {reps} reps")
print(f"forward python_ref {median(w['ref']) * 1e3:.3f} ms, cpp_port {median(w['cpp']) * 1e3:.3f} ms")
print(f"direct: python_ref - cpp_port forward = {ms(stats.estimate(diff))}")
print(f"split:  python_overhead + io          = {ms(stats.estimate(po))}  (binding "
      f"{att['detail']['binding_s'] * 1e3:.3f}, between ops {att['detail']['between_ops_s'] * 1e3:.3f}, "
      f"io {att['buckets']['io'] * 1e3:.3f} ms)")
