"""The timed parts of a run: the scenarios (latency, throughput, forward and gains; settling rounds
for the gains a scenario leaves undecided; attribution, ceilings and cross-checks through
attribution.py), the batch x length sweep and the length-sorted batching row. One measuring path for
every timed metric: measure/points.py (`bench latency` runs part_scenarios without attribution)."""
from __future__ import annotations

import time

from .. import console, oracle, registry
from ..results import Record
from ..scenarios import by_length, texts_for
from .run import SCENARIO_SHARE, Run


def _tokens(run: Run, texts: list[str]) -> int:
    return sum(_lens(run, texts))


def _lens(run: Run, texts: list[str]) -> list[int]:
    return [len(ids) for ids in oracle.hf_ids(run.mdir, texts)]


def peak_fractions(run: Run, sc: str, texts: list[str]) -> None:
    """The scenario's peak_fraction records (measure/peak.py), the peaks probed once per run."""
    from contract.spec import read_spec

    from ..measure import peak
    if run.device != "cpu":
        return
    if getattr(run, "peaks", None) is None:
        run.peaks = peak.probe(run.pipes, run.args.threads)
    recs, missing = peak.records(run.recs, sc, read_spec(run.mdir), _lens(run, texts), run.peaks, run.device)
    run.add(recs)
    if missing and sc == next(iter(run.scenarios)):
        run.note(f"no peak_fraction for {', '.join(missing)}: no peak probe of their runtime was loaded "
                 f"(probed: {', '.join(run.peaks) or 'none'}; the native probe is minilm-embed-lite's)")


def forward_pipes(run: Run) -> dict:
    return {n: p for n, p in run.pipes.items() if registry.has_forward(n)}


def shared_forward(pipes: dict) -> dict:
    """{follower: leader} for implementations whose forward() is the very same code (python_ref's
    TorchForward, reused by the ports of the tokenizer alone). Their forward is measured once, on the
    leader; the batch they feed it is the same ids (equivalence checks that). Found from the code,
    so a new port that reuses it is found too."""
    from python_ref.pipeline import TorchForward
    same = [n for n, p in pipes.items() if getattr(type(p), "forward", None) is TorchForward.forward]
    return {n: same[0] for n in same[1:]}


def _dropped(run: Run):
    def on_error(name, e):
        run.note(f"{name} left out of this point: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
    return on_error


def part_scenarios(run: Run, attribute: bool = True) -> dict:
    """single, batch, long (+ batch256 on CUDA): latency, throughput, forward and port_gain of each
    implementation; with attribute, its split, the ceilings and, once, the cross-checks
    (suite/attribution.py). -> {scenario: (measure_point result, texts)}."""
    from ..measure import ceilings
    from ..measure.padding import unpadded_parts
    from ..measure.points import measure_point, point_records
    from ..measure.split import round_walls
    from . import attribution as attr
    pipes = forward_pipes(run)
    follow = shared_forward(pipes)
    scs = [s for s in run.scenarios if s != "batch256" or run.device_kind == "cuda"]
    out = {}
    if attribute:
        t0 = time.perf_counter()
        attr.prepare(run, pipes, follow)
        run.attr_s = time.perf_counter() - t0
    left0 = run.left()   # the scenarios' share of it, by expected cost; the rest: sweep, interventions
    with console.progress() as pb:
        task = pb.add_task("scenarios", total=len(scs) * (1 + (len(pipes) if attribute else 0)))

        def step(desc):
            pb.update(task, description=desc)
            pb.advance(task)
        for sc in scs:
            bsz, length = run.scenarios[sc]
            texts = texts_for(run.mdir, length, bsz)
            pb.update(task, description=f"{sc}: latency ({bsz} x {length})")
            # measured rounds only: warm-up and attribution come on top (~1.5 rounds), hence 0.6
            cap = min(run.left(), left0 * SCENARIO_SHARE.get(sc, 0.3) * 0.6)
            res = measure_point(pipes, texts, run.plan["scenario_s"][sc], run.device,
                                min_rounds=run.plan.get("scenario_min_rounds", run.plan["min_rounds"]),
                                max_rounds=run.plan.get("scenario_rounds", run.plan["max_rounds"]),
                                cap_s=max(cap, 0.0), least=run.plan.get("scenario_least_rounds", 1),
                                on_error=_dropped(run), forward_ok=lambda n: n not in follow,
                                more=unpadded_parts({n: p for n, p in pipes.items() if n not in follow}, texts)
                                if attribute else None)
            short = rounds_short(run.plan, sc, res["plan"]["rounds"])
            if short:
                run.note(short)
            out[sc] = (res, texts)
            run.add(point_records(res, sc, bsz, length, _tokens(run, texts), run.device))
            peak_fractions(run, sc, texts)
            pb.advance(task)
            walls = {n: round_walls(res["samples"], n) for n in pipes}
            pb.update(task, description=f"{sc}: settling undecided gains")
            gwalls = settle(run, sc, pipes, texts, walls)
            run.add(spread_record(run, sc, gwalls))
            if not attribute:
                run.add(ceilings.gain_records(gwalls, sc, run.device))
                continue
            t0 = time.perf_counter()
            atts = attr.scenario(run, sc, pipes, texts, walls, follow, {"batch": bsz, "length": length}, step,
                                 gain_walls=gwalls)
            if sc == attr.XCHECK_SCENARIO:
                pb.update(task, description=f"{sc}: cross-checks")
                try:
                    attr.crosschecks(run, sc, pipes, texts, walls, atts)
                except Exception as e:   # a view failing must not lose the measurements
                    run.note(f"cross-checks failed: {type(e).__name__}: {e}")
            run.attr_s = getattr(run, "attr_s", 0.0) + time.perf_counter() - t0
    if attribute:
        print(f"  attribution, calibration and cross-checks took {run.attr_s:.0f}s of the scenarios", flush=True)
    try:
        console.print_scenarios(run.recs, scs)
    except Exception as e:   # printing must never lose the measurements
        run.note(f"scenario table not printed: {type(e).__name__}: {e}")
    return out


def spread_record(run: Run, sc: str, walls: dict) -> list[Record]:
    """The gains' pair_spread at sc (stability.py: is this machine quiet?), from the rounds they read
    (settling's included), with the report's line (stability.noisy_line) as a note above QUIET."""
    from ..measure.ceilings import round_ratios
    from ..stability import QUIET, noisy_line, pair_spread
    sp = pair_spread(round_ratios(walls))
    if sp is None:
        return []
    rec = Record(registry.REFERENCE, "pair_spread", sc, sp["value"], "sd_log", run.device,
                 extra={"gains": sp["gains"], "quiet_below": QUIET})
    line = noisy_line([vars(rec)])
    if line:
        run.note(line)
    return [rec]


def rounds_short(plan: dict, sc: str, rounds: int) -> str | None:
    """The note when a scenario ran fewer rounds than its plan asks (the run's time share capped
    them: a slower machine): its intervals are wider, so its verdicts move more from run to run."""
    want = plan.get("scenario_min_rounds", plan["min_rounds"])
    if rounds >= want:
        return None
    return (f"{sc}: {rounds} round(s) only, fewer than the plan's {want}, to keep within the time budget (this "
            "machine is slower than the plan assumes): wider intervals, and verdicts that may move between "
            "decided and undecided from one run to the next")


def _per_scenario(value, sc: str, default):
    """A plan entry that is a number, or one per scenario."""
    return value.get(sc, default) if isinstance(value, dict) else (default if value is None else value)


# the gains the decision table reads (report/decision.py: its three changes, the best runtime change, quantisation)
READ = (*registry.CHANGES, "runtime", *registry.LOSSY)
# settling's two looks: (plan entry of its count of rounds, of its cap in seconds, which undecided gains)
LOOKS = (("gain_rounds", "settle_cap_s", lambda impl: True),
         ("gain_rounds_read", "settle_read_cap_s", lambda impl: registry.BY_NAME[impl].change in READ))


def settle(run: Run, sc: str, pipes: dict, texts: list[str], walls: dict) -> dict:
    """More rounds, embed only, for the gains the scenario's rounds leave undecided (ceilings.undecided)
    and their baselines, interleaved as before, in two looks whose counts of rounds the plan fixes
    (LOOKS): every undecided gain up to `gain_rounds`, then those of them the decision table reads
    that are still undecided up to `gain_rounds_read`. Counts, not times, whatever the machine's
    pace: two runs of one plan read a gain from as many rounds, with the same interval rule (a time
    budget gave one run of a pair 8 rounds at `batch` and the other 9, [min, max] against [2nd, 8th],
    and one gain was decided in one and not the other). The second look: a 1.00x gain on a machine
    whose per-round ratios spread by 10% is decided "no" by 9 rounds in about half the runs, by 24 in
    nine of ten (tests/test_stability.py simulates it). Two looks at fixed counts, never "until the
    interval clears the threshold": stopping at the first clear interval would decide a gain near
    the threshold by chance. Each look's time is capped (`settle_cap_s`, `settle_read_cap_s`, not the
    run's deadline: a slower machine overruns --quick's budget a little rather than thin the rounds
    the verdicts read), and the cap binding is said. `settle_s` sets how many reps a round gives
    each call (measure_point's budget). -> walls with those implementations' embed rounds extended
    (appended in the same order for each, so gains stay paired by round index). Gains only: splits
    and ceilings keep the scenario's rounds."""
    for rounds_key, cap_key, reads in LOOKS:
        walls = _look(run, sc, pipes, texts, walls, rounds_key, cap_key, reads)
    return walls


def _look(run: Run, sc: str, pipes: dict, texts: list[str], walls: dict, rounds_key: str, cap_key: str, reads) -> dict:
    from ..measure.ceilings import undecided
    from ..measure.points import measure_point
    from ..measure.split import round_walls
    want = int(_per_scenario(run.plan.get(rounds_key), sc, 0))
    pairs = [(i, b) for i, b in undecided(walls) if reads(i)]
    names = [n for n in dict.fromkeys(x for pair in pairs for x in pair) if n in pipes]
    more = want - min((len(walls[n]["embed"]) for n in names), default=want)
    if more <= 0 or len(names) < 2:
        return walls
    cap = float(_per_scenario(run.plan.get(cap_key), sc, float("inf")))
    res = measure_point({n: pipes[n] for n in names}, texts, float(_per_scenario(run.plan.get("settle_s"), sc, 0.0)),
                        run.device, parts=("embed",), min_rounds=more, max_rounds=more, cap_s=cap,
                        on_error=_dropped(run))
    out = {n: dict(w) for n, w in walls.items()}
    for n in names:
        out[n]["embed"] = list(walls[n]["embed"]) + round_walls(res["samples"], n).get("embed", [])
    got = res["plan"]["rounds"]
    print(f"  {sc}: {got} more round(s) ({rounds_key} {want}) for the undecided gain(s) of "
          f"{', '.join(sorted({i for i, _ in pairs}))}", flush=True)
    if got < more:
        run.note(f"{sc}: the undecided gains read {want - more + got} rounds, not the plan's {want} ({rounds_key}): "
                 f"settling them would take longer than its cap ({cap:g} s) on this machine, so their intervals are "
                 "wider and their verdicts may move between decided and undecided from one run to the next")
    return out


def part_sweep(run: Run, done: dict) -> None:
    from ..measure.points import measure_point, point_records
    batches, lengths = run.plan["sweep"]
    pipes = forward_pipes(run)
    same = {tuple(run.scenarios[sc]): sc for sc in done}
    points = [(b, ln) for ln in lengths for b in batches]
    rate = {r.impl: r.value for r in run.recs if r.metric == "throughput_tokens" and r.scenario in ("batch", "long")}
    skipped = []
    with console.progress() as pb:
        task = pb.add_task("sweep", total=len(points))
        for b, ln in points:
            name = f"sweep:{b}x{ln}"
            pb.update(task, description=f"sweep {b} x {ln}")
            if (b, ln) in same:   # the same texts as a scenario: reuse its samples
                res, texts = done[same[(b, ln)]]
                res = {"plan": res["plan"], "samples": {k: v for k, v in res["samples"].items() if k[1] == "embed"}}
            else:
                texts = texts_for(run.mdir, ln, b)
                tokens = _tokens(run, texts)
                est = sum(tokens / rate.get(n, min(rate.values(), default=1e3)) for n in pipes) * 3
                if est > run.left() - run.plan["sort_s_est"]:
                    skipped.append(f"{b}x{ln} (~{est:.0f}s)")
                    pb.advance(task)
                    continue
                budget = run.plan["sweep_s"] * (2 if b >= 32 else 1)
                res = measure_point(pipes, texts, budget, run.device, parts=("embed",),
                                    min_rounds=run.plan["min_rounds"], max_rounds=run.plan["max_rounds"],
                                    cap_s=max(0.0, (run.left() - run.plan["sort_s_est"]) / 3),
                                    on_error=_dropped(run))
            run.add(point_records(res, name, b, ln, _tokens(run, texts), run.device))
            pb.advance(task)
    if skipped:
        run.note(f"sweep points skipped to keep within the time budget: {', '.join(skipped)}")


def part_interventions(run: Run) -> None:
    """Length-sorted batching of a large mixed input (the reference); the runtime changes
    (interventions in the registry) are rows of the scenarios already."""
    from ..measure.batching import mixed_texts, sorted_batching
    ref = registry.REFERENCE
    if ref not in run.pipes:
        run.note(f"length-sorted batching not measured: {ref} not loaded")
        return
    n = run.plan["sort_texts"]
    rate = next((r.value for r in run.recs if r.impl == ref and r.metric == "throughput_tokens"
                 and r.scenario == "long"), None)
    while rate and n > 64 and n * 256 / rate * (1 + run.plan["sort_rounds"] * 2) > run.left():
        n //= 2   # unsorted mixed batches pad to ~256 tokens; 64 = two batches, the least that shows it
    if n < run.plan["sort_texts"]:
        run.note(f"length-sorted batching on {n} texts instead of {run.plan['sort_texts']} (time budget)")
    texts = mixed_texts(by_length(run.mdir), n)
    r = sorted_batching(run.pipes[ref], texts, batch=32, rounds=run.plan["sort_rounds"])
    ex = {k: v for k, v in r.items() if k not in ("unsorted_s", "sorted_s", "sorted_timing", "unsorted_timing")}
    srt, uns = {**ex, **r["sorted_timing"]}, {**ex, **r["unsorted_timing"]}
    run.add([Record(ref, "sorted_batching_s", "large_input", r["sorted_s"], "s", run.device, extra=srt),
             Record(ref, "unsorted_batching_s", "large_input", r["unsorted_s"], "s", run.device, extra=uns),
             Record(f"{ref}_sorted", "throughput", "large_input", len(texts) / r["sorted_s"], "texts/s", run.device,
                    extra=srt),
             Record(ref, "throughput", "large_input", len(texts) / r["unsorted_s"], "texts/s", run.device,
                    extra=uns)])
    print(f"  {len(texts)} mixed texts, batch 32: unsorted {r['unsorted_s']:.2f}s, sorted {r['sorted_s']:.2f}s "
          f"({r['speedup']:.2f}x; padded tokens {r['padded_unsorted']} -> {r['padded_sorted']}; "
          f"max |Δ| {r['max_abs_diff']:.1e})", flush=True)
