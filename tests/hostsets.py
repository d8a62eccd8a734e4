"""Result sets built at test time for `bench compare` and `bench merge`: the truth is planted (a
slowdown, a runtime that is fast on one host and slow on another), rounds are drawn from a seeded
RNG, and the files are written by the bench's own writer (bench/results.py). No figure here is a
measurement of anything; each test knows what the right answer is because it made the data.
"""
from __future__ import annotations

import numpy as np

from bench import results
from bench.machine import describe, host_id
from bench.results import Record

SCENARIOS = {"single": (1, 16), "batch": (32, 900), "long": (8, 2048)}   # batch size, real tokens


def machine(host: str, cpu: str, sha: str = "a" * 40, model_sha: str = "m" * 16, **over) -> dict:
    """This machine's real descriptor with the fields that name a host replaced."""
    m = describe(threads=2)
    m.update(host=host, host_label=None, cpu=cpu, commit={"sha": sha, "dirty": False}, model="(built)",
             model_sha256=model_sha, device="cpu", plan="default", **over)
    m["host_id"] = host_id(m)
    return m


def latency(rng, impl: str, sc: str, ms: float, rounds: int = 5, noise: float = 0.02, host: str = "h",
            with_rounds: bool = True, values: list[float] | None = None) -> list[Record]:
    """latency_p50 and throughput records of one (impl, scenario) with per-round medians around ms
    (or exactly `values`)."""
    bsz, tokens = SCENARIOS[sc]
    r = np.asarray(values, dtype=float) if values is not None else ms * np.exp(rng.normal(0.0, noise, rounds))
    rounds = len(r)
    p50 = float(np.median(r))
    ex = {"batch": bsz, "length": "short", "tokens": tokens, "n": rounds * 3, "rounds": rounds, "reps": 3}
    if with_rounds:
        ex["round_medians_ms"] = [float(x) for x in r]
    return [Record(impl, "latency_p50", sc, p50, "ms", host=host, extra=ex),
            Record(impl, "latency_p90", sc, p50 * 1.1, "ms", host=host, extra=ex),
            Record(impl, "throughput", sc, bsz / (p50 / 1e3), "texts/s", host=host, extra=ex),
            Record(impl, "throughput_tokens", sc, tokens / (p50 / 1e3), "tokens/s", host=host, extra=ex)]


def attribution(impl: str, sc: str, buckets_ms: dict, host: str = "h") -> list[Record]:
    wall = sum(buckets_ms.values())
    ex = {"method": "built", "embed_wall_ms": wall, "forward_wall_ms": wall - buckets_ms["tokenize"],
          "sum_error": 0.0}
    return [Record(impl, f"attribution_{k}", sc, v, "ms", host=host, extra=dict(ex)) for k, v in buckets_ms.items()]


def gains(recs: list[Record], sc: str) -> list[Record]:
    """port_gain records of scenario sc from the latency records' per-round medians, by the bench's
    own code (attribution/ceilings.gain_records), as `bench latency` writes them."""
    from bench.attribution.ceilings import gain_records
    walls = {r.impl: {"embed": r.extra["round_medians_ms"]} for r in recs
             if r.metric == "latency_p50" and r.scenario == sc and "round_medians_ms" in r.extra}
    return gain_records(walls, sc)


def write(path, mach: dict, recs: list[Record]):
    results.write(path / "results.json", mach, recs)
    return path
