"""Views of the removable overhead sharing none of the overhead model's measurements (docs/DESIGN.md §7
"Cross-checks"): the intercept of forward wall against batch size (an upper bound), py-spy --native's share of
Python and binding leaf frames in a warm child, and forward wall - its TorchScript trace's (a lower bound).
Leaves out: other threads' samples; sampling the bench's own process (a child is sampled)."""
from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import numpy as np

from .. import registry
from ..stats import interval

BINDING_LIBS = ("libpython", "libtorch_python", "pybind", "_C.cpython")


def intercept(pipe, text: str, sizes=(1, 2, 4, 8), rounds: int = 5, reps: int = 5) -> dict:
    """{"intercept": s, "slope": s per text, "ci": [lo, hi], "rounds": [s]} of pipe.forward's wall."""
    return intercepts({"x": pipe}, text, sizes, rounds, reps)["x"]


def intercepts(pipes: dict, text: str, sizes=(1, 2, 4, 8), rounds: int = 5, reps: int = 5) -> dict:
    """intercept() of each pipe, interleaved round by round, so per-round differences between pipes are paired."""
    batches = {n: {k: p.tokenize([text] * k) for k in sizes} for n, p in pipes.items()}
    for n, p in pipes.items():
        p.forward(batches[n][sizes[-1]])
    ints, slopes = {n: [] for n in pipes}, {n: [] for n in pipes}
    for r in range(rounds):
        for n in (list(pipes) if r % 2 == 0 else list(reversed(pipes))):
            w = {}
            for k in (list(sizes) if r % 2 == 0 else list(reversed(sizes))):
                ts = []
                for _ in range(reps):
                    t0 = time.perf_counter()
                    pipes[n].forward(batches[n][k])
                    ts.append(time.perf_counter() - t0)
                w[k] = median(ts)
            b, a = np.polyfit(np.array(sizes, float), np.array([w[k] for k in sizes]), 1)
            ints[n].append(float(a))
            slopes[n].append(float(b))
    return {n: {"intercept": float(median(ints[n])), "slope": float(median(slopes[n])), "ci": interval(ints[n]),
                "rounds": ints[n], "sizes": list(sizes)} for n in pipes}


def traced(pipe, batch, rounds: int = 5, reps: int = 5) -> dict:
    """{"difference": s, "ci", "rounds", "forward": s, "traced": s} of pipe.model's forward against
    its trace, interleaved round by round; {"error": one line} when it cannot be traced."""
    import warnings

    import torch

    from .overhead import io_split
    args = io_split(pipe, batch, reps=1)["args"]
    fwd = pipe.model.forward
    raw = getattr(type(pipe.model).forward, "__wrapped__", None)   # under @torch.inference_mode: trace the body

    def body(*a):
        return raw(pipe.model, *a) if raw else fwd(*a)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            tr = torch.jit.trace(body, args, check_trace=False)
    except Exception as e:   # data-dependent Python control flow, unsupported ops
        return {"error": f"cannot trace {getattr(pipe, 'name', pipe)}: {type(e).__name__}: {str(e)[:120]}"}
    ws = []   # per round: {"py": s, "jit": s}
    with torch.jit.optimized_execution(False), torch.no_grad():
        for r in range(rounds):
            w = {}
            for k, f in (("py", lambda: fwd(*args)), ("jit", lambda: tr(*args)))[:: 1 if r % 2 else -1]:
                f()
                ts = []
                for _ in range(reps):
                    t0 = time.perf_counter()
                    f()
                    ts.append(time.perf_counter() - t0)
                w[k] = median(ts)
            ws.append(w)
    diffs = [w["py"] - w["jit"] for w in ws]
    return {"difference": float(median(diffs)), "ci": interval(diffs), "rounds": diffs,
            "forward": float(median(w["py"] for w in ws)), "traced": float(median(w["jit"] for w in ws))}


def pyspy_exe() -> str | None:
    cand = Path(sys.executable).with_name("py-spy")
    return str(cand) if cand.is_file() else shutil.which("py-spy")


def classify_stacks(raw: str, under: str = "TorchForward.forward") -> dict:
    """py-spy raw (collapsed) stacks -> sample counts by the innermost frame, for stacks under `under`."""
    n = {"python": 0, "binding": 0, "native": 0}
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if under not in stack or not count.isdigit():
            continue
        leaf = stack.split(";")[-1]
        m = re.search(r"\(([^()]*)\)\s*$", leaf)
        where = m.group(1) if m else ""
        kind = ("python" if re.search(r"\.py:\d+$", where) else
                "binding" if any(b in where for b in BINDING_LIBS) else "native")
        n[kind] += int(count)
    return n


def pyspy_split(impl: str | None = None, length: str = "short", batch: int = 1, seconds: float = 3.0,
                rate: int = 250, threads: int | None = None, model=None) -> dict:
    """{"python", "binding", "native": fractions, "samples": n} or {"error": one line} of impl's
    forward (default: the reference) on `batch` texts of `length` from `model` (a model directory)."""
    impl = impl or registry.REFERENCE
    exe = pyspy_exe()
    if exe is None:
        return {"error": "py-spy not installed (pip install py-spy): no sampling view"}
    with tempfile.TemporaryDirectory(prefix="portbench_spy_") as tmp:
        out = Path(tmp) / "raw.txt"
        # attach once warm: --native's ptrace stop per sample is too slow over torch's import (dev/NOTES-attribution.md)
        child = subprocess.Popen([sys.executable, "-m", "bench.attribution.crosscheck", impl, length, str(batch),
                                  str(seconds * 4 + 60), str(threads or os.environ.get("PORTBENCH_THREADS", "") or ""),
                                  str(model or "")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            if child.stdout.readline().strip() != "ready":
                tail = (child.stderr.read() or "").strip().splitlines()[-1:] or ["no output"]
                return {"error": f"the sampled forward did not start: {tail[0][:200]}"}
            cmd = [exe, "record", "--native", "--rate", str(rate), "--format", "raw", "--output", str(out),
                   "--duration", str(max(1, math.ceil(seconds))), "--pid", str(child.pid)]
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
            except subprocess.TimeoutExpired:
                return {"error": "py-spy timed out"}
        finally:
            child.kill()
            child.wait()
        if p.returncode != 0 or not out.is_file():
            tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
            return {"error": f"py-spy could not attach or sample (exit {p.returncode}): {tail[0][:200]}"}
        n = classify_stacks(out.read_text())
    total = sum(n.values())
    if total == 0:
        return {"error": "py-spy sampled nothing under the forward"}
    return {**{k: v / total for k, v in n.items()}, "samples": total, "rate": rate}


def _target(impl: str, length: str, batch: int, seconds: float, threads: str, model: str = "") -> None:
    """The child py-spy samples: warm up, then forward() in a loop for `seconds`."""
    import torch

    from ..scenarios import texts_for
    from contract.api import model_dir
    if threads:
        torch.set_num_threads(int(threads))
    mdir = model_dir(model or None)
    pipe = registry.load_impl(impl, mdir)
    b = pipe.tokenize(texts_for(mdir, length, batch))
    pipe.forward(b)
    print("ready", flush=True)   # the parent attaches py-spy now
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        pipe.forward(b)


if __name__ == "__main__":   # python -m bench.attribution.crosscheck IMPL LENGTH BATCH SECONDS [THREADS [MODEL_DIR]]
    a = sys.argv[1:] + [""] * 6
    _target(a[0], a[1] or "short", int(a[2] or 1), float(a[3] or 3), a[4], a[5])
