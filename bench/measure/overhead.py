"""The overhead model (docs/DESIGN.md §7, issue 10): a Python torch forward split into what a C++ port can
remove and what it pays too, each part measured, none a residual of the forward wall.

  count        one forward under a TorchFunctionMode that records every Python -> torch call: its
               kind (KIND_OF), the time spent inside it (t_in: binding + dispatch + kernel) and
               a data-free stand-in of its result. Calls made by torch's own C++ (a composite op's nested aten ops) are not
               seen: C++ dispatches them in a port too.
  per-op cost  each kind timed on tiny tensors from Python (PY_CALLS), from LibTorch C++
               (cpp_port._core.op_cost, the same op on the same shapes) and under a replaying mode.
               binding_k = py_k - cpp_k is what calling that op from Python costs above C++:
               argument parsing, GIL release, wrapping the result. Timed with one intra-op
               thread: the per-call cost does not depend on it, while tiny kernels on two threads
               time OpenMP's fork-join instead.
  between ops  the same forward replayed: every torch call returns its recorded result at once, so
               the wall is the Python bytecode between calls (attribute loads, shape arithmetic,
               function calls, loops) plus the replaying mode's own per-call cost, which is
               calibrated per kind and taken off.
  buckets      python_overhead = sum_k n_k * binding_k + between_ops (removable by a C++ port: the
               report's framework_overhead); kernels = sum t_in - sum_k n_k * binding_k (dispatch +
               allocator + kernels, as C++ pays them: model_kernels). Each call's result rows are
               kept too (padded N*T or packed M), so split.py knows which calls ran on padding.
Known limit: calls and bytecode are priced as they run in a hot loop, while in a forward each
stretch of Python follows a kernel that streamed megabytes: python_overhead is a lower bound (by up
to ~2x at one short text here; dev/NOTES-attribution.md; the cross-checks show the gap).
Leaves out: CUDA (cuda_overhead.py), graph-compiled forwards (no Python between ops to count).
"""
from __future__ import annotations

import random
import time
from collections import Counter
from contextlib import contextmanager
from statistics import median
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

# Python-level torch function name -> calibration kind (the same names op_cost knows in C++).
KIND_OF = {
    "linear": "linear", "layer_norm": "layer_norm", "scaled_dot_product_attention": "sdpa", "gelu": "gelu",
    "add": "add", "__add__": "add", "__radd__": "add", "__iadd__": "add", "mul": "mul", "__mul__": "mul",
    "__rmul__": "mul", "sub": "rsub", "__sub__": "rsub", "__rsub__": "rsub", "rsub": "rsub", "div": "div",
    "__truediv__": "div", "__div__": "div", "sum": "sum", "clamp": "clamp", "clamp_min": "clamp", "view": "view",
    "reshape": "reshape", "permute": "permute", "transpose": "transpose", "unsqueeze": "unsqueeze",
    "squeeze": "squeeze", "unbind": "unbind", "to": "to", "normalize": "normalize", "nonzero": "nonzero",
    "index_select": "index_select", "index_copy_": "index_copy", "index_copy": "index_copy", "zeros": "zeros",
    "new_zeros": "zeros", "__get__": "attr", "dim": "attr", "size": "attr", "numel": "attr",
}
FALLBACK = "add"   # uncalibrated names are priced as a simple pointwise op, and listed
# The Python twin of op_cost's C++ calls (cpp_port/bindings.cpp), on the same tiny shapes, as the
# statement a forward would write with its operands in locals: the bytecode around a call (attribute
# loads, arithmetic) is not the call's cost, the replay books it between ops.
PY_CALLS = {
    "none": "x", "attr": "x.shape", "linear": "F.linear(x, w, b)", "layer_norm": "F.layer_norm(x, (d,), b, b, 1e-12)",
    "sdpa": "F.scaled_dot_product_attention(q, q, q, attn_mask=bias, scale=0.5)", "gelu": "F.gelu(x)",
    "add": "x + x", "mul": "x * x", "rsub": "1.0 - x", "div": "x / x", "sum": "x.sum(1)", "clamp": "x.clamp(min=1e-9)",
    "view": "x.view(2, d)", "reshape": "x.reshape(2, d)", "permute": "x.permute(2, 0, 1)", "transpose": "x.transpose(1, 2)",
    "unsqueeze": "x.unsqueeze(-1)", "squeeze": "x.squeeze(0)", "unbind": "x.unbind(0)", "to": "mask.to(torch.float32)",
    "index": "w[ids]", "getitem": "x[:, None]", "normalize": "F.normalize(x2, p=2, dim=1)",
    "nonzero": "keep.nonzero()", "index_select": "x2.index_select(0, keep)",
    "index_copy": "x2.index_copy_(0, keep, src2)", "zeros": "torch.zeros((2, d), dtype=torch.float32)",
}
UNROLL = 20


def _compiled(stmt: str):
    """run(t, n): the statement n times (unrolled UNROLL to a loop turn), operands in locals."""
    body = "".join(f"        {stmt}\n" for _ in range(UNROLL))
    src = (f"def run(t, n):\n    x, x2, src2, w, b, q, bias, ids, mask, keep, d = (t.x, t.x2, t.src2, t.w, t.b, t.q, "
           f"t.bias, t.ids, t.mask, t.keep, t.d)\n    for _ in range(n // {UNROLL}):\n{body}")
    ns = {"F": F, "torch": torch}
    exec(compile(src, f"<overhead:{stmt}>", "exec"), ns)   # generated, so each call site is a real statement
    return ns["run"]


def tiny(d: int = 12) -> SimpleNamespace:
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return SimpleNamespace(d=d, x=r(1, 2, d), x2=r(2, d), src2=r(2, d), w=r(d, d), b=r(d), q=r(1, 3, 2, d // 3),
                           bias=torch.zeros(1, 1, 1, 2), ids=torch.arange(2).view(1, 2),
                           mask=torch.ones(1, 2, dtype=torch.long), keep=torch.arange(2))


def kind_of(func, args) -> str:
    name = getattr(func, "__name__", str(func))
    if name == "__getitem__":   # a tensor index gathers (aten::index); anything else is slicing/views
        idx = args[1] if len(args) > 1 else None
        return "index" if any(isinstance(i, torch.Tensor) for i in (idx if isinstance(idx, tuple) else (idx,))) \
            else "getitem"
    return KIND_OF.get(name, "?" + name)


def _core():
    """The module whose op_cost(kind, n, d) times one op from C++ (the registry's `op_cost` fact)."""
    import importlib

    from .. import registry
    name = registry.op_cost_module()
    if not name:
        raise ImportError("no registered implementation exposes op_cost")
    return importlib.import_module(name)


def cpp_missing() -> str | None:
    try:
        core = _core()
    except ImportError as e:
        return f"the C++ per-op cost needs a native module with op_cost ({e})"
    return None if hasattr(core, "op_cost") else f"{core.__name__} has no op_cost (rebuild it)"


@contextmanager
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


class Replay(TorchFunctionMode):
    """Every torch call returns the next recorded (name, result) at once, cycling (calibration
    replays one entry forever; the same code path prices both)."""

    def __init__(self, results):
        super().__init__()
        self.results, self.i, self.n = results, 0, len(results)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name, out = self.results[self.i]
        if name != getattr(func, "__name__", None):
            raise RuntimeError(f"replay diverged at call {self.i}: {name} recorded, {func} called")
        self.i = (self.i + 1) % self.n
        return out


class Record(TorchFunctionMode):
    """Runs every torch call, timing it (t_in) and keeping its kind (and, with keep, its result)."""

    def __init__(self, keep: bool = False):
        super().__init__()
        self.calls, self.results, self.t_in, self.rows, self.keep = [], [], [], [], keep

    def __torch_function__(self, func, types, args=(), kwargs=None):
        t0 = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        dt = time.perf_counter() - t0
        self.t_in.append(dt)
        self.calls.append(kind_of(func, args))
        self.rows.append(out.numel() // out.shape[-1] if isinstance(out, torch.Tensor) and out.dim() >= 2
                         and out.shape[-1] else 0)   # rows of its result: padded (N*T) or packed (M)
        if self.keep:
            self.results.append((getattr(func, "__name__", None), _light(out)))
        return out


def _light(out):
    """A stand-in for a recorded result that holds no data (a meta tensor of the same shape):
    keeping a batch's real activations alive would turn every later allocation into page faults
    and inflate the very kernels this pass times. Replayed code only reaches results through torch
    calls (shape, dtype, unbind, ...), which the replay answers from the record."""
    if isinstance(out, torch.Tensor):
        return torch.empty_like(out, device="meta")
    if isinstance(out, (tuple, list)) and any(isinstance(o, torch.Tensor) for o in out):
        return type(out)(_light(o) for o in out)
    return out


def _timed(run, t, n: int) -> float:
    t0 = time.perf_counter()
    run(t, n)
    return time.perf_counter() - t0


def calibrate_ops(kinds, rounds: int = 3, n: int = 400, d: int = 12, tries: int = 3) -> dict:
    """Per-kind ns per call, one value per round: {"py": {k: [..]}, "cpp": {..}, "mode": {..}}, each
    net of an empty statement ("none"). Python, C++ and the replaying mode are interleaved kind by
    kind, in a seeded order per round; each value is the best of `tries` short loops (a preempted
    loop says nothing about the op)."""
    core = _core()
    kinds = sorted(set(kinds) | {FALLBACK})
    t, rng = tiny(d), random.Random(0)
    out = {"py": {k: [] for k in kinds}, "cpp": {k: [] for k in kinds}, "mode": {k: [] for k in kinds},
           "n": n, "d": d, "rounds": rounds}
    runs = {k: _compiled(PY_CALLS[k]) for k in (*kinds, "none")}
    best = lambda k: min(_timed(runs[k], t, n) for _ in range(tries))  # noqa: E731
    with one_thread(), torch.inference_mode():
        names = {}
        for k in kinds:
            rec = Record(keep=True)
            with rec:
                runs[k](t, UNROLL)
            if len(rec.results) != (UNROLL if k != "none" else 0):
                raise RuntimeError(f"calibration statement for {k!r} must make exactly one torch call")
            names[k] = [(name, t.x) for name, _ in rec.results[:1]] or [(None, t.x)]
        for _ in range(rounds):
            order = kinds[:]
            rng.shuffle(order)
            for k in order:
                runs[k](t, n)   # warm
                base = best("none")
                out["py"][k].append((best(k) - base) / n * 1e9)
                out["cpp"][k].append(min(core.op_cost(k, n, d) for _ in range(tries)) - core.op_cost("none", n, d))
                with Replay(names[k]):
                    out["mode"][k].append((best(k) - base) / n * 1e9)
    return out


def calib_round(calib: dict, r: int) -> dict:
    """{"binding": {k: s}, "mode": {k: s}} of round r (cycled), in seconds per call."""
    i = r % calib["rounds"]
    return {"binding": {k: max(0.0, calib["py"][k][i] - calib["cpp"][k][i]) / 1e9 for k in calib["py"]},
            "mode": {k: max(0.0, calib["mode"][k][i]) / 1e9 for k in calib["mode"]}}


def kinds_in(fwd, args) -> list[str]:
    """The kinds of torch calls one fwd(*args) makes (to calibrate only those)."""
    rec = Record()
    with rec:
        fwd(*args)
    return sorted({k for k in rec.calls if not k.startswith("?")})


def forward_split(fwd, args, cal: dict, reps: int = 3, replay_reps: int = 9,
                  padded_rows: int | None = None) -> dict:
    """One round of the split of fwd(*args) (warm): seconds per forward, medians over reps recorded
    forwards and replay_reps replays (cheap: nothing computes). cal: calib_round().
    -> {"binding", "between_ops", "in_torch", "kernels", "python_overhead", "counts": {kind: n},
        "uncalibrated": {name: n}, "kernels_by_kind": {kind: s}, "padded_kernels_by_kind": {kind: s}
        (the calls whose result has padded_rows rows: the padded batch's N*T)}"""
    recs, replays = [], []
    for i in range(reps):
        rec = Record(keep=(i == reps - 1))   # the last pass keeps (light) results for the replay
        with rec:
            fwd(*args)
        recs.append(rec)
    rec = recs[-1]
    for _ in range(max(reps, replay_reps)):
        with Replay(rec.results):
            t0 = time.perf_counter()
            fwd(*args)
            replays.append(time.perf_counter() - t0)
    rec.results = []
    counts = Counter(rec.calls)
    price = lambda table, k: table.get(k, table[FALLBACK])  # noqa: E731
    binding = sum(n * price(cal["binding"], k) for k, n in counts.items())
    mode = sum(n * price(cal["mode"], k) for k, n in counts.items())
    in_torch = median(sum(r.t_in) for r in recs)
    between = median(replays) - mode
    per, per_pad = [], []
    for r in recs:
        by, pad = Counter(), Counter()
        for k, dt, rows in zip(r.calls, r.t_in, r.rows):
            by[k] += dt - price(cal["binding"], k)
            if padded_rows and rows == padded_rows:
                pad[k] += dt - price(cal["binding"], k)
        per.append(by)
        per_pad.append(pad)
    by_kind = {k: median(b[k] for b in per) for k in counts}
    pad_kind = {k: median(b[k] for b in per_pad) for k in counts}
    return {"binding": binding, "between_ops": between, "in_torch": in_torch, "kernels": in_torch - binding,
            "python_overhead": binding + between, "replay_wall": median(replays), "mode_cost": mode,
            "counts": dict(counts), "uncalibrated": {k[1:]: n for k, n in counts.items() if k.startswith("?")},
            "kernels_by_kind": by_kind, "padded_kernels_by_kind": pad_kind}


def io_split(pipe, batch, reps: int = 5) -> dict:
    """io of pipe.forward(batch): the time it spends outside pipe.model.forward (numpy -> torch ->
    device and back), timed around the model call inside real forwards. Also captures the model
    call's arguments. -> {"io": s (median), "io_rounds": [s], "forward": s, "args": (ids, mask)}"""
    model, stamps = pipe.model, {}
    inner = model.forward

    def timed(*a, **kw):
        stamps["args"] = a
        stamps["enter"] = time.perf_counter()
        out = inner(*a, **kw)
        stamps["exit"] = time.perf_counter()
        return out
    ios, walls = [], []
    own = vars(model).get("forward")
    model.forward = timed   # an instance attribute shadows the class's method for these calls only
    try:
        for _ in range(reps + 1):
            t0 = time.perf_counter()
            pipe.forward(batch)
            t1 = time.perf_counter()
            ios.append((stamps["enter"] - t0) + (t1 - stamps["exit"]))
            walls.append(t1 - t0)
    finally:
        if own is None:
            del model.forward
        else:
            model.forward = own
    return {"io": median(ios[1:]), "io_rounds": ios[1:], "forward": median(walls[1:]), "args": stamps["args"]}
