"""results.json records -> the lookups the report's sections, plots and decision logic share, the markdown
table helper, and the sweep's crossovers."""
from __future__ import annotations

import re

import numpy as np

from .. import registry
from ..scenarios import SCENARIOS

MAIN_SCENARIOS = tuple(SCENARIOS)


class Index:
    """records -> lookups by (impl, metric, scenario)."""

    def __init__(self, data: dict):
        self.data, self.recs = data, data["records"]
        self.by = {(r["impl"], r["metric"], r["scenario"]): r for r in self.recs}

    def v(self, impl, metric, scenario, default=None):
        r = self.by.get((impl, metric, scenario))
        return r["value"] if r else default

    def r(self, impl, metric, scenario):
        return self.by.get((impl, metric, scenario))

    def impls(self, metric, scenario) -> list[str]:
        return [r["impl"] for r in self.recs if r["metric"] == metric and r["scenario"] == scenario]

    def scenarios(self, prefix: str = "", metric: str = "latency_p50") -> list[str]:
        seen = []
        for r in self.recs:
            if r["metric"] == metric and r["scenario"].startswith(prefix) and r["scenario"] not in seen:
                seen.append(r["scenario"])
        return seen

    def main_scenarios(self) -> list[str]:
        return [s for s in MAIN_SCENARIOS if s in self.scenarios()]

    def gain(self, impl, scenario, base=None):
        a, b = self.v(base or registry.REFERENCE, "latency_p50", scenario), self.v(impl, "latency_p50", scenario)
        return a / b if a and b else None

    def best(self, names: list[str], scenario: str) -> tuple[str | None, float]:
        """The best measured gain over the reference among `names` at `scenario` -> (name, gain)."""
        gains = {n: self.gain(n, scenario) for n in names if self.gain(n, scenario)}
        if not gains:
            return None, 0.0
        b = max(gains, key=gains.get)
        return b, gains[b]


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
    for d in out.values():
        for v in d.values():
            v.sort()
    return out


def crossover(xs: list[int], a: list[float], b: list[float]) -> float | None:
    """First batch size where per-text latency of a stops beating b (log-interpolated), or None."""
    d = [np.log(x) - np.log(y) for x, y in zip(a, b)]   # < 0: a faster
    for i in range(1, len(xs)):
        if (d[i - 1] < 0) != (d[i] < 0):
            f = d[i - 1] / (d[i - 1] - d[i])
            return float(np.exp(np.log(xs[i - 1]) + f * (np.log(xs[i]) - np.log(xs[i - 1]))))
    return None


def crossovers(ix: Index, base: str | None = None, table: dict | None = None) -> list[tuple]:
    """(length, impl, batch where impl's per-text latency crosses base's) for each pair that crosses."""
    base = base or registry.REFERENCE
    out = []
    for length, d in (table if table is not None else sweep_table(ix)).items():
        if base not in d:
            continue
        xs = [b for b, _ in d[base]]
        for impl, pts in d.items():
            if impl == base or [b for b, _ in pts] != xs or len(xs) < 2:
                continue
            x = crossover(xs, [v for _, v in pts], [v for _, v in d[base]])
            if x is not None:
                out.append((length, impl, x))
    return out


def browser_label(r: dict) -> str:
    """A browser record's row: "impl (browser)", with its threads where a page ran on more than one."""
    n = r.get("extra", {}).get("threads") or 1
    return f"{r['impl']} (browser{f', {n} threads' if n > 1 else ''})"


def cold_figures(ix: Index) -> list[tuple]:
    rows = [(r["extra"].get("row", r["impl"]), r["value"]) for r in ix.recs if r["metric"] == "coldstart"
            and r["scenario"].startswith("coldstart:")]
    rows += [(browser_label(r), r["value"] / 1e3) for r in ix.recs
             if r["metric"] == "coldstart" and r["scenario"] == "browser"]
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
