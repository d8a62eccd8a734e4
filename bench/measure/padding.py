"""Padding waste, measured (docs/DESIGN.md §7): what running the per-token layers on the real tokens
only (python_ref_packed's algorithm) can remove from a padded forward.

One forward under a TorchFunctionMode: every call of a per-token kind (PER_TOKEN) whose tensor
operands have the padded batch's N*T rows runs as it is, timed, then once more on the first M rows
of those operands (M real tokens; the operands flattened to (N*T, C), sliced and made contiguous
before the clock starts), timed. waste = sum of (padded time - real-rows time). Both run back to
back on the same weights and in the same cache state, so what the padding costs is measured, not
assumed proportional: the first runs of bench all found the proportional estimate (kernel time x
padded fraction) short by a third at 32 medium texts on two threads (larger activations run slower
per row). Binding cost is the same in both runs and cancels.
Leaves out: the embedding stage's broadcast add (a packed forward keeps it padded); attention (it
stays padded in the packed forward too). The embeddings' LayerNorm is counted although a packed
forward keeps it padded: an upper bound by that one call, and a packed forward shows it as its own
(small) waste.
"""
from __future__ import annotations

import time
from collections import Counter

import torch
from torch.overrides import TorchFunctionMode

from .overhead import kind_of

PER_TOKEN = ("linear", "gelu", "layer_norm", "add")   # kinds whose work grows with the rows they run on


def _rows(a) -> int:
    return a.numel() // a.shape[-1] if isinstance(a, torch.Tensor) and a.dim() >= 2 and a.shape[-1] else 0


class Probe(TorchFunctionMode):
    """Per-token calls on padded rows, timed as they are and on the real rows only."""

    def __init__(self, padded_rows: int, real_rows: int):
        super().__init__()
        self.padded, self.real = padded_rows, real_rows
        self.full, self.waste, self.calls = Counter(), Counter(), 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kind = kind_of(func, args)
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        # the activation is the first operand (linear's weight, layer_norm's affine stay); an add
        # must have every operand padded (the embeddings' broadcast add stays padded when packed too)
        if kind not in PER_TOKEN or _rows(args[0] if args else None) != self.padded or \
                (kind == "add" and any(_rows(a) != self.padded for a in tensors)):
            return func(*args, **kwargs)
        t0 = time.perf_counter()
        out = func(*args, **kwargs)
        t1 = time.perf_counter()
        small = tuple(a.reshape(-1, a.shape[-1])[:self.real].contiguous()
                      if (i == 0 or kind == "add") and isinstance(a, torch.Tensor) else a for i, a in enumerate(args))
        t2 = time.perf_counter()
        func(*small, **kwargs)
        t3 = time.perf_counter()
        self.full[kind] += t1 - t0
        self.waste[kind] += (t1 - t0) - (t3 - t2)
        self.calls += 1
        return out


def waste(fwd, args, padded_rows: int, real_rows: int, reps: int = 1) -> dict:
    """{"waste": s per forward (median over reps), "per_token": s of the padded per-token calls,
    "by_kind": {kind: s}, "calls": n} of fwd(*args); zeros when nothing runs padded."""
    if real_rows >= padded_rows:
        return {"waste": 0.0, "per_token": 0.0, "by_kind": {}, "calls": 0}
    runs = []
    for _ in range(reps):
        p = Probe(padded_rows, real_rows)
        with p:
            fwd(*args)
        runs.append(p)
    runs.sort(key=lambda p: sum(p.waste.values()))
    mid = runs[len(runs) // 2]
    return {"waste": sum(mid.waste.values()), "per_token": sum(mid.full.values()), "by_kind": dict(mid.waste),
            "calls": mid.calls}
