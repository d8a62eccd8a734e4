"""Console output: the rich tables and progress bars `bench` prints; the runner and the CLI import it, it
imports neither. Leaves out: files (the report package writes those)."""
from __future__ import annotations

import sys
from contextlib import AbstractContextManager

from . import registry


def _console(width: int):
    """rich's Console: the terminal's width, else `width` columns."""
    from rich.console import Console
    return Console(width=None if sys.stdout.isatty() else width)


def table(title: str, cols: list[str], rows: list[list], width: int = 160) -> None:
    from rich.table import Table
    t = Table(title=title)
    for c in cols:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*[(f"{v:.3g}" if isinstance(v, float) else str(v)) for v in r])
    _console(width).print(t)


def clock(seconds: float) -> str:
    """m:ss"""
    s = max(0, int(round(seconds)))
    return f"{s // 60}:{s % 60:02d}"


_RUN = None   # the whole run's display while one is up (RunProgress)


class RunProgress:
    """One display for a whole run: the part (n of N), what it does (rounds done of planned), elapsed and
    eta() (seconds, suite/budget.py). Rich live in a terminal, nothing elsewhere (the runner logs a line
    per part). While it is up, `progress()` is a view onto its second line."""

    def __init__(self, parts: list[str], eta=lambda: None, show: bool | None = None, console=None):
        self.parts, self.eta, self.console = list(parts), eta, console
        self.show = sys.stdout.isatty() if show is None else show
        self.pb = None

    def __enter__(self):
        global _RUN
        if self.show:
            from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
            from rich.text import Text
            eta = self.eta

            class Left(ProgressColumn):
                def render(self, task):
                    if not task.fields.get("run"):
                        return Text("")
                    s = eta()
                    return Text(f"~{clock(s)} left" if s is not None else "", style="progress.remaining")

            self.pb = Progress(TextColumn("  {task.description:<40}"), BarColumn(bar_width=20),
                               TextColumn("{task.fields[count]:>9}"), TimeElapsedColumn(), Left(),
                               console=self.console)
            self.run = self.pb.add_task("starting", total=len(self.parts), count=f"0/{len(self.parts)}", run=True)
            self.step_task = self.pb.add_task("", total=None, count="", run=False)
            self.pb.start()
        _RUN = self
        return self

    def __exit__(self, *exc):
        global _RUN
        _RUN = None
        if self.pb is not None:
            self.pb.stop()
            self.pb = None

    def part(self, name: str) -> None:
        """A part starts."""
        if self.pb is None:
            return
        i = self.parts.index(name) if name in self.parts else 0
        self.pb.update(self.run, description=f"{name}", completed=i, count=f"part {i + 1}/{len(self.parts)}")
        self.pb.reset(self.step_task, total=1, completed=0, description="", count="")   # its clock: this part's

    def step(self, text: str, done: float | None = None, total: float | None = None) -> None:
        """What the running part is doing; done of total (rounds, items) when it counts."""
        if self.pb is None:
            return
        self.pb.update(self.step_task, description=text, total=total or 1, completed=(done or 0) if total else 0,
                       count=f"{int(done or 0)}/{int(total)}" if total else "")


def rounds(label: str):
    """A callback(done, planned) for measure_point: 'label: rounds done/planned' on the running display; None
    without one (nothing to update)."""
    run = _RUN if _RUN is not None and _RUN.pb is not None else None
    return (lambda done, planned: run.step(f"{label}: rounds", done, planned)) if run else None


class _Steps(AbstractContextManager):
    """progress() under a RunProgress or off a terminal: rich Progress's calls, onto the run's line or nowhere."""

    def __init__(self, run: RunProgress | None):
        self.run, self.desc, self.done, self.total = run, "", 0, None

    def __exit__(self, *exc):
        return False

    def add_task(self, description: str, total=None, **kw):
        self.desc, self.done, self.total = description, 0, total
        self.update(0)
        return 0

    def update(self, task, description: str | None = None, advance: float | None = None, **kw):
        if description is not None:
            self.desc = description
        if advance:
            self.done += advance
        if self.run is not None:
            self.run.step(self.desc, self.done, self.total)

    def advance(self, task, n: float = 1):
        self.update(task, advance=n)


def progress():
    """A progress bar: a view onto the run's display while one is up, nothing off a terminal, else rich's."""
    if _RUN is not None or not sys.stdout.isatty():
        return _Steps(_RUN if _RUN is not None and _RUN.pb is not None else None)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    return Progress(TextColumn("  {task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def print_equivalence(title: str, rows) -> None:
    """rows: equivalence.check.Row."""
    table(title, ["impl", "texts", "id mismatches", "first offending text", "max |Δ|", "tol", "min cos", "ok"],
          [[r.impl, r.texts, r.id_mismatches, repr(r.first_bad) if r.first_bad else "",
            r.max_abs if r.max_abs is not None else "-", r.tol or ("-" if r.exact else "vectors: fidelity budget"),
            r.min_cos if r.min_cos is not None else "-", ("yes" if r.exact else "ids yes") if r.ok else
            f"NO {r.error}"] for r in rows])


def print_tokenize(recs) -> None:
    by = {}
    for r in recs:
        by.setdefault(r.impl, {})[r.metric] = r
    peer = registry.TOKENIZE_PEER
    table("tokenizer throughput (single thread, batches of 64, str in -> ids out)",
          ["impl", "texts/s", "MB/s", f"× {peer}"],
          [[n, m["tokenize_texts_s"].value, m["tokenize_mb_s"].value,
            m["tokenize_texts_s"].extra.get(f"speedup_vs_{peer}", "-")] for n, m in by.items()])


def print_threads(recs) -> None:
    if recs:
        table(f"threaded tokenization: {recs[0].extra['threads']} Python threads vs 1 (GIL released?)",
              ["impl", "speed-up"], [[r.impl, r.value] for r in recs])


def print_scenarios(recs, scs: list[str]) -> None:
    """Per scenario: latency, throughput, forward, gain and ceiling with intervals, attribution shares."""
    from .attribution.ceilings import from_records
    from .registry import BUCKETS
    from .stats import fmt_ci
    ref_name, peer = registry.REFERENCE, registry.EMBED_PEER
    by = {}
    for r in recs:
        if r.scenario in scs:
            by.setdefault((r.impl, r.scenario), {})[r.metric] = r
    rows = []
    for sc in scs:
        for (impl, s), m in by.items():
            if s != sc or "latency_p50" not in m:
                continue
            att = from_records(recs, impl, sc)
            g, c = m.get("port_gain"), m.get("port_ceiling")
            gain = f"{fmt_ci(g.value, g.extra['ci'])} vs {g.extra['vs']}" if g else "-"
            if g and g.extra.get("method_failure"):
                gain = f"[bold red]{gain} METHOD FAILURE[/bold red]"
            ceil = fmt_ci(c.value, c.extra["ci"]) if c and c.value is not None else ("n/a" if c else "-")
            fwd, pk = m.get("forward_p50"), m.get("peak_fraction")
            peak = f"{pk.extra['useful_gflops']:.0f} ({100 * pk.value:.0f}% {pk.extra['peak_runtime']}" \
                f"{'?: above the probed peak' if pk.value > 1 else ''})" if pk else "-"
            rows.append([sc, impl, m["latency_p50"].value, m["latency_p99"].value, m["throughput"].value,
                         m["throughput_tokens"].value, fwd.value if fwd else "-", peak,
                         m["latency_p50"].extra.get(f"ratio_vs_{peer}", "-"), gain, ceil,
                         " ".join(f"{b[:3]}{100 * (att['shares'].get(b) or 0):.0f}%" for b in (*BUCKETS, "unattributed"))
                         if att else "-"])
    table(f"latency, throughput, gains and attribution (embed = tokenize + forward; gains over {ref_name} or "
          "the baseline named, 95% intervals)",
          ["scenario", "impl", "p50 ms", "p99 ms", "texts/s", "tokens/s", "forward p50 ms", "GFLOP/s (of peak)", f"time ÷ {peer}",
           "gain [95% CI]", "ceiling [95% CI]", "tok / kernels / framework / io / unattributed"], rows)


def print_coldstart(rows: list[list]) -> None:
    table("cold start (fresh process -> first embedding) and footprint",
          ["row", "cold s", "peak RSS MiB", "disk MB (all)", "own MB"], rows)


def print_maintenance(m: dict) -> None:
    table("maintenance", ["impl", "code lines", "by language", "glue lines", "generated", "tooling (apart)",
                          "build s"],
          [[i, v["code"], ", ".join(f"{k} {n}" for k, n in v["by_language"].items()), v["glue"], v["generated"],
            v.get("tooling", 0), m["build"].get(i, {}).get("seconds") or "-"] for i, v in m["lines"].items()])


def print_change(d: dict) -> None:
    table(f"what one change cost each port: {d['label']} ({d['commits']} commits, git {d['old']}..{d['new']})",
          ["impl", "lines added", "lines removed", "files", "generated lines", "rebuild"],
          [[i, v["added"], v["removed"], v["files"], v["generated"] or "-",
            ("yes: " + ", ".join(v["why"][:3])) if v["rebuild"] else "no"] for i, v in d["rows"].items()])


def print_decision(cols: list[str], rows: list[list], failures=(), quick: bool = False, noisy: str | None = None) -> None:
    """The decision table, method failures in red under it; noisy: stability.noisy_line or None."""
    red = [[f"[bold red]{c}[/bold red]" if isinstance(c, str) and "METHOD FAILURE" in c else c for c in r] for r in rows]
    table("decision table (docs/DESIGN.md), filled from this machine's measurements; gains and ceilings with 95% "
          "intervals", cols, red, width=200)
    con = _console(200)
    for sc, impl, why in failures:
        con.print(f"[bold red]method failure[/bold red] at {sc}: {impl}: {why}", highlight=False)
    if quick:
        con.print("--quick: few rounds per point, so its intervals are wider than the default plan's and its "
                  "verdicts are indicative; run without --quick before acting on them", highlight=False)
    if noisy:
        con.print(f"[bold yellow]{noisy}[/bold yellow]", highlight=False)
