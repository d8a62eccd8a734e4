"""Attribution by the overhead model (docs/DESIGN.md §7, issue 10): one Python torch pipeline's embed
time split round by round into measured buckets (registry.BUCKETS), with the remainder shown,
never folded in.

  tokenize            the tokenize wall of the round (interleaved with embed and forward)
  model_kernels       time inside torch calls less their Python binding cost: dispatch, allocator
                      and kernels as a LibTorch C++ port pays them too (overhead.py)
  framework_overhead  op count x (Python - C++ per-op cost) per kind, plus the Python time between
                      ops from a replay (overhead.py): what a C++ port can remove
  io                  time pipe.forward spends outside the model call (numpy <-> torch <-> device),
                      timed by stamps around the two calls inside real embed calls
  unattributed        embed wall - the four; shown with its share, a check on the method. Its part
                      embed_glue = embed - tokenize - forward, three walls of the same round: how much
                      slower the forward runs after the tokenizer than alone (the Python tokenizer's
                      footprint in the caches: ~0.17 ms of python_ref's 6.4 ms at one text here, ~0
                      after cython_ext's), which a tokenizer port can remove too
Also per round: padding_waste, what running the per-token calls on the real tokens only
(python_ref_packed's algorithm) removes, measured by re-running each padded per-token call on the
real rows (padding.py). A packed forward's layers run on M rows: only its embeddings' LayerNorm
(padded there too) is probed.
The split is measured in a block of its own after the wall rounds and put on each round's embed
wall by the block's own composition, ratios within calls: the model call's share of an embed call
(timed inside embed calls), and inside the model call kernels and Python overhead of the very calls
they were timed in (sum of t_in, binding, between ops). Putting each bucket's block seconds on the
round's forward wall instead (the first method) made the shares the product of two one-call ratios
at `batch`, +-6% a round (dev/NOTES-attribution.md, "Stability"). "speed", the round's embed wall /
the block's, says how much the machine's pace moved. unattributed_forward checks the split inside its
block: plain pipe.forward walls less the buckets from the recorded and replayed calls.
`follow`: a pipeline whose forward is the very same code as one already split (the tokenizer
ports) gets that split's forward buckets round by round, with its own tokenize and embed walls.
On CUDA (never run here: no GPU on this project's machines) kernels come from the device and a
CUDA-graph replay gives the no-overhead wall (cuda_overhead.py).
Leaves out: pipelines without a Python model forward (cpp_port, wasm_port, onnxruntime, compiled
graphs): attribution.py's profiler split covers those, in the same buckets. Ceilings: ceilings.py.
"""
from __future__ import annotations

import math
import time
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


def model_args(pipe, batch) -> tuple:
    """The arguments pipe.forward(batch) passes its model call (one forward)."""
    return embed_split(pipe, None, reps=1, batch=batch)["args"]


def embed_split(pipe, texts, reps: int = 3, sync=None, batch=None) -> dict:
    """Inside real embed calls (warm): each call's embed wall, pipe.forward's and the model call's
    (summed over the batches embed splits its input into), timed by stamps around the two calls.
    io = pipe.forward - the model call (numpy -> torch -> device and back); model_share = the model
    call / embed, a ratio within one call, so one call's jitter barely moves it. sync: called before
    the model call's exit stamp (CUDA: the launch returns before the kernels end). batch: time
    pipe.forward(batch) calls instead (model_share then of pipe.forward).
    -> {"embed", "forward", "model", "io": s (medians), "model_share", "args": the model call's}"""
    model, acc = pipe.model, {}
    inner_model, inner_fwd = model.forward, pipe.forward

    def timed_model(*a, **kw):
        acc["args"] = a
        t0 = time.perf_counter()
        out = inner_model(*a, **kw)
        if sync:
            sync()
        acc["model"] += time.perf_counter() - t0
        return out

    def timed_fwd(*a, **kw):
        t0 = time.perf_counter()
        out = inner_fwd(*a, **kw)
        acc["forward"] += time.perf_counter() - t0
        return out
    calls = []
    own_m, own_f = vars(model).get("forward"), vars(pipe).get("forward")
    model.forward, pipe.forward = timed_model, timed_fwd   # instance attributes shadow the methods, these calls only
    try:
        for _ in range(reps):
            acc.update(model=0.0, forward=0.0)
            t0 = time.perf_counter()
            pipe.embed(texts) if batch is None else pipe.forward(batch)
            calls.append((time.perf_counter() - t0, acc["forward"], acc["model"]))
    finally:
        for obj, own in ((model, own_m), (pipe, own_f)):
            if own is None:
                del obj.forward
            else:
                obj.forward = own
    return {"embed": median(e for e, _, _ in calls), "forward": median(f for _, f, _ in calls),
            "model": median(m for _, _, m in calls), "io": median(f - m for _, f, m in calls),
            "model_share": median(m / e for e, _, m in calls), "args": acc["args"]}


def calibrate(pipes, texts: list[str], rounds: int = 5) -> dict:
    """overhead.calibrate_ops for every kind the pipes' forwards call on texts (once per run)."""
    kinds = set()
    for p in pipes:
        args = model_args(p, p.tokenize(texts))
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
                              "binding", "between_ops", "speed", "model_share")}
    fwd_s = median(walls["forward"])
    # calls per round for each view; two at least, so one jittered call is not a round's figure
    reps = reps or max(2, min(9, int(0.1 / max(fwd_s, 1e-6))))
    cuda = str(device).startswith("cuda")
    sync = None
    if cuda:   # never run on a GPU here
        import torch
        sync = torch.cuda.synchronize
    ufs = []
    for r in range(n_rounds):
        em = embed_split(pipe, texts, reps=reps, sync=sync)
        if cuda:
            from .cuda_overhead import cuda_split
            s = cuda_split(pipe.model.forward, em["args"], reps=reps)
            model_s = s["wall"]
        else:
            s = oh.forward_split(pipe.model.forward, em["args"], oh.calib_round(calib, r), reps=reps,
                                 padded_rows=batch.ids.size)
            model_s = s["in_torch"] + s["between_ops"]   # the plain model call, from its measured parts
        # the block's composition on the round's embed wall: the model call's share of an embed call
        # and, inside the model call, kernels and Python overhead of the very calls they were timed
        # in; ratios within calls, so one call's jitter (+-5% at batch, one call a round) stays out
        pace = walls["embed"][r] * em["model_share"] / model_s
        sp = walls["embed"][r] / em["embed"]   # >1: the round's embed ran slower than this block's
        b = {"tokenize": walls["tokenize"][r], "model_kernels": s["kernels"] * pace,
             "framework_overhead": s["python_overhead"] * pace, "io": em["io"] * sp}
        for k, v in b.items():
            rounds[k].append(v)
        rounds["unattributed"].append(walls["embed"][r] - sum(b.values()))
        rounds["embed_glue"].append(walls["embed"][r] - walls["tokenize"][r] - walls["forward"][r])
        # the check inside this block: pipe.forward's wall less its measured parts (plain calls
        # against the recorded and replayed ones), on the round's scale: the split's error that the
        # composition does not show, which stats.ceiling's upper counts as removable too
        uf = em["forward"] - s["kernels"] - s["python_overhead"] - em["io"]
        rounds["unattributed_forward"].append(uf * pace)
        ufs.append(uf / em["forward"])
        rounds["speed"].append(sp)
        rounds["model_share"].append(em["model_share"])
        # padding waste, measured (padding.py) where per-token calls ran on the padded rows: seconds
        # of this block's kernels, put on the round as the kernels are
        padded = any(v for k, v in s.get("padded_kernels_by_kind", {}).items() if k in PER_TOKEN)
        waste = padding.waste(pipe.model.forward, em["args"], batch.ids.size, real)["waste"] if padded else 0.0
        rounds["padding_waste"].append(waste * pace)
        rounds["binding"].append(s.get("binding", math.nan))
        rounds["between_ops"].append(s.get("between_ops", math.nan))
    detail = {"counts": s.get("counts", {}), "uncalibrated": s.get("uncalibrated", {}), "fill": fill,
              "binding_s": median(rounds["binding"]), "between_ops_s": median(rounds["between_ops"]),
              "calls": sum(s.get("counts", {}).values()), "rounds": n_rounds,
              "unattributed_forward_share": median(ufs),   # of the block's pipe.forward
              "speed_walls_over_split": median(rounds["speed"]), "model_share": median(rounds["model_share"])}
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
