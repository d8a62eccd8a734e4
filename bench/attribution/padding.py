"""Padding waste (docs/DESIGN.md §7 "attribution"): what running the per-token layers on the real tokens only
(python_ref_packed's algorithm) removes from a padded forward. waste: its wall - the wall on an unpadded batch
of its real tokens - attention's difference (packing keeps it padded); per_call: each padded call also on the real rows.
Leaves out: attention without scaled_dot_product_attention (not taken off: a looser bound), CUDA."""
from __future__ import annotations

import dataclasses
import time
from collections import Counter

import torch
from torch.overrides import TorchFunctionMode

from .overhead import CallRecorder, kind_of, rows_of

PER_TOKEN = ("linear", "gelu", "layer_norm", "add")   # kinds whose work grows with the rows they run on
LAYERS = "linear"   # a forward whose linears ran padded runs its layers padded: `waste` prices it


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
        if kind not in PER_TOKEN or rows_of(args[0] if args else None) != self.padded or \
                (kind == "add" and any(rows_of(a) != self.padded for a in tensors)):
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


def _keep(args, padded_rows: int, real_rows: int):
    """(the attention mask among args: a tensor of padded_rows entries after the ids, the flat indices
    of its real rows), (None, None) without one."""
    mask = next((a for a in args[1:] if isinstance(a, torch.Tensor) and a.numel() == padded_rows), None)
    keep = mask.reshape(-1).nonzero().squeeze(1) if mask is not None else None
    if keep is not None and keep.numel() != real_rows:
        raise ValueError(f"padding: the mask keeps {keep.numel()} rows, {real_rows} real tokens expected")
    return mask, keep


def per_call(fwd, args, padded_rows: int, real_rows: int, reps: int = 1) -> dict:
    """{"waste": s per forward (median over reps), "per_token": s, "by_kind": {kind: s}, "calls": n} of fwd(*args)'s
    padded per-token calls (zeros when none); the real rows are the mask's, without one the first real_rows."""
    if real_rows >= padded_rows:
        return {"waste": 0.0, "per_token": 0.0, "by_kind": {}, "calls": 0}
    _, keep = _keep(args, padded_rows, real_rows)
    runs = []
    for _ in range(reps):
        p = Probe(padded_rows, real_rows, keep)
        with p:
            fwd(*args)
        runs.append(p)
    mid = sorted(runs, key=lambda p: sum(p.waste.values()))[len(runs) // 2]
    return {"waste": sum(mid.waste.values()), "per_token": sum(mid.full.values()), "by_kind": dict(mid.waste),
            "calls": mid.calls}


def unpadded(args, padded_rows: int, real_rows: int) -> tuple:
    """args of the same forward on N rows of T' = real_rows // N real tokens, no padding: every
    (N, T, ...) tensor's real rows (by the mask) in order, the first N*T' of them; the mask all ones."""
    N, T = args[0].shape[:2]
    mask, keep = _keep(args, padded_rows, real_rows)
    if keep is None:
        raise ValueError("padding.unpadded: no attention mask among the forward's arguments")
    t = real_rows // N

    def cut(a):
        if not isinstance(a, torch.Tensor) or tuple(a.shape[:2]) != (N, T):
            return a
        if a is mask:
            return torch.ones((N, t), dtype=a.dtype)
        flat = a.reshape(N * T, *a.shape[2:]).index_select(0, keep)
        return flat[:N * t].reshape(N, t, *a.shape[2:]).contiguous()
    return tuple(cut(a) for a in args)


def attention(fwd, args, small) -> dict:
    """{"padded": s, "unpadded": s, "calls": n}: seconds inside fwd's scaled_dot_product_attention calls on args
    and on small."""
    att = {}
    for k, a in (("padded", args), ("unpadded", small)):
        rec = CallRecorder()
        with rec:
            fwd(*a)
        att[k] = sum(t for kind, t in zip(rec.calls, rec.t_in) if kind == "sdpa")
        att["calls"] = rec.calls.count("sdpa")
    return att


def waste(padded: float, unpadded: float, att: dict, pace: float = 1.0) -> float:
    """Seconds that running the layers on the real tokens removes: padded - unpadded walls (the same rounds) -
    attention's difference (attention(), timed elsewhere: `pace` puts it on the walls')."""
    return padded - unpadded - (att.get("padded", 0.0) - att.get("unpadded", 0.0)) * pace


def unpadded_batch(batch):
    """batch (contract.api.Batch) as `unpadded` makes it: its real tokens, N rows of M // N."""
    ids, mask = torch.from_numpy(batch.ids), torch.from_numpy(batch.attention_mask)
    a = unpadded((ids, mask), ids.numel(), int(mask.sum()))
    return dataclasses.replace(batch, ids=a[0].numpy(), attention_mask=a[1].numpy())


def _watchable(pipe) -> bool:
    """A Python torch forward on the CPU: what layers_padded can watch."""
    from python_ref.pipeline import TorchForward
    return isinstance(pipe, TorchForward) and pipe.device == "cpu"


def layers_padded(pipe, batch) -> bool:
    """Whether pipe's Python torch forward runs its LAYERS calls on batch's padded rows (one forward watched)."""
    if not _watchable(pipe) or bool(batch.attention_mask.all()):
        return False
    rec = CallRecorder()
    with rec:
        pipe.forward(batch)
    return any(k == LAYERS and rows == batch.ids.size for k, rows in zip(rec.calls, rec.rows))


def unpadded_parts(pipes: dict, texts) -> dict:
    """{(name, "unpadded"): fn} for the pipes whose forward runs its layers padded on texts: fn, the forward on
    unpadded_batch, joins their wall rounds (split.py takes the padding waste from those walls)."""
    out = {}
    for n, p in pipes.items():
        if not _watchable(p):   # no tokenizer call for a pipe that cannot qualify (Node, a binary)
            continue
        b = p.tokenize(texts)
        if layers_padded(p, b):
            out[(n, "unpadded")] = (lambda p=p, u=unpadded_batch(b): p.forward(u))
    return out
