"""Fidelity (docs/DESIGN.md §1, §7): how close each forward's vectors are to upstream fp32's (oracle.st_embed,
the same model directory), in numbers a user can read (an fp32 port shows its ~1e-7, an int8 row its cost):
  fidelity_max_abs   the largest |Δ| of any component
  fidelity_cos_mean  the mean cosine of a text's vector to upstream's; fidelity_cos_min the least
  fidelity_topk      retrieval agreement: per text, the share of its k nearest neighbours (cosine, itself
                     excluded) among upstream's k nearest (`topk_overlap`); the mean, the worst in extra
The run records whether each row is within the fidelity budget (extra.within_budget on fidelity_topk);
the int8 rows (registry.LOSSY) are judged by it, the fp32 rows by equivalence/check.py.
Leaves out: task-level retrieval scores (no relevance labels)."""
from __future__ import annotations

import numpy as np

from . import oracle
from .. import console, registry
from ..results import Record
from ..tolerances import fidelity_budget

METRICS = ("fidelity_max_abs", "fidelity_cos_mean", "fidelity_cos_min", "fidelity_topk")
# within TIE of upstream's k-th cosine is a tie with it: fp32's ~1e-7 may order near-ties either way
TIE = 1e-6


def sample(texts: list[str], n: int) -> list[str]:
    """An even sample of n texts (every script and edge case of the corpus keeps its share); n 0: all."""
    if not n or n >= len(texts):
        return list(texts)
    step = len(texts) / n
    return [texts[int(i * step)] for i in range(n)]


def embed(pipe, texts: list[str], mdir) -> np.ndarray:
    """pipe's vectors of texts, in batches of 32 of similar upstream token length, returned in text order."""
    lens = [len(ids) for ids in oracle.hf_ids(mdir, texts)]
    order = sorted(range(len(texts)), key=lambda i: lens[i])
    parts = [pipe.embed([texts[i] for i in order[s:s + 32]]) for s in range(0, len(order), 32)]
    out = np.empty((len(texts), parts[0].shape[1] if parts else 0), np.float32)
    if parts:
        out[order] = np.concatenate(parts)
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def topk_overlap(vecs: np.ndarray, ref: np.ndarray, k: int = 10) -> np.ndarray:
    """Per text, the share of its k nearest neighbours by vecs (cosine, itself excluded) that are among its
    k nearest by ref, ties within TIE of ref's k-th counting as in; k capped at len - 1. -> (N,) in [0, 1]."""
    a, b = _unit(vecs), _unit(ref)
    n = len(a)
    k = min(k, n - 1)
    if k < 1:
        return np.ones(n)
    out = np.empty(n)
    for s in range(0, n, 1024):   # 1024 rows of cosines at a time
        rows = np.arange(s, min(n, s + 1024))
        sa, sb = a[rows] @ a.T, b[rows] @ b.T                       # (rows, N) cosines
        sa[np.arange(len(rows)), rows] = -np.inf                    # itself excluded
        sb[np.arange(len(rows)), rows] = -np.inf
        mine = np.argsort(-sa, axis=1, kind="stable")[:, :k]        # its k nearest by vecs
        kth = -np.partition(-sb, k - 1, axis=1)[:, k - 1]           # upstream's k-th largest cosine
        out[rows] = (np.take_along_axis(sb, mine, 1) >= kth[:, None] - TIE).sum(1) / k
    return out


def fidelity_of(vecs: np.ndarray, ref: np.ndarray, k: int = 10) -> dict:
    """The fidelity of vecs to ref (rows: the same texts): max_abs, cos_mean, cos_min, topk_mean,
    topk_worst (k: the one used, capped at texts - 1), texts."""
    vecs, ref = np.asarray(vecs, np.float64), np.asarray(ref, np.float64)
    if vecs.shape != ref.shape:
        raise ValueError(f"vectors of shape {vecs.shape}, upstream's {ref.shape}")
    cos = (_unit(vecs) * _unit(ref)).sum(1)
    ov = topk_overlap(vecs, ref, k)
    n = len(vecs)
    return {"max_abs": float(np.abs(vecs - ref).max()) if n else 0.0, "cos_mean": float(cos.mean()) if n else 1.0,
            "cos_min": float(cos.min()) if n else 1.0, "topk_mean": float(ov.mean()) if n else 1.0,
            "topk_worst": float(ov.min()) if n else 1.0, "k": max(1, min(k, n - 1)), "texts": n}


def _exact(impl: str) -> bool:   # an unregistered name: held to the fp32 contract
    return getattr(registry.BY_NAME.get(impl), "exact", True)


def within_budget(f: dict, budget: dict) -> tuple[bool, str]:
    """(within the budget?, its numbers against the floors it misses, "" when within)."""
    miss = []
    if not f["topk_mean"] >= budget["topk_mean"]:   # (NaN misses)
        miss.append(f"top-{f['k']} agreement {f['topk_mean']:.3f} < {budget['topk_mean']:g}")
    if not f["cos_min"] >= budget["cos_min"]:
        miss.append(f"min cosine {f['cos_min']:.4f} < {budget['cos_min']:g}")
    return not miss, "; ".join(miss)


def fidelity_records(impl: str, f: dict, budget: dict, device: str = "cpu", extra: dict | None = None) -> list[Record]:
    """The four fidelity records of impl (METRICS); the verdict on the budget on fidelity_topk's extra."""
    values = [f["max_abs"], f["cos_mean"], f["cos_min"], f["topk_mean"]]
    if not all(np.isfinite(values)):
        return []   # a forward that gave NaN: the equivalence part says so; no figure to record
    ok, misses = within_budget(f, budget)
    ex = {"vs": registry.EMBED_PEER, "texts": f["texts"], "exact": _exact(impl), **(extra or {})}
    recs = [Record(impl, m, "fidelity", v, unit, device, extra=dict(ex))
            for m, v, unit in zip(METRICS, values, ("", "cos", "cos", "overlap"))]
    recs[-1].extra.update(worst=f["topk_worst"], k=f["k"], within_budget=ok, misses=misses,
                          budget={"topk_mean": budget["topk_mean"], "cos_min": budget["cos_min"]})
    return recs


def measure(pipes: dict, texts: list[str], mdir, budget: dict, ref: np.ndarray, progress=None) -> tuple[dict, dict]:
    """({impl: fidelity_of() dict}, {impl: error line}) for every pipe; ref: upstream's vectors of texts."""
    got, errors = {}, {}
    for name, pipe in pipes.items():
        if progress:
            progress(name)
        try:
            got[name] = fidelity_of(embed(pipe, texts, mdir), ref, budget["k"])
        except Exception as e:   # one broken forward must not hide the others' figures
            errors[name] = f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    return got, errors


COLS = ["impl", "texts", "max |Δ|", "mean cos", "min cos", "top-k agreement (worst)", "held to", "within budget"]


def print_fidelity(title: str, got: dict, budget: dict, more_rows: list | None = None, width: int = 160) -> None:
    """The fidelity table (COLS) of got, judged by budget; the title ends with the budget."""
    rows = []
    for n, f in got.items():
        ok, misses = within_budget(f, budget)
        rows.append([n, f["texts"], f"{f['max_abs']:.1e}", f"{f['cos_mean']:.5f}", f"{f['cos_min']:.5f}",
                     f"{f['topk_mean']:.4f} ({f['topk_worst']:.2f})",
                     "fp32 contract" if _exact(n) else "fidelity budget", "yes" if ok else f"no: {misses}"])
    line = (f"fidelity budget: mean top-{budget['k']} neighbour agreement ≥ {budget['topk_mean']:g} and min cosine ≥ "
            f"{budget['cos_min']:g} against upstream fp32 (tolerances.FIDELITY; bench all --fidelity TOPK COS)")
    console.table(f"{title}; {line}", COLS, rows + (more_rows or []), width=width)


def apart(names: list[str], texts: list[str], mdir, device: str, ref: np.ndarray) -> bool:
    """`bench equivalence` for the LOSSY rows: their fidelity table against ref (upstream's vectors of texts),
    judged by the default budget. -> all loaded and within it."""
    budget = fidelity_budget()
    pipes, errors = {}, {}
    for n in names:
        try:
            pipes[n] = registry.load_impl(n, mdir, device=device)
        except Exception as e:
            errors[n] = f"{type(e).__name__}: {e}"
    try:
        got, failed = measure(pipes, texts, mdir, budget, ref)
    finally:
        for p in pipes.values():
            getattr(p, "close", lambda: None)()
    errors.update(failed)
    failed_rows = [[n, len(texts), "-", "-", "-", "-", "fidelity budget", f"NO {e}"] for n, e in errors.items()]
    print_fidelity(f"not the fp32 contract: {', '.join(names)} against upstream fp32 on {len(texts)} texts", got,
                   budget, failed_rows)
    return not errors and all(within_budget(f, budget)[0] for f in got.values())
