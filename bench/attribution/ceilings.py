"""Ceilings and gains (docs/DESIGN.md §7 "Ceilings and gains"): for every implementation with registry facts
`baseline`, `replaces` and `change`, its ceiling (from its baseline's split) beside its gain (the same interleaved
rounds), both with intervals (stats.py).
Leaves out: ceilings of what swaps the kernels (no split bounds those; their ceiling record says so, value None)."""
from __future__ import annotations

from statistics import median

from .. import registry
from ..registry import BUCKETS
from ..results import Record
from ..stats import UNDECIDED, ceiling, gain, interval, judged, port_record_pair, ratios, verdict


def _baselines(walls: dict):
    """(impl, its measured baseline, what it removes from that baseline's split) for every
    implementation in walls with embed walls whose baseline (or a baseline of it) has them too."""
    have = {n for n, w in walls.items() if w.get("embed")}
    for impl in (n for n in walls if n in have):   # walls' order: the records' order
        b = registry.bounds(impl, have)
        if b is not None:
            yield impl, b[0], b[1]


def port_records(atts: dict, walls: dict, scenario: str, device: str = "cpu", gain_walls: dict | None = None) -> list:
    """port_ceiling + port_gain Records for every implementation in walls whose baseline (or a baseline of it)
    is there too, then reference_records. atts: {impl: attribution dict}; walls: {impl: round_walls} of the same
    interleaved rounds; gain_walls: walls with the settling rounds appended (latency/part.settle), for the gains."""
    out = []
    gw = gain_walls or walls
    for impl, vs, parts in _baselines(walls):
        if parts is not None and vs not in atts:
            continue
        g = gain(gw[vs]["embed"], gw[impl]["embed"])
        missing = [p for p in parts or () if not atts[vs]["rounds"].get(p)]
        c = ceiling(atts[vs], parts) if parts is not None and not missing else None
        why = (f"{vs}'s split ({atts[vs].get('method', '?').split(':')[0]}) does not measure "
               f"{', '.join(missing)}, which {impl} removes") if missing else \
            (f"{impl} is a peer, its own code throughout: no split of {vs} bounds it"
             if registry.BY_NAME[impl].kind == "peer" else None)
        settled = len(g["rounds"]) - min(len(walls[vs]["embed"]), len(walls[impl]["embed"]))
        out += port_record_pair(impl, scenario, c, g, vs, device, reason=why,
                                extra={"change": registry.BY_NAME[impl].change, "settled_rounds": settled})
    return out + reference_records(atts, scenario, device)


def port_removes() -> tuple:
    """What a full port removes from the reference's split: every port's buckets traced back (kernel swappers apart)."""
    out = []
    for n in registry.ports():
        b = registry.bounds(n, {registry.REFERENCE})
        out += [p for p in (b[1] if b and b[1] else ()) if p not in out]
    return tuple(out)


def reference_records(atts: dict, scenario: str, device: str = "cpu") -> list:
    """[full_port_ceiling] of the reference at this scenario, with the dominant bucket and its per-round share's
    interval (the decision table's first column); [] where the reference was not split."""
    ref = atts.get(registry.REFERENCE)
    if not ref or not ref.get("embed_rounds") or not ref.get("shares"):
        return []
    dom, emb = dominant(ref), ref["embed_rounds"]
    per_round = [v / e for v, e in zip(ref["rounds"].get(dom, []), emb)]
    full = ceiling(ref, [p for p in port_removes() if p in ref["rounds"]])
    return [Record(registry.REFERENCE, "full_port_ceiling", scenario, full["value"], "x", device, extra={
        "ci": full["ci"], "share": full["share"], "removes": full["removes"], "dominant": dom,
        "dominant_share": ref["shares"][dom], "dominant_ci": interval(per_round) if len(per_round) == len(emb) else None})]


def undecided(walls: dict) -> list[tuple[str, str]]:
    """(impl, its baseline) for every gain in walls still undecided at this precision (what settling re-measures)."""
    out = []
    for impl, vs, _ in _baselines(walls):
        g = gain(walls[vs]["embed"], walls[impl]["embed"])
        if verdict(g["ci"], value=g["value"]) == UNDECIDED:
            out.append((impl, vs))
    return out


def gain_round_ratios(walls: dict) -> dict:
    """{impl: [its baseline's embed wall / its own, per round]} for every gain in walls (for stability.pair_spread)."""
    return {impl: ratios(walls[vs]["embed"], walls[impl]["embed"]) for impl, vs, _ in _baselines(walls)}


def gain_records(walls: dict, scenario: str, device: str = "cpu") -> list:
    """port_gain alone, from walls (bench latency splits nothing), for every implementation with a measured baseline."""
    out = []
    for impl, vs, _ in _baselines(walls):
        g = gain(walls[vs]["embed"], walls[impl]["embed"])
        out.append(Record(impl, "port_gain", scenario, g["value"], "x", device,
                          extra={"vs": vs, "ci": g["ci"], "rounds": g["rounds"], **judged(g),
                                 "change": registry.BY_NAME[impl].change, "method_failure": None}))
    return out


def from_records(recs, impl: str, scenario: str) -> dict | None:
    """split.finish's dict (seconds) rebuilt from attribution_* records (Records or their dicts), for the report."""
    rs = {}
    for r in recs:
        r = r if isinstance(r, dict) else vars(r)
        if r["impl"] == impl and r["scenario"] == scenario and r["metric"].startswith("attribution_"):
            rs[r["metric"].removeprefix("attribution_")] = r
    if not all(b in rs for b in BUCKETS):
        return None
    ex = rs["tokenize"]["extra"]
    rounds = {k: [x / 1e3 for x in r["extra"].get("round_ms") or [r["value"]]] for k, r in rs.items()}
    emb = [x / 1e3 for x in ex.get("embed_round_ms") or [ex["embed_wall_ms"]]]
    return {"impl": impl, "buckets": {b: rs[b]["value"] / 1e3 for b in BUCKETS}, "rounds": rounds,
            "values": {k: r["value"] / 1e3 for k, r in rs.items()},
            "embed_wall": ex["embed_wall_ms"] / 1e3, "embed_rounds": emb, "forward_wall": ex["forward_wall_ms"] / 1e3,
            "unattributed": rs["unattributed"]["value"] / 1e3 if "unattributed" in rs else 0.0,
            "ci": {k: [x / 1e3 for x in r["extra"]["ci"]] if r["extra"].get("ci") else None for k, r in rs.items()},
            "shares": {k: r["extra"].get("share") if r["extra"].get("share") is not None
                       else median(rounds[k]) / max(median(emb), 1e-12) for k, r in rs.items()},
            "method": ex.get("method", ""), "residual": ex.get("residual", []), "detail": ex.get("detail", {})}


def dominant(att: dict) -> str:
    """The bucket with the largest share of the embed wall."""
    return max(BUCKETS, key=lambda b: att["shares"].get(b) or 0.0)
