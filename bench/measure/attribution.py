"""Attribution (docs/DESIGN.md §7): one implementation's embed time split into four buckets.

  tokenize           wall time of pipe.tokenize(texts)
  model_kernels      CPU: the summed *self* CPU time of the ops that do data work, seen by
                     torch.profiler (aten ops, and inductor kernels when torch.compile is on); the
                     self time of composite wrappers (aten::linear, aten::layer_norm, ...) and of
                     view / allocation / metadata ops (DISPATCH_ONLY) is not kernel time. For
                     torch.compile the suite turns on inductor's cpp.enable_kernel_profile, so its
                     fused kernels are events too.
                     CUDA: the CUDA kernel time the profiler records, memcpy excluded.
  io                 moving the batch in and the embeddings out: numpy -> torch -> device and
                     device -> host -> numpy, timed on the same shapes (synchronised on CUDA, so the
                     memcpys are in it); for wasm_port the JSON/base64 pipe between Python and Node.
  dispatch_overhead  forward wall - model_kernels - io: the interpreter, the framework's dispatcher,
                     allocator and glue between kernels; what a port can remove besides tokenizing.

The buckets are measured independently of the embed wall (tokenize + forward walls are separate
medians), so `check_sum` is a real consistency check, not a tautology. cpp_port's LibTorch ops go
through the same dispatcher and the profiler sees them (same process, same libtorch). Which method
applies comes from the registry's `kernels` fact: "torch" as above; "inner" (wasm_port: its own
kernels) from timings taken inside its runtime (`pipe.time`): tokenize, forward (its kernels),
embed - tokenize - forward (JS glue = dispatch) and Python wall - inner embed (io); "onnxruntime"
from onnxruntime's own profiler (sum of node kernel times). Ceilings and gains: ceilings.py.
Leaves out: per-layer breakdowns (torch.profiler's tables give those), GPU for wasm/onnxruntime.
"""
from __future__ import annotations

import json
import os
import time
from statistics import median

os.environ.setdefault("KINETO_LOG_LEVEL", "99")   # kineto prints a line per profiler start/stop otherwise

from .. import registry
from ..registry import BUCKETS
from .latency import interleaved, sync

# Ops whose self time is dispatch, not data work: composite wrappers that only call other ops,
# views and metadata, allocation. Everything else's self time counts as kernel time.
DISPATCH_ONLY = {
    "aten::linear", "aten::layer_norm", "aten::scaled_dot_product_attention", "aten::embedding",
    "aten::gelu_", "aten::dropout", "aten::matmul", "aten::norm", "aten::rsub", "aten::to",
    "aten::_to_copy", "aten::contiguous", "aten::t", "aten::transpose", "aten::permute", "aten::view",
    "aten::reshape", "aten::_reshape_alias", "aten::_unsafe_view", "aten::as_strided", "aten::expand",
    "aten::select", "aten::slice", "aten::unbind", "aten::unsqueeze", "aten::squeeze", "aten::split",
    "aten::chunk", "aten::narrow", "aten::alias", "aten::detach", "aten::detach_", "aten::lift_fresh",
    "aten::resolve_conj", "aten::resolve_neg", "aten::empty", "aten::empty_like", "aten::empty_strided",
    "aten::zeros_like", "aten::result_type", "aten::item", "aten::_local_scalar_dense", "aten::flatten",
    "aten::numpy_T", "aten::set_", "aten::is_nonzero", "aten::size", "aten::stride", "aten::dim",
}
# Profiler bookkeeping ranges (wrappers around real ops): never kernel time.
WRAPPER_PREFIXES = ("Torch-Compiled Region", "CompiledFunction", "## ", "TorchDynamo", "Pregraph",
                    "Inductor", "cudaDeviceSynchronize", "cudaStreamSynchronize", "ProfilerStep")


def _wall(fn, reps: int, device: str = "cpu") -> float:
    """Median seconds of fn() over reps calls (one untimed warm call first)."""
    fn()
    out = []
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t0)
    return median(out)


def kernel_seconds(events, device: str = "cpu") -> tuple[float, float]:
    """(kernel s, memcpy s) from torch.profiler events, summed over everything profiled."""
    if str(device).startswith("cuda"):
        kern = copy = 0.0
        for e in events:
            if getattr(e.device_type, "name", "CPU") == "CPU":   # kernels and memcpys are device events
                continue
            dt = e.time_range.elapsed_us()
            if "memcpy" in e.name.lower() or "memset" in e.name.lower():
                copy += dt
            else:
                kern += dt
        return kern / 1e6, copy / 1e6
    kern = 0.0
    for e in events:
        if getattr(e.device_type, "name", "CPU") != "CPU" or e.name in DISPATCH_ONLY:
            continue
        if e.name.startswith(WRAPPER_PREFIXES):
            continue
        kern += e.self_cpu_time_total
    return kern / 1e6, 0.0


def profile_forward(pipe, batch, device: str = "cpu", reps: int = 1) -> tuple[float, float, float]:
    """(kernel s, memcpy s, wall s) per forward(batch), from torch.profiler over `reps` calls (pipe warm)."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if str(device).startswith("cuda") else [])
    with profile(activities=acts) as prof:
        t0 = time.perf_counter()
        for _ in range(reps):
            pipe.forward(batch)
        sync(device)
        wall = time.perf_counter() - t0
    k, c = kernel_seconds(prof.events(), device)
    return k / reps, c / reps, wall / reps


def io_seconds(batch, dim: int, device: str = "cpu", reps: int = 5) -> float:
    """Boundary cost of one forward: ids+mask numpy -> torch -> device, (N, D) result -> host numpy."""
    import torch
    out = torch.zeros((batch.ids.shape[0], dim), dtype=torch.float32, device=device)

    def move():
        torch.from_numpy(batch.ids).to(device)
        torch.from_numpy(batch.attention_mask).to(device)
        out.cpu().numpy()
    return _wall(move, reps, device)


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


def interleaved_walls(fns: dict, rounds: int, device: str = "cpu", warmup: int = 1) -> dict:
    """Median seconds of each fn, the fns interleaved round by round (same conditions for all)."""
    def synced(f):
        def g():
            f()
            sync(device)
        return g
    res = interleaved({k: synced(f) for k, f in fns.items()}, rounds=rounds, reps=1, warmup=warmup)
    return {k: median(s for rnd in v for s in rnd) for k, v in res.items()}


def attribute(name: str, pipe, texts: list[str], device: str = "cpu", reps: int = 5,
              walls: dict | None = None) -> dict:
    """Buckets (seconds) for embedding `texts` once with `pipe`.

    walls: medians already measured elsewhere, interleaved: {"embed", "tokenize", "forward"} in
    seconds; when absent the three are measured here, interleaved over `reps` rounds.
    -> {"buckets": {bucket: s}, "embed_wall": s, "forward_wall": s, "method": str, "sum_error": frac}
    """
    batch = pipe.tokenize(texts)
    if registry.kernels(name) == "inner" and hasattr(pipe, "time"):
        js = {"tokenize": [], "forward": [], "embed": []}
        fns = {w: (lambda w=w: js[w].extend(pipe.time(w, texts, warmup=0, repeat=1))) for w in js}
        if not (walls or {}).get("embed"):
            fns["wall"] = lambda: pipe.embed(texts)
        warm = 1
        if (walls or {}).get("embed"):   # already warm; big batches: fewer JS rounds (each a full embed or more)
            reps, warm = max(2, min(reps, int(3.0 / max(walls["embed"], 1e-3)))), 0
        w = interleaved_walls(fns, reps, warmup=warm)
        js = {k: median(v[warm:] or v) / 1e3 for k, v in js.items()}   # drop the warm-up call
        embed_wall = (walls or {}).get("embed") or w["wall"]
        b = {"tokenize": js["tokenize"], "model_kernels": js["forward"],
             "dispatch_overhead": max(0.0, js["embed"] - js["tokenize"] - js["forward"]),
             "io": max(0.0, embed_wall - js["embed"])}
        return _finish(b, embed_wall, js["forward"], "inside its own runtime: tokenize, forward (own kernels), "
                       "glue; io = the pipe from Python")
    if not walls:
        walls = interleaved_walls({"tokenize": lambda: pipe.tokenize(texts), "forward": lambda: pipe.forward(batch),
                                   "embed": lambda: pipe.embed(texts)}, reps, device)
    tok, fwd, embed_wall = walls["tokenize"], walls["forward"], walls["embed"]
    prof_reps = max(1, min(reps, int(0.5 / max(fwd, 1e-6))))
    if registry.kernels(name) == "onnxruntime":
        kern, copy, method = _onnx_kernels(pipe, batch, prof_reps), 0.0, "onnxruntime profiler (node kernel time)"
    else:
        kern, copy, wall = profile_forward(pipe, batch, device, prof_reps)
        method = ("torch.profiler CUDA kernel time" if str(device).startswith("cuda") else
                  "torch.profiler self CPU time of data-work ops")
        if abs(wall - fwd) > 0.25 * fwd:   # the machine ran at another speed during the profile: keep its share
            kern = kern / wall * fwd
            method += f"; scaled by the timed/profiled forward walls ({fwd * 1e3:.3g}/{wall * 1e3:.3g} ms)"
    dim = getattr(pipe, "dim", None) or 384
    io = io_seconds(batch, dim, device)   # host-timed transfers; they contain the memcpys (copy), so not added
    kern = min(kern, max(fwd - io, 0.0))   # profiler inflation can't make kernels exceed the wall
    b = {"tokenize": tok, "model_kernels": kern, "dispatch_overhead": max(0.0, fwd - kern - io), "io": io}
    return _finish(b, embed_wall, fwd, method)


def with_tokenize(leader: dict, walls: dict, leader_name: str) -> dict:
    """A follower's split: the leader's forward buckets (the same forward code on the same ids) with
    the follower's own tokenize wall, checked against the follower's own embed wall."""
    b = {**leader["buckets"], "tokenize": walls["tokenize"]}
    return _finish(b, walls["embed"], leader["forward_wall"], f"forward split shared with {leader_name} "
                   f"(same TorchForward code); {leader['method']}")


def _finish(b: dict, embed_wall: float, fwd: float, method: str) -> dict:
    total = sum(b.values())
    return {"buckets": b, "embed_wall": embed_wall, "forward_wall": fwd, "method": method,
            "sum_error": abs(total - embed_wall) / max(embed_wall, 1e-12)}


def check_sum(att: dict, tol: float = 0.05) -> bool:
    """The four buckets add up to the measured embed wall within `tol` (fraction)."""
    return att["sum_error"] <= tol


def records(impl: str, scenario: str, att: dict, device: str, extra: dict | None = None):
    from ..results import Record
    ex = {"method": att["method"], "embed_wall_ms": att["embed_wall"] * 1e3,
          "forward_wall_ms": att["forward_wall"] * 1e3, "sum_error": att["sum_error"], **(extra or {})}
    return [Record(impl, f"attribution_{k}", scenario, v * 1e3, "ms", device, extra=ex)
            for k, v in att["buckets"].items()]


def from_records(recs, impl: str, scenario: str) -> dict | None:
    """Rebuild attribute()'s dict from results.json records (for the report)."""
    rs = [r for r in recs if _g(r, "impl") == impl and _g(r, "scenario") == scenario
          and _g(r, "metric").startswith("attribution_")]
    if len(rs) < len(BUCKETS):
        return None
    ex = _g(rs[0], "extra")
    b = {_g(r, "metric").removeprefix("attribution_"): _g(r, "value") / 1e3 for r in rs}
    return {"buckets": b, "embed_wall": ex["embed_wall_ms"] / 1e3, "forward_wall": ex["forward_wall_ms"] / 1e3,
            "method": ex["method"], "sum_error": ex["sum_error"]}


def _g(r, k):
    return r[k] if isinstance(r, dict) else getattr(r, k)


if __name__ == "__main__":  # quick look: python -m bench.measure.attribution [impl] [n]
    import sys

    from ..scenarios import texts_for
    from python_ref.api import model_dir
    name, n = (sys.argv[1:2] or [registry.REFERENCE])[0], int((sys.argv[2:3] or ["8"])[0])
    p = registry.load(name, model_dir())
    a = attribute(name, p, texts_for(model_dir(), "medium", n), reps=9)
    print(json.dumps({k: (v if not isinstance(v, dict) else {kk: round(vv * 1e3, 3) for kk, vv in v.items()})
                      for k, v in a.items()}, indent=1))
