"""`bench merge DIR... --out DIR`: one report across result sets from several hosts: the machines, key figures
and decision tables side by side, and the verdicts that differ with the figures behind them (report.py writes it).
Sets of different commits or models (by content) are refused unless --allow-mixed, and then marked.
Leaves out: interactive plots, history over many commits (asv's graphs; `bench compare` does two)."""
from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

from ..report.index import Index
from ..results import ResultsError, out_dir
from ..results import load as load_set   # noqa: F401  (the one loader of result files; tests call it by this name)
from .report import BUCKETS, EVEN, REF, SCENARIOS, compared, render_report, shares_cell


class Set(Index):
    """One host's result set: the single-host report's lookups (v, gain), its label, and why it is marked mixed."""

    def __init__(self, path: str, data: dict):
        super().__init__(data)
        self.path, self.m = path, data["machine"]
        self.label, self.marks = "", []   # load_sets names it; marks: why it is mixed

    def gain_iv(self, impl, scenario) -> tuple[float, float] | None:
        """95% interval of the gain vs python_ref from the per-round paired ratios; None without rounds."""
        from ..stats import bootstrap_ci
        r, ref = self.by.get((impl, "latency_p50", scenario)), self.by.get((REF, "latency_p50", scenario))
        if r is None or ref is None or impl == REF:
            return None
        ex = r.get("extra") or {}
        ratios = ex.get(f"round_ratios_vs_{REF}")
        if not ratios:
            a, b = ex.get("round_medians_ms"), (ref.get("extra") or {}).get("round_medians_ms")
            ratios = [x / y for x, y in zip(a, b)] if a and b and len(a) == len(b) else None
        if not ratios or len(ratios) < 2 or min(ratios) <= 0:
            return None
        # ratio_vs_<peer> is time(impl) / time(peer), as paired_ratio's
        return tuple(bootstrap_ci([1 / x for x in ratios], n=4000))

    @cached_property
    def decisions(self) -> list[dict]:
        """The set's decision-table rows (report.decision_rows); none, and marked, for a partial set."""
        from ..report import decision_rows
        try:
            return decision_rows(self.data)
        except Exception as e:   # a partial result set: say so instead of losing the other hosts
            self.marks.append(f"decision table not computable ({type(e).__name__}: {e})")
            return []


def sha(m: dict) -> str:
    return (m.get("commit") or {}).get("sha", "unknown")   # results.load: commit is an object or absent


def load_sets(paths) -> list[Set]:
    if not paths:
        raise SystemExit("bench merge: give at least one result directory")
    sets = [Set(str(p), load_set(p)) for p in paths]
    seen: dict = {}
    for s in sets:
        base = s.m.get("host_id") or s.m.get("host") or "host"
        if s.m.get("device", "cpu") != "cpu":
            base += f"/{s.m['device']}"
        seen[base] = seen.get(base, 0) + 1
        s.label = base if seen[base] == 1 else f"{base}#{seen[base]}"
    return sets


def mixed(sets: list[Set]) -> list[str]:
    """Reasons the sets are not comparable (commit, model); marks each set that differs."""
    out = []
    for what, f in (("commit", sha), ("model", lambda m: m.get("model_sha256") or m.get("model") or "unknown")):
        vals = {s.label: f(s.m) for s in sets}
        if len(set(vals.values())) > 1:
            ref = vals[sets[0].label]
            out.append(f"{what}s differ: " + ", ".join(f"{k} {str(v)[:12]}" for k, v in vals.items()))
            for s in sets:
                if vals[s.label] != ref:
                    s.marks.append(f"{what} {str(vals[s.label])[:12]}")
    dirty = [s.label for s in sets if (s.m.get("commit") or {}).get("dirty")]
    if dirty:
        out.append("uncommitted changes in: " + ", ".join(dirty))   # marked, never refused
    unknown = [s.label for s in sets if sha(s.m) == "unknown"]
    if unknown:
        out.append("commit unknown (not a git checkout; set PORTBENCH_COMMIT) for: " + ", ".join(unknown))
    return out


# -- verdicts --------------------------------------------------------------------------------------
def _direction(g: float | None, iv=None) -> str:
    """Which way a gain goes, from its interval widened as verdicts widen theirs (a point alone misled:
    dev/NOTES-attribution.md, pair J): faster / slower past 1 +- EVEN, about even inside, else undecided."""
    from ..stats import UNDECIDED, widen
    if g is None:
        return "not measured"
    lo, hi = widen(iv, g) if iv is not None else (g, g)   # a set without rounds: the point, and says so
    side = (f"faster than {REF}" if lo >= 1 + EVEN else f"slower than {REF}" if hi <= 1 - EVEN
            else "about even" if 1 - EVEN <= lo and hi <= 1 + EVEN else f"{UNDECIDED} vs {REF}")
    return side if iv is not None else side + " (no rounds, no interval)"


def verdicts(s: Set) -> dict:
    """{scenario: {verdict: (value, row)}} from the report's decision table, plus which way the
    best port and runtime change go (a name alone hides a 1.8x that became 0.9x)."""
    from ..registry import CHANGES
    from ..report.decision import LABEL
    out = {}
    for row in s.decisions:
        sc = row["scenario"]
        iv = re.sub(r"\s*\([^)]*\)", "", re.split(r";| — ", row["intervention"])[0]).strip()
        v = {"dominant bucket": row.get("dominant_bucket"), "intervention": iv,
             "does a port pay?": str(row.get("port_pays", "")).split(":")[0]}
        for key, label in [(c, LABEL[c]) for c in CHANGES] + [("runtime", "runtime change")]:
            if isinstance(row.get(key), dict):   # each change's own verdict, as the decision table prints it
                v[f"{label} pays?"] = row[key]["verdict"]
        if sc in SCENARIOS:   # the best port is each change's verdict above (their gains have different baselines)
            best = row["best_runtime"].split(" ")[0]
            v["best runtime change"] = ("-" if best == "-" else
                                        f"{best} {_direction(s.gain(best, sc), s.gain_iv(best, sc))}")
        out[sc] = {k: (val, row) for k, val in v.items()}
    return out


def figures_for(s: Set, sc: str, what: str) -> str:
    """The figures behind one verdict on one host."""
    if sc not in SCENARIOS:
        rows = [r for r in s.recs if r["metric"] == "coldstart"]
        return "; ".join(f"{(r.get('extra') or {}).get('row', r['impl'])}" +
                         (" (browser)" if r["scenario"] == "browser" else "") + f" {r['value']:.3g} {r['unit']}"
                         for r in rows) or "-"
    if what == "dominant bucket":
        return f"{REF} " + "/".join(BUCKETS) + " " + shares_cell(s, sc)
    gains = [f"{i} {g:.2f}x" + (f" [{iv[0]:.2f}, {iv[1]:.2f}]" if (iv := s.gain_iv(i, sc)) else "")
             for i in compared() if (g := s.gain(i, sc))]
    return f"gain vs {REF}: " + (", ".join(gains) or "none measured")


def how_sure(sets: list[Set], sc: str, values: dict) -> str:
    """Could a differing verdict be noise: do the named implementations' gain intervals overlap across hosts?"""
    if sc not in SCENARIOS:
        return "-"
    named = [i for i in compared() if any(i in str(v) for v in values.values())]
    out = []
    for i in named:
        ivs = [s.gain_iv(i, sc) for s in sets if s.gain(i, sc)]
        if len(ivs) < 2 or any(iv is None for iv in ivs):
            out.append(f"{i}: no per-round ratios, no interval")
        elif max(lo for lo, _ in ivs) <= min(hi for _, hi in ivs):
            out.append(f"{i}: the hosts' intervals overlap: may be noise")
        else:
            out.append(f"{i}: the hosts' intervals do not overlap")
    return "; ".join(out) or "-"


def differing(sets: list[Set]) -> list[dict]:
    """[{scenario, verdict, values {label: value}, figures {label: str}}] where hosts disagree."""
    vs = {s.label: verdicts(s) for s in sets}
    out = []
    for sc in dict.fromkeys(sc for v in vs.values() for sc in v):
        for what in dict.fromkeys(k for v in vs.values() for k in v.get(sc, {})):
            vals = {s.label: vs[s.label].get(sc, {}).get(what, ("not measured",))[0] for s in sets}
            if len(set(vals.values())) > 1:
                out.append({"scenario": sc, "verdict": what, "values": vals,
                            "figures": {s.label: figures_for(s, sc, what) for s in sets},
                            "how_sure": how_sure(sets, sc, vals) if what != "dominant bucket" else "-"})
    return out


def write_merged(paths, out, allow_mixed: bool = False) -> tuple[list[Path], list[dict]]:
    """Merge the sets at `paths` into `out`. -> (files written, verdicts that differ)."""
    return write_sets(load_sets(paths), out, allow_mixed)


def write_sets(sets: list[Set], out, allow_mixed: bool = False) -> tuple[list[Path], list[dict]]:
    why = mixed(sets)
    refuse = [w for w in why if not w.startswith(("uncommitted", "commit unknown"))]
    if refuse and not allow_mixed:   # bad input: one line, exit 2 (cli.main)
        raise ResultsError("bench merge: refusing to merge result sets that are not comparable: " + "; ".join(refuse)
                         + " (pass --allow-mixed to merge them anyway; the report marks them)")
    out = out_dir(out)   # an --out that is a file: one line, before any work
    diffs = differing(sets)
    return render_report(sets, diffs, why, out), diffs


def run_merge(args) -> int:
    from ..console import table
    sets = load_sets(args.dirs)
    files, diffs = write_sets(sets, args.out, args.allow_mixed)
    print("\n".join(str(f) for f in files))
    table(f"verdicts that differ between hosts: {len(diffs)}",
          ["scenario", "verdict", "per host", "figures", "how sure"],
          [[d["scenario"], d["verdict"], "\n".join(f"{k}: {v}" for k, v in d["values"].items()),
            "\n".join(f"{k}: {v}" for k, v in d["figures"].items()), d["how_sure"]] for d in diffs], width=200)
    from .stability import agreement_lines
    for line in agreement_lines(sets):
        print(line)
    return 0
