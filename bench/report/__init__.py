"""The report (docs/DESIGN.md §7 "output"): results.json -> report.md, PNG plots and an index.html that works
offline, led by the decision table (`print_decision_table` shows it on the terminal).
  speed.py, costs.py  the sections (header ... interventions; cold start ... browser, decision)
  decision.py         the decision logic (decision_rows);  index.py  records -> lookups, md_table, crossovers
  plots.py            the PNGs;  html.py  index.html;  readme.py  the README's results and docs/results pages
Leaves out: interactive plots, comparisons across machines (bench/hosts/)."""
from __future__ import annotations

from pathlib import Path

from . import costs, speed
from .decision import DECISION_COLS, decision_cells, decision_rows, print_decision_table
from .html import to_html
from .index import Index
from .plots import PLOTS

SECTIONS = (speed.header, costs.decision, speed.equivalence, speed.latency, speed.peak, speed.attribution, speed.sweep,
            speed.cheaper_interventions, costs.coldstart, costs.footprint, costs.maintenance, costs.browser)

__all__ = ["write_report", "markdown", "decision_rows", "print_decision_table", "DECISION_COLS", "decision_cells",
           "SECTIONS", "Index"]


def markdown(data: dict, plots: list[str]) -> str:
    ix = Index(data)
    return "".join(section(ix, plots) for section in SECTIONS)


def write_report(out_dir, data: dict | None = None) -> list[Path]:
    """report.md, the PNGs and index.html into out_dir, from data or out_dir/results.json."""
    from ..results import load   # the one loader of result files (ResultsError: one line)
    out = Path(out_dir)
    data = data if data is not None else load(out / "results.json")
    ix = Index(data)
    plots = [name for name, fn in PLOTS if fn(ix, out / name)]
    md = markdown(data, plots)
    (out / "report.md").write_text(md)
    (out / "index.html").write_text(to_html(md, out))
    return [out / "report.md", out / "index.html"] + [out / p for p in plots]
