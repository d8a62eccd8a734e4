"""The timing method of docs/DESIGN.md §7 in one place: warm-up, seeded shuffled A/B interleaving, an
untimed lead-in before each implementation's turn, rounds, medians, paired ratios (the median of the
per-round ratios); every timed record keeps its rounds (`timing_extra`). Leaves out: the intervals (stats.py)."""
from __future__ import annotations

import random
import time
from typing import Callable

import numpy as np


class InnerTime(float):
    """Seconds measured inside another runtime (wasm_port's Node): a fn returning one is scored by it."""


def sync(device: str) -> None:
    """Wait for the device's queued work (CUDA kernels are asynchronous); a no-op on the CPU."""
    if str(device).startswith("cuda"):
        import torch
        torch.cuda.synchronize()


def interleaved(fns: dict[str, Callable[[], object]], rounds: int = 7, reps: int = 5, warmup: int = 2,
                lead: dict[str, int] | None = None, on_round=None, go_on=None) -> dict[str, list[list[float]]]:
    """Run every fn `reps` times a round, in a seeded shuffled order (keys (impl, call): each implementation's
    calls together). -> name: [round][rep] s.
    lead: {name: n} untimed calls of that fn before its implementation's timed calls in every round.
    on_round(done, rounds) after each round; go_on(done, mean_round_s) before each round after the first:
    False stops there (the rounds done are kept, all fns alike)."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    out = {n: [] for n in fns}
    # one implementation's keys run back to back: its embed and forward walls of a round are seconds apart,
    # not a round (dev/NOTES-attribution.md, "Stability")
    members: dict = {}
    for n in fns:
        members.setdefault(n[0] if isinstance(n, tuple) else n, []).append(n)
    groups = list(members)
    rng = random.Random(0)  # a new order every round, the same across runs: nobody always follows
    t_start = time.perf_counter()
    for done in range(rounds):  # the same neighbour (a runtime's spinning threads tax whoever is next)
        if done and go_on is not None and not go_on(done, (time.perf_counter() - t_start) / done):
            break
        order = groups[:]
        rng.shuffle(order)
        for n in (k for g in order for k in members[g]):
            f, samples = fns[n], []
            for _ in range((lead or {}).get(n, 0)):
                f()
            for _ in range(reps):
                t0 = time.perf_counter()
                r = f()
                dt = time.perf_counter() - t0
                samples.append(float(r) if isinstance(r, InnerTime) else dt)
            out[n].append(samples)
        if on_round is not None:
            on_round(done + 1, rounds)
    return out


# A call right after another implementation's is slower for a few tens of ms, so a block's median would
# depend on how many reps it got: LEAD_S of untimed calls first (dev/NOTES-attribution.md, "Lead-in").
LEAD_S = 0.05


def lead_calls(cost_s: float) -> int:
    """Untimed calls filling LEAD_S before a block of calls of cost_s each; none where a call is longer."""
    return int(LEAD_S // cost_s) if 0 < cost_s < LEAD_S else 0


def summary(samples: list[list[float]]) -> dict[str, float]:
    flat = np.array([s for rnd in samples for s in rnd])
    return {"p50": float(np.median(flat)), "p90": float(np.percentile(flat, 90)),
            "p99": float(np.percentile(flat, 99)), "n": int(flat.size)}


def round_ratios(a: list[list[float]], b: list[list[float]]) -> list[float]:
    """Per round: how many times slower a is than b (>1: a slower), in round order."""
    return [float(np.median(x) / np.median(y)) for x, y in zip(a, b)]


def paired_ratio(a: list[list[float]], b: list[list[float]]) -> float:
    """How many times slower a is than b (>1: a slower): the median of the per-round ratios."""
    return float(np.median(round_ratios(a, b)))


def timing_extra(samples: list[list[float]], peers: dict[str, list[list[float]]] | None = None,
                 invert: bool = False) -> dict:
    """What every timed record carries: round_medians_ms and, per peer, `ratio_vs_<peer>` (invert:
    `speedup_vs_<peer>` = 1 / ratio) and the per-round ratios it is the median of (`round_ratios_vs_<peer>`)."""
    ex = {"round_medians_ms": [float(np.median(r)) * 1e3 for r in samples]}
    for peer, other in (peers or {}).items():
        rr = round_ratios(samples, other)
        ratio = float(np.median(rr))
        ex[f"speedup_vs_{peer}" if invert else f"ratio_vs_{peer}"] = 1.0 / ratio if invert else ratio
        ex[f"round_ratios_vs_{peer}"] = rr
    return ex
