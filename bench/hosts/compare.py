"""`bench compare OLD NEW [--threshold 5%]`: did NEW get slower? A CI gate in the style of pyperf's compare_to.
Per figure in both sets: NEW/OLD of the medians of the per-round medians, a 95% bootstrap interval on it and
Welch's t-test on the log rounds; "slower" only when p < alpha and the whole interval lies beyond the threshold.
Exit 1 on a slower gated figure or one OLD has and NEW lacks; 2 on a file the loader refuses.
Leaves out: p90/p99 gating (the rounds record medians, not tails) and footprint figures."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..results import GATED, timed
from ..results import load as load_set   # noqa: F401  (the one loader of result files; tests call it by this name)

ALPHA = 0.05
NOT_FINITE = "not a finite figure"


def key(rec: dict, mach: dict) -> tuple:
    """Where a figure was measured, minus the host name; a record taken off the machine (host "chromium") keeps it."""
    where = "" if rec.get("host") in (None, mach.get("host")) else rec["host"]
    return rec["impl"], rec["metric"], rec["scenario"], rec.get("device", "cpu"), where


def index(data: dict) -> dict:
    out = {}
    for r in data["records"]:
        out.setdefault(key(r, data["machine"]), r)
    return out


def higher_is_better(rec: dict) -> bool | None:
    u = rec.get("unit", "")
    return True if u.endswith("/s") else False if u in ("ms", "s") else None


def gated(rec: dict) -> bool:
    m = rec["metric"]
    return (m.startswith(GATED) or (m.endswith("_p50") and rec.get("unit") == "ms")) and \
        m not in ("latency_p90", "latency_p99")


def shown(rec: dict) -> bool:
    return higher_is_better(rec) is not None and timed(rec)


def round_values(rec: dict) -> list[float] | None:
    """Per-round values in the record's unit, or None (a rate's: value * median(ms) / ms_i; a cold start's: runs)."""
    ex = rec.get("extra") or {}
    runs = ex.get("runs")
    if rec["metric"] == "coldstart" and isinstance(runs, list) and rec.get("unit") == "s":
        ms = [x * 1e3 for x in runs if isinstance(x, (int, float))]   # cold start: one fresh process a run
    else:
        ms = ex.get("round_medians_ms")
    bad = not ms or len(ms) < 2 or any(not isinstance(x, (int, float)) or not 0 < x < math.inf for x in ms)
    if bad or rec["metric"] in ("latency_p90", "latency_p99"):   # medians are not tails
        return None
    ms = np.asarray(ms, dtype=float)
    if higher_is_better(rec):
        return list(rec["value"] * float(np.median(ms)) / ms)
    return list(ms if rec.get("unit") == "ms" else ms / 1e3)


def welch_log(old, new) -> float:
    """Two-sided p of Welch's t-test on log values (a rank test cannot reach 5% with 3 rounds a side)."""
    from scipy import stats
    a, b = np.log(old), np.log(new)
    if np.ptp(a) == 0 and np.ptp(b) == 0:   # no spread at all: equal or certainly different
        return 1.0 if a[0] == b[0] else 0.0
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


@dataclass
class Comparison:
    impl: str
    metric: str
    scenario: str
    where: str
    unit: str
    old: float
    new: float
    ratio: float                 # NEW / OLD of the figure (median of rounds where there are rounds)
    lo: float | None = None
    hi: float | None = None
    p: float | None = None
    n_old: int = 0
    n_new: int = 0
    verdict: str = ""
    gated: bool = False

    @property
    def fails(self) -> bool:
        return self.gated and self.verdict in ("slower", NOT_FINITE)


def judge(ro: dict, rn: dict, threshold: float, alpha: float, where: str) -> Comparison:
    from ..stats import bootstrap_ratio
    hib = higher_is_better(ro)
    a, b = round_values(ro), round_values(rn)
    finite = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (ro["value"], rn["value"]))
    ratio = rn["value"] / ro["value"] if finite and ro["value"] else math.inf
    row = Comparison(ro["impl"], ro["metric"], ro["scenario"], where, ro.get("unit", ""), ro["value"], rn["value"],
                     ratio, gated=gated(ro))
    if not finite:   # the loader refuses these; a caller handing rows in directly still gets a failure
        row.verdict = NOT_FINITE
        return row
    if a is None or b is None:
        row.verdict = "no rounds recorded: no significance test"
        return row
    row.n_old, row.n_new = len(a), len(b)
    row.ratio = float(np.median(b) / np.median(a))
    row.lo, row.hi = bootstrap_ratio(a, b)
    row.p = welch_log(a, b)
    # worse = slower: latency up, rate down. w_lo..w_hi: the interval of the slowdown factor.
    w_lo, w_hi = (1 / row.hi, 1 / row.lo) if hib else (row.lo, row.hi)
    up, down = 1 + threshold, 1 / (1 + threshold)
    sig = row.p < alpha
    if sig and w_lo > up:
        row.verdict = "slower"
    elif sig and w_hi < down:
        row.verdict = "faster"
    elif down <= w_lo and w_hi <= up:
        row.verdict = f"same (within ±{threshold:.0%})"
    elif not sig:
        row.verdict = "no significant change"
    else:
        row.verdict = f"undecided: significant, but the interval straddles ±{threshold:.0%}"
    return row


def compare(old: dict, new: dict, threshold: float = 0.05, alpha: float = ALPHA) -> list[Comparison]:
    io, inew = index(old), index(new)
    rows = []
    for k, ro in io.items():
        rn = inew.get(k)
        if rn is not None and shown(ro) and ro.get("unit") == rn.get("unit") and ro["value"]:
            rows.append(judge(ro, rn, threshold, alpha, k[4] or k[3]))
    return rows


def missing_figures(old: dict, new: dict) -> dict[str, list[str]]:
    """{impl: ["metric scenario", ...]}: gated figures of OLD that NEW lacks in the same unit (they fail the gate)."""
    io, inew = index(old), index(new)
    out: dict[str, list[str]] = {}
    for k, ro in io.items():
        rn = inew.get(k)
        if gated(ro) and ro["value"] and (rn is None or rn.get("unit") != ro.get("unit")):
            out.setdefault(k[0], []).append(" ".join(x for x in (k[1], k[2], k[4] or k[3]) if x and x != "cpu"))
    return out


def missing_line(gone: dict[str, list[str]], old: dict) -> str:
    """One line naming them: a port with none of its gated figures left is named whole."""
    have = Counter(k[0] for k, r in index(old).items() if gated(r) and r["value"])
    parts = [f"{impl}: all {len(figs)} of its gated figures" if len(figs) >= have[impl] else
             f"{impl}: " + ", ".join(figs[:6]) + (f" and {len(figs) - 6} more" if len(figs) > 6 else "")
             for impl, figs in gone.items()]
    return (f"MISSING: {sum(map(len, gone.values()))} gated figures of OLD are not in NEW (" + "; ".join(parts) +
            "): a figure that stopped being measured fails the gate")


def parse_threshold(s: str) -> float:
    """'5%', '5' (percent) or '0.05' -> 0.05."""
    from ..inputs import UsageError
    try:
        v = float(s.rstrip("%"))
    except ValueError:
        raise UsageError(f"--threshold {s!r} is not a number or a percentage") from None
    v = v / 100 if s.endswith("%") or v >= 1 else v
    if not 0 <= v < 10:   # NaN fails this too
        raise UsageError(f"--threshold {s!r} out of range")
    return v


def context(old: dict, new: dict) -> list[str]:
    """Lines that qualify the comparison: hosts, commits, models, plans."""
    mo, mn = old["machine"], new["machine"]
    lines = []
    for label, f in (("host", lambda m: m.get("host_id") or m.get("host")),
                     ("commit", lambda m: (m.get("commit") or {}).get("sha", "unknown")[:12] +
                      (" (dirty)" if (m.get("commit") or {}).get("dirty") else "")),
                     ("model", lambda m: m.get("model_sha256") or m.get("model")),
                     ("plan", lambda m: m.get("plan")), ("threads", lambda m: m.get("threads"))):
        a, b = f(mo), f(mn)
        lines.append(f"{label}: {a}" if a == b else f"{label}: OLD {a} -> NEW {b}" +
                     ("  (different hosts: a difference may be the machine)" if label == "host" else ""))
    return lines


def _fmt(r: Comparison) -> list[str]:
    iv = f"[{r.lo:.3f}, {r.hi:.3f}]" if r.lo is not None else "-"
    return [r.scenario, r.impl, r.metric + (f" ({r.where})" if r.where not in ("", "cpu") else ""),
            f"{r.old:.4g} {r.unit}", f"{r.new:.4g} {r.unit}", f"{r.ratio:.3f}", iv,
            f"{r.p:.3g}" if r.p is not None else "-", f"{r.n_old}/{r.n_new}" if r.n_old else "-",
            r.verdict + (" (gate)" if r.fails else "")]


COLS = ["scenario", "impl", "metric", "OLD", "NEW", "NEW/OLD", "95% interval", "p", "rounds", "verdict"]


def run_compare(args) -> int:
    from ..console import table
    from ..inputs import UsageError
    old, new = load_set(args.old), load_set(args.new)
    th = parse_threshold(args.threshold)
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha {args.alpha} is not a probability between 0 and 1")
    rows, gone = compare(old, new, th, args.alpha), missing_figures(old, new)
    for line in context(old, new):
        print(line)
    if not rows:
        print("bench compare: no figure is present in both sets; nothing compared")
        if gone:
            print(missing_line(gone, old))
        return 2
    for title, verdict in (("slower (NEW worse than OLD beyond the threshold)", "slower"), ("faster", "faster"),
                           ("undecided", "undecided")):
        sel = [r for r in rows if r.verdict.startswith(verdict)]
        if sel:
            table(f"{title}: {len(sel)}", COLS, [_fmt(r) for r in sel], width=200)
    if args.all:
        table("every figure compared", COLS, [_fmt(r) for r in rows], width=200)
    no_rounds = sum(r.p is None for r in rows)
    fails = [r for r in rows if r.fails]
    print(f"compared {len(rows)} figures at threshold {th:.0%}, alpha {args.alpha}: {len(fails)} gated regressions, "
          f"{sum(r.verdict == 'faster' for r in rows)} faster, {no_rounds} without rounds (not tested)")
    if no_rounds == len(rows):
        print("no rounds recorded in these results: no significance test, so no regression can be claimed")
    if fails:
        print("FAIL: " + "; ".join(f"{r.impl} {r.metric} {r.scenario} " + (r.verdict if r.verdict == NOT_FINITE
                                   else f"x{r.ratio:.3f}") for r in fails))
    if gone:
        print(missing_line(gone, old))
    return 1 if fails or gone else 0
