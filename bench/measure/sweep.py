"""Scenario points under a time budget (DESIGN §7 latency/throughput + the sweep), and the
length-sorted batching row.

`measure_point` runs embed, tokenize and forward of every implementation on the same texts, all
interleaved (latency.interleaved), after one warm-up embed per implementation whose time also
calibrates how many rounds and reps fit in `budget_s`. Repeats come from the budget, never from
hope: min_rounds is a floor (the method needs several rounds for a median), the budget the rest.
Leaves out: concurrency (one request at a time), GPU streams.
"""
from __future__ import annotations

import time
from statistics import median

import numpy as np

from ..results import Record
from .latency import interleaved, paired_ratio, summary


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        import torch
        torch.cuda.synchronize()


def measure_point(pipes: dict, texts: list[str], budget_s: float, device: str = "cpu",
                  parts=("embed", "tokenize", "forward"), min_rounds: int = 2, max_rounds: int = 9,
                  max_reps: int = 20, forward_ok=lambda name: True, cap_s: float | None = None,
                  on_error=None) -> dict:
    """-> {"samples": {(impl, part): [round][rep] seconds}, "plan": {"rounds", "reps", "warm_s", "first_s"}}.

    cap_s: a hard ceiling on the measured rounds (the run's deadline share): it overrides min_rounds,
    down to one round. on_error(name, exc): an implementation whose warm-up raises is left out and
    reported there (re-raised when on_error is None)."""
    fns, cost, first = {}, {}, {}
    t_warm = time.perf_counter()
    for name, p in pipes.items():
        t0 = time.perf_counter()
        try:
            p.embed(texts)                       # warm-up and calibration in one
            _sync(device)
            emb = first[name] = time.perf_counter() - t0
            t0 = time.perf_counter()
            batch = p.tokenize(texts) if ("tokenize" in parts or "forward" in parts) else None
            tok = time.perf_counter() - t0
        except Exception as e:
            if on_error is None:
                raise
            on_error(name, e)
            continue
        for part in parts:
            if part == "forward" and not forward_ok(name):
                continue
            fn = {"embed": lambda p=p: p.embed(texts), "tokenize": lambda p=p: p.tokenize(texts),
                  "forward": lambda p=p, b=batch: p.forward(b)}[part]
            if device.startswith("cuda") and part != "tokenize":
                fn = (lambda f: (lambda: (f(), _sync(device))))(fn)
            fns[(name, part)] = fn
            cost[(name, part)] = tok if part == "tokenize" else emb   # forward <= embed
    per_round = sum(cost.values()) or 1e-6
    rounds = int(min(max_rounds, max(min_rounds, budget_s / per_round)))
    if cap_s is not None and cap_s < float("inf"):
        rounds = max(1, min(rounds, int(cap_s / per_round)))
    reps = int(min(max_reps, max(1, budget_s / (rounds * per_round))))
    samples = interleaved(fns, rounds=rounds, reps=reps, warmup=0)
    return {"samples": samples, "plan": {"rounds": rounds, "reps": reps, "first_s": first,
                                         "warm_s": time.perf_counter() - t_warm}}


def point_records(res: dict, scenario: str, bsz: int, length: str, tokens: int, device: str,
                  base: str = "python_ref", peer: str = "sentence_transformers") -> list[Record]:
    """latency p50/p90/p99 (ms), texts/s and tokens/s (real tokens, padding excluded), forward p50."""
    recs = []
    plan = {k: v for k, v in res["plan"].items() if k in ("rounds", "reps")}
    emb = {n: s for (n, part), s in res["samples"].items() if part == "embed"}
    for (n, part), samples in res["samples"].items():
        s = summary(samples)
        extra = {"batch": bsz, "length": length, "tokens": tokens, "n": s["n"], **plan,
                 "first_call_s": res["plan"].get("first_s", {}).get(n)}
        for ref in (base, peer):
            if ref in emb and n != ref and part == "embed":
                extra[f"ratio_vs_{ref}"] = paired_ratio(samples, emb[ref])
        if part == "embed":
            for q in ("p50", "p90", "p99"):
                recs.append(Record(n, f"latency_{q}", scenario, s[q] * 1e3, "ms", device, extra=extra))
            recs.append(Record(n, "throughput", scenario, bsz / s["p50"], "texts/s", device, extra=extra))
            recs.append(Record(n, "throughput_tokens", scenario, tokens / s["p50"], "tokens/s", device, extra=extra))
        else:
            recs.append(Record(n, f"{part}_p50", scenario, s["p50"] * 1e3, "ms", device, extra=extra))
    return recs


def walls(res: dict, name: str) -> dict:
    """Median seconds of embed/tokenize/forward of `name` in a measure_point result."""
    return {part: float(median(x for rnd in s for x in rnd)) for (n, part), s in res["samples"].items()
            if n == name}


def sorted_batching(pipe, texts: list[str], batch: int = 32, rounds: int = 2) -> dict:
    """Embed `texts` in batches of `batch`, in the given order vs sorted by length (then restored).

    Both give the same embeddings (checked); the sorted order pads less. -> seconds and padding."""
    lens = [int(m.sum()) for m in pipe.tokenize(texts).attention_mask]
    order = np.argsort(lens, kind="stable")

    def run(idx):
        out = np.concatenate([pipe.embed([texts[i] for i in idx[j:j + batch]]) for j in range(0, len(idx), batch)])
        back = np.empty_like(out)
        back[idx] = out
        return back

    def padded(idx):
        return sum(len(idx[j:j + batch]) * max(lens[i] for i in idx[j:j + batch]) for j in range(0, len(idx), batch))

    plain, srt = np.arange(len(texts)), order
    got = {}
    res = interleaved({"unsorted": lambda: got.__setitem__("u", run(plain)),
                       "sorted": lambda: got.__setitem__("s", run(srt))}, rounds=rounds, reps=1, warmup=0)
    maxdiff = float(np.abs(got["u"] - got["s"]).max())
    return {"unsorted_s": summary(res["unsorted"])["p50"], "sorted_s": summary(res["sorted"])["p50"],
            "speedup": 1.0 / paired_ratio(res["sorted"], res["unsorted"]), "texts": len(texts), "batch": batch,
            "tokens": int(sum(lens)), "padded_unsorted": padded(plain), "padded_sorted": padded(srt),
            "max_abs_diff": maxdiff}


def mixed_texts(by_len: dict, n: int, seed: int = 0) -> list[str]:
    """n texts drawn evenly from the short/medium/long pools, shuffled (a realistic mixed input)."""
    rng = np.random.default_rng(seed)
    pools = list(by_len.values())
    out = [pools[i % len(pools)][(i // len(pools)) % len(pools[i % len(pools)])] for i in range(n)]
    rng.shuffle(out)
    return out


def crossover(xs: list[int], a: list[float], b: list[float]) -> float | None:
    """First batch size where per-text latency of a stops beating b (log-interpolated), or None."""
    d = [np.log(x) - np.log(y) for x, y in zip(a, b)]   # < 0: a faster
    for i in range(1, len(xs)):
        if (d[i - 1] < 0) != (d[i] < 0):
            f = d[i - 1] / (d[i - 1] - d[i])
            return float(np.exp(np.log(xs[i - 1]) + f * (np.log(xs[i]) - np.log(xs[i - 1]))))
    return None
