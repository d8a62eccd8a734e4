"""The parts of a run before the timed scenarios: the torch.compile probe, loading every pipe,
equivalence against upstream, fidelity to upstream fp32 (every forward; the int8 rows' budget), and
tokenizer throughput. Lists come from the registry."""
from __future__ import annotations

import gc
import time

from .. import console, inputs, oracle, registry
from ..results import Record
from ..tolerances import tolerance
from .run import Run


def pin_threads(n: int) -> int:
    import os

    import torch
    torch.set_num_threads(n)
    os.environ["PORTBENCH_THREADS"] = str(n)
    return n


def probe_compile(run: Run, names: list[str]) -> None:
    """Entries that compile (torch.compile) first run in a fresh process (that is their cold-start
    row): a compile that fails leaves torch's dispatcher unusable in the process it failed in, so it
    must not fail in ours."""
    from ..measure import coldstart
    from ..scenarios import texts_for
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
    from ..scenarios import texts_for
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


def part_equivalence(run: Run, names: list[str]) -> None:
    """Ids against HF tokenizers on the whole corpus (cheap, with the loaded pipes); embeddings against
    sentence-transformers on an even sample of it (eq_texts), which is what fits the time budget on
    two cores. `bench equivalence` checks embeddings on the whole corpus."""
    from ..measure.equivalence import batched, check_equivalence, unpad
    corpus = inputs.corpus(run.args)
    label = run.args.corpus or "the project corpus"
    k = run.plan["eq_texts"]
    step = max(1, len(corpus) // k) if k else 1
    sample = corpus[::step][:k] if k else corpus
    # peers are the oracle; entries that compile are checked against the reference in part_load
    checked = [n for n in names if registry.BY_NAME[n].kind != "peer" and not registry.BY_NAME[n].compiles
               and (n in run.pipes or registry.BY_NAME[n].kind == "port")]   # an intervention that refused this model: noted at load
    ref_ids = oracle.hf_ids(run.mdir, corpus)
    ref_emb = oracle.st_embed(run.mdir, sample, run.device)
    rows = []
    with console.progress() as pb:
        task = pb.add_task("equivalence", total=len(checked))
        for n in checked:
            pb.update(task, description=f"equivalence: {n}")
            row = check_equivalence(n, sample, run.mdir, run.device, ref_ids[::step][:len(sample)], ref_emb,
                        pipe=run.pipes.get(n))
            if n in run.pipes and not row.error:   # ids on the whole corpus
                ids = [r for chunk in batched(corpus, 64) for r in unpad(run.pipes[n].tokenize(chunk))]
                bad = [i for i, (a, b) in enumerate(zip(ids, ref_ids)) if a != b]
                row.id_mismatches = len(bad) + abs(len(ids) - len(ref_ids))
                row.first_bad = corpus[bad[0]][:60] if bad else row.first_bad
            rows.append(row)
            pb.advance(task)
            gc.collect()
    for r in rows:
        ex = {"texts": len(corpus), "embedded": len(sample), "tol": r.tol, "min_cos": r.min_cos,
              "first_bad": r.first_bad, "error": r.error, "ok": r.ok, "corpus": label, "exact": r.exact}
        run.add([Record(r.impl, "equivalence_id_mismatches", "equivalence", float(r.id_mismatches or 0), "texts",
                        run.device, extra=ex)])
        if r.max_abs is not None:
            run.add([Record(r.impl, "equivalence_max_abs", "equivalence", r.max_abs, "", run.device, extra=ex)])
    console.print_equivalence(f"equivalence on {label}: ids on all {len(corpus)} texts, embeddings on every "
                              f"{step}th ({len(sample)})", rows)
    if not all(r.ok for r in rows):
        run.rc = 1


def part_fidelity(run: Run) -> None:
    """Every loaded forward's vectors against upstream fp32 on an even sample of the corpus (the plan's
    fidelity_texts; 0: all), each judged by the run's fidelity budget (measure/fidelity.py): the records
    say which rows are within it, so the report recomputes nothing."""
    from ..measure import fidelity
    corpus = inputs.corpus(run.args)
    texts = fidelity.sample(corpus, run.plan.get("fidelity_texts", 0))
    pipes = {n: p for n, p in run.pipes.items() if registry.has_forward(n) and n != registry.EMBED_PEER}
    if not pipes or not texts:
        return
    ref = oracle.st_embed(run.mdir, texts, run.device)
    with console.progress() as pb:
        task = pb.add_task("fidelity", total=len(pipes))
        got, errors = fidelity.measure(pipes, texts, run.mdir, run.device, run.fidelity_budget, ref,
                                       progress=lambda n: (pb.update(task, description=f"fidelity: {n}"),
                                                           pb.advance(task)))
    label = run.args.corpus or "the project corpus"
    for n, f in got.items():
        run.add(fidelity.fidelity_records(n, f, run.fidelity_budget, run.device,
                                 extra={"corpus": label, "corpus_texts": len(corpus), "plan": run.plan_name}))
    for n, e in errors.items():
        run.note(f"{n}: no fidelity figures ({e})")
    console.table(f"fidelity against upstream fp32 on {len(texts)} of {len(corpus)} texts of {label}; "
                  + fidelity.budget_line(run.fidelity_budget), fidelity.COLS, fidelity.rows(got, run.fidelity_budget),
                  width=200)


def part_tokenize(run: Run, threads: int = 0) -> None:
    """Tokenizer throughput of every loaded implementation with a tokenizer of its own (and the
    peer); with threads > 1 also the threaded speed-up of those that allow threads."""
    from ..measure.throughput import tokenize_throughput
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
        from ..measure.threads import threaded_speedup
        mt = {n: p for n, p in pipes.items() if registry.BY_NAME[n].threaded_tokenize}
        sp = threaded_speedup(mt, texts, threads=threads, quick=run.plan_name == "quick")
        run.add(sp)
        console.print_threads(sp)
