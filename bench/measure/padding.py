"""Padding waste, measured (docs/DESIGN.md §7): what running the per-token layers on the real tokens
only (python_ref_packed's algorithm) can remove from a padded forward.

One forward under a TorchFunctionMode: every call of a per-token kind (PER_TOKEN) whose tensor
operands have the padded batch's N*T rows runs as it is, timed, then once more on the M real rows
of those operands (the rows the attention mask keeps, as packing does: the operands flattened to
(N*T, C), gathered and made contiguous before the clock starts), timed. waste = sum of (padded
time - real-rows time). Both run back to back on the same weights and in the same cache state,
so what the padding costs is measured, not assumed proportional: the first runs of bench all
found the proportional estimate (kernel time x padded fraction) short by a third at 32 medium
texts on two threads (larger activations run slower per row). Binding cost cancels.
Known limit: what the allocator does to the padded forward as a whole, a step rather than a
per-row cost, which each call's pair cannot see. At 32 medium texts here the profiler put the
padded forward's gelu at 38 ms against the packed one's 7 and its linears at 313 against 188;
with glibc's mmap threshold raised (its largest activations, 25 MB padded and 18 MB packed, kept
in the heap, not returned to the OS and faulted in again) 16 against 8 and 260 against 182, which
the probe's 82 ms of waste then matches (dev/NOTES-attribution.md, "What packing removes beyond
the rows").
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

    def __init__(self, padded_rows: int, real_rows: int, keep: torch.Tensor | None = None):
        super().__init__()
        self.padded, self.real, self.keep = padded_rows, real_rows, keep
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
        small = tuple(self._real(a) if (i == 0 or kind == "add") and isinstance(a, torch.Tensor) else a
                      for i, a in enumerate(args))
        t2 = time.perf_counter()
        func(*small, **kwargs)
        t3 = time.perf_counter()
        self.full[kind] += t1 - t0
        self.waste[kind] += (t1 - t0) - (t3 - t2)
        self.calls += 1
        return out

    def _real(self, a: torch.Tensor) -> torch.Tensor:
        flat = a.reshape(-1, a.shape[-1])
        return flat.index_select(0, self.keep) if self.keep is not None else flat[:self.real].contiguous()


def waste(fwd, args, padded_rows: int, real_rows: int, reps: int = 1) -> dict:
    """{"waste": s per forward (median over reps), "per_token": s of the padded per-token calls,
    "by_kind": {kind: s}, "calls": n} of fwd(*args); zeros when nothing runs padded. The real rows
    are those of the attention mask among args (a tensor of padded_rows entries after the ids);
    without one, the first real_rows rows."""
    if real_rows >= padded_rows:
        return {"waste": 0.0, "per_token": 0.0, "by_kind": {}, "calls": 0}
    mask = next((a for a in args[1:] if isinstance(a, torch.Tensor) and a.numel() == padded_rows), None)
    keep = mask.reshape(-1).nonzero().squeeze(1) if mask is not None else None
    if keep is not None and keep.numel() != real_rows:
        raise ValueError(f"padding.waste: the mask keeps {keep.numel()} rows, {real_rows} real tokens expected")
    runs = []
    for _ in range(reps):
        p = Probe(padded_rows, real_rows, keep)
        with p:
            fwd(*args)
        runs.append(p)
    runs.sort(key=lambda p: sum(p.waste.values()))
    mid = runs[len(runs) // 2]
    return {"waste": sum(mid.waste.values()), "per_token": sum(mid.full.values()), "by_kind": dict(mid.waste),
            "calls": mid.calls}
