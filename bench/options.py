"""cli.py's options shared by subcommands or longer than a line: --weights, --scenario, --budget, --change,
`bench all`'s set. Leaves out the checks of their values (inputs.py) and what they do (suite/)."""
from __future__ import annotations


def weights(p) -> None:
    p.add_argument("--weights", choices=("real", "random"), default="real",
                   help="random: seeded random weights of the model's architecture for every implementation "
                        "(timing where the real weights cannot travel; --model DIR then needs no weights)")


def change_arg(p, positional: bool = False) -> None:
    help = ("a git range OLD..NEW: the change whose cost per port the maintenance report shows "
            "(default: issue 11's model spec, the change of record)")
    if positional:
        p.add_argument("range", nargs="?", default=None, metavar="OLD..NEW", help=help)
    else:
        p.add_argument("--change", default=None, metavar="OLD..NEW", help=help)


def scenario_arg(p) -> None:
    p.add_argument("--scenario", nargs="+", metavar="NAME", default=None,
                   help="only these scenarios (single, batch, long, batch256): a shorter run")


def budget_arg(p) -> None:
    from .suite.run import PLANS
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help=f"the run's wall-clock budget, kept whatever the machine's load: the parts that loop plan "
                        f"their rounds from what is left, and a gain whose rounds run out is undecided where they "
                        f"cannot decide (default: {PLANS['quick']['budget_s']} s with --quick, "
                        f"{PLANS['default']['budget_s']} s without; --full keeps none)")


def all_args(p) -> None:
    scenario_arg(p)
    budget_arg(p)
    p.add_argument("--full", action="store_true",
                   help="complete sweep (1/8/32/128 x short/medium/long), clean build timings, no budget")
    change_arg(p)
    weights(p)
    p.add_argument("--fidelity", nargs=2, type=float, metavar=("TOPK", "COS"), default=None,
                   help="the fidelity budget the decision table judges int8 rows by: the least mean top-k "
                        "neighbour agreement and least cosine to upstream fp32 (default: bench/tolerances.py)")
