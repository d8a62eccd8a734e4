"""dev (issue 10, phase 1 E): the overhead model on the project's scenarios, with intervals.
Splits python_ref and python_ref_packed, measures every torch-forward port's gain in the same
interleaved rounds, builds port_ceiling/port_gain records and lists method failures; cross-checks
(intercept of python_ref and cpp_port, py-spy at single). Not a test; timings on a shared machine.
usage: python dev/validate_attribution.py [threads] [rounds] [scenarios,...] > out.txt  (JSON to argv[4])"""
import json
import sys
import time

import torch

from bench import registry, stats
from bench.measure import crosscheck, split
from bench.scenarios import SCENARIOS, texts_for
from contract.api import model_dir

threads = int((sys.argv[1:2] or ["1"])[0])
rounds = int((sys.argv[2:3] or ["5"])[0])
scs = (sys.argv[3:4] or ["single,batch,long"])[0].split(",")
out_path = (sys.argv[4:5] or ["/tmp/validate_attribution.json"])[0]
torch.set_num_threads(threads)
md = model_dir()
names = [n for n in ("python_ref", "python_ref_packed", "cpp_port", "cython_ext", "numba_variant")
         if registry.why_missing(n) is None]
pipes = {n: registry.load(n, md) for n in names}
t0 = time.perf_counter()
print(f"calibration {time.perf_counter() - t0:.1f}s, threads {threads}, rounds {rounds}", flush=True)
dump = {"threads": threads, "rounds": rounds, "scenarios": {}}
f = lambda x: f"{x * 1e3:.3f}"  # noqa: E731
for sc in scs:
    bs, ln = SCENARIOS[sc]
    texts = texts_for(md, ln, bs)
    t0 = time.perf_counter()
    walls = split.measure_walls(pipes, texts, rounds=rounds, reps=3 if bs == 1 else 1)
    atts = {n: split.attribute(n, pipes[n], texts, walls[n]) for n in ("python_ref", "python_ref_packed")}
    recs = split.port_records(atts, walls, sc)
    print(f"\n== {sc} ({bs} x {ln}), {time.perf_counter() - t0:.0f}s", flush=True)
    for n, a in atts.items():
        print(f"  {n}: embed {f(a['embed_wall'])} ms")
        for k in (*split.BUCKETS, "unattributed", "embed_glue", "padding_waste"):
            lo, hi = a["ci"][k]
            sh = a["shares"].get(k, sum(a["rounds"][k]) / sum(a["embed_rounds"]))
            print(f"    {k:16s} {f(a['buckets'].get(k, a[k] if k in a else sorted(a['rounds'][k])[len(a['rounds'][k]) // 2]))} ms "
                  f"[{f(lo)}, {f(hi)}]  share {100 * sh:5.1f}%")
        d = a["detail"]
        print(f"    calls {d['calls']}, binding {f(d['binding_s'])} ms, between ops {f(d['between_ops_s'])} ms")
    by = {}
    for r in recs:
        by.setdefault(r.impl, {})[r.metric] = r
    for impl, m in by.items():
        c, g = m["port_ceiling"], m["port_gain"]
        up = c.extra.get("upper")
        cs = (f"{c.value:.3f} [{c.extra['ci'][0]:.3f}, {c.extra['ci'][1]:.3f}] upper {up['value']:.3f} "
              f"[{up['ci'][0]:.3f}, {up['ci'][1]:.3f}]") if c.value else "-"
        print(f"  {impl:18s} vs {g.extra['vs']:18s} ceiling {cs}  gain {g.value:.3f} "
              f"[{g.extra['ci'][0]:.3f}, {g.extra['ci'][1]:.3f}]  verdict {g.extra['verdict']}"
              + (f"  METHOD FAILURE: {g.extra['method_failure']}" if g.extra["method_failure"] else "")
              + (f"  note: {g.extra['note']}" if g.extra.get("note") else ""))
    dump["scenarios"][sc] = {"atts": {n: {k: v for k, v in a.items() if k != "detail"} | {"detail": a["detail"]}
                                      for n, a in atts.items()},
                             "walls": walls, "records": [r.__dict__ for r in recs],
                             "failures": stats.method_failures(recs)}
    if bs == 1:
        ic = {n: crosscheck.intercept(pipes[n], texts[0], rounds=rounds) for n in ("python_ref", "cpp_port") if n in pipes}
        for n, r in ic.items():
            print(f"  intercept {n}: {f(r['intercept'])} ms [{f(r['ci'][0])}, {f(r['ci'][1])}], slope {f(r['slope'])} ms/text")
        tw = crosscheck.traced(pipes["python_ref"], pipes["python_ref"].tokenize(texts), rounds=rounds)
        print(f"  traced twin python_ref: forward - traced = "
              + (f"{f(tw['difference'])} ms [{f(tw['ci'][0])}, {f(tw['ci'][1])}]" if "error" not in tw else tw["error"]))
        spy = crosscheck.pyspy_split(threads=threads, seconds=4)
        print(f"  py-spy python_ref forward: {spy}")
        dump["scenarios"][sc]["crosscheck"] = {"intercept": ic, "pyspy": spy, "traced": tw}
with open(out_path, "w") as fh:
    json.dump(dump, fh, indent=1, default=str)
print("wrote", out_path)
