"""Attribution by the overhead model (docs/DESIGN.md §7, issue 10): one Python torch pipeline's embed
time split round by round into measured buckets (registry.BUCKETS), with the remainder shown,
never folded in.

  tokenize            the tokenize wall of the round (interleaved with embed and forward)
  model_kernels       time inside torch calls less their Python binding cost: dispatch, allocator
                      and kernels as a LibTorch C++ port pays them too (overhead.py)
  framework_overhead  op count x (Python - C++ per-op cost) per kind, plus the Python time between
                      ops from a replay (overhead.py): what a C++ port can remove
  io                  time pipe.forward spends outside the model call: numpy <-> torch <-> device
  unattributed        embed wall - the four; shown with its share, a check on the method. Its part
                      embed_glue = embed - tokenize - forward, three walls of the same round: how much
                      slower the forward runs after the tokenizer than alone (the Python tokenizer's
                      footprint in the caches: ~0.17 ms of python_ref's 6.4 ms at one text here, ~0
                      after cython_ext's), which a tokenizer port can remove too
Also per round: padding_waste, what running the per-token calls on the real tokens only
(python_ref_packed's algorithm) removes, measured by re-running each padded per-token call on the
real rows (padding.py). A packed forward's layers run on M rows: only its embeddings' LayerNorm
(padded there too) is probed.
The split is measured in a block of its own after the wall rounds, and its forward buckets are put
on the round's forward wall (each one's share of the block's forward x that wall: a change of the
machine's pace between the two cancels; "speed", walls' forward / the block's, says how much it
was). unattributed_forward checks the split inside its block (the block's forward - its buckets).
`follow`: a pipeline whose forward is the very same code as one already split (the tokenizer
ports) gets that split's forward buckets round by round, with its own tokenize and embed walls.
On CUDA (never run here: no GPU on this project's machines) kernels come from the device and a
CUDA-graph replay gives the no-overhead wall (cuda_overhead.py).
Leaves out: pipelines without a Python model forward (cpp_port, wasm_port, onnxruntime, compiled
graphs): attribution.py's profiler split covers those, in the same buckets. Ceilings: ceilings.py.
"""
from __future__ import annotations

import math
from statistics import median

from ..registry import BUCKETS
from . import overhead as oh, padding
from .padding import PER_TOKEN

METHOD = ("overhead model: op count x (Python - LibTorch C++ per-op cost, calibrated per kind on tiny "
          "tensors in this run) + Python time between ops (replay); kernels = time inside torch calls - "
          "their binding cost; io timed around the model call")


def supports(pipe) -> str | None:
    """None if split can attribute pipe, else why not (one line)."""
    from python_ref.pipeline import TorchForward
    if not isinstance(pipe, TorchForward):
        return f"{getattr(pipe, 'name', pipe)}: no Python torch forward to count (profiler split instead)"
    return oh.cpp_missing()


def round_walls(samples: dict, name: str) -> dict:
    """Per-round median seconds {"embed": [..], "tokenize": [..], "forward": [..]} of `name` from
    sweep.measure_point's samples {(impl, part): [round][rep]} (what bench all measures)."""
    return {part: [float(median(rnd)) for rnd in s] for (n, part), s in samples.items() if n == name}


def measure_walls(pipes: dict, texts: list[str], rounds: int = 5, reps: int = 3, device: str = "cpu",
                  extra: dict | None = None) -> dict:
    """{name: round_walls} for pipes, their embed/tokenize/forward interleaved round by round, and
    {name: [per-round median s]} for the fns in extra, interleaved with them (a fn returning a
    latency.InnerTime is scored by it)."""
    from .latency import interleaved, sync
    fns = {}
    for n, p in pipes.items():
        batch = p.tokenize(texts)
        fns[(n, "embed")] = (lambda p=p: (p.embed(texts), sync(device)))
        fns[(n, "tokenize")] = (lambda p=p: p.tokenize(texts))
        fns[(n, "forward")] = (lambda p=p, b=batch: (p.forward(b), sync(device)))
    for n, f in (extra or {}).items():
        fns[(n, "extra")] = f
    res = interleaved(fns, rounds=rounds, reps=reps, warmup=1)
    out = {n: round_walls(res, n) for n in pipes}
    out.update({n: round_walls(res, n)["extra"] for n in (extra or {})})
    return out


def calibrate(pipes, texts: list[str], rounds: int = 5) -> dict:
    """overhead.calibrate_ops for every kind the pipes' forwards call on texts (once per run)."""
    kinds = set()
    for p in pipes:
        args = oh.io_split(p, p.tokenize(texts), reps=1)["args"]
        kinds |= set(oh.kinds_in(p.model.forward, args))
    return oh.calibrate_ops(kinds, rounds=rounds)


def attribute(name: str, pipe, texts: list[str], walls: dict, calib: dict, device: str = "cpu",
              reps: int | None = None) -> dict:
    """Buckets of embedding texts with pipe, one value per round of walls (per-round seconds).
    -> {"impl", "buckets": {b: s median}, "rounds": {b or "unattributed"/"padding_waste": [s]},
        "ci": {b: [lo, hi]}, "shares": {b: frac of embed}, "unattributed": s, "embed_wall", "embed_rounds",
        "forward_wall", "detail": {...}, "method"}"""
    why = supports(pipe)
    if why:
        raise ValueError(why)
    batch = pipe.tokenize(texts)
    n_rounds = len(walls["embed"])
    real = int(batch.attention_mask.sum())
    fill = real / max(batch.attention_mask.size, 1)   # real / padded tokens
    rounds = {b: [] for b in (*BUCKETS, "unattributed", "embed_glue", "unattributed_forward", "padding_waste",
                              "binding", "between_ops", "speed")}
    fwd_s = median(walls["forward"])
    # forwards per round for each view; two at least, so one jittered call is not a round's figure
    reps = reps or max(2, min(9, int(0.1 / max(fwd_s, 1e-6))))
    cuda = str(device).startswith("cuda")
    for r in range(n_rounds):
        io = oh.io_split(pipe, batch, reps=reps)
        if cuda:   # never run on a GPU here
            from .cuda_overhead import cuda_split
            s = cuda_split(pipe.model.forward, io["args"], reps=reps)
        else:
            s = oh.forward_split(pipe.model.forward, io["args"], oh.calib_round(calib, r), reps=reps,
                                 padded_rows=batch.ids.size)
        # the forward's buckets are measured in this block and put on the round's forward wall (their
        # share of the block's forward x the wall), so a change of pace between blocks cancels
        sp = walls["forward"][r] / io["forward"]
        b = {"tokenize": walls["tokenize"][r], "model_kernels": s["kernels"] * sp,
             "framework_overhead": s["python_overhead"] * sp, "io": io["io"] * sp}
        for k, v in b.items():
            rounds[k].append(v)
        rounds["unattributed"].append(walls["embed"][r] - sum(b.values()))
        rounds["embed_glue"].append(walls["embed"][r] - walls["tokenize"][r] - walls["forward"][r])
        # the same check inside this block alone: immune to the machine changing speed between blocks
        rounds["unattributed_forward"].append(io["forward"] - s["kernels"] - s["python_overhead"] - io["io"])
        rounds["speed"].append(sp)   # >1: this block ran faster than the walls
        # padding waste, measured (padding.py) where per-token calls ran on the padded rows, as a
        # fraction of this block's forward put on the walls'
        padded = any(v for k, v in s.get("padded_kernels_by_kind", {}).items() if k in PER_TOKEN)
        waste = padding.waste(pipe.model.forward, io["args"], batch.ids.size, real)["waste"] if padded else 0.0
        rounds["padding_waste"].append(waste * sp)
        rounds["binding"].append(s.get("binding", math.nan))
        rounds["between_ops"].append(s.get("between_ops", math.nan))
    detail = {"counts": s.get("counts", {}), "uncalibrated": s.get("uncalibrated", {}), "fill": fill,
              "binding_s": median(rounds["binding"]), "between_ops_s": median(rounds["between_ops"]),
              "calls": sum(s.get("counts", {}).values()), "rounds": n_rounds,
              "unattributed_forward_share": median(u * sp / e for u, e, sp in zip(   # of the block's forward
                  rounds["unattributed_forward"], walls["forward"], rounds["speed"])),
              "speed_walls_over_split": median(rounds["speed"])}
    att = finish(name, rounds, walls["embed"], fwd_s, s.get("method", METHOD), detail)
    att["forward_rounds"] = list(walls["forward"])
    return att


def finish(name: str, rounds: dict, embed_rounds: list, forward_wall: float, method: str, detail: dict,
           residual: tuple = ()) -> dict:
    """The attribution dict every method returns, from per-round seconds of BUCKETS (and of any
    PARTS measured): medians, intervals, shares of the embed wall, and the unattributed rest.
    residual: buckets that the method can only get as a residual (said in the report)."""
    from ..stats import interval
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
    att["forward_rounds"] = fwd
    return att


PARTS_OF = {"embed_glue": "unattributed", "padding_waste": "model_kernels"}


def records(att: dict, scenario: str, device: str = "cpu", extra: dict | None = None) -> list:
    """attribution_<bucket> records (ms) with their interval and share, attribution_unattributed,
    and the measured parts (attribution_embed_glue, attribution_padding_waste) with the bucket they
    are part of (extra.part_of)."""
    from ..results import Record
    ex = {"method": att["method"], "embed_wall_ms": att["embed_wall"] * 1e3, "forward_wall_ms": att["forward_wall"] * 1e3,
          "detail": att["detail"], "residual": att.get("residual", []), "rounds": len(att["embed_rounds"]),
          "embed_round_ms": [x * 1e3 for x in att["embed_rounds"]], **(extra or {})}
    out = []
    for k in (*BUCKETS, "unattributed", *PARTS_OF):
        if not att["rounds"].get(k):
            continue
        value = att["buckets"][k] if k in att["buckets"] else median(att["rounds"][k])
        out.append(Record(att["impl"], f"attribution_{k}", scenario, value * 1e3, "ms", device,
                          extra={**ex, "ci": [x * 1e3 for x in att["ci"][k]], "share": att["shares"].get(k),
                                 "round_ms": [x * 1e3 for x in att["rounds"][k]], "part_of": PARTS_OF.get(k)}))
    return out
