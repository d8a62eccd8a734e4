"""The browser part of `bench all`: the browser bench's (browser/pages.py) records and notes."""
from __future__ import annotations

import re
from pathlib import Path

from .. import registry
from ..results import Record
from ..suite.run import Run


def part_browser(run: Run) -> None:
    """The browser bench (whatever --device), when an entry asked for owns browser pages (registry)."""
    wanted = run.args.impl or registry.names()
    if not any(registry.BY_NAME[n].browser_pages for n in wanted):
        run.note("browser bench not run: no implementation asked for runs in the browser")
        return
    from . import pages
    why = pages.missing()
    if why:
        run.note(f"browser bench not run: {why}")
        return
    res = pages.run_browser_bench(run.args.quick, Path(run.args.out), model=str(run.mdir), threads=run.args.threads)
    for r in res.get("records", []):
        run.add([Record(**{**r, "value": float(r["value"])})])
        if r["metric"] == "error":
            err = re.sub(r"https?://127\.0\.0\.1:\d+", "the page server", r["extra"].get("error", ""))
            run.note(f"browser {r['impl']}: {err[:200]}")   # the port of a server gone after the run: not a link
    pages.print_table(res)
