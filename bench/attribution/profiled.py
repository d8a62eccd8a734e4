"""Attribution of the forwards the overhead model cannot count (docs/DESIGN.md §7 "attribution"): C++ or compiled
torch, onnxruntime, a runtime of its own. The registry's `kernels` fact picks the kernel time: torch.profiler's
outermost ops ("torch"; on CUDA the device's kernels), onnxruntime's node times, or the port's own runtime
("inner"); once per scenario, applied to each round's walls; framework_overhead is then a residual.
Leaves out: per-layer breakdowns, GPU for wasm/onnxruntime."""
from __future__ import annotations

import json
import os
import time
from statistics import median

os.environ.setdefault("KINETO_LOG_LEVEL", "99")   # kineto prints a line per profiler start/stop otherwise

from .. import registry
from ..latency.timing import sync
from .split import finish

# Profiler bookkeeping ranges (wrappers around real ops): never op time themselves; their children count.
WRAPPER_PREFIXES = ("Torch-Compiled Region", "CompiledFunction", "## ", "TorchDynamo", "Pregraph",
                    "Inductor", "cudaDeviceSynchronize", "cudaStreamSynchronize", "ProfilerStep")


def _wrapper(e) -> bool:
    return e.name.startswith(WRAPPER_PREFIXES)


def op_seconds(events) -> float:
    """CPU seconds inside the outermost op events, their nested ops included (a wrapper range encloses nothing)."""
    total = 0.0
    for e in events:
        if getattr(e.device_type, "name", "CPU") != "CPU" or _wrapper(e):
            continue
        p = e.cpu_parent
        while p is not None and _wrapper(p):
            p = p.cpu_parent
        if p is None:
            total += e.cpu_time_total
    return total / 1e6


def profile_forward(pipe, batch, device: str = "cpu", reps: int = 1) -> tuple[float, float]:
    """(op s, wall s) per forward(batch) under torch.profiler over `reps` calls (pipe warm)."""
    from torch.profiler import ProfilerActivity, profile

    from .cuda_overhead import kernel_seconds_of
    cuda = str(device).startswith("cuda")
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=acts) as prof:
        t0 = time.perf_counter()
        for _ in range(reps):
            pipe.forward(batch)
        sync(device)
        wall = time.perf_counter() - t0
    ev = prof.events()
    return (kernel_seconds_of(ev) if cuda else op_seconds(ev)) / reps, wall / reps


def io_seconds(batch, dim: int, device: str = "cpu", reps: int = 5) -> float:
    """Boundary cost of one forward, median of reps after one untimed: ids+mask numpy -> torch -> device,
    (N, D) result -> host numpy."""
    import torch
    out = torch.zeros((batch.ids.shape[0], dim), dtype=torch.float32, device=device)

    def move():
        torch.from_numpy(batch.ids).to(device)
        torch.from_numpy(batch.attention_mask).to(device)
        out.cpu().numpy()
    walls = []
    for _ in range(reps + 1):   # the first untimed
        sync(device)
        t0 = time.perf_counter()
        move()
        sync(device)
        walls.append(time.perf_counter() - t0)
    return median(walls[1:])


def _onnx_kernels(pipe, batch, reps: int) -> float:
    """Sum of node kernel times from onnxruntime's profiler, per forward."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.enable_profiling = True
    opts.intra_op_num_threads = int(os.environ.get("PORTBENCH_THREADS", "0") or 0)
    sess = ort.InferenceSession(str(pipe.path), opts, providers=["CPUExecutionProvider"])
    real, pipe.sess = pipe.sess, sess
    try:
        for _ in range(reps + 1):
            pipe.forward(batch)
    finally:
        pipe.sess = real
    path = sess.end_profiling()
    try:
        trace = json.loads(open(path).read())
    finally:
        os.remove(path)
    runs = [e for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run"]
    skip_first = runs[0]["ts"] + runs[0]["dur"] if runs else 0   # first run is the warm-up
    us = sum(e["dur"] for e in trace if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")
             and e["ts"] >= skip_first)
    return us / 1e6 / reps


def _inner(name: str, pipe, texts, walls: dict, reps: int) -> dict:
    """A port timed inside its own runtime: per round, tokenize, forward and embed there."""
    n = len(walls["embed"])
    js_rounds = max(2, min(n, reps, int(3.0 / max(median(walls["embed"]), 1e-3))))   # each a full embed or more
    js = {w: [] for w in ("tokenize", "forward", "embed")}
    for _ in range(js_rounds):
        for w in js:
            js[w].append(median(pipe.time(w, texts, warmup=0, repeat=1)) / 1e3)
    jr = [i % js_rounds for i in range(n)]   # the inner round each wall round takes
    r = {"tokenize": [js["tokenize"][j] for j in jr], "model_kernels": [js["forward"][j] for j in jr],
         "framework_overhead": [max(0.0, js["embed"][j] - js["tokenize"][j] - js["forward"][j]) for j in jr],
         "io": [max(0.0, e - js["embed"][j]) for e, j in zip(walls["embed"], jr)]}
    return finish(name, r, walls["embed"], median(js["forward"]),
                  f"inside its own runtime ({js_rounds} rounds there): tokenize, forward (its own kernels), "
                  "glue; io = the pipe from Python", {"rounds": n, "inner_rounds": js_rounds},
                  residual=("framework_overhead",))


def attribute_profiled(name: str, pipe, texts: list[str], walls: dict, device: str = "cpu", reps: int = 5) -> dict:
    """split.finish's dict for `pipe` embedding `texts`, one value per round of `walls` (split.round_walls)."""
    if registry.kernels(name) == "inner" and hasattr(pipe, "time"):
        return _inner(name, pipe, texts, walls, reps)
    batch = pipe.tokenize(texts)
    fwd = median(walls["forward"])
    prof_reps = max(1, min(reps, int(0.5 / max(fwd, 1e-6))))
    if registry.kernels(name) == "onnxruntime":
        share = _onnx_kernels(pipe, batch, prof_reps) / max(fwd, 1e-12)
        method = "onnxruntime profiler: node kernel time; framework_overhead = forward - kernels - io (residual)"
    else:
        pipe.forward(batch)
        op, wall = profile_forward(pipe, batch, device, prof_reps)
        share = op / max(wall, 1e-12)
        method = ("torch.profiler: CUDA kernel time" if str(device).startswith("cuda") else
                  "torch.profiler: time inside the outermost ops, as a share of the profiled forward") + \
            "; framework_overhead = forward - kernels - io (residual)"
    io = io_seconds(batch, getattr(pipe, "dim", None) or 384, device)   # host-timed: holds the memcpys
    # the profiler's inflation cannot make kernels exceed the wall
    ks = [min(share * f, max(f - io, 0.0)) for f in walls["forward"]]
    r = {"tokenize": list(walls["tokenize"]), "model_kernels": ks,
         "framework_overhead": [max(0.0, f - k - io) for f, k in zip(walls["forward"], ks)], "io": [io] * len(ks)}
    r["embed_glue"] = [e - t - f for e, t, f in zip(walls["embed"], walls["tokenize"], walls["forward"])]
    return finish(name, r, walls["embed"], fwd, method,
                  {"rounds": len(walls["embed"]), "profiled_share": share, "profile_reps": prof_reps},
                  residual=("framework_overhead",))

