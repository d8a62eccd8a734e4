"""The overhead model (docs/DESIGN.md §7 "attribution"): a Python torch forward split into what a C++ port removes
(python_overhead: the report's framework_overhead) and what it pays too (kernels: model_kernels). kernels = the tape's
wall (tape.py) less its own per-op cost; python_overhead = the forward's wall - that; its priced part = the op mix's
binding cost (ops.py) + the Python between calls (Replay), which stands in where the tape cannot replay.
Leaves out: CUDA (cuda_overhead.py), graph-compiled forwards (no Python between ops to count)."""
from __future__ import annotations

import functools
import time
from collections import Counter
from statistics import median

import torch
from torch.overrides import TorchFunctionMode

from .ops import (FALLBACK, KIND_OF, PY_CALLS, cpp_missing, kind_of, one_thread, rows_of, straight, tiny,  # noqa: F401
                  _core)
from .tape import tape_or_why


class Replay(TorchFunctionMode):
    """Every torch call returns the next recorded (name, result) at once, cycling."""

    def __init__(self, results):
        super().__init__()
        self.results, self.i, self.n = results, 0, len(results)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name, out = self.results[self.i]
        if name != getattr(func, "__name__", None):
            raise RuntimeError(f"replay diverged at call {self.i}: {name} recorded, {func} called")
        self.i = (self.i + 1) % self.n
        return out


class CallRecorder(TorchFunctionMode):
    """Runs every torch call, timing it (t_in) and keeping its kind (and, with keep, its result)."""

    def __init__(self, keep: bool = False):
        super().__init__()
        self.calls, self.results, self.t_in, self.rows, self.keep = [], [], [], [], keep

    def __torch_function__(self, func, types, args=(), kwargs=None):
        t0 = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        self.t_in.append(time.perf_counter() - t0)
        self.calls.append(kind_of(func, args))
        self.rows.append(rows_of(out))   # rows of its result: padded (N*T) or packed (M)
        if self.keep:
            self.results.append((getattr(func, "__name__", None), _light(out)))
        return out


def _light(out):
    """A data-free stand-in (a meta tensor) for a recorded result: real activations kept alive would page-fault
    later allocations and slow the kernels timed. Replayed code reaches results only through torch calls."""
    if isinstance(out, torch.Tensor):
        return torch.empty_like(out, device="meta")
    if isinstance(out, (tuple, list)) and any(isinstance(o, torch.Tensor) for o in out):
        return type(out)(_light(o) for o in out)
    return out


def _best(run, t, tries: int = 2) -> float:
    """Seconds of run(t), the best of tries (a preempted pass says nothing about the ops)."""
    out = []
    for _ in range(tries):
        t0 = time.perf_counter()
        run(t)
        out.append(time.perf_counter() - t0)
    return min(out)


class OpMix:
    """One forward's torch calls (counts per kind; uncalibrated names priced as FALLBACK) as straight-line Python
    on tiny tensors and as the same ops from C++; measure() prices the mix once, next to the forward priced."""

    def __init__(self, counts: dict, d: int = 12, m: int = 64):
        self.counts = Counter()
        for k, n in counts.items():
            self.counts[k if k in PY_CALLS else FALLBACK] += n
        stmts = [PY_CALLS[k] for k in sorted(self.counts) for _ in range(self.counts[k])]
        self.py, self.none = straight(stmts), straight([PY_CALLS["none"]] * len(stmts))
        self.t, self.d, self.m, self.core = tiny(d), d, m, _core()
        rec = CallRecorder(keep=True)
        with rec, torch.inference_mode():
            self.py(self.t)
        if Counter(rec.calls) != self.counts:
            raise RuntimeError(f"each PY_CALLS statement must make exactly one torch call of its kind: "
                               f"{dict(Counter(rec.calls))} != {dict(self.counts)}")
        self.results = rec.results
        with torch.inference_mode():
            self.tape, self.tape_why = tape_or_why(self.py, (self.t,), writes_ok=True)   # tiny scratch tensors

    def measure(self) -> dict:
        """Seconds for the whole mix: {"py", "cpp", "mode" (the replaying mode's cost), "binding": py - cpp,
        "tape_own": the mix's tape - cpp (nan without a tape)}; py net of as many empty statements."""
        with one_thread(), torch.inference_mode():
            base = _best(self.none, self.t)
            py = _best(self.py, self.t) - base
            with Replay(self.results):
                mode = _best(self.py, self.t) - base
            c0 = self.core.op_cost("none", self.m, self.d)
            cpp = sum(n * (self.core.op_cost(k, self.m, self.d) - c0) for k, n in self.counts.items()) / 1e9
            own = min(self.tape.run() for _ in range(2)) - cpp if self.tape else float("nan")
        return {"binding": max(0.0, py - cpp), "mode": max(0.0, mode), "py": py, "cpp": cpp,
                "tape_own": max(0.0, own) if self.tape else own}


@functools.cache
def _mix(counts: tuple) -> OpMix:
    """One OpMix per distinct op mix, counts sorted (kind, n) pairs (a process prices the same forward many times)."""
    return OpMix(dict(counts))


class Split:
    """The split of fwd(*args) (warm), a repetition per rep() so a caller can interleave forwards'. A repetition:
    a recorded forward, each() (default: fwd timed; else a fn returning a tuple ending with the wall, s, of the call
    the shares are of), the forward alone, the tape twice, each() again (the faster counts), two replays, the op mix
    priced. Parts are shares of their repetition's wall (the pace moves between repetitions, hardly within one)."""

    PIECES = ("binding", "between_ops", "kernels", "python_overhead", "priced", "indirect")

    def __init__(self, fwd, args, padded_rows: int | None = None, each=None):
        self.fwd, self.args, self.each, self.per, self.eaches = fwd, args, each or self._plain, [], []
        self.keep = CallRecorder(keep=True)
        with self.keep:
            fwd(*args)
        self.counts = Counter(self.keep.calls)
        self.mix = _mix(tuple(sorted(self.counts.items())))
        self.tape, self.tape_why = tape_or_why(fwd, args)
        if self.tape and not self.mix.tape:   # its own cost unpriced: not used
            self.tape, self.tape_why = None, f"the op mix's tape: {self.mix.tape_why}"
        self.padded = {k for k, rows in zip(self.keep.calls, self.keep.rows) if padded_rows and rows == padded_rows}

    def _plain(self):
        t0 = time.perf_counter()
        self.fwd(*self.args)
        return (time.perf_counter() - t0,)

    def rep(self) -> None:
        fwd, args = self.fwd, self.args
        rec = CallRecorder()
        with rec:
            fwd(*args)
        before = self.each()   # after a forward, as in the walls (the caches it meets)
        alone = tape = None
        if self.tape:   # the tape's peer is the model call alone (same caches): inside each() it also pays embed_glue
            alone = self._plain()[0] if self.each != self._plain else before[-1]
            tape = min(self.tape.run() for _ in range(2))
        # each() on the tapes' other side too, the faster kept, as the tapes' best of two (dev/NOTES-attribution.md)
        self.eaches.append(min(before, self.each(), key=lambda e: e[-1]))
        replay = []
        for _ in range(2):
            with Replay(self.keep.results):
                t0 = time.perf_counter()
                fwd(*args)
                replay.append(time.perf_counter() - t0)
        m = self.mix.measure()
        t_in, e = sum(rec.t_in), self.eaches[-1]
        priced = m["binding"] + min(replay) - m["mode"]
        if tape is None:
            kernels, removable = t_in - m["binding"], priced
        else:
            kernels = tape - m["tape_own"]
            removable = alone - kernels
        self.per.append({**m, "wall": e[-1], "in_torch": t_in, "replay_wall": min(replay), "tape": tape, "alone": alone,
                         "between_ops": min(replay) - m["mode"], "kernels": kernels, "python_overhead": removable,
                         "priced": priced, "indirect": removable - priced})

    def result(self) -> dict:
        """{"shares": {part}, "wall": s (median), each share x wall as seconds under the part's name, "in_torch",
        "replay_wall", "mode_cost", "counts": {kind: n}, "uncalibrated": {name: n}, "padded_kinds": [kinds with
        padded_rows result rows], "each": [each()'s returns], "reps": [{part: s}], "tape": {"ops", "own"} or {"why"}}"""
        per = self.per
        shares = {k: median(p[k] / p["wall"] for p in per) for k in self.PIECES}
        wall = median(p["wall"] for p in per)
        return {"shares": shares, "wall": wall, **{k: shares[k] * wall for k in self.PIECES},
                **{k: median(p[k] for p in per) for k in ("in_torch", "replay_wall")},
                "mode_cost": median(p["mode"] for p in per), "counts": dict(self.counts),
                "uncalibrated": {k[1:]: n for k, n in self.counts.items() if k.startswith("?")},
                "padded_kinds": sorted(self.padded), "each": self.eaches, "reps": per,
                "tape": {"ops": self.tape.ops, "own": median(p["tape_own"] for p in per)} if self.tape
                else {"why": self.tape_why}}


def forward_split(fwd, args, reps: int = 5, each=None) -> dict:
    """Split(fwd, args, each=each) run reps times on its own: its result()."""
    s = Split(fwd, args, each=each)
    for _ in range(reps):
        s.rep()
    return s.result()


class IoTimer:
    """io: the time pipe.forward spends outside pipe.model.forward (numpy -> torch -> device and back). While
    entered, both forwards are shadowed by timing wrappers on the instances (pipe.embed reaches them through
    self); `inner` is the model's own forward, `args` its last arguments."""

    def __init__(self, pipe, batch):
        self.pipe, self.batch, self.model, self.stamps = pipe, batch, pipe.model, {}
        self.inner, self.outer = self.model.forward, pipe.forward
        self.io = self.fwd = 0.0

    def _model(self, *a, **kw):
        self.args = a
        self.stamps["enter"] = time.perf_counter()
        out = self.inner(*a, **kw)
        self.stamps["exit"] = time.perf_counter()
        return out

    def _pipe(self, batch):
        t0 = time.perf_counter()
        out = self.outer(batch)
        t1 = time.perf_counter()
        self.io += (self.stamps["enter"] - t0) + (t1 - self.stamps["exit"])
        self.fwd += t1 - t0
        return out

    def __enter__(self):
        self.own = {o: vars(o).get("forward") for o in (self.model, self.pipe)}
        self.model.forward, self.pipe.forward = self._model, self._pipe
        return self

    def __exit__(self, *exc):
        for o, f in self.own.items():   # back to the class's forward, or to the instance's own
            vars(o).pop("forward") if f is None else setattr(o, "forward", f)

    def once(self) -> tuple[float, float]:
        """One pipeline forward: (io, wall) seconds."""
        self.io = self.fwd = 0.0
        self.pipe.forward(self.batch)
        return self.io, self.fwd

    def embed_once(self, texts) -> tuple[float, float, float]:
        """One pipe.embed(texts): (io, forward, embed) seconds, the first two timed inside it."""
        self.io = self.fwd = 0.0
        t0 = time.perf_counter()
        self.pipe.embed(texts)
        return self.io, self.fwd, time.perf_counter() - t0


def io_split(pipe, batch, reps: int = 5) -> dict:
    """reps timed pipeline forwards after one untimed. -> {"io": s (median), "io_rounds": [s],
    "forward": s (median wall), "args": the model call's arguments}"""
    with IoTimer(pipe, batch) as t:
        t.once()
        runs = [t.once() for _ in range(reps)]
    return {"io": median(r[0] for r in runs), "io_rounds": [r[0] for r in runs],
            "forward": median(r[1] for r in runs), "args": t.args}
