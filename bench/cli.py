"""`bench`: the command line. Subcommands: list, embed, equivalence, tokenize, latency, browser, all,
report, fuzz; merge, compare, fleet (many hosts).

Glue only: each subcommand calls a measure/ module and prints a rich table. Exit code != 0 when an
equivalence check fails or a model directory is unusable (one clear line, no traceback).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _pin_threads(n: int) -> int:
    import torch
    torch.set_num_threads(n)
    os.environ["PORTBENCH_THREADS"] = str(n)
    return n


def _table(title: str, cols: list[str], rows: list[list]) -> None:
    from rich.console import Console
    from rich.table import Table
    t = Table(title=title)
    for c in cols:
        t.add_column(c)
    for r in rows:
        t.add_row(*[(f"{v:.3g}" if isinstance(v, float) else str(v)) for v in r])
    Console(width=None if sys.stdout.isatty() else 160).print(t)


def _impls(args, default_kind=("port", "peer")) -> list[str]:
    from . import registry
    if args.impl:
        unknown = [n for n in args.impl if n not in registry.BY_NAME]
        if unknown:
            raise SystemExit(f"bench: unknown implementation(s) {unknown}; see `bench list`")
        return args.impl
    return [e.name for e in registry.REGISTRY if e.kind in default_kind and registry.why_missing(e.name) is None]


def cmd_list(args) -> int:
    from . import registry
    _table("implementations", ["name", "kind", "stages", "available"],
           [[e.name, e.kind, "+".join(e.stages), registry.why_missing(e.name) or "yes"] for e in registry.REGISTRY])
    return 0


def cmd_embed(args) -> int:
    import json
    from . import registry
    pipe = registry.load(args.impl[0] if args.impl else "python_ref", args.model, device=args.device)
    for text, vec in zip(args.texts, pipe.embed(args.texts)):
        print(json.dumps({"text": text, "embedding": [round(float(x), 7) for x in vec]}, ensure_ascii=False))
    return 0


def run_equivalence(args) -> tuple[int, list]:
    from . import oracle
    from .measure.equivalence import check
    from python_ref.api import model_dir
    mdir = model_dir(args.model)
    texts = oracle.read_corpus(args.corpus) if args.corpus else oracle.read_corpus(oracle.PROJECT_CORPUS)
    ref_ids, ref_emb = oracle.hf_ids(mdir, texts), None
    rows = []
    for name in _impls(args, ("port",)):
        from . import registry
        if "forward" in registry.BY_NAME[name].stages and ref_emb is None:
            ref_emb = oracle.st_embed(mdir, texts, args.device)
        rows.append(check(name, texts, mdir, args.device, ref_ids, ref_emb))
    _table(f"equivalence on {args.corpus or 'the project corpus'} ({len(texts)} texts)",
           ["impl", "texts", "id mismatches", "first offending text", "max |Δ|", "tol", "min cos", "ok"],
           [[r.impl, r.texts, r.id_mismatches, repr(r.first_bad) if r.first_bad else "",
             r.max_abs if r.max_abs is not None else "-", r.tol or "-",
             r.min_cos if r.min_cos is not None else "-", "yes" if r.ok else f"NO {r.error}"] for r in rows])
    return (0 if rows and all(r.ok for r in rows) else 1), rows


def cmd_equivalence(args) -> int:
    return run_equivalence(args)[0]


def _load_all(names, args) -> dict:
    from . import registry
    return {n: registry.load(n, args.model, device=args.device) for n in names}


def cmd_tokenize(args) -> int:
    from .measure.throughput import corpus_texts, tokenize_throughput
    _pin_threads(1)
    names = _impls(args) if args.impl else [n for n in ("python_ref", "cython_ext", "numba_variant", "cpp_port",
                                                         "wasm_port", "hf_tokenizers") if _ok(n)]
    pipes = _load_all(names, args)
    recs = tokenize_throughput(pipes, corpus_texts(args.corpus), quick=args.quick)
    _print_tokenize(recs)
    from .measure.threads import threaded_speedup
    mt = {n: p for n, p in pipes.items() if n in ("cython_ext", "cpp_port", "numba_variant", "python_ref")}
    sp = threaded_speedup(mt, corpus_texts(args.corpus), threads=2, quick=args.quick)
    _table("threaded tokenization: 2 Python threads vs 1 (GIL released?)", ["impl", "speed-up"],
           [[r.impl, r.value] for r in sp])
    return 0


def _ok(name: str) -> bool:
    from . import registry
    return registry.why_missing(name) is None


def _print_tokenize(recs) -> None:
    by = {}
    for r in recs:
        by.setdefault(r.impl, {})[r.metric] = r
    _table("tokenizer throughput (single thread, batches of 64, str in -> ids out)",
           ["impl", "texts/s", "MB/s", "× hf_tokenizers"],
           [[n, m["tokenize_texts_s"].value, m["tokenize_mb_s"].value,
             m["tokenize_texts_s"].extra.get("speedup_vs_hf_tokenizers", "-")] for n, m in by.items()])


def _print_latency(recs) -> None:
    rows = {}
    for r in recs:
        k = (r.impl, r.scenario)
        rows.setdefault(k, {"extra": r.extra})[r.metric] = r.value
    _table("latency (embed: tokenize + forward)", ["impl", "scenario", "batch", "p50 ms", "p90 ms", "p99 ms",
                                                  "texts/s", "× sentence_transformers"],
           [[i, s, v["extra"]["batch"], v.get("latency_p50"), v.get("latency_p90"), v.get("latency_p99"),
             v.get("throughput"), v["extra"].get("ratio_vs_sentence_transformers", "-")]
            for (i, s), v in rows.items() if "latency_p50" in v])
    fw = [r for r in recs if r.metric == "forward_p50"]
    if fw:
        _table("model forward only (same batch, interleaved)", ["impl", "scenario", "batch", "p50 ms",
                                                                 "× sentence_transformers"],
               [[r.impl, r.scenario, r.extra["batch"], r.value, r.extra.get("ratio_vs_sentence_transformers", "-")]
                for r in fw])


def cmd_latency(args) -> int:
    from .measure.throughput import embed_latency, forward_ratio
    from python_ref.api import model_dir
    _pin_threads(args.threads)
    mdir = model_dir(args.model)
    names = [n for n in _impls(args) if n != "hf_tokenizers"]
    pipes = _load_all(names, args)
    recs = embed_latency(pipes, mdir, quick=args.quick, device=args.device)
    for sc in ("single", "batch"):
        recs += forward_ratio(pipes, mdir, sc, quick=args.quick, device=args.device)
    _print_latency(recs)
    return 0


def cmd_fuzz(args) -> int:
    from tqdm import tqdm
    from .fuzz import fuzz
    from python_ref.api import model_dir
    names = _impls(args, ("port",))
    with tqdm(total=args.n, desc="fuzz", unit="text") as bar:
        found = fuzz(names, model_dir(args.model), args.n, args.seed, progress=bar.update)
    _table(f"differential fuzz vs HF tokenizers ({args.n} texts, seed {args.seed})",
           ["impl", "mismatches (saved, max 20)", "reproducers"],
           [[n, len(p), " ".join(x.name for x in p[:3])] for n, p in found.items()])
    return 1 if any(found.values()) else 0


def cmd_browser(args) -> int:
    from .measure import browser
    res = browser.run_browser_bench(args.quick, Path(args.out), model=args.model)
    browser.print_table(res)
    return 0


def cmd_report(args) -> int:
    from . import report
    out = Path(args.out)
    print("\n".join(str(p) for p in report.write(out)))
    report.print_decision_table(report.load(out / "results.json"))
    return 0


def cmd_all(args) -> int:
    from .suite import run_all
    return run_all(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", help="sentence-transformers BERT directory (default: packaged all-MiniLM-L6-v2)")
    common.add_argument("--device", default="cpu", help="cpu | cuda")
    common.add_argument("--impl", nargs="+", help="implementations to run (see `bench list`)")
    common.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads, equal for all")
    common.add_argument("--corpus", help=".txt (one text per line) or .jsonl ({\"text\": ...})")
    common.add_argument("--quick", action="store_true", help="a short pass")
    common.add_argument("--out", default="results", help="output directory")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", parents=[common], help="what is registered and available here").set_defaults(fn=cmd_list)
    e = sub.add_parser("embed", parents=[common], help="print embeddings of TEXT... as JSON lines")
    e.add_argument("texts", nargs="+")
    e.set_defaults(fn=cmd_embed)
    sub.add_parser("equivalence", parents=[common], help="ids vs HF tokenizers, embeddings vs sentence-transformers"
                   ).set_defaults(fn=cmd_equivalence)
    sub.add_parser("tokenize", parents=[common], help="tokenizer throughput, single thread").set_defaults(fn=cmd_tokenize)
    sub.add_parser("latency", parents=[common], help="embed latency and forward ratios").set_defaults(fn=cmd_latency)
    sub.add_parser("browser", parents=[common], help="the browser bench in headless Chromium").set_defaults(fn=cmd_browser)
    sub.add_parser("report", parents=[common], help="rebuild report.md, plots and index.html from --out/results.json"
                   ).set_defaults(fn=cmd_report)
    f = sub.add_parser("fuzz", parents=[common], help="differential fuzzing of tokenizers vs HF tokenizers")
    f.add_argument("--n", type=int, default=10000)
    f.add_argument("--seed", type=int, default=0)
    f.set_defaults(fn=cmd_fuzz)
    a = sub.add_parser("all", parents=[common], help="everything, into --out")
    a.add_argument("--full", action="store_true",
                   help="complete sweep (1/8/32/128 x short/medium/long), clean build timings, no deadline")
    a.set_defaults(fn=cmd_all)
    from .hosts_cli import add_parsers   # merge, compare, fleet
    add_parsers(sub)
    return p


def main(argv=None) -> int:
    from python_ref.api import ModelDirError
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except ModelDirError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
