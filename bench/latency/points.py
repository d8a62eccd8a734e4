"""Scenario points under a time budget: the one measuring path of latency_p50/p90/p99, throughput,
throughput_tokens and forward_p50, for `bench latency` and `bench all` alike (method: docs/DESIGN.md §7).
An implementation with a runtime of its own (registry kernels "inner") is timed inside it, never across
its pipe. Leaves out: concurrency (one request at a time), GPU streams."""
from __future__ import annotations

import time

from .. import registry
from ..results import Record
from .timing import InnerTime, interleaved, lead_calls, summary, sync, timing_extra


def measure_point(pipes: dict, texts: list[str], budget_s: float, device: str = "cpu",
                  calls=("embed", "tokenize", "forward"), min_rounds: int = 2, max_rounds: int = 9,
                  max_reps: int = 20, forward_ok=lambda name: True, cap_s: float | None = None,
                  on_error=None, more: dict | None = None, least: int = 1, deadline: float | None = None,
                  after_round: float = 0.0, on_round=None, choose=None) -> dict:
    """-> {"samples": {(impl, call): [round][rep] seconds}, "plan": {"rounds", "planned", "cut", "reps",
    "rounds_s", "first_s", "lead_calls", "warm_s"}}. The warm-up embed calibrates the rounds and reps.
    cap_s: most seconds of the rounds; overrides min_rounds down to `least` (0: maybe none), thins the reps.
    deadline (time.perf_counter()): when the rounds, and after_round x their seconds of work that follows
    (attribution), must be done; the rounds stop there ("cut"), those done kept. on_error(name, exc): a
    warm-up that raises leaves that implementation out (None: re-raise). more: {(impl, call): fn}, calls
    right after that implementation's own. choose(embed_s) -> calls: after the warm-up, the calls to time."""
    fns, cost, first, warm = {}, {}, {}, {}
    t_warm = time.perf_counter()
    for name, p in pipes.items():
        t0 = time.perf_counter()
        try:
            p.embed(texts)                       # warm-up and calibration in one
            sync(device)
            emb = first[name] = time.perf_counter() - t0
            if emb < 1.0:   # a cheap call: its first run (caches, JIT, lazy init) says little of the next
                t0 = time.perf_counter()
                p.embed(texts)
                sync(device)
                emb = min(emb, time.perf_counter() - t0)
            t0 = time.perf_counter()
            batch = p.tokenize(texts) if ("tokenize" in calls or "forward" in calls) else None
            tok = time.perf_counter() - t0
        except Exception as e:
            if on_error is None:
                raise
            on_error(name, e)
            continue
        warm[name] = (p, emb, tok, batch)
    if choose is not None:   # the calls to time, now that their costs are known (a budget: embed alone may be all)
        calls = tuple(choose(sum(emb for _, emb, _, _ in warm.values())))
        more = more if "tokenize" in calls else None   # attribution's extra calls: with the whole split only
    for name, (p, emb, tok, batch) in warm.items():
        for call in calls:
            if call == "forward" and not (forward_ok(name) and registry.has_forward(name)):
                continue
            fn = {"embed": lambda p=p: p.embed(texts), "tokenize": lambda p=p: p.tokenize(texts),
                  "forward": lambda p=p, b=batch: p.forward(b)}[call]
            if registry.kernels(name) == "inner" and hasattr(p, "time"):   # timed inside its runtime, not the pipe
                fn = lambda p=p, call=call: InnerTime(p.time(call, texts, warmup=0, repeat=1)[0] / 1e3)  # noqa: E731
            if device.startswith("cuda") and call != "tokenize":
                fn = (lambda f: (lambda: (f(), sync(device))))(fn)
            fns[(name, call)] = fn
            cost[(name, call)] = tok if call == "tokenize" else emb   # forward <= embed
        for k, fn in (more or {}).items():
            if k[0] == name:
                fns[k], cost[k] = fn, emb
    # each implementation's first call gets the untimed lead-in (timing.lead_calls) in every round
    first_call = {}
    for k in fns:
        first_call.setdefault(k[0], k)
    lead = {k: lead_calls(cost[k]) for k in first_call.values()}
    # the lead-in comes on top of budget_s (~0.5 s a round at `single`), never thinning the reps; the cap counts it
    per_round = sum(cost.values()) or 1e-6
    lead_s = sum(cost[k] * n for k, n in lead.items())
    rounds = int(min(max_rounds, max(min_rounds, budget_s / per_round)))
    reps = int(min(max_reps, max(1, budget_s / (rounds * per_round))))
    room = cap_s if cap_s is not None else float("inf")
    after_round = after_round() if callable(after_round) else after_round   # may follow choose()
    if deadline is not None:
        room = min(room, (deadline - time.perf_counter()) / (1.0 + after_round))
    if room < float("inf"):   # the rounds that fit at one rep each, then the reps that fit those rounds
        rounds = max(least, min(rounds, int(room / (per_round + lead_s))))   # least 0: maybe none
        reps = max(1, min(reps, int((room / max(rounds, 1) - lead_s) / per_round)))
    go_on = None
    if deadline is not None:   # the machine may slow down as the rounds run: stop at the deadline
        go_on = lambda done, mean_s: done < least or \
            time.perf_counter() + mean_s * (1.0 + after_round * (done + 1)) <= deadline  # noqa: E731
    t_rounds = time.perf_counter()
    samples = interleaved(fns, rounds=rounds, reps=reps, warmup=0, lead=lead, on_round=on_round, go_on=go_on)
    got = min((len(v) for v in samples.values()), default=0)
    return {"samples": samples, "plan": {"rounds": got, "planned": rounds, "cut": got < rounds, "reps": reps,
                                         "rounds_s": time.perf_counter() - t_rounds,
                                         "first_s": first, "lead_calls": {k[0]: n for k, n in lead.items() if n},
                                         "warm_s": time.perf_counter() - t_warm}}


def point_records(res: dict, scenario: str, bsz: int, length: str, tokens: int, device: str) -> list[Record]:
    """latency p50/p90/p99 (ms), texts/s and tokens/s (real tokens), tokenize and forward p50; embed and
    forward with paired ratios to the reference and the embed peer."""
    recs = []
    plan = {k: v for k, v in res["plan"].items() if k in ("rounds", "reps")}
    refs = (registry.REFERENCE, registry.EMBED_PEER)
    for (n, call), samples in res["samples"].items():
        if call not in ("embed", "tokenize", "forward"):   # a `more` call: its figure is its user's
            continue
        s = summary(samples)
        peers = {r: res["samples"][(r, call)] for r in refs
                 if call != "tokenize" and r != n and (r, call) in res["samples"]}
        extra = {"batch": bsz, "length": length, "tokens": tokens, "n": s["n"], **plan,
                 "lead_calls": res["plan"].get("lead_calls", {}).get(n, 0),
                 "first_call_s": res["plan"].get("first_s", {}).get(n), **timing_extra(samples, peers)}
        if call == "embed":
            for q in ("p50", "p90", "p99"):
                recs.append(Record(n, f"latency_{q}", scenario, s[q] * 1e3, "ms", device, extra=extra))
            recs.append(Record(n, "throughput", scenario, bsz / s["p50"], "texts/s", device, extra=extra))
            recs.append(Record(n, "throughput_tokens", scenario, tokens / s["p50"], "tokens/s", device, extra=extra))
        else:
            recs.append(Record(n, f"{call}_p50", scenario, s["p50"] * 1e3, "ms", device, extra=extra))
    return recs
