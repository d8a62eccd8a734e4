"""The parts of a run that belong to no measurement of their own: the torch.compile probe, loading every
pipe, and tokenizer throughput."""
from __future__ import annotations

import os
import time

from .. import console, inputs, registry
from ..results import Record
from ..scenarios import texts_for
from ..tolerances import tolerance
from .run import Run


def pin_threads(n: int) -> int:
    import torch
    torch.set_num_threads(n)
    os.environ["PORTBENCH_THREADS"] = str(n)
    return n


def probe_compile(run: Run, names: list[str]) -> None:
    """Entries that compile first run in a fresh process (their cold-start row): a failed compile leaves
    torch's dispatcher unusable in its process, so it must not fail in ours."""
    from ..costs import coldstart
    for n in [n for n in names if registry.BY_NAME[n].compiles]:
        r = coldstart.python_impl(n, str(run.mdir), run.device, run.args.threads,
                                  texts_for(run.mdir, "medium", 8), timeout=900)
        if "error" in r:
            names.remove(n)
            run.note(f"{n} not measured: it fails to compile here ({r['error'][-200:]})")
        else:
            run.cold_done[n] = r
            print(f"  {n}: fresh process to first embedding, compiling included: {r['first_s']:.1f}s", flush=True)


def part_load(run: Run, names: list[str]) -> None:
    compiling = [n for n in names if registry.BY_NAME[n].compiles]
    if compiling:   # inductor's generated kernels then show in torch.profiler
        try:
            import torch._inductor.config as inductor_config
            inductor_config.cpp.enable_kernel_profile = True
        except (ImportError, AttributeError):
            pass
    with console.progress() as pb:
        task = pb.add_task("load", total=len(names))
        for n in names:
            pb.update(task, description=f"load: {n}")
            t0 = time.perf_counter()
            try:
                run.pipes[n] = registry.load_impl(n, run.mdir, device=run.device)
            except Exception as e:
                run.note(f"{n} not measured: load failed on {run.device} ({type(e).__name__}: {e})")
                pb.advance(task)
                continue
            run.add([Record(n, "load_s", "load", time.perf_counter() - t0, "s", run.device)])
            pb.advance(task)
    ref = registry.REFERENCE
    for n in [n for n in compiling if n in run.pipes and ref in run.pipes]:   # compile time, reported apart
        shapes = [texts_for(run.mdir, "short", 1), texts_for(run.mdir, "medium", 32)]
        first, outs = [], []
        for m in (n, ref):
            t0 = time.perf_counter()
            try:
                outs.append([run.pipes[m].embed(t) for t in shapes])
            except Exception as e:   # a compile failure: one note, the row left out
                run.note(f"{n} not measured: compiling failed ({type(e).__name__}: "
                         f"{str(e).strip().splitlines()[-1][:200] if str(e).strip() else ''})")
                run.pipes.pop(n, None)
                break
            first.append(time.perf_counter() - t0)
        else:
            diff = max(float(abs(a - b).max()) for a, b in zip(*outs))
            run.add([Record(n, "compile_s", "compile", max(0.0, first[0] - first[1]), "s", run.device,
                            extra={"how": f"first embeds of the single and batch shapes minus {ref}'s",
                                   f"max_abs_vs_{ref}": diff})])
            print(f"  {n}: {first[0] - first[1]:.1f}s of compiling; max |Δ| vs {ref} {diff:.1e}", flush=True)
            if diff > tolerance(True, run.device)[0]:
                run.note(f"{n} differs from {ref} by {diff:.1e}")


def part_tokenize(run: Run, threads: int = 0) -> None:
    """Tokenizer throughput of every loaded implementation with a tokenizer of its own (and the
    peer); with threads > 1 also the threaded speed-up of those that allow threads."""
    from ..latency.throughput import threaded_speedup, tokenize_throughput
    own = registry.tokenizers()
    pipes = {n: p for n, p in run.pipes.items() if n in own}
    peer = registry.TOKENIZE_PEER
    if peer not in pipes and registry.why_missing(peer) is None:
        pipes[peer] = registry.load_impl(peer, run.mdir)
    texts = inputs.corpus(run.args)
    pin_threads(1)
    try:
        recs = tokenize_throughput(pipes, texts, quick=run.plan_name == "quick")
    finally:
        pin_threads(run.args.threads)
    run.add(recs)
    console.print_tokenize(recs)
    if threads > 1:
        mt = {n: p for n, p in pipes.items() if registry.BY_NAME[n].threaded_tokenize}
        sp = threaded_speedup(mt, texts, threads=threads, quick=run.plan_name == "quick")
        run.add(sp)
        console.print_threads(sp)
