"""Latency and throughput, the method of DESIGN §7: warm-up, A/B interleaving, rounds, medians,
threads pinned and equal. Ratios are paired: the median over rounds of per-round median ratios."""
from __future__ import annotations

import random
import time
from typing import Callable

import numpy as np


class InnerTime(float):
    """Seconds measured inside another runtime (e.g. in Node for wasm_port): a fn that returns one
    is scored by it instead of by the wall time around the call, so no pipe is ever timed."""


def interleaved(fns: dict[str, Callable[[], object]], rounds: int = 7, reps: int = 5,
                warmup: int = 2, budget_s: float | None = None) -> dict[str, list[list[float]]]:
    """Run every fn `reps` times per round, in a shuffled (seeded) order each round. -> name: [round][rep] s.
    With budget_s, reps shrink so one round of all fns takes about budget_s / rounds."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    if budget_s is not None:
        per_call = {}
        for n, f in fns.items():
            t0 = time.perf_counter()
            f()
            per_call[n] = time.perf_counter() - t0
        reps = max(1, min(reps, int(budget_s / rounds / max(sum(per_call.values()), 1e-6))))
    names = list(fns)
    out = {n: [] for n in names}
    rng = random.Random(0)  # a new order every round, the same across runs: nobody always follows
    for _ in range(rounds):  # the same neighbour (a runtime's spinning threads tax whoever is next)
        order = names[:]
        rng.shuffle(order)
        for n in order:
            f, samples = fns[n], []
            for _ in range(reps):
                t0 = time.perf_counter()
                r = f()
                dt = time.perf_counter() - t0
                samples.append(float(r) if isinstance(r, InnerTime) else dt)
            out[n].append(samples)
    return out


def summary(samples: list[list[float]]) -> dict[str, float]:
    flat = np.array([s for rnd in samples for s in rnd])
    return {"p50": float(np.median(flat)), "p90": float(np.percentile(flat, 90)),
            "p99": float(np.percentile(flat, 99)), "n": int(flat.size)}


def paired_ratio(a: list[list[float]], b: list[list[float]]) -> float:
    """How many times slower a is than b (>1: a slower), from per-round medians."""
    return float(np.median([np.median(x) / np.median(y) for x, y in zip(a, b)]))
