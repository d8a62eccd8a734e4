"""python -m bench.report DIR: rebuild report.md, the plots and index.html from DIR/results.json."""
import sys
from pathlib import Path

from ..results import load
from . import print_decision_table, write_report

d = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
print("\n".join(str(p) for p in write_report(d)))
print_decision_table(load(d / "results.json"))
