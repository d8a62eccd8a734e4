"""Attribution by the overhead model (docs/DESIGN.md §7 "attribution"): one Python torch pipeline's embed time split
round by round into registry.BUCKETS (tokenize, model_kernels and framework_overhead from the tape, io), unattributed
beside them, never folded in, plus embed_glue and padding_waste (padding.py). Each bucket is a share of an embed call
of the same repetition, put on the round's embed wall. `follow`: a forward of the same code as one already split.
Leaves out: forwards without Python between ops (profiled.py); CUDA's kernel side (cuda_overhead.py)."""
from __future__ import annotations

import math
import time
from statistics import median

from ..latency.timing import interleaved, sync
from ..registry import BUCKETS
from ..results import Record
from ..stats import interval
from . import overhead as oh, padding

METHOD = ("overhead model: kernels = the forward's own ATen ops replayed from LibTorch C++ on its tensors (the "
          "tape, less its own per-op cost); framework overhead = the forward's wall - that, in the same repetition "
          "(its priced part: the op mix priced from Python - from C++ on tiny tensors + Python time between ops); "
          "io timed around the model call")
METHOD_NO_TAPE = ("overhead model without the tape ({why}): the forward's op mix priced from Python - from LibTorch "
                  "C++ on tiny tensors, next to it in every repetition, + Python time between ops (replay); kernels = "
                  "time inside torch calls - their binding cost (Python's effect on the kernels around it unpriced: "
                  "framework overhead a lower bound); io timed around the model call")


def supports(pipe) -> str | None:
    """None if split can attribute pipe, else why not (one line)."""
    from python_ref.pipeline import TorchForward
    if not isinstance(pipe, TorchForward):
        return f"{getattr(pipe, 'name', pipe)}: no Python torch forward to count (profiler split instead)"
    return oh.cpp_missing()


def round_walls(samples: dict, name: str) -> dict:
    """{call: [per-round median s]} of `name` from measure_point's samples {(impl, call): [round][rep]}."""
    return {call: [float(median(rnd)) for rnd in s] for (n, call), s in samples.items() if n == name}


def measure_walls(pipes: dict, texts: list[str], rounds: int = 5, reps: int = 3, device: str = "cpu") -> dict:
    """{name: round_walls} for pipes: embed, tokenize, forward and, where its layers run padded, the unpadded forward
    (padding.unpadded_parts), interleaved round by round."""
    fns = {}
    for n, p in pipes.items():
        batch = p.tokenize(texts)
        fns[(n, "embed")] = (lambda p=p: (p.embed(texts), sync(device)))
        fns[(n, "tokenize")] = (lambda p=p: p.tokenize(texts))
        fns[(n, "forward")] = (lambda p=p, b=batch: (p.forward(b), sync(device)))
    fns.update(padding.unpadded_parts(pipes, texts))
    res = interleaved(fns, rounds=rounds, reps=reps, warmup=1)
    return {n: round_walls(res, n) for n in pipes}


def attribute(name: str, pipe, texts: list[str], walls: dict, device: str = "cpu", reps: int | None = None,
              deadline: float | None = None) -> dict:
    """Buckets of embedding texts with pipe, one value per round of walls (per-round seconds): finish's dict."""
    return attribute_many({name: pipe}, texts, {name: walls}, device, reps, deadline=deadline)[name]


def attribute_many(pipes: dict, texts: list[str], walls: dict, device: str = "cpu", reps: int | None = None,
                   on_round=None, deadline: float | None = None) -> dict:
    """attribute() for several pipes, their blocks interleaved round by round; on_round(name, r), if given, after
    each block. deadline (time.perf_counter()): no round starts that would end after it (the first always runs);
    the split then pairs with the walls' first rounds. -> {name: attribution dict}"""
    for p in pipes.values():
        why = supports(p)
        if why:
            raise ValueError(why)
    n_rounds = min(len(walls[n]["embed"]) for n in pipes)
    states = {n: _State(p, texts, walls[n], reps) for n, p in pipes.items()}
    t0 = time.perf_counter()
    for r in range(n_rounds):   # within a round, the pipes' repetitions alternate too
        if r and deadline is not None and time.perf_counter() + (time.perf_counter() - t0) / r > deadline:
            break
        for st in states.values():
            st.start(device)
        for i in range(max(st.reps for st in states.values())):
            for st in states.values():
                if i < st.reps:
                    st.split.rep()
        for n, st in states.items():
            st.end(r)
            if on_round:
                on_round(n, r)
    return {n: st.finish(n) for n, st in states.items()}


class _State:
    """One pipe's rounds of attribute_many."""

    def __init__(self, pipe, texts, walls, reps):
        self.pipe, self.texts, self.walls, self.batch = pipe, texts, walls, pipe.tokenize(texts)
        self.real = int(self.batch.attention_mask.sum())
        self.fill = self.real / max(self.batch.attention_mask.size, 1)   # real / padded tokens
        self.padding = {}   # padding.waste's parts in the first round, with the per-call figure
        self.rounds = {b: [] for b in (*BUCKETS, "unattributed", "embed_glue", "unattributed_forward",
                                       "padding_waste", "binding", "between_ops", "priced", "indirect", "speed",
                                       "block_overhead", "block_io", "block_forward")}
        self.fwd_s = median(walls["forward"])
        # forwards per round for each view; two at least, so one jittered call is not a round's figure
        self.reps = reps or max(2, min(9, int(0.1 / max(self.fwd_s, 1e-6))))
        self.s = {}

    def start(self, device: str) -> None:
        """Open round's block: the timers, a warm forward, the split ready for its repetitions."""
        self.iot = oh.IoTimer(self.pipe, self.batch).__enter__()
        self.iot.once()   # warm, and the model call's arguments
        embed = lambda: self.iot.embed_once(self.texts)  # noqa: E731
        if str(device).startswith("cuda"):
            from .cuda_overhead import CudaSplit
            self.split = CudaSplit(self.iot.inner, self.iot.args, each=embed)
        else:
            self.split = oh.Split(self.iot.inner, self.iot.args, padded_rows=self.batch.ids.size, each=embed)

    def end(self, r: int) -> None:
        walls, batch, rounds, iot = self.walls, self.batch, self.rounds, self.iot
        try:
            s = self.split.result()
        finally:
            iot.__exit__(None, None, None)
        args = iot.args
        # every part: a share of the same repetition's embed call (overhead.Split), put on the round's embed wall
        E = walls["embed"][r]
        io = median(i / e for i, _, e in s["each"]) * E
        sp = E / median(e for *_, e in s["each"])   # >1: this block ran faster than the walls
        b = {"tokenize": walls["tokenize"][r], "model_kernels": s["shares"]["kernels"] * E,
             "framework_overhead": s["shares"]["python_overhead"] * E, "io": io}
        for k, v in b.items():
            rounds[k].append(v)
        rounds["unattributed"].append(E - sum(b.values()))
        rounds["embed_glue"].append(E - walls["tokenize"][r] - walls["forward"][r])
        # the forward's part the split does not reach, inside its own block
        rounds["unattributed_forward"].append(E * median((f - i - p["kernels"] - p["python_overhead"]) / e
                                                         for (i, f, e), p in zip(s["each"], s["reps"])))
        rounds["speed"].append(sp)
        # padding waste (padding.py), at this block's pace put on the walls'; none when the batch has no padding
        padded = set(s.get("padded_kinds", ())) & set(padding.PER_TOKEN) if self.real < batch.ids.size else set()
        per_call = lambda: padding.per_call(iot.inner, args, batch.ids.size, self.real)["waste"] * sp  # noqa: E731
        if padding.LAYERS in padded:   # the walls' pair (unpadded_parts), the gains' rounds
            if not walls.get("unpadded"):
                raise ValueError(f"{getattr(self.pipe, 'name', 'pipe')}: its layers run padded but the walls hold no "
                                 "unpadded forward: time them with measure_walls or "
                                 "points.measure_point(more=padding.unpadded_parts(...))")
            small = padding.unpadded(args, batch.ids.size, self.real)
            att = padding.attention(iot.inner, args, small)
            w = {"padded": walls["forward"][r], "unpadded": walls["unpadded"][r], "attention": att,
                 "tokens": small[0].numel(), "from": "wall rounds"}
            w["waste"] = padding.waste(w["padded"], w["unpadded"], att, sp)
            if r == 0:
                self.padding = {**w, "per_call": per_call()}
        else:   # per call where only a few calls ran padded (the packed forward's)
            w = {"waste": per_call() if padded else 0.0}
        rounds["padding_waste"].append(w["waste"])
        for k in ("binding", "between_ops", "priced", "indirect"):   # seconds at the block's pace, put on the walls'
            rounds[k].append(s["shares"][k] * E if k in s.get("shares", {}) else s.get(k, math.nan))
        # the block's own figures at its own pace (bench calibrate compares them with a truth timed there)
        rounds["block_overhead"].append(s["python_overhead"])
        rounds["block_io"].append(median(i for i, *_ in s["each"]))
        alone = [p["alone"] for p in s["reps"] if p.get("alone") is not None]   # the model call's wall: alone,
        rounds["block_forward"].append(median(alone or [f - i for i, f, _ in s["each"]]))   # as the tape's peer
        self.s = s

    def finish(self, name: str) -> dict:
        rounds, walls, s = self.rounds, self.walls, self.s
        detail = {"counts": s.get("counts", {}), "uncalibrated": s.get("uncalibrated", {}), "fill": self.fill,
                  "binding_s": median(rounds["binding"]), "between_ops_s": median(rounds["between_ops"]),
                  "priced_s": median(rounds["priced"]), "indirect_s": median(rounds["indirect"]),
                  "tape": s.get("tape", {}), "padding": self.padding,
                  "calls": sum(s.get("counts", {}).values()), "rounds": len(rounds["speed"]),
                  "unattributed_forward_share": median(u / f for u, f in zip(rounds["unattributed_forward"],
                                                                             walls["forward"])),   # of the forward
                  "speed_walls_over_split": median(rounds["speed"])}
        why = s.get("tape", {}).get("why")
        method = s.get("method") or (METHOD_NO_TAPE.format(why=why) if why else METHOD)
        att = finish(name, rounds, walls["embed"][:len(rounds["speed"])], self.fwd_s, method, detail)
        att["forward_rounds"] = list(walls["forward"][:len(rounds["speed"])])
        return att


def finish(name: str, rounds: dict, embed_rounds: list, forward_wall: float, method: str, detail: dict,
           residual: tuple = ()) -> dict:
    """The attribution dict every method returns, from per-round seconds of BUCKETS (and measured pieces): medians,
    intervals, shares of the embed wall, the unattributed rest. residual: buckets got only as a residual."""
    rounds = dict(rounds)
    if "unattributed" not in rounds:
        rounds["unattributed"] = [e - sum(rounds[b][i] for b in BUCKETS) for i, e in enumerate(embed_rounds)]
    keys = [k for k in (*BUCKETS, "unattributed", "embed_glue", "padding_waste") if rounds.get(k)]
    return {"impl": name, "buckets": {k: median(rounds[k]) for k in BUCKETS}, "rounds": rounds,
            "embed_wall": median(embed_rounds), "embed_rounds": list(embed_rounds), "forward_wall": forward_wall,
            "unattributed": median(rounds["unattributed"]),
            "ci": {k: interval(v) for k, v in rounds.items() if v},
            "shares": {k: median(v / e for v, e in zip(rounds[k], embed_rounds)) for k in keys},
            "detail": detail, "method": method, "residual": list(residual)}


def follow(leader: dict, walls: dict, name: str, leader_name: str) -> dict:
    """The split of `name`, whose forward is the very code `leader` split: the leader's forward
    buckets round by round, `name`'s own tokenize and embed walls (the same interleaved rounds)."""
    n = min(len(walls["embed"]), len(leader["embed_rounds"]))
    rounds = {b: leader["rounds"][b][:n] for b in BUCKETS if b != "tokenize"}
    rounds["tokenize"] = list(walls["tokenize"][:n])
    fwd = walls.get("forward") or leader.get("forward_rounds") or [leader["forward_wall"]] * n
    rounds["embed_glue"] = [walls["embed"][i] - walls["tokenize"][i] - fwd[i] for i in range(n)]
    if leader["rounds"].get("padding_waste"):
        rounds["padding_waste"] = leader["rounds"]["padding_waste"][:n]
    att = finish(name, rounds, walls["embed"][:n], leader["forward_wall"],
                 f"forward split shared with {leader_name} (the same forward code); {leader['method']}",
                 {**leader["detail"], "shared_with": leader_name}, tuple(leader.get("residual", ())))
    att["forward_rounds"] = list(fwd[:n])
    return att


PIECE_OF = {"embed_glue": "unattributed", "padding_waste": "model_kernels"}


def attribution_records(att: dict, scenario: str, device: str = "cpu", extra: dict | None = None) -> list:
    """attribution_<bucket> and attribution_unattributed records (ms) with interval and share, and the measured
    pieces (attribution_embed_glue, attribution_padding_waste) with the bucket they are part of (extra.piece_of)."""
    ex = {"method": att["method"], "embed_wall_ms": att["embed_wall"] * 1e3, "forward_wall_ms": att["forward_wall"] * 1e3,
          "detail": att["detail"], "residual": att.get("residual", []), "rounds": len(att["embed_rounds"]),
          "embed_round_ms": [x * 1e3 for x in att["embed_rounds"]], **(extra or {})}
    out = []
    for k in (*BUCKETS, "unattributed", *PIECE_OF):
        if not att["rounds"].get(k):
            continue
        value = att["buckets"][k] if k in att["buckets"] else median(att["rounds"][k])
        out.append(Record(att["impl"], f"attribution_{k}", scenario, value * 1e3, "ms", device,
                          extra={**ex, "ci": [x * 1e3 for x in att["ci"][k]], "share": att["shares"].get(k),
                                 "round_ms": [x * 1e3 for x in att["rounds"][k]], "piece_of": PIECE_OF.get(k)}))
    return out
