"""`bench`: the command line. Subcommands: list, embed, equivalence, tokenize, latency, browser,
report, fuzz, read, calibrate, change, all; merge, compare, fleet (many hosts).
Glue: each subcommand (a function under `@command(...)`) calls suite/, a measurement's package or the report.
Bad input (inputs.py) is one line on stderr and exit 2, never a traceback; exit 1 when an equivalence check fails."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable

from . import console, inputs, options, registry
from .inputs import UsageError

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


COMMANDS: dict[str, tuple] = {}   # name -> (fn, help, impl, configure), in --help's order


def command(name: str, help: str, impl: str | None = "many", configure: Callable | None = None):
    """Register `fn(args) -> int` as subcommand `name`. impl: --impl takes "many" names, "one", or is not
    offered (None); configure(parser) adds the subcommand's own arguments."""
    def deco(fn):
        COMMANDS[name] = (fn, help, impl, configure)
        return fn
    return deco


@command("list", "what is registered and available here", impl=None)
def cmd_list(args) -> int:
    console.table("implementations", ["name", "kind", "stages", "tokenizer", "kernels", "available"],
                  [[e.name, e.kind, "+".join(e.stages), e.tokenizer, e.kernels, registry.why_missing(e.name) or "yes"]
                   for e in registry.REGISTRY])
    return 0


@command("embed", "print embeddings of TEXT... as JSON lines", impl="one",
         configure=lambda p: p.add_argument("texts", nargs="+", metavar="TEXT"))
def cmd_embed(args) -> int:
    name = args.impl[0] if args.impl else registry.REFERENCE
    if not registry.has_forward(name):
        raise UsageError(f"{name} is a tokenizer only: it cannot embed (see `bench list`)")
    pipe = registry.load_impl(name, args.model, device=args.device)
    try:
        for text, vec in zip(args.texts, pipe.embed(args.texts)):
            print(json.dumps({"text": text, "embedding": [round(float(x), 7) for x in vec]}, ensure_ascii=False))
    finally:
        getattr(pipe, "close", lambda: None)()
    return 0


@command("equivalence", "ids vs HF tokenizers, embeddings vs sentence-transformers, on the whole corpus")
def cmd_equivalence(args) -> int:
    from .equivalence import oracle
    from .equivalence.check import check_equivalence
    from .equivalence.fidelity import apart
    from contract.api import model_dir
    mdir = model_dir(args.model)
    texts = inputs.corpus(args)
    ref_ids, ref_emb = oracle.hf_ids(mdir, texts), None
    rows, names = [], args.impl or registry.available("port")
    for name in names:
        if registry.has_forward(name) and ref_emb is None:
            ref_emb = oracle.st_embed(mdir, texts, args.device)
        rows.append(check_equivalence(name, texts, mdir, args.device, ref_ids, ref_emb))
    console.print_equivalence(f"equivalence on {args.corpus or 'the project corpus'} ({len(texts)} texts)", rows)
    lossy = [n for n in names if registry.has_forward(n) and not registry.BY_NAME[n].exact]   # int8: apart
    within = apart(lossy, texts, mdir, args.device, ref_emb) if lossy else True
    return 0 if rows and all(r.ok for r in rows) and within else 1


@command("tokenize", "tokenizer throughput, single thread, the threaded speed-up, and seconds to embed "
         "10 MB adversarial texts")
def cmd_tokenize(args) -> int:
    from . import suite
    run = suite.Run(args)
    try:
        want = args.impl or registry.tokenizers()
        names = [n for n in want if registry.why_missing(n) is None]
        for n in set(want) - set(names):
            run.note(f"{n} not measured: {registry.why_missing(n)}")
        suite.pin_threads(args.threads)
        suite.part_load(run, names)
        suite.part_tokenize(run, threads=2)
        from .equivalence.adversarial import run_part
        run_part(run)   # seconds to embed 10 MB adversarial texts (docs/DESIGN.md §5)
    finally:
        run.close()
    return 0


@command("latency", "the scenarios of `bench all` (latency, throughput, forward), without attribution; "
         "records into --out/latency.json",
         configure=lambda p: (options.weights(p), options.scenario_arg(p), options.budget_arg(p)))
def cmd_latency(args) -> int:
    from .suite import run_latency
    return run_latency(args)


@command("browser", "the browser bench in headless Chromium", impl=None)
def cmd_browser(args) -> int:
    from .browser import pages
    pages.print_table(pages.run_browser_bench(args.quick, Path(args.out), model=args.model))
    return 0


def _report_args(p) -> None:
    p.add_argument("files", nargs="*", metavar="RESULTS.json",
                   help="committed result sets (docs/results/<host-id>.json): print the README's results tables")
    p.add_argument("--readme", metavar="README.md", help="with FILES: write the tables between its results markers")


@command("report", "rebuild report.md, plots and index.html from --out/results.json; with FILES, the README's "
         "results tables from them", impl=None, configure=_report_args)
def cmd_report(args) -> int:
    from . import report, results
    if args.files:
        from .report.readme import ReadmeError, block, update
        try:
            paths = [Path(f) for f in args.files]
            if args.readme:
                print(f"{args.readme}: {'updated' if update(Path(args.readme), paths) else 'already current'}")
            else:
                print(block(paths))
        except (ReadmeError, OSError) as e:
            raise UsageError(str(e)) from None
        return 0
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory (the report goes into --out)")
    if not (out / "results.json").is_file():
        raise UsageError(f"{out / 'results.json'}: no such file (run `bench all --out {out}` first)")
    data = results.load(out / "results.json")   # checked: one line and exit 2 for a file it cannot use
    print("\n".join(str(p) for p in report.write_report(out, data)))
    report.print_decision_table(data)
    return 0


def _fuzz_args(p) -> None:
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)


@command("fuzz", "differential fuzzing of tokenizers vs HF tokenizers", configure=_fuzz_args)
def cmd_fuzz(args) -> int:
    from tqdm import tqdm

    from .equivalence.fuzz import fuzz
    from contract.api import model_dir
    names = args.impl or registry.available("port")
    with tqdm(total=args.n, desc="fuzz", unit="text") as bar:
        found = fuzz(names, model_dir(args.model), args.n, args.seed, progress=bar.update)
    console.table(f"differential fuzz vs HF tokenizers ({args.n} texts, seed {args.seed})",
                  ["impl", "mismatches (saved, max 20)", "reproducers"],
                  [[n, len(p), " ".join(x.name for x in p[:3])] for n, p in found.items()])
    return 1 if any(found.values()) else 0


def _read_args(p) -> None:
    p.add_argument("--link-base", default=None,
                   help="prefix for source links (e.g. https://github.com/OWNER/REPO/blob/COMMIT/); "
                        "default: paths relative to the page")


@command("read", "write the side-by-side reading view: each stage's code in every port (--out/read.html)",
         configure=_read_args)
def cmd_read(args) -> int:
    from .read import write_page
    print(write_page(Path(args.out) / "read.html", ports=args.impl, link_base=args.link_base))
    return 0


@command("calibrate", "inject known Python work and IO into the reference; check the attribution recovers them "
         "(exit 1 above 15 percent error)", impl=None)
def cmd_calibrate(args) -> int:
    from .attribution.calibrate import run_calibrate
    return run_calibrate(args)


@command("change", "what one change cost each port: lines added and removed in its own files, and whether it "
         "needed a rebuild (from git)", impl=None, configure=lambda p: options.change_arg(p, positional=True))
def cmd_change(args) -> int:
    from .costs.change_cost import ChangeError, change_cost
    try:
        console.print_change(change_cost(args.range))
    except ChangeError as e:
        raise UsageError(str(e)) from None
    return 0


@command("all", "everything, into --out, within a wall-clock budget (--budget; 3.5 minutes with --quick), with "
         "one progress display in a terminal", configure=options.all_args)
def cmd_all(args) -> int:
    from .suite import run_all
    return run_all(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", help="sentence-transformers BERT directory (default: packaged all-MiniLM-L6-v2)")
    common.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    common.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads, equal for all")
    common.add_argument("--corpus", help=".txt (one text per line) or .jsonl ({\"text\": ...})")
    common.add_argument("--quick", action="store_true",
                        help="a short pass (bench all: 3.5 minutes, what it leaves out in its notes)")
    common.add_argument("--out", default="results", help="output directory")
    common.add_argument("--prompt-name", metavar="NAME", help="the model's prompt NAME before every text, as encode(prompt_name=)")
    common.add_argument("--prompt", metavar="TEXT", help="TEXT before every text, as encode(prompt=) (default: the model's own)")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, (fn, help, impl, configure) in COMMANDS.items():
        s = sub.add_parser(name, parents=[common], help=help, description=help)
        if impl == "many":
            s.add_argument("--impl", nargs="+", metavar="NAME", help="implementations to run (see `bench list`)")
        elif impl == "one":
            s.add_argument("--impl", type=lambda v: [v], metavar="NAME", help="the implementation (see `bench list`)")
        else:
            s.set_defaults(impl=None)
        if configure:
            configure(s)
        s.set_defaults(fn=fn)
    from .hosts.cli import add_parsers   # merge, compare, fleet: their own options
    add_parsers(sub)
    return p


def main(argv=None) -> int:
    from .results import ResultsError
    from contract.api import ModelDirError
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        inputs.check_args_utf8(argv)
        args = parser().parse_args(argv)
        if not getattr(args, "own_options", False):   # merge/compare/fleet check their own options
            inputs.check_impls(args.impl)
            inputs.check_device(args.device)
            inputs.check_threads(args.threads)
        if getattr(args, "corpus", None):
            inputs.read_corpus_checked(args.corpus)   # every problem with it, before any work
        if hasattr(args, "model"):   # --prompt-name / --prompt: a model dir with that default prompt
            args.model = inputs.prompted_model(args)
        return args.fn(args)
    except (UsageError, ModelDirError, registry.NotAvailable, ResultsError) as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
