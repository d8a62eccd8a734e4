"""The equivalence and fidelity parts of `bench all` (docs/DESIGN.md §7): ids against HF tokenizers,
vectors against sentence-transformers, then every forward against upstream fp32."""
from __future__ import annotations

import gc

from .. import console, inputs, registry
from ..results import Record
from ..suite.run import Run
from . import fidelity, oracle
from .check import check_equivalence, compare_ids


def part_equivalence(run: Run, names: list[str]) -> None:
    """Ids on the whole corpus, embeddings on an even sample of it (eq_texts; `bench equivalence`: all)."""
    corpus = inputs.corpus(run.args)
    label = run.args.corpus or "the project corpus"
    k = run.plan["eq_texts"]
    step = max(1, len(corpus) // k) if k else 1
    sample = corpus[::step][:k] if k else corpus
    # peers are the oracle; entries that compile are checked against the reference in part_load; an
    # intervention that refused this model is not loaded (noted at load)
    by = registry.BY_NAME
    checked = [n for n in names if by[n].kind != "peer" and not by[n].compiles
               and (n in run.pipes or by[n].kind == "port")]
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
                compare_ids(row, run.pipes[n], corpus, ref_ids)
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
    """Every loaded forward against upstream fp32 on the plan's fidelity_texts (0: all), judged by the run's
    fidelity budget in the records (equivalence/fidelity.py)."""
    corpus = inputs.corpus(run.args)
    texts = fidelity.sample(corpus, run.plan.get("fidelity_texts", 0))
    pipes = {n: p for n, p in run.pipes.items() if registry.has_forward(n) and n != registry.EMBED_PEER}
    if not pipes or not texts:
        return
    ref = oracle.st_embed(run.mdir, texts, run.device)
    with console.progress() as pb:
        task = pb.add_task("fidelity", total=len(pipes))
        got, errors = fidelity.measure(pipes, texts, run.mdir, run.fidelity_budget, ref,
                                       progress=lambda n: (pb.update(task, description=f"fidelity: {n}"),
                                                           pb.advance(task)))
    label = run.args.corpus or "the project corpus"
    for n, f in got.items():
        run.add(fidelity.fidelity_records(n, f, run.fidelity_budget, run.device,
                                 extra={"corpus": label, "corpus_texts": len(corpus), "plan": run.plan_name}))
    for n, e in errors.items():
        run.note(f"{n}: no fidelity figures ({e})")
    fidelity.print_fidelity(f"fidelity against upstream fp32 on {len(texts)} of {len(corpus)} texts of {label}",
                            got, run.fidelity_budget, width=200)
