"""The run's wall-clock budget (`bench all --budget SECONDS`, docs/DESIGN.md §7): the one place that splits
it over the parts by expected cost, and that each part asks how long it may take. A fixed part (does not loop)
has an estimate and runs to its end, its overrun taken from what is left; an elastic one (loops) is granted,
as it starts, its weight's share of what the fixed parts to come leave, and plans its rounds from it. No
budget (`--full`): every grant is unbounded. The clock is a parameter (tests use a fake one)."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .. import registry

INF = float("inf")
ELASTIC_FLOOR = 0.5   # the least share of their expected cost the elastic parts keep before optional parts go


@dataclass
class Part:
    name: str
    est: float               # fixed: seconds; elastic: seconds at the plan's counts (its weight)
    elastic: bool = False
    optional: bool = False   # may be left out where it does not fit (the least valued last in the list)
    label: str = ""          # what a note calls it


class Budget:
    def __init__(self, total_s: float | None, parts: list[Part], clock=time.perf_counter):
        self.total = INF if total_s is None else float(total_s)
        self.parts = {p.name: p for p in parts}
        self.order = [p.name for p in parts]
        self.clock = clock
        self.t0 = clock()
        self.spent: dict[str, float] = {}
        self.granted: dict[str, float] = {}
        self.dropped: dict[str, str] = {}   # part: why (the note)
        self.current: str | None = None
        self._start = 0.0

    # -- the whole run
    @property
    def bounded(self) -> bool:
        return math.isfinite(self.total)

    def elapsed(self) -> float:
        return self.clock() - self.t0

    def left(self) -> float:
        """Seconds to the run's deadline (inf without a budget)."""
        return self.total - self.elapsed()

    def pace(self) -> float:
        """Actual / estimated seconds of the fixed parts done (1 before any), within 0.5 to 4: their median
        weighted by estimate, so one far overestimated part hides no others' slowness (dev/NOTES-suite.md)."""
        done = sorted((self.spent[n] / self.parts[n].est, self.parts[n].est) for n in self.spent
                      if not self.parts[n].elastic and self.parts[n].est > 0)
        total = sum(w for _, w in done)
        if total < 1.0:
            return 1.0
        acc = 0.0
        for ratio, w in done:
            acc += w
            if acc >= total / 2:
                return min(4.0, max(0.5, ratio))
        return 1.0

    def _todo(self, after: str | None = None) -> list[str]:
        """The parts not done, not dropped and not running, after `after` in the run's order (all if None)."""
        names = self.order[self.order.index(after) + 1:] if after in self.order else self.order
        return [n for n in names if n not in self.spent and n not in self.dropped and n != self.current]

    def reserve(self, after: str | None = None) -> float:
        """Seconds the fixed parts still to come (after `after`) are expected to take at this run's pace,
        never under their estimates (a pace below 1 comes from generous estimates: dev/NOTES-suite.md)."""
        return sum(self.parts[n].est for n in self._todo(after) if not self.parts[n].elastic) * max(1.0, self.pace())

    def plan(self) -> list[str]:
        """Before anything runs: leave out optional fixed parts, the last listed first, until the fixed
        parts' estimates fit the budget with a quarter of it for the elastic parts. -> their notes."""
        notes = []
        if not self.bounded:
            return notes
        room = self.total * (0.75 if any(p.elastic for p in self.parts.values()) else 1.0)
        for name in reversed(self.order):
            p = self.parts[name]
            if self.reserve() <= room:
                break
            if p.optional and not p.elastic:
                notes.append(self._drop(name, p.est))
        return notes

    def _drop(self, name: str, need: float, so: str = "") -> str:
        p = self.parts[name]
        why = (f"{p.label or name} left out: its ~{need:.0f} s do not fit the run's budget of {self.total:.0f} s"
               f"{so} (--budget; --full keeps none)")
        self.dropped[name] = why
        return why

    def yield_to(self, name: str) -> list[str]:
        """As elastic part `name` starts: leave out optional fixed parts to come, the last listed first,
        while what the fixed parts to come leave the elastic ones is under ELASTIC_FLOOR of their expected
        cost (a loaded machine: the measuring comes first). -> their notes."""
        p = self.parts[name]
        if not self.bounded or not p.elastic:
            return []
        want = ELASTIC_FLOOR * sum(self.parts[n].est for n in [name, *self._todo(after=name)] if self.parts[n].elastic)
        notes = []
        for n in reversed(self._todo(after=name)):
            if self.left() - self.reserve(after=name) >= want:
                break
            q = self.parts[n]
            if q.optional and not q.elastic:
                notes.append(self._drop(n, q.est * self.pace(), f" beside {p.label or name} at this run's pace"))
        return notes

    # -- one part
    def fits(self, name: str) -> str | None:
        """None when the part may start now; else the note that leaves it out (optional fixed parts only)."""
        p = self.parts[name]
        if name in self.dropped:
            return self.dropped[name]
        if not self.bounded or p.elastic or not p.optional:
            return None
        need = p.est * self.pace()
        if need > self.left() - self.reserve(after=name):
            return self._drop(name, need)
        return None

    def share(self, name: str) -> float:
        """Seconds the part may take if it starts now: a fixed part its estimate at this run's pace, an
        elastic part its share of what the fixed parts to come leave (at least 0)."""
        p = self.parts[name]
        if not p.elastic:
            return p.est * self.pace()
        if not self.bounded:
            return INF
        free = self.left() - self.reserve(after=name)
        later = [n for n in self._todo(after=name) if self.parts[n].elastic]
        weight = p.est + sum(self.parts[n].est for n in later)
        return max(0.0, free * (p.est / weight if weight > 0 else 1.0))

    def begin(self, name: str) -> float:
        """The part starts: -> its grant (seconds)."""
        grant = self.share(name)
        self.current, self._start = name, self.clock()
        self.granted[name] = grant
        return grant

    def end(self, name: str) -> float:
        spent = self.clock() - self._start if self.current == name else 0.0
        self.spent[name] = spent
        if self.current == name:
            self.current = None
        return spent

    def part_left(self) -> float:
        """Seconds left of the running part's grant (inf without a budget or a running part)."""
        if self.current is None or not self.bounded:
            return INF
        return self.granted[self.current] - (self.clock() - self._start)

    def eta(self) -> float:
        """Seconds the run has left, estimated: the running part's rest, then every part to come at its
        expected cost at this run's pace (no more than its share); never beyond the deadline."""
        pace = self.pace()
        out = 0.0
        if self.current is not None:
            p = self.parts[self.current]
            took = self.clock() - self._start
            expect = p.est * pace if not p.elastic else min(self.granted[self.current], p.est * pace)
            out += max(0.0, min(expect, self.granted[self.current]) - took)
        for n in self._todo(after=self.current):
            p = self.parts[n]
            out += min(p.est * pace, self.share(n)) if p.elastic else p.est * pace
        return max(0.0, min(out, self.left())) if self.bounded else out

    def record(self) -> dict:
        """For the machine record: the budget and, per part, its estimate, grant and seconds taken."""
        return {"total_s": self.total if self.bounded else None,
                "parts": {n: {"estimate_s": round(self.parts[n].est, 1), "elastic": self.parts[n].elastic,
                              "granted_s": (round(self.granted[n], 1) if math.isfinite(self.granted[n]) else None)
                              if n in self.granted else None,
                              "spent_s": round(self.spent[n], 1) if n in self.spent else None,
                              "left_out": n in self.dropped} for n in self.order}}


class Slice:
    """A share of a running part's grant, split further by weight (the scenarios among themselves):
    `take(key)` -> seconds for `key` now, from what is left of the part's grant, in proportion to its
    weight among the keys still to come; inf without a budget."""

    def __init__(self, budget: Budget | None, weights: dict[str, float]):
        self.budget, self.weights, self.done = budget, dict(weights), set()

    def take(self, key: str) -> float:
        if self.budget is None or not self.budget.bounded:
            self.done.add(key)
            return INF
        todo = [k for k in self.weights if k not in self.done]
        total = sum(self.weights[k] for k in todo) or 1.0
        self.done.add(key)
        return max(0.0, self.budget.part_left()) * self.weights.get(key, 0.0) / total


# what a note calls a part the allocator may leave out (else its key)
LABELS = {"compile": "the torch.compile probe", "load": "loading", "tokenize": "tokenizer throughput",
          "scenarios": "the scenarios", "sweep": "the batch x length sweep", "interventions": "length-sorted batching",
          "coldstart": "cold start and footprint", "browser": "the browser bench", "report": "the report"}
OPTIONAL = ("coldstart", "browser")   # fixed parts a budget may leave out, last first (a plan's "optional" overrides)


def part_of(run, key: str, names: list[str]) -> Part:
    """Part `key` of this run for the allocator: its estimate from the plan and what the run selected."""
    plan = run.plan
    label = LABELS.get(key, key)
    if key in plan.get("elastic", {}):
        return Part(key, float(plan["elastic"][key]), elastic=True, label=label)
    fixed, each = plan.get("est", {}).get(key, (0.0, 0.0))
    forwards = [n for n in names if registry.has_forward(n)]
    units = {"compile": sum(registry.BY_NAME[n].compiles for n in names), "load": len(names),
             "equivalence": len(names) * plan.get("eq_texts", 0),
             "fidelity": len(forwards) * (plan.get("fidelity_texts") or 1114),
             "coldstart": sum(len(registry.cold_rows(n)) for n in forwards) * plan.get("cold_n", 1),
             "browser": _pages(run)}.get(key, 0)
    return Part(key, fixed + each * units, optional=key in plan.get("optional", OPTIONAL), label=label)


def _pages(run) -> int:
    """The browser bench's pages (browser/pages.page_runs), 0 where it does not run."""
    wanted = run.args.impl or registry.names()
    if not any(registry.BY_NAME[n].browser_pages for n in wanted):
        return 0
    try:
        from ..browser import pages
        return len(pages.page_runs(run.args.threads))
    except Exception:   # the browser bench says why itself when it runs
        return 0
