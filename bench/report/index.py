"""results.json records -> the lookups the report's sections, plots and decision logic share, the markdown
table helper, the sweep's crossovers, and the cold-start and footprint rows."""
from __future__ import annotations

import re

import numpy as np

from .. import registry
from ..attribution.ceilings import from_records
from ..scenarios import SCENARIOS


class Index:
    """records -> lookups by (impl, metric, scenario)."""

    def __init__(self, data: dict):
        self.data, self.recs = data, data["records"]
        self.by = {(r["impl"], r["metric"], r["scenario"]): r for r in self.recs}

    def r(self, impl, metric, scenario):
        return self.by.get((impl, metric, scenario))

    def v(self, impl, metric, scenario, default=None):
        r = self.r(impl, metric, scenario)
        return r["value"] if r else default

    def every(self, metric, scenario) -> list[dict]:
        """Every record of metric at scenario, in file order."""
        return [r for r in self.recs if r["metric"] == metric and r["scenario"] == scenario]

    def impls(self, metric, scenario) -> list[str]:
        return [r["impl"] for r in self.every(metric, scenario)]

    def main_scenarios(self) -> list[str]:
        """The project's scenarios (in their order) that have latency records."""
        timed = {r["scenario"] for r in self.recs if r["metric"] == "latency_p50"}
        return [s for s in SCENARIOS if s in timed]

    def splits(self, scenario) -> list[dict]:
        """from_records' split of each implementation split at scenario, in record order."""
        impls = dict.fromkeys(self.impls("attribution_tokenize", scenario))
        return [a for a in (from_records(self.recs, i, scenario) for i in impls) if a]

    def gain(self, impl, scenario):
        """The reference's p50 over impl's at scenario, or None."""
        a, b = self.v(registry.REFERENCE, "latency_p50", scenario), self.v(impl, "latency_p50", scenario)
        return a / b if a and b else None

    def best(self, names: list[str], scenario: str) -> tuple[str | None, float]:
        """The best measured gain over the reference among `names` at `scenario` -> (name, gain)."""
        gains = {n: g for n in names if (g := self.gain(n, scenario))}
        b = max(gains, key=gains.get, default=None)
        return b, gains.get(b, 0.0)


def numeric(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def fmt(x, nd=3):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}g}" if abs(x) < 1e4 else f"{x:,.0f}"
    return str(x)


def md_table(cols, rows) -> str:
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def sweep_table(ix: Index) -> dict:
    """{length: {impl: [(batch, per-text ms)]}} from sweep:<b>x<len> records."""
    out: dict = {}
    for r in ix.recs:
        m = re.fullmatch(r"sweep:(\d+)x(\w+)", r["scenario"])
        if m and r["metric"] == "latency_p50":
            b = int(m.group(1))
            out.setdefault(m.group(2), {}).setdefault(r["impl"], []).append((b, r["value"] / b))
    return {length: {impl: sorted(pts) for impl, pts in d.items()} for length, d in out.items()}


def crossovers(table: dict) -> list[tuple]:
    """(length, impl, batch) for each impl swept at the reference's batch sizes whose per-text latency
    crosses the reference's: the first sign change, log-interpolated."""
    out = []
    for length, d in table.items():
        base = d.get(registry.REFERENCE, [])
        xs = [b for b, _ in base]
        for impl, pts in d.items():
            if impl == registry.REFERENCE or len(xs) < 2 or [b for b, _ in pts] != xs:
                continue
            diff = [np.log(a) - np.log(b) for (_, a), (_, b) in zip(pts, base)]   # < 0: impl faster
            i = next((i for i in range(1, len(xs)) if (diff[i - 1] < 0) != (diff[i] < 0)), None)
            if i is not None:
                f = diff[i - 1] / (diff[i - 1] - diff[i])
                out.append((length, impl, float(np.exp(np.log(xs[i - 1]) + f * (np.log(xs[i]) - np.log(xs[i - 1]))))))
    return out


def browser_label(r: dict) -> str:
    """A browser record's row: "impl (browser)", with its threads where a page ran on more than one."""
    n = r.get("extra", {}).get("threads") or 1
    return f"{r['impl']} (browser{f', {n} threads' if n > 1 else ''})"


def cold_figures(ix: Index) -> list[tuple]:
    rows = [(r["extra"].get("row", r["impl"]), r["value"]) for r in ix.recs if r["metric"] == "coldstart"
            and r["scenario"].startswith("coldstart:")]
    rows += [(browser_label(r), r["value"] / 1e3) for r in ix.every("coldstart", "browser")]
    return rows


def foot_rows(ix: Index) -> list[dict]:
    rows = {}
    for r in ix.recs:
        if r["scenario"].startswith("footprint:"):
            row = rows.setdefault(r["scenario"].split(":", 1)[1], {})
            if r["metric"] == "peak_rss":
                row["rss"] = r["value"]
            elif r["metric"] == "disk_bytes":
                row.update(own=r["extra"]["own"], deps=r["extra"]["deps"], runtime=r["extra"]["runtime"],
                           packages=r["extra"].get("packages", {}))
    for r in ix.recs:
        if r["scenario"] == "browser" and r["metric"] in ("bytes_total", "bytes_runtime", "wasm_memory"):
            rows.setdefault(browser_label(r), {})[r["metric"]] = r["value"]
    return [{"row": k, **v} for k, v in rows.items()]
