"""The tape (docs/DESIGN.md §7 "attribution"): one Python torch forward's own ATen ops, recorded at the dispatcher
(a TorchDispatchMode) and replayed from LibTorch C++ (cpp_port/tape.cpp) on the same tensors, no Python between
them, each intermediate released after its last use: the forward as a C++ port issues it.
Refused in one line (Unsupported): CUDA tensors, an op writing to an input, an argument of another type.
Leaves out: autograd, graph-compiled forwards."""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class Unsupported(ValueError):
    """A forward the tape cannot replay (one line: why)."""


class _Record(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.ops.append((func, args, kwargs or {}, out))
        return out


def record(fwd, args) -> tuple[list, object]:
    """fwd(*args) under the recording mode -> ([(op, args, kwargs, result)], its result)."""
    rec = _Record()
    with rec:
        out = fwd(*args)
    return rec.ops, out


class _Slots:
    """Slot numbers for tensors by identity; inputs: tensors first met as arguments. Ids stay unique while the
    tape is built: the recorded ops hold every tensor they saw, `inputs` the scalars _encode makes."""

    def __init__(self):
        self.of, self.inputs, self.made = {}, [], set()

    def arg(self, t: torch.Tensor) -> int:
        if id(t) not in self.of:
            if t.device.type != "cpu":
                raise Unsupported(f"tape: a {t.device.type} tensor (CPU only; CUDA has its graph replay)")
            self.of[id(t)] = len(self.of)
            self.inputs.append((self.of[id(t)], t))
        return self.of[id(t)]

    def out(self, t: torch.Tensor) -> int:
        s = self.of.setdefault(id(t), len(self.of))
        self.made.add(s)
        return s


def _encode(v, typ: str, slots: _Slots, name: str):
    """One argument, tagged for tape.cpp."""
    if isinstance(v, torch.Tensor):
        return ("T", slots.arg(v))
    if typ.startswith("Tensor") and isinstance(v, (bool, int, float)):   # a number where a tensor goes
        t = torch.scalar_tensor(v, dtype=torch.bool if isinstance(v, bool) else
                                torch.int64 if isinstance(v, int) else torch.float64)
        return ("T", slots.arg(t))
    if isinstance(v, (list, tuple)) and any(isinstance(x, torch.Tensor) for x in v):
        if any(x is not None and not isinstance(x, torch.Tensor) for x in v):
            raise Unsupported(f"tape: {name} takes a list mixing tensors and numbers")
        return ("O" if "?" in typ else "L", [-1 if x is None else slots.arg(x) for x in v])
    if v is None:
        return ("N", None)
    for cls, tag in ((bool, "b"), (int, "i"), (float, "f"), (str, "s")):   # bool before int: a bool is an int
        if isinstance(v, cls):
            return (tag, v)
    if isinstance(v, (list, tuple)) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return ("I", list(v))
    for cls, tag in ((torch.dtype, "dtype"), (torch.device, "device"), (torch.layout, "layout"),
                     (torch.memory_format, "memory_format")):
        if isinstance(v, cls):
            return (tag, str(v).removeprefix("torch."))
    raise Unsupported(f"tape: {name} takes a {type(v).__name__} ({typ}), which the tape does not replay")


def build(ops: list, final, writes_ok: bool = False) -> tuple[list, list, int, list[int], list]:
    """(steps, inputs, nslots, final slots, the input tensors: to keep alive while the tape is) for cpp_port._core.Tape;
    writes_ok: an op may write to an input (a calibration's scratch tensors, never a forward's weights)."""
    slots, steps, last = _Slots(), [], {}
    for i, (func, args, kwargs, out) in enumerate(ops):
        schema, name = func._schema, str(func)
        enc = []
        for j, a in enumerate(schema.arguments):
            v = args[j] if j < len(args) else kwargs[a.name] if a.name in kwargs else \
                a.default_value if a.has_default_value() else None
            enc.append(_encode(v, str(a.type), slots, name))
            if a.alias_info is not None and a.alias_info.is_write and enc[-1][0] == "T" \
                    and enc[-1][1] not in slots.made and not writes_ok:
                raise Unsupported(f"tape: {name} writes to a tensor the forward did not make")
        outs = [slots.out(x) for x in tree_flatten(out)[0] if isinstance(x, torch.Tensor)]
        for tag, v in enc:
            for s in ([v] if tag == "T" else v if tag in ("L", "O") else ()):
                last[s] = i
        for s in outs:
            last[s] = max(last.get(s, i), i)
        steps.append([schema.name, schema.overload_name, enc, outs, []])
    finals = [slots.of[id(x)] for x in tree_flatten(final)[0] if isinstance(x, torch.Tensor) and id(x) in slots.of]
    inputs = {s for s, _ in slots.inputs}
    for s, i in last.items():
        if s not in inputs and s not in finals:
            steps[i][4].append(s)
    ins = [(s, t.data_ptr(), list(t.shape), list(t.stride()), str(t.dtype).removeprefix("torch."))
           for s, t in slots.inputs]
    return [tuple(st) for st in steps], ins, len(slots.of), finals, [t for _, t in slots.inputs]


class Tape:
    """fwd(*args) recorded once; run() replays it from C++ -> seconds. `finals`: the slots of the
    forward's result (output(i) reads the i-th after a run). Raises Unsupported (one line)."""

    def __init__(self, fwd, args, writes_ok: bool = False):
        from .ops import _core
        core = _core()
        if not hasattr(core, "Tape"):
            raise Unsupported(f"tape: {core.__name__} has no Tape (rebuild it)")
        ops, out = record(fwd, args)
        steps, ins, n, self.finals, self._keep = build(ops, out, writes_ok)
        del ops
        self.ops = len(steps)
        try:
            self.core = core.Tape(steps, ins, n)
        except ValueError as e:
            raise Unsupported(str(e).splitlines()[0]) from None
        self.run = self.core.run

    def output(self, i: int = 0):
        return self.core.output(self.finals[i])


def tape_or_why(fwd, args, writes_ok: bool = False) -> tuple[Tape | None, str | None]:
    try:
        return Tape(fwd, args, writes_ok=writes_ok), None
    except (Unsupported, ImportError) as e:
        return None, str(e)
