"""The attribution part of `bench all`'s scenarios (docs/DESIGN.md §7 "attribution"): each implementation's split
from the scenario's own rounds, by split.py (a Python torch forward, when the C++ per-op side is built), split.follow
(the same forward code as one already split) or profiled.py (the rest); the cross-checks once per run, at
XCHECK_SCENARIO (one short text: where the per-call cost is the largest share).
Leaves out: the ceilings and gains (ceilings.port_records, called by latency/part.py)."""
from __future__ import annotations

from statistics import median

from .. import console, registry
from ..results import Record
from ..stats import estimate, fmt_ci, interval
from ..suite.run import Run

XCHECK_SCENARIO = "single"


def prepare(run: Run, pipes: dict, follow: dict) -> None:
    """Sets run.overhead_model: whether the overhead model splits Python torch forwards (needs the C++ per-op side)."""
    from . import split
    whys = [split.supports(p) for n, p in pipes.items() if n not in follow]
    run.overhead_model = None in whys
    if whys and not run.overhead_model:
        run.note(f"overhead model not used: {sorted(whys)[0]}; torch.profiler splits instead")


def splits(run: Run, sc: str, pipes: dict, texts: list[str], walls: dict, follow: dict, extra: dict,
           progress=None, deadline: float | None = None) -> dict:
    """Every implementation's split of scenario sc, its records added to run. deadline (time.perf_counter()): the
    overhead model's blocks start no round that would end after it (split.attribute_many). -> {impl: attribution}"""
    from . import profiled, split
    atts = {}
    here = {n: p for n, p in pipes.items() if walls.get(n, {}).get("embed")}   # the rest: left out (notes)
    own = {n: p for n, p in here.items() if n not in follow and getattr(run, "overhead_model", False)
           and split.supports(p) is None}
    if own:   # the overhead model's blocks, their repetitions alternating (the same machine state)
        if progress:
            progress(f"{sc}: attribution {', '.join(own)}")
        try:
            atts.update(split.attribute_many(own, texts, {n: walls[n] for n in own}, run.device, deadline=deadline))
        except Exception as e:
            run.note(f"attribution {'/'.join(own)}/{sc} failed: {type(e).__name__}: {e}")
    for n, p in here.items():
        if n not in atts:
            if progress:
                progress(f"{sc}: attribution {n}")
            try:   # by the method that applies
                if n in follow and follow[n] in atts:
                    atts[n] = split.follow(atts[follow[n]], walls[n], n, follow[n])
                elif getattr(run, "overhead_model", False) and split.supports(p) is None:
                    atts[n] = split.attribute(n, p, texts, walls[n], run.device, deadline=deadline)
                else:
                    atts[n] = profiled.attribute_profiled(n, p, texts, walls[n], run.device,
                                                          reps=run.plan["attr_reps"])
            except Exception as e:
                run.note(f"attribution {n}/{sc} failed: {type(e).__name__}: {e}")
                continue
        run.add(split.attribution_records(atts[n], sc, run.device, extra))
    return atts


def _view(sc: str, view: str, value_s: float, ci, how: str, device: str, **extra) -> Record:
    return Record(registry.REFERENCE, "overhead_view", sc, value_s * 1e3, "ms", device,
                  extra={"view": view, "ci": [x * 1e3 for x in ci] if ci else None, "how": how, **extra})


def crosschecks(run: Run, sc: str, pipes: dict, texts: list[str], walls: dict, atts: dict) -> None:
    """overhead_view records of the reference's removable cost at sc: the model's figure, its priced part, the
    intercept, py-spy, direct (forward walls: the language port's baseline's - its own, paired) and traced."""
    from . import crosscheck
    ref = registry.REFERENCE
    if ref not in pipes or ref not in atts:
        return
    recs, dev, a = [], run.device, atts[ref]
    rounds, reps = run.plan.get("xcheck_rounds", 5), run.plan.get("xcheck_reps", 5)
    recs.append(_view(sc, "model", a["buckets"]["framework_overhead"], a["ci"]["framework_overhead"],
                      a["method"], dev, io_ms=a["buckets"]["io"] * 1e3,
                      unattributed_ms=a["unattributed"] * 1e3))
    priced = [x for x in a["rounds"].get("priced", ()) if x == x]
    if priced and a["detail"].get("tape", {}).get("ops"):   # the model's own hot-loop part, beside the tape's figure
        recs.append(_view(sc, "priced", median(priced), a["ci"].get("priced"), "the model's priced part alone: op mix "
                          "priced from Python - from C++ on tiny tensors + Python between ops (a hot loop's lower bound)",
                          dev, indirect_ms=a["detail"].get("indirect_s", 0.0) * 1e3))
    lang = next((n for n in pipes if registry.BY_NAME[n].change == "language" and walls.get(n, {}).get("forward")),
                None)
    try:
        ic = crosscheck.intercepts({n: pipes[n] for n in (ref, lang) if n}, texts[0], rounds=rounds, reps=reps)
        if lang:
            d = [x - y for x, y in zip(ic[ref]["rounds"], ic[lang]["rounds"])]
            recs.append(_view(sc, "intercept", estimate(d)["value"], interval(d),
                              f"intercept of forward wall vs batch size (1-8 copies of one text): {ref}'s "
                              f"{ic[ref]['intercept'] * 1e3:.3f} ms - {lang}'s {ic[lang]['intercept'] * 1e3:.3f} ms",
                              dev, vs=lang))
        else:
            recs.append(_view(sc, "intercept", ic[ref]["intercept"], ic[ref]["ci"],
                              f"intercept of {ref}'s forward wall vs batch size: an upper bound (kernels' fixed "
                              "cost included; no language port measured to subtract)", dev))
    except Exception as e:
        run.note(f"cross-check intercept failed: {type(e).__name__}: {e}")
    bs, length = run.scenarios[sc]
    spy = crosscheck.pyspy_split(ref, length, bs, seconds=run.plan.get("pyspy_s", 3.0), threads=run.args.threads,
                                 model=run.mdir)
    if "error" in spy:
        recs.append(Record(ref, "overhead_view", sc, None, "ms", dev, extra={"view": "pyspy", "error": spy["error"]}))
    else:
        fw = a["forward_wall"]
        share = spy["python"] + spy["binding"]
        recs.append(_view(sc, "pyspy", share * fw, None, f"py-spy --native: {100 * spy['python']:.1f}% Python + "
                          f"{100 * spy['binding']:.1f}% binding of {spy['samples']} samples under the forward, "
                          f"times its wall", dev, share=share, samples=spy["samples"]))
    if lang:
        vs = registry.bounds(lang, {n for n in walls if walls[n].get("forward")})
        base = vs[0] if vs else ref
        d = [x - y for x, y in zip(walls[base]["forward"], walls[lang]["forward"])]
        recs.append(_view(sc, "direct", estimate(d)["value"], interval(d),
                          f"{base}'s forward wall - {lang}'s, paired by round (same graph here)", dev, vs=lang))
    tw = crosscheck.traced(pipes[ref], pipes[ref].tokenize(texts), rounds=rounds, reps=reps)
    if "error" in tw:
        recs.append(Record(ref, "overhead_view", sc, None, "ms", dev, extra={"view": "traced", "error": tw["error"]}))
    else:
        recs.append(_view(sc, "traced", tw["difference"], tw["ci"], "forward - its TorchScript trace (a lower "
                          "bound: the interpreter's per-op cost stays)", dev))
    run.add(recs)
    console.table(f"removable overhead of {ref} at {sc}: the model and its cross-checks",
                  ["view", "ms per forward [95% CI]"],
                  [[r.extra["view"], r.extra.get("error") or fmt_ci(r.value, r.extra.get("ci"), 3, "")] for r in recs])
