"""The overhead model on CUDA: kernels = the device's kernel time (profiler kernel events, memcpy/memset apart: io);
python_overhead = the synchronised forward wall - its CUDA-graph replay's. Never run on a GPU (docs/DESIGN.md §7):
no figure in the repo comes from it.
Leaves out: multi-stream forwards; forwards a CUDA graph cannot capture (python_ref_packed's: no graph wall)."""
from __future__ import annotations

import time
from statistics import median


def kernel_seconds_of(events) -> float:
    """CUDA kernel seconds from torch.profiler's device events (memcpy/memset apart: io)."""
    us = 0.0
    for e in events:
        if getattr(e.device_type, "name", "CPU") == "CPU":
            continue
        if "memcpy" in e.name.lower() or "memset" in e.name.lower():
            continue
        us += e.time_range.elapsed_us()
    return us / 1e6


def device_kernel_seconds(fwd, args) -> float:
    """Summed CUDA kernel time of one fwd(*args), from the profiler's device events."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fwd(*args)
        torch.cuda.synchronize()
    return kernel_seconds_of(prof.events())


def graph_wall(fwd, args, reps: int = 5) -> float | None:
    """Median seconds of replaying fwd(*args) captured as a CUDA graph; None when it cannot be captured."""
    import torch
    static = [a.clone() for a in args]
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    try:
        with torch.cuda.stream(s):
            for _ in range(2):   # warm-up on a side stream, as torch.cuda.graphs asks
                fwd(*static)
        torch.cuda.current_stream().wait_stream(s)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            fwd(*static)
    except RuntimeError:   # data-dependent shapes / host syncs inside the forward
        return None
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        g.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return median(times)


def cuda_split(fwd, args, reps: int = 3) -> dict:
    """The split.attribute round for a CUDA forward (seconds)."""
    import torch
    walls = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fwd(*args)
        torch.cuda.synchronize()
        walls.append(time.perf_counter() - t0)
    wall, kern, gw = median(walls), device_kernel_seconds(fwd, args), graph_wall(fwd, args, reps)
    over = wall - gw if gw is not None else float("nan")
    return {"kernels": kern, "python_overhead": over, "graph_wall": gw, "wall": wall,
            "method": "CUDA: device kernel events; python_overhead = synchronised wall - CUDA-graph replay wall "
                      "(never run on a GPU in this project)"}


class CudaSplit:
    """overhead.Split's interface for a CUDA forward: each() per rep(), cuda_split once; shares of each()'s wall."""

    def __init__(self, fwd, args, each, reps: int = 3):
        self.fwd, self.args, self.each, self.reps, self.eaches = fwd, args, each, reps, []

    def rep(self) -> None:
        self.eaches.append(self.each())

    def result(self) -> dict:
        s = cuda_split(self.fwd, self.args, reps=self.reps)
        w = median(e[-1] for e in self.eaches)
        s["shares"] = {k: s[k] / w for k in ("kernels", "python_overhead")}
        s["each"] = self.eaches
        s["reps"] = [{"kernels": s["kernels"], "python_overhead": s["python_overhead"]}] * len(self.eaches)
        return s
