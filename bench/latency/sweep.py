"""The timed parts after the scenarios: the batch x length sweep (embed only; a point that is a
scenario's reuses its samples) and the reference's length-sorted batching row, each within what the
run's budget leaves it. Sorting a large mixed input by length before batching is the cheaper fix of
docs/DESIGN.md §2: the same texts embedded in the given order and sorted, interleaved; same embeddings,
less padding. Leaves out: bucketing strategies other than one global sort."""
from __future__ import annotations

import time

import numpy as np

from .. import console, registry
from ..results import Record
from ..scenarios import by_length, texts_for
from ..suite.run import Run
from .part import _dropped, _lens, forward_pipes
from .timing import interleaved, paired_ratio, summary, timing_extra


def part_sweep(run: Run, done: dict) -> None:
    """The plan's batch x length points, embed only. Each point measured gets an equal share of what is
    left of the part's grant; one whose estimate (three calls of every implementation at the scenarios'
    rate) does not fit is skipped, the skipped ones in one note."""
    from .points import measure_point, point_records
    batches, lengths = run.plan["sweep"]
    pipes = forward_pipes(run)
    same = {tuple(run.scenarios[sc]): sc for sc in done}
    points = [(b, ln) for ln in lengths for b in batches]
    rate = {r.impl: r.value for r in run.recs if r.metric == "throughput_tokens" and r.scenario in ("batch", "long")}
    skipped = []
    with console.progress() as pb:
        task = pb.add_task("sweep", total=len(points))
        for i, (b, ln) in enumerate(points):
            name = f"sweep:{b}x{ln}"
            pb.update(task, description=f"sweep {b} x {ln}")
            if (b, ln) in same:   # the same texts as a scenario: reuse its samples
                res, texts = done[same[(b, ln)]]
                res = {"plan": res["plan"], "samples": {k: v for k, v in res["samples"].items() if k[1] == "embed"}}
            else:
                texts = texts_for(run.mdir, ln, b)
                tokens = sum(_lens(run, texts))
                est = sum(tokens / rate.get(n, min(rate.values(), default=1e3)) for n in pipes) * 3
                todo = sum(1 for p in points[i:] if p not in same)
                room = run.left() / max(todo, 1)
                if est > room:
                    skipped.append(f"{b}x{ln} (~{est:.0f}s)")
                    pb.advance(task)
                    continue
                budget = run.plan["sweep_s"] * (2 if b >= 32 else 1)
                res = measure_point(pipes, texts, budget, run.device, calls=("embed",),
                                    min_rounds=run.plan["min_rounds"], max_rounds=run.plan["max_rounds"],
                                    deadline=None if room == float("inf") else time.perf_counter() + room,
                                    least=2, on_error=_dropped(run), on_round=console.rounds(f"sweep {b} x {ln}"))
            run.add(point_records(res, name, b, ln, sum(_lens(run, texts)), run.device))
            pb.advance(task)
    if skipped:
        budget = f" of {run.budget.total:.0f} s" if run.budget.bounded else ""
        run.note(f"sweep points skipped to keep within the run's budget{budget}: {', '.join(skipped)}")


def part_interventions(run: Run) -> None:
    """Length-sorted batching of a large mixed input (the reference); the runtime changes
    (interventions in the registry) are rows of the scenarios already."""
    ref = registry.REFERENCE
    if ref not in run.pipes:
        run.note(f"length-sorted batching not measured: {ref} not loaded")
        return
    n = run.plan["sort_texts"]
    rate = next((r.value for r in run.recs if r.impl == ref and r.metric == "throughput_tokens"
                 and r.scenario == "long"), None)
    cost = (lambda k: k * 256 / rate * (1 + run.plan["sort_rounds"] * 2)) if rate else (lambda k: 0.0)
    while n > 64 and cost(n) > run.left():
        n //= 2   # unsorted mixed batches pad to ~256 tokens; 64 = two batches, the least that shows it
    budget = f"the run's budget of {run.budget.total:.0f} s" if run.budget.bounded else "the time budget"
    if cost(n) > run.left():
        run.note(f"length-sorted batching left out: ~{cost(n):.0f} s for {n} texts do not fit what {budget} "
                 f"leaves it ({max(0.0, run.left()):.0f} s)")
        return
    if n < run.plan["sort_texts"]:
        run.note(f"length-sorted batching on {n} texts instead of {run.plan['sort_texts']} ({budget})")
    texts = mixed_texts(by_length(run.mdir), n)
    ex, res = sorted_batching(run.pipes[ref], texts, rounds=run.plan["sort_rounds"])
    srt_s, uns_s = summary(res["sorted"])["p50"], summary(res["unsorted"])["p50"]
    srt = {**ex, **timing_extra(res["sorted"], {"unsorted": res["unsorted"]})}
    uns = {**ex, **timing_extra(res["unsorted"])}
    run.add([Record(ref, "sorted_batching_s", "large_input", srt_s, "s", run.device, extra=srt),
             Record(ref, "unsorted_batching_s", "large_input", uns_s, "s", run.device, extra=uns),
             Record(f"{ref}_sorted", "throughput", "large_input", len(texts) / srt_s, "texts/s", run.device, extra=srt),
             Record(ref, "throughput", "large_input", len(texts) / uns_s, "texts/s", run.device, extra=uns)])
    print(f"  {len(texts)} mixed texts, batch 32: unsorted {uns_s:.2f}s, sorted {srt_s:.2f}s "
          f"({ex['speedup']:.2f}x; padded tokens {ex['padded_unsorted']} -> {ex['padded_sorted']}; "
          f"max |Δ| {ex['max_abs_diff']:.1e})", flush=True)


def sorted_batching(pipe, texts: list[str], batch: int = 32, rounds: int = 2) -> tuple[dict, dict]:
    """Embed `texts` in batches of `batch`, in the given order vs sorted by length (then restored),
    interleaved; the embeddings are checked equal. -> (the records' shared extra: speed-up, padding,
    max |Δ|; the samples of "unsorted" and "sorted")."""
    lens = [int(m.sum()) for m in pipe.tokenize(texts).attention_mask]
    orders = {"unsorted": np.arange(len(texts)), "sorted": np.argsort(lens, kind="stable")}
    got = {}

    def embed(key):
        idx = orders[key]
        out = np.concatenate([pipe.embed([texts[i] for i in idx[j:j + batch]]) for j in range(0, len(idx), batch)])
        got[key] = np.empty_like(out)
        got[key][idx] = out

    def padded(idx):
        return sum(len(idx[j:j + batch]) * max(lens[i] for i in idx[j:j + batch]) for j in range(0, len(idx), batch))

    res = interleaved({k: lambda k=k: embed(k) for k in orders}, rounds=rounds, reps=1, warmup=0)
    return {"speedup": 1.0 / paired_ratio(res["sorted"], res["unsorted"]), "texts": len(texts), "batch": batch,
            "tokens": int(sum(lens)), "padded_unsorted": padded(orders["unsorted"]),
            "padded_sorted": padded(orders["sorted"]),
            "max_abs_diff": float(np.abs(got["unsorted"] - got["sorted"]).max())}, res


def mixed_texts(by_len: dict, n: int) -> list[str]:
    """n texts drawn evenly from the short/medium/long pools, shuffled (a realistic mixed input)."""
    pools = list(by_len.values())
    out = [pools[i % len(pools)][(i // len(pools)) % len(pools[i % len(pools)])] for i in range(n)]
    np.random.default_rng(0).shuffle(out)
    return out
