"""Intervals and verdicts (the method: docs/DESIGN.md §7). A gain is the median of per-round paired ratios, a
ceiling of embed / (embed - removable) per round; each carries interval(). A verdict is yes / no only when that
interval, widened by RESOLUTION, lies on one side of THRESHOLD. Seeded: the same rounds, the same intervals.
Leaves out: BCa and other corrected bootstraps (a handful of rounds cannot support them)."""
from __future__ import annotations

import math
from statistics import median

import numpy as np

THRESHOLD = 1.10       # a port "pays" when it makes the pipeline at least 10% faster
LEVEL = 0.95           # two-sided interval
UNDECIDED = "undecided at this precision"
# the run-level 95% half-width of log(gain) assumed: a judgement between the pairs `bench merge` measured
# (dev/NOTES-attribution.md, "Stability")
RESOLUTION = 0.03


def _finite(values) -> np.ndarray:
    return np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)


def _resampled(v: np.ndarray, rng, n: int) -> np.ndarray:
    """The median of each of n resamples (with replacement) of v."""
    return np.median(v[rng.integers(0, v.size, (n, v.size))], axis=1)


def _percentiles(boots) -> list[float]:
    a = (1 - LEVEL) / 2
    return [float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a))]


def bootstrap_ci(values, n: int = 2000) -> list[float]:
    """[low, high] percentile bootstrap interval of the median of values (one value: [v, v])."""
    v = _finite(values)
    if v.size == 0:
        return [float("nan"), float("nan")]
    if v.size == 1:
        return [float(v[0]), float(v[0])]
    return _percentiles(_resampled(v, np.random.default_rng(0), n))


def bootstrap_ratio(old, new, n: int = 4000) -> list[float]:
    """[low, high] percentile bootstrap interval of median(new) / median(old), each side resampled on its
    own (two unpaired samples: `bench compare`'s two runs). [nan, nan] when a side has no finite value."""
    a, b = _finite(old), _finite(new)
    if a.size == 0 or b.size == 0:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(0)
    return _percentiles(_resampled(b, rng, n) / _resampled(a, rng, n))


def t_interval(values) -> list[float]:
    """Student's t interval of the mean of values (scipy's t quantile); [nan, nan] below two values."""
    from scipy.stats import t
    v = _finite(values)
    if v.size < 2:
        return [float("nan"), float("nan")]
    half = float(t.ppf(0.5 + LEVEL / 2, v.size - 1)) * float(v.std(ddof=1)) / math.sqrt(v.size)
    return [float(v.mean()) - half, float(v.mean()) + half]


def order_interval(values) -> list[float] | None:
    """The distribution-free interval of the median: [x_(k), x_(n+1-k)] of the sorted values, k the largest
    with P(Binomial(n, 1/2) < k) <= (1 - LEVEL) / 2: it covers LEVEL whatever the distribution, and one
    disturbed round moves it by one order statistic. None below 6 values (at 5, even [min, max] covers 93.75% only)."""
    from scipy.stats import binom
    v = np.sort(_finite(values))
    n, a = v.size, (1 - LEVEL) / 2
    k = 0
    while k + 1 <= n // 2 and binom.cdf(k, n, 0.5) <= a:
        k += 1
    return [float(v[k - 1]), float(v[n - k])] if k >= 1 else None


def interval(values) -> list[float]:
    """The interval every figure carries: the percentile bootstrap of the median (alone it covers a handful of
    rounds poorly: at most 75% at 3), widened to order_interval from 6 rounds, below that to Student's t
    interval of the mean. One round decides nothing: [nan, nan]."""
    vals = _finite(values)
    if vals.size < 2:
        return [float("nan"), float("nan")]
    b = bootstrap_ci(vals)
    o = order_interval(vals) or t_interval(vals)
    return [min(b[0], o[0]), max(b[1], o[1])]


def estimate(values) -> dict:
    """{"value": median, "ci": interval(), "rounds": values}"""
    vals = [float(x) for x in values]
    return {"value": float(median(vals)) if vals else float("nan"), "ci": interval(vals), "rounds": vals}


def _floor(est: dict, low: float) -> dict:
    """An interval cannot reach below what the figure can be (a t interval of few rounds can)."""
    est["ci"] = [max(low, est["ci"][0]), est["ci"][1]] if math.isfinite(est["ci"][0]) else est["ci"]
    return est


def ratios(base_rounds, impl_rounds) -> list[float]:
    """base / impl per round, paired by round index: what a gain (and its spread) is read from."""
    return [b / i for b, i in zip(base_rounds, impl_rounds) if i > 0]


def gain(base_rounds, impl_rounds) -> dict:
    """How many times faster impl is than base, from per-round walls paired by round index."""
    return _floor(estimate(ratios(base_rounds, impl_rounds)), 0.0)


def gain_from_ratios(slower_ratios) -> dict:
    """The same from per-round 'impl / base' ratios (round_ratios_vs_<base>: >1 means slower)."""
    return estimate([1.0 / r for r in slower_ratios if r > 0])


def ceiling(att: dict, removes) -> dict:
    """The most a port that takes away the buckets `removes` can gain over what `att` describes
    (split.attribute's dict), round by round; inf where nothing would be left. "upper": the same with each
    round's unattributed time (either sign) counted as removable too; a gain above it is a method failure."""
    emb = att["embed_rounds"]
    # a bucket's removable time is never negative (embed_glue can come out below 0 in a noisy round)
    rem = [sum(max(0.0, att["rounds"][b][i]) for b in removes) for i in range(len(emb))]
    out = _ceil(emb, rem)
    out["removes"] = list(removes)
    out["share"] = float(median(r / e for r, e in zip(rem, emb))) if emb else float("nan")
    un = att["rounds"].get("unattributed")
    if un:   # the split's own error in the round, whichever its sign, is time it may have misbooked
        glue = att["rounds"].get("embed_glue") if "embed_glue" in removes else None
        extra = [abs(u - (max(0.0, glue[i]) if glue else 0.0)) for i, u in enumerate(un)]
        out["upper"] = _ceil(emb, [r + x for r, x in zip(rem, extra)])
    return out


def _ceil(emb, rem) -> dict:
    vals = [e / (e - r) if e - r > 0 else float("inf") for e, r in zip(emb, rem)]
    finite = [v for v in vals if math.isfinite(v)]
    out = _floor(estimate(finite or [float("inf")]), 1.0)
    if not finite:   # unbounded in every round: the value says so; the rounds (finite numbers) are none
        out["rounds"] = []
    return out


def widen(ci, value=None, resolution: float = RESOLUTION) -> list[float]:
    """ci widened by `resolution` in quadrature, on the log scale around value (else its geometric middle)."""
    lo, hi = ci
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo <= 0 or hi <= 0 or resolution <= 0:
        return [lo, hi]
    c = math.log(value) if value and value > 0 and math.isfinite(value) else (math.log(lo) + math.log(hi)) / 2
    return [math.exp(c - math.hypot(max(0.0, c - math.log(lo)), resolution)),
            math.exp(c + math.hypot(max(0.0, math.log(hi) - c), resolution))]


def verdict(ci, threshold: float = THRESHOLD, value=None, resolution: float = RESOLUTION) -> str:
    """yes / no / undecided for the interval ci of a figure (value: its median), widened (`widen`)."""
    lo, hi = ci
    if math.isnan(lo) or math.isnan(hi):
        return UNDECIDED
    lo, hi = widen(ci, value, resolution)
    if lo >= threshold:
        return "yes"
    if hi < threshold:
        return "no"
    return UNDECIDED


def judged(gn: dict) -> dict:
    """A gain's verdict and the interval it read (widened), as its port_gain record carries them."""
    return {"verdict": verdict(gn["ci"], value=gn["value"]), "verdict_ci": widen(gn["ci"], gn["value"])}


def failure(ceil: dict | None, gn: dict | None) -> str | None:
    """The reason, when the gain's interval lies wholly above the ceiling's (its upper bound's, when there
    is one), both widened (separate passes): the method missed a cost the port removes. None otherwise."""
    if not ceil or not gn or ceil.get("value") is None:
        return None
    top = ceil.get("upper") or ceil
    bound = widen(top["ci"], top.get("value"))
    low = widen(gn["ci"], gn.get("value"))[0]
    if not math.isfinite(bound[1]) or low <= bound[1]:
        return None
    up = " (the split's error counted as removable)" if ceil.get("upper") else ""
    return (f"gain {low:.3f}x at least lies above the ceiling's {bound[1]:.3f}x at most{up} (each interval widened "
            f"by the run-to-run resolution {RESOLUTION:.0%}): the port removes a cost the split books as not "
            "removable (or the two ran under different conditions)")


def above_ceiling(ceil: dict | None, gn: dict | None) -> str | None:
    """A note when the gain lies above the measured ceiling but not above its upper bound."""
    if not ceil or not gn or ceil.get("value") is None or failure(ceil, gn):
        return None
    if gn["ci"][0] > ceil["ci"][1]:
        return (f"gain {gn['ci'][0]:.3f}-{gn['ci'][1]:.3f}x above the measured ceiling {ceil['ci'][1]:.3f}x: "
                f"the port also removed part of what the split could not place")
    return None


def port_record_pair(impl: str, scenario: str, ceil: dict | None, gn: dict, vs: str, device: str = "cpu",
                 extra: dict | None = None, reason: str | None = None) -> list:
    """[port_ceiling, port_gain] Records for impl over `vs` on scenario. ceil None: no split bounds it
    (by default: it swaps the kernels too): value None, with the reason in extra."""
    from .results import Record
    base = {"vs": vs, "threshold": THRESHOLD, "level": LEVEL, **(extra or {})}
    if ceil is None:
        c = Record(impl, "port_ceiling", scenario, None, "x", device, extra={
            **base, "ci": None, "reason": reason or f"{impl} swaps the kernels too: {vs}'s split does not bound it"})
    else:
        up = ceil.get("upper")
        c = Record(impl, "port_ceiling", scenario, ceil["value"], "x", device,
                   extra={**base, "ci": ceil["ci"], "removes": ceil["removes"], "share": ceil["share"],
                          "rounds": ceil["rounds"], "verdict": verdict(ceil["ci"], value=ceil["value"]),
                          "upper": {"value": up["value"], "ci": up["ci"]} if up else None})
    why = failure(ceil, gn)
    g = Record(impl, "port_gain", scenario, gn["value"], "x", device,
               extra={**base, "ci": gn["ci"], "rounds": gn["rounds"], **judged(gn), "resolution": RESOLUTION,
                      "method_failure": why, "note": above_ceiling(ceil, gn)})
    return [c, g]


def fmt_ci(value, ci, nd: int = 2, unit: str = "x") -> str:
    """'1.36x [1.33, 1.43]' (the interval omitted when there is none)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    out = f"{value:.{nd}f}{unit}"
    if ci and all(x is not None and math.isfinite(x) for x in ci):
        out += f" [{ci[0]:.{nd}f}, {ci[1]:.{nd}f}]"
    return out


def method_failures(records) -> list[tuple[str, str, str]]:
    """(impl, scenario, reason) for every port_gain whose interval lies above its ceiling's (Records or dicts)."""
    recs = [r if isinstance(r, dict) else vars(r) for r in records]
    ceils = {(r["impl"], r["scenario"]): r for r in recs if r["metric"] == "port_ceiling"}
    out = []
    for r in recs:
        c = ceils.get((r["impl"], r["scenario"]))
        if r["metric"] != "port_gain" or c is None or c["value"] is None:
            continue
        why = failure({"value": c["value"], "ci": c["extra"]["ci"], "upper": c["extra"].get("upper")},
                      {"value": r["value"], "ci": r["extra"]["ci"]})
        if why:
            out.append((r["impl"], r["scenario"], why))
    return out
