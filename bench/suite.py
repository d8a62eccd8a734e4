"""`bench all`: every measurement in one run, into --out (results.json, report). Glue only."""
from __future__ import annotations

import time
from pathlib import Path

from . import results
from .cli import _impls, _load_all, _ok, _pin_threads, _print_latency, _print_tokenize, run_equivalence
from .measure.throughput import corpus_texts, embed_latency, forward_ratio, tokenize_throughput


def run_all(args) -> int:
    from python_ref.api import model_dir
    t0 = time.time()
    rc, _ = run_equivalence(args)
    mdir = model_dir(args.model)
    _pin_threads(1)
    tok_names = [n for n in ("python_ref", "cython_ext", "numba_variant", "cpp_port", "hf_tokenizers") if _ok(n)]
    recs = tokenize_throughput(_load_all(tok_names, args), corpus_texts(args.corpus), quick=args.quick)
    _print_tokenize(recs)
    _pin_threads(args.threads)
    names = [n for n in _impls(args) if n != "hf_tokenizers"]
    pipes = _load_all(names, args)
    lat = embed_latency(pipes, mdir, quick=args.quick, device=args.device)
    for sc in ("single", "batch"):
        lat += forward_ratio(pipes, mdir, sc, quick=args.quick, device=args.device)
    _print_latency(lat)
    recs += lat
    out = Path(args.out)
    results.write(out / "results.json", results.machine(args.threads), recs)
    print(f"wrote {out / 'results.json'} in {time.time() - t0:.0f}s")
    return rc
