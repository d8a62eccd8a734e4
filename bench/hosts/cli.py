"""`bench merge`, `bench compare`, `bench fleet` (docs/DESIGN.md §7 "many hosts"): their options on cli.py's
parser and their entry points. Glue only. Leaves out: everything else on the command line (bench/cli.py)."""
from __future__ import annotations

import argparse
from importlib import import_module


def _entry(name: str):
    """bench/hosts/<name>.py's run_<name>, imported when the command runs."""
    return lambda args: getattr(import_module(f"{__package__}.{name}"), f"run_{name}")(args)


def add_parsers(sub) -> None:
    """Register merge, compare and fleet (own_options: cli.main leaves their options to them)."""
    m = sub.add_parser("merge", help="one report across result sets from several hosts")
    m.add_argument("dirs", nargs="+", help="result directories (or their results.json)")
    m.add_argument("--out", required=True, help="directory for the merged report")
    m.add_argument("--allow-mixed", action="store_true", help="merge sets from different commits or models (marked)")
    m.set_defaults(fn=_entry("merge"), own_options=True)
    c = sub.add_parser("compare", help="NEW vs OLD per figure, with a significance test; exit 1 on a regression")
    c.add_argument("old")
    c.add_argument("new")
    c.add_argument("--threshold", default="5%", help="slowdown that counts (default 5%%)")
    c.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    c.add_argument("--all", action="store_true", help="list every figure compared, not only those that moved")
    c.set_defaults(fn=_entry("compare"), own_options=True)
    # its own options, not parents=[common]: resolving conflicts would rewrite the shared actions
    f = sub.add_parser("fleet",
                       help="`bench all` once on every node of a Ray cluster, then merge (pip install .[fleet])")
    f.add_argument("--model", help="model directory, the same path on every node (default: packaged)")
    f.add_argument("--impl", nargs="+", help="implementations to run (see `bench list`)")
    f.add_argument("--corpus", help="corpus file, the same path on every node")
    f.add_argument("--quick", action="store_true", help="a short pass")
    f.add_argument("--address", required=True, help="Ray cluster address (host:port, or ray://host:10001)")
    f.add_argument("--per-node", type=int, default=1, help="runs per node, one after another (default 1)")
    f.add_argument("--device", default="auto", help="auto (cpu everywhere, cuda too where a node has a GPU) | cpu")
    f.add_argument("--threads", type=int, help="torch threads (default: each node's core count)")
    f.add_argument("--out", default="fleet", help="output directory: hosts/<host-id>/ and the merged report")
    f.add_argument("--allow-mixed", action="store_true", help="merge nodes on different commits or models")
    f.add_argument("--full", action="store_true", help="passed on to `bench all`")
    f.add_argument("--timeout", type=float, default=7200, help="seconds per node run (default 7200)")
    f.add_argument("bench_args", nargs=argparse.REMAINDER, help="after --: more options for `bench all` on every node")
    f.set_defaults(fn=_entry("fleet"), own_options=True)
