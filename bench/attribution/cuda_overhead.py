"""The overhead model on CUDA: kernels = the device's kernel time (profiler kernel events, memcpy/memset apart: io);
python_overhead = the synchronised forward wall - its CUDA-graph replay's. Never run on a GPU (docs/DESIGN.md §7):
no figure in the repo comes from it.
Leaves out: multi-stream forwards; forwards a CUDA graph cannot capture (python_ref_packed's: no graph wall)."""
from __future__ import annotations

import time
from statistics import median


def kernel_seconds_of(events) -> float:
    """CUDA kernel seconds from torch.profiler's device events (memcpy/memset apart: io)."""
    return sum(e.time_range.elapsed_us() for e in events if getattr(e.device_type, "name", "CPU") != "CPU"
               and "memcpy" not in e.name.lower() and "memset" not in e.name.lower()) / 1e6


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


class CudaSplit:
    """overhead.Split's interface for a CUDA forward: each() per rep(); result() times the forward reps times
    (synchronised), profiles one and replays its CUDA graph, its parts shares of each()'s median wall."""

    def __init__(self, fwd, args, each, reps: int = 3):
        self.fwd, self.args, self.each, self.reps, self.eaches = fwd, args, each, reps, []

    def rep(self) -> None:
        self.eaches.append(self.each())

    def result(self) -> dict:
        import torch
        from torch.profiler import ProfilerActivity, profile
        fwd, args, walls = self.fwd, self.args, []
        for _ in range(self.reps):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            fwd(*args)
            torch.cuda.synchronize()
            walls.append(time.perf_counter() - t0)
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            fwd(*args)
            torch.cuda.synchronize()
        wall, kern, gw = median(walls), kernel_seconds_of(prof.events()), graph_wall(fwd, args, self.reps)
        s = {"kernels": kern, "python_overhead": wall - gw if gw is not None else float("nan"), "graph_wall": gw,
             "wall": wall, "method": "CUDA: device kernel events; python_overhead = synchronised wall - CUDA-graph "
                                     "replay wall (never run on a GPU in this project)"}
        w = median(e[-1] for e in self.eaches)
        s["shares"] = {k: s[k] / w for k in ("kernels", "python_overhead")}
        s["each"] = self.eaches
        s["reps"] = [{"kernels": s["kernels"], "python_overhead": s["python_overhead"]}] * len(self.eaches)
        return s
