"""The scenarios part of a run: latency, throughput, forward and gains of every implementation, settling
for the gains a scenario leaves undecided, and attribution (attribution/part.py). `bench latency` runs
part_scenarios without attribution."""
from __future__ import annotations

import time
from statistics import median

from contract.spec import read_spec

from .. import console, registry
from ..attribution import ceilings, part as attr
from ..attribution.padding import unpadded_parts
from ..attribution.split import round_walls
from ..equivalence import oracle
from ..hosts.stability import QUIET, noisy_line, pair_spread
from ..results import Record
from ..scenarios import texts_for
from ..suite.budget import Slice
from ..suite.run import SCENARIO_SHARE, Run
from . import peak
from .points import measure_point, point_records


def _lens(run: Run, texts: list[str]) -> list[int]:
    """Each text's upstream token count."""
    return [len(ids) for ids in oracle.hf_ids(run.mdir, texts)]


def peak_fractions(run: Run, sc: str, texts: list[str]) -> None:
    """The scenario's peak_fraction records (latency/peak.py), the peaks probed once per run."""
    if run.device != "cpu":
        return
    if getattr(run, "peaks", None) is None:
        run.peaks = peak.probe(run.pipes, run.args.threads)
    recs, missing = peak.peak_records(run.recs, sc, read_spec(run.mdir), _lens(run, texts), run.peaks, run.device)
    run.add(recs)
    if missing and sc == next(iter(run.scenarios)):
        run.note(f"no peak_fraction for {', '.join(missing)}: no peak probe of their runtime was loaded "
                 f"(probed: {', '.join(run.peaks) or 'none'}; the native probe is minilm-embed-lite's)")


def forward_pipes(run: Run) -> dict:
    return {n: p for n, p in run.pipes.items() if registry.has_forward(n)}


def shared_forward(pipes: dict) -> dict:
    """{follower: leader} for implementations whose forward() is the very same code (python_ref's TorchForward,
    found from the code): measured once, on the leader (equivalence checks the ids are the same)."""
    from python_ref.pipeline import TorchForward
    same = [n for n, p in pipes.items() if getattr(type(p), "forward", None) is TorchForward.forward]
    return {n: same[0] for n in same[1:]}


def _dropped(run: Run):
    def on_error(name, e):
        run.note(f"{name} left out of this point: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
    return on_error


def part_scenarios(run: Run, attribute: bool = True) -> dict:
    """single, batch, long (+ batch256 on CUDA) of every implementation; with attribute, its split, the
    ceilings and, once, the cross-checks. -> {scenario: (measure_point result, texts)}."""
    pipes = forward_pipes(run)
    follow = shared_forward(pipes)
    scs = [s for s in run.scenarios if s != "batch256" or run.device_kind == "cuda"]
    out = {}
    if attribute:
        t0 = time.perf_counter()
        attr.prepare(run, pipes, follow)
        run.attr_s = time.perf_counter() - t0
    # the scenarios' grant, split among them by expected cost as each starts: an overrun comes out of those after
    shares = Slice(run.budget, {sc: SCENARIO_SHARE.get(sc, 0.3) for sc in scs})
    fix = 1.0   # attribution's seconds measured / estimated in the scenarios done: the estimate's correction
    with console.progress() as pb:
        task = pb.add_task("scenarios", total=len(scs) * (1 + (len(pipes) if attribute else 0)))

        def step(desc):
            pb.update(task, description=desc)
            pb.advance(task)
        for sc in scs:
            bsz, length = run.scenarios[sc]
            texts = texts_for(run.mdir, length, bsz)
            pb.update(task, description=f"{sc}: latency ({bsz} x {length})")
            t_sc, grant = time.perf_counter(), shares.take(sc)
            end = t_sc + grant if grant < float("inf") else None
            # within the grant: the rounds, then attribution (a0 seconds and k per second of rounds: it
            # splits every round again) and the cross-checks (xs), then settling (settle_share at least)
            k = run.plan.get("attr_per_round", {}).get(sc, 1.0) * fix
            a0 = run.plan.get("attr_fixed_s", {}).get(sc, 0.0) * fix
            xs = run.plan.get("xcheck_s", 0.0) * fix if sc == attr.XCHECK_SCENARIO else 0.0
            keep = run.plan.get("settle_share", 0.3) * grant if end is not None else 0.0
            split_here = {"on": attribute}

            def choose(embed_s):
                """Every call where the budget holds two rounds of them (~3 embeds a turn) and their attribution;
                else embed, forward for the own-kernel ports only (peak_fraction), and no attribution here."""
                if end is None or not split_here["on"] or \
                        time.perf_counter() + 2 * 3 * embed_s * (1 + k) + a0 + xs <= end - keep:
                    return ("embed", "tokenize", "forward")
                split_here["on"] = False
                return ("embed", "forward")
            res = measure_point(pipes, texts, run.plan["scenario_s"][sc], run.device,
                                min_rounds=run.plan.get("scenario_min_rounds", run.plan["min_rounds"]),
                                max_rounds=run.plan.get("scenario_rounds", run.plan["max_rounds"]),
                                least=run.plan.get("scenario_least_rounds", 1) if end is None else 1,
                                on_error=_dropped(run),
                                deadline=None if end is None else end - keep - (a0 + xs if attribute else 0.0),
                                after_round=lambda: k if split_here["on"] else 0.0, choose=choose,
                                on_round=console.rounds(f"{sc} {bsz} x {length}"),
                                forward_ok=lambda n: n not in follow and (split_here["on"]
                                                                          or registry.BY_NAME[n].kernels == "inner"),
                                more=unpadded_parts({n: p for n, p in pipes.items() if n not in follow}, texts)
                                if attribute else None)
            short = rounds_short(run.plan, sc, res["plan"]["rounds"], run.budget.total if end is not None else None)
            if short:
                run.note(short)
            out[sc] = (res, texts)
            run.add(point_records(res, sc, bsz, length, sum(_lens(run, texts)), run.device))
            peak_fractions(run, sc, texts)
            pb.advance(task)
            walls = {n: round_walls(res["samples"], n) for n in pipes}
            t_attr = time.perf_counter()
            atts, took = None, None
            if split_here["on"]:
                atts = attr.splits(run, sc, pipes, texts, walls, follow, {"batch": bsz, "length": length}, step,
                                   deadline=None if end is None else end - keep - xs)
                if sc == attr.XCHECK_SCENARIO:
                    pb.update(task, description=f"{sc}: cross-checks")
                    try:
                        attr.crosschecks(run, sc, pipes, texts, walls, atts)
                    except Exception as e:   # a view failing must not lose the measurements
                        run.note(f"cross-checks failed: {type(e).__name__}: {e}")
                took = time.perf_counter() - t_attr
                run.attr_s = getattr(run, "attr_s", 0.0) + took
                guess = a0 + xs + k * res["plan"].get("rounds_s", 0.0)
                if guess > 1.0:
                    fix = min(3.0, max(0.5, fix * took / guess))
            elif attribute:
                run.note(f"{sc}: no attribution (splits, shares, ceilings): two rounds of every call and their "
                         f"attribution do not fit what the run's budget of {run.budget.total:.0f} s leaves this "
                         f"scenario ({grant:.0f} s); its gains are measured from embed rounds alone")
            pb.update(task, description=f"{sc}: settling undecided gains")
            t_settle = time.perf_counter()
            gwalls = settle(run, sc, pipes, texts, walls, end)
            run.add(spread_record(run, sc, gwalls))
            if atts is not None:
                run.add(ceilings.port_records(atts, walls, sc, run.device, gwalls))
            else:
                run.add(ceilings.gain_records(gwalls, sc, run.device))
            _said(sc, res, t_attr - t_sc, time.perf_counter() - t_settle, took, grant)
    if attribute:
        print(f"  attribution, calibration and cross-checks took {run.attr_s:.0f}s of the scenarios", flush=True)
    try:
        console.print_scenarios(run.recs, scs)
    except Exception as e:   # printing must never lose the measurements
        run.note(f"scenario table not printed: {type(e).__name__}: {e}")
    return out


def _said(sc: str, res: dict, measured_s: float, settle_s: float, attr_s: float | None, grant: float) -> None:
    """One line of where a scenario's time went (the estimates in PLANS come from these lines)."""
    p = res["plan"]
    print(f"  {sc}: {p['rounds']} round(s) of {p.get('rounds_s', 0.0) / max(p['rounds'], 1):.1f} s "
          f"({measured_s:.0f} s with the warm-up), settling {settle_s:.0f} s"
          + (f", attribution {attr_s:.0f} s ({attr_s / max(p.get('rounds_s', 0.0), 1e-9):.2f} of the rounds' time)"
             if attr_s is not None else "")
          + (f"; granted {grant:.0f} s" if grant < float("inf") else ""), flush=True)


def spread_record(run: Run, sc: str, walls: dict) -> list[Record]:
    """The gains' pair_spread at sc (hosts/stability.py), settling's rounds included; a note above QUIET."""
    sp = pair_spread(ceilings.gain_round_ratios(walls))
    if sp is None:
        return []
    rec = Record(registry.REFERENCE, "pair_spread", sc, sp["value"], "sd_log", run.device,
                 extra={"gains": sp["gains"], "quiet_below": QUIET})
    line = noisy_line([vars(rec)])
    if line:
        run.note(line)
    return [rec]


def rounds_short(plan: dict, sc: str, rounds: int, budget_s: float | None = None) -> str | None:
    """The note when a scenario ran fewer rounds than its plan asks (the budget capped them), else None."""
    want = plan.get("scenario_min_rounds", plan["min_rounds"])
    if rounds >= want:
        return None
    within = f"the run's budget of {budget_s:.0f} s (--budget)" if budget_s else "the time budget"
    return (f"{sc}: {rounds} round(s) only, fewer than the plan's {want}, to keep within {within} (this "
            "machine is slower than the plan assumes, or the budget smaller): wider intervals, and verdicts "
            "that may move between decided and undecided from one run to the next")


def _per_scenario(value, sc: str, default):
    """A plan entry that is a number, or one per scenario."""
    return value.get(sc, default) if isinstance(value, dict) else (default if value is None else value)


# the gains the decision table reads (report/decision.py: its three changes, the best runtime change, quantisation)
READ = (*registry.CHANGES, "runtime", *registry.LOSSY)
# settling's two looks: (plan entry of its count of rounds, of its cap in seconds, which undecided gains)
LOOKS = (("gain_rounds", "settle_cap_s", lambda impl: True),
         ("gain_rounds_read", "settle_read_cap_s", lambda impl: registry.BY_NAME[impl].change in READ))


def settle(run: Run, sc: str, pipes: dict, texts: list[str], walls: dict, deadline: float | None = None) -> dict:
    """Embed-only rounds for the gains the scenario leaves undecided (ceilings.undecided) and their baselines,
    in two looks at counts the plan fixes (LOOKS): all up to `gain_rounds`, then those the decision table reads
    up to `gain_rounds_read` (a 1.00x gain at 10% per-round spread: "no" by 9 rounds in half the runs, by 24 in
    nine of ten). Fixed counts, never "until the interval clears" (that decides gains near the threshold by
    chance). Each look is capped (`settle_cap_s`, `settle_read_cap_s`) and the deadline bounds both (the first
    takes half where the second has gains to read); where one binds, the gains keep their rounds, in a note.
    -> walls with the embed rounds appended (paired by round index); splits and ceilings keep the scenario's."""
    for k, (rounds_key, cap_key, reads) in enumerate(LOOKS):
        until = deadline
        if deadline is not None and k + 1 < len(LOOKS):
            later = any(LOOKS[k + 1][2](i) for i, _ in ceilings.undecided(walls)) and LOOKS[k + 1][0] in run.plan
            until = time.perf_counter() + (deadline - time.perf_counter()) * (0.5 if later else 1.0)
        walls = _look(run, sc, pipes, texts, walls, rounds_key, cap_key, reads, until)
    return walls


def _look(run: Run, sc: str, pipes: dict, texts: list[str], walls: dict, rounds_key: str, cap_key: str, reads,
          deadline: float | None = None) -> dict:
    want = int(_per_scenario(run.plan.get(rounds_key), sc, 0))
    pairs = [(i, b) for i, b in ceilings.undecided(walls) if reads(i)]
    names = [n for n in dict.fromkeys(x for pair in pairs for x in pair) if n in pipes]
    more = want - min((len(walls[n]["embed"]) for n in names), default=want)
    if more <= 0 or len(names) < 2:
        return walls
    cap = float(_per_scenario(run.plan.get(cap_key), sc, float("inf")))
    room = float("inf") if deadline is None else deadline - time.perf_counter()
    # one round of them, from the scenario's own walls: where not even that is left, no warm-up either
    one = sum(median(walls[n]["embed"]) for n in names if walls[n]["embed"])
    got = 0
    if room >= one:
        res = measure_point({n: pipes[n] for n in names}, texts,
                            float(_per_scenario(run.plan.get("settle_s"), sc, 0.0)), run.device, calls=("embed",),
                            min_rounds=more, max_rounds=more, cap_s=cap, on_error=_dropped(run),
                            deadline=deadline, least=0 if deadline is not None else 1,
                            on_round=console.rounds(f"{sc}: settling to {want}"))
        got = res["plan"]["rounds"]
        out = {n: dict(w) for n, w in walls.items()}
        for n in names:
            out[n]["embed"] = list(walls[n]["embed"]) + round_walls(res["samples"], n).get("embed", [])
        walls = out
    print(f"  {sc}: {got} more round(s) ({rounds_key} {want}) for the undecided gain(s) of "
          f"{', '.join(sorted({i for i, _ in pairs}))}", flush=True)
    if got < more:
        have = want - more + got
        budget = getattr(getattr(run, "budget", None), "total", None)
        why = (f"the run's budget{f' of {budget:.0f} s' if budget else ''} (--budget) ran out for settling them, so "
               "they keep those rounds and are undecided where those cannot decide; their"
               if room < cap   # the run's budget bound, not the look's own cap
               else f"settling them would take longer than its cap ({cap:g} s) on this machine, so their")
        run.note(f"{sc}: the undecided gains read {have} rounds, not the plan's {want} ({rounds_key}): {why} intervals "
                 "are wider and their verdicts may move between decided and undecided from one run to the next")
    return walls
