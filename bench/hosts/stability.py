"""Whether repeated runs agree (docs/DESIGN.md §7), for `bench merge` of sets of one commit and model, and
whether one run's machine was quiet.
  share_moves   the largest difference of the reference's bucket shares between sets, per scenario
  run_spread    the between-set variance of log(gain), less what each run's rounds imply ((pi/2) var / n),
                as a 95% half-width beside stats.RESOLUTION (the run-level part it stands for)
  pair_spread   per scenario, the median over its gains of the SD of log of their per-round paired ratios
                (the noise a verdict reads); `noisy` names the scenarios above QUIET
Leaves out: sets of different commits (their gains moved for a reason), cells measured in one set only."""
from __future__ import annotations

import math

import numpy as np

from .. import registry
from ..registry import BUCKETS
from ..stats import RESOLUTION


# a quiet machine's pair_spread stays under this; what it buys and the spreads measured (dev/NOTES-hosts.md)
QUIET = 0.06


def pair_spread(ratios: dict) -> dict | None:
    """{"value": median over the gains of the SD of log of their per-round ratios, "gains": {impl: SD}} from
    {impl: per-round ratios}, gains of fewer than 3 rounds left out; None when none is left."""
    sd = {}
    for impl, r in ratios.items():
        v = np.log([x for x in r if x and x > 0])
        if v.size >= 3:
            sd[impl] = float(v.std(ddof=1))
    return {"value": float(np.median(list(sd.values()))), "gains": sd} if sd else None


def noisy(records) -> list[tuple[str, float]]:
    """[(scenario, pair_spread)] of the pair_spread records above QUIET, in the records' order."""
    return [(r["scenario"], r["value"]) for r in records if r["metric"] == "pair_spread" and r["value"] > QUIET]


def noisy_line(records) -> str | None:
    """The sentence the report and the decision table print under the verdicts, when the machine was not quiet."""
    found = noisy(records)
    if not found:
        return None
    where = ", ".join(f"{100 * v:.0f}% at {sc}" for sc, v in found)
    return (f"not a quiet machine: two implementations' walls in one round moved against each other from round to "
            f"round by {where} (median over the gains, SD of log ratio; a quiet machine stays under "
            f"{100 * QUIET:.0f}%), so a verdict near the threshold may come out decided in one run and undecided "
            "in the next; its interval says how far it may move")


def _recs(s) -> list:
    return s.data["records"]   # s: a bench/hosts/merge.py Set


def shares(s, sc: str) -> dict | None:
    """{bucket: share of the embed wall} of the reference's split at sc, as the report prints them, or None."""
    from ..attribution.ceilings import from_records
    att = from_records(_recs(s), registry.REFERENCE, sc)
    return {k: att["shares"].get(k) or 0.0 for k in BUCKETS} if att else None


def share_moves(sets) -> list[tuple[str, str, float]]:
    """[(scenario, bucket, largest difference in percentage points)] per scenario split in every set."""
    scs = dict.fromkeys(r["scenario"] for s in sets for r in _recs(s)
                        if r["impl"] == registry.REFERENCE and r["metric"] == "attribution_model_kernels")
    out = []
    for sc in scs:
        per = [shares(s, sc) for s in sets]
        if len(per) < 2 or any(p is None for p in per):
            continue
        moves = {k: 100 * (max(p[k] for p in per) - min(p[k] for p in per)) for k in BUCKETS}
        k = max(moves, key=moves.get)
        out.append((sc, k, moves[k]))
    return out


def run_spread(sets) -> dict | None:
    """{"cells", "between_sd", "within_se", "run_sd", "half_width", "resolution"} (log scale) pooled
    over every port_gain with rounds present in all sets; None with fewer than two sets."""
    if len(sets) < 2:
        return None
    cells: dict = {}
    for i, s in enumerate(sets):
        for r in _recs(s):
            rounds = (r.get("extra") or {}).get("rounds") or []
            if r["metric"] == "port_gain" and r["value"] and len(rounds) >= 2 and min(rounds) > 0:
                lr = np.log(rounds)
                cells.setdefault((r["impl"], r["scenario"]), {})[i] = (math.log(r["value"]),
                                                                       math.pi / 2 * lr.var(ddof=1) / lr.size)
    full = [c for c in cells.values() if len(c) == len(sets)]
    if not full:
        return None
    between = float(np.mean([np.var([v for v, _ in c.values()], ddof=1) for c in full]))
    within = float(np.mean([w for c in full for _, w in c.values()]))
    run_sd = math.sqrt(max(0.0, between - within))
    return {"cells": len(full), "between_sd": math.sqrt(between), "within_se": math.sqrt(within),
            "run_sd": run_sd, "half_width": 2 * run_sd, "resolution": RESOLUTION}


def agreement_lines(sets) -> list[str]:
    """What `bench merge` prints about the sets' agreement (the gains' spread: sets of one machine)."""
    out = [f"{registry.REFERENCE}'s bucket shares at {sc}: move by at most {d:.1f} points between the sets ({k})"
           for sc, k, d in share_moves(sets)]
    mach = {(s.data["machine"].get("host_id") or s.data["machine"].get("host"), s.data["machine"].get("device", "cpu"))
            for s in sets}
    for s in sets:   # a set whose machine was not quiet explains differing verdicts near the threshold
        line = noisy_line(_recs(s))
        if line:
            out.append(f"{s.label or s.path}: {line}")
    sp = run_spread(sets) if len(mach) == 1 else None   # repeated runs on one machine only
    if sp:
        fits = "within" if sp["half_width"] <= sp["resolution"] else "ABOVE"
        out.append(f"gains, {sp['cells']} measured in every set: spread between sets {sp['between_sd']:.3f} (SD of "
                   f"log gain), of which the rounds explain {sp['within_se']:.3f}; run-level part +-{sp['half_width']:.3f} "
                   f"(95%), {fits} the +-{sp['resolution']:.3f} the verdicts assume (stats.RESOLUTION)")
    return out
