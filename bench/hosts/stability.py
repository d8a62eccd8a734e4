"""Whether repeated runs agree (docs/DESIGN.md §7), for `bench merge` of sets of one commit and model, and
whether one run's machine was quiet.
  share_moves   the largest difference of the reference's bucket shares between sets, per scenario
  run_spread    the between-set variance of log(gain), less what each run's rounds imply ((pi/2) var / n),
                as a 95% half-width beside stats.RESOLUTION (the run-level part it stands for)
  pair_spread   per scenario, the median over its gains of the SD of log of their per-round paired ratios
                (the noise a verdict reads); `noisy_line` names the scenarios above QUIET
Leaves out: sets of different commits (their gains moved for a reason), cells measured in one set only."""
from __future__ import annotations

import math

import numpy as np

from ..registry import BUCKETS, REFERENCE
from ..stats import RESOLUTION


# a quiet machine's pair_spread stays under this; what it buys and the spreads measured (dev/NOTES-hosts.md)
QUIET = 0.06


def pair_spread(ratios: dict) -> dict | None:
    """{"value": median over the gains of the SD of log of their per-round ratios, "gains": {impl: SD}} from
    {impl: per-round ratios}, gains of fewer than 3 rounds left out; None when none is left."""
    logs = {impl: np.log([x for x in r if x and x > 0]) for impl, r in ratios.items()}
    sd = {impl: float(v.std(ddof=1)) for impl, v in logs.items() if v.size >= 3}
    return {"value": float(np.median(list(sd.values()))), "gains": sd} if sd else None


def noisy_line(records) -> str | None:
    """The sentence the report and the decision table print under the verdicts, when the machine was not quiet
    (pair_spread records above QUIET, in the records' order)."""
    found = [(r["scenario"], r["value"]) for r in records if r["metric"] == "pair_spread" and r["value"] > QUIET]
    if not found:
        return None
    where = ", ".join(f"{100 * v:.0f}% at {sc}" for sc, v in found)
    return (f"not a quiet machine: two implementations' walls in one round moved against each other from round to "
            f"round by {where} (median over the gains, SD of log ratio; a quiet machine stays under "
            f"{100 * QUIET:.0f}%), so a verdict near the threshold may come out decided in one run and undecided "
            "in the next; its interval says how far it may move")


def share_moves(sets) -> list[tuple[str, str, float]]:
    """[(scenario, bucket, largest difference in percentage points)] of the reference's bucket shares (of the
    embed wall, as the report prints them) per scenario split in every set."""
    from ..attribution.ceilings import from_records
    scs = dict.fromkeys(sc for s in sets for impl, metric, sc in s.by
                        if impl == REFERENCE and metric == "attribution_model_kernels")
    out = []
    for sc in scs:
        atts = [from_records(s.recs, REFERENCE, sc) for s in sets]
        if len(atts) < 2 or not all(atts):
            continue
        per = [{k: a["shares"].get(k) or 0.0 for k in BUCKETS} for a in atts]
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
        for r in s.recs:
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
    out = [f"{REFERENCE}'s bucket shares at {sc}: move by at most {d:.1f} points between the sets ({k})"
           for sc, k, d in share_moves(sets)]
    mach = {(s.m.get("host_id") or s.m.get("host"), s.m.get("device", "cpu")) for s in sets}
    for s in sets:   # a set whose machine was not quiet explains differing verdicts near the threshold
        line = noisy_line(s.recs)
        if line:
            out.append(f"{s.label or s.path}: {line}")
    sp = run_spread(sets) if len(mach) == 1 else None   # repeated runs on one machine only
    if sp:
        fits = "within" if sp["half_width"] <= sp["resolution"] else "ABOVE"
        out.append(f"gains, {sp['cells']} measured in every set: spread between sets {sp['between_sd']:.3f} (SD of "
                   f"log gain), of which the rounds explain {sp['within_se']:.3f}; run-level part "
                   f"+-{sp['half_width']:.3f} (95%), {fits} the +-{sp['resolution']:.3f} the verdicts assume "
                   "(stats.RESOLUTION)")
    return out
