"""Attribution by the overhead model (docs/DESIGN.md §7, issue 10): one Python torch pipeline's embed time
split round by round into measured buckets, with the remainder shown, never folded in.

  tokenize         the tokenize wall of the round (interleaved with embed and forward)
  model_kernels    time inside torch calls less their Python binding cost: dispatch, allocator and
                   kernels as a LibTorch C++ port pays them too (overhead.py)
  python_overhead  op count x (Python - C++ per-op cost) per kind, plus the Python time between ops
                   from a replay (overhead.py): what a C++ port can remove
  io               time pipe.forward spends outside the model call: numpy <-> torch <-> device
  unattributed     embed wall - the four; shown with its share, a check on the method. Its part
                   embed_glue = embed - tokenize - forward, three walls of the same round: how much
                   slower the forward runs after the tokenizer than alone (the Python tokenizer's
                   footprint in the caches: ~0.17 ms of python_ref's 6.4 ms at one text here, ~0
                   after cython_ext's), which a tokenizer port can remove too
Also per round: padding_waste, the kernel time of the per-token kinds (PER_TOKEN) times the padded
fraction of the batch: what running them on packed real tokens (python_ref_packed) can remove (an
upper bound: the embedding stage's add and LayerNorm, which stay padded, are counted too).
The split is measured in a block of its own after the wall rounds; unattributed_forward checks it
inside that block (the block's own forward wall - its buckets), and "speed" (walls' forward / the
block's) shows whether the machine changed pace between the two.
On CUDA (never run here: no GPU on this project's machines) kernels come from the device and a
CUDA-graph replay gives the no-overhead wall (cuda_overhead.py).
Leaves out: pipelines without a Python model forward (cpp_port, wasm_port, onnxruntime, compiled
graphs): attribution.py's profiler split covers those.
"""
from __future__ import annotations

import math
from statistics import median

from . import overhead as oh

BUCKETS = ("tokenize", "model_kernels", "python_overhead", "io")
PER_TOKEN = ("linear", "gelu", "layer_norm", "add")   # kinds whose work grows with padded tokens
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
    from .latency import interleaved
    from .latency import sync as _sync
    fns = {}
    for n, p in pipes.items():
        batch = p.tokenize(texts)
        fns[(n, "embed")] = (lambda p=p: (p.embed(texts), _sync(device)))
        fns[(n, "tokenize")] = (lambda p=p: p.tokenize(texts))
        fns[(n, "forward")] = (lambda p=p, b=batch: (p.forward(b), _sync(device)))
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
    from ..stats import bootstrap_ci
    why = supports(pipe)
    if why:
        raise ValueError(why)
    batch = pipe.tokenize(texts)
    n_rounds = len(walls["embed"])
    fill = float(batch.attention_mask.sum()) / max(batch.attention_mask.size, 1)   # real / padded tokens
    rounds = {b: [] for b in (*BUCKETS, "unattributed", "embed_glue", "unattributed_forward", "padding_waste",
                              "binding", "between_ops", "speed")}
    fwd_s = median(walls["forward"])
    reps = reps or max(1, min(9, int(0.1 / max(fwd_s, 1e-6))))   # forwards per round for each view
    cuda = str(device).startswith("cuda")
    for r in range(n_rounds):
        io = oh.io_split(pipe, batch, reps=reps)
        if cuda:   # never run on a GPU here
            from .cuda_overhead import cuda_split
            s = cuda_split(pipe.model.forward, io["args"], reps=reps)
        else:
            s = oh.forward_split(pipe.model.forward, io["args"], oh.calib_round(calib, r), reps=reps)
        b = {"tokenize": walls["tokenize"][r], "model_kernels": s["kernels"],
             "python_overhead": s["python_overhead"], "io": io["io"]}
        for k, v in b.items():
            rounds[k].append(v)
        rounds["unattributed"].append(walls["embed"][r] - sum(b.values()))
        rounds["embed_glue"].append(walls["embed"][r] - walls["tokenize"][r] - walls["forward"][r])
        # the same check inside this block alone: immune to the machine changing speed between blocks
        rounds["unattributed_forward"].append(io["forward"] - s["kernels"] - s["python_overhead"] - io["io"])
        rounds["speed"].append(walls["forward"][r] / io["forward"])   # >1: this block ran faster than the walls
        # padding waste as a fraction of this block's forward, put on the walls' forward
        waste = sum(v for k, v in s.get("kernels_by_kind", {}).items() if k in PER_TOKEN) * (1.0 - fill)
        rounds["padding_waste"].append(waste / io["forward"] * walls["forward"][r])
        rounds["binding"].append(s.get("binding", math.nan))
        rounds["between_ops"].append(s.get("between_ops", math.nan))
    emb = median(walls["embed"])
    buckets = {k: median(rounds[k]) for k in BUCKETS}
    return {"impl": name, "buckets": buckets, "rounds": rounds, "embed_wall": emb, "embed_rounds": list(walls["embed"]),
            "forward_wall": fwd_s, "unattributed": median(rounds["unattributed"]),
            "ci": {k: bootstrap_ci(v) for k, v in rounds.items()},
            "shares": {k: median(v / e for v, e in zip(rounds[k], walls["embed"]))
                       for k in (*BUCKETS, "unattributed", "embed_glue")},
            "detail": {"counts": s.get("counts", {}), "uncalibrated": s.get("uncalibrated", {}), "fill": fill,
                       "binding_s": median(rounds["binding"]), "between_ops_s": median(rounds["between_ops"]),
                       "calls": sum(s.get("counts", {}).values()), "rounds": n_rounds,
                       "unattributed_forward_share": median(u * sp / e for u, e, sp in zip(   # of the block's forward
                           rounds["unattributed_forward"], walls["forward"], rounds["speed"])),
                       "speed_walls_over_split": median(rounds["speed"])},
            "method": s.get("method", METHOD)}


def records(att: dict, scenario: str, device: str = "cpu", extra: dict | None = None) -> list:
    """attribution_<bucket> records (ms) with their interval, plus attribution_unattributed."""
    from ..results import Record
    ex = {"method": att["method"], "embed_wall_ms": att["embed_wall"] * 1e3, "forward_wall_ms": att["forward_wall"] * 1e3,
          "detail": att["detail"], **(extra or {})}
    return [Record(att["impl"], f"attribution_{k}", scenario, att["buckets"][k] * 1e3 if k in att["buckets"]
                   else att["unattributed"] * 1e3, "ms", device,
                   extra={**ex, "ci": [x * 1e3 for x in att["ci"][k]], "share": att["shares"][k],
                          "round_ms": [x * 1e3 for x in att["rounds"][k]]})
            for k in (*BUCKETS, "unattributed")]


# What each implementation takes away, and from whose split: (baseline, buckets). None: it swaps
# the kernels too, so no split of a torch forward bounds it. (Integrator: registry facts later.)
REMOVES = {
    "cython_ext": ("python_ref", ("tokenize", "embed_glue")), "numba_variant": ("python_ref", ("tokenize", "embed_glue")),
    "python_ref_packed": ("python_ref", ("padding_waste",)),
    "cpp_port": ("python_ref_packed", ("tokenize", "embed_glue", "python_overhead")),
    "wasm_port": ("python_ref", None), "onnxruntime": ("python_ref", None), "python_ref_compile": ("python_ref", None),
}
# Without python_ref_packed measured, cpp_port is bounded by python_ref's split, padding included.
FALLBACK_REMOVES = {"cpp_port": ("python_ref", ("tokenize", "embed_glue", "python_overhead", "padding_waste"))}


def port_records(atts: dict, walls: dict, scenario: str, device: str = "cpu", removes: dict | None = None) -> list:
    """port_ceiling + port_gain Records for every implementation in walls that has a baseline there.
    atts: {impl: attribute()} (the baselines at least); walls: {impl: round_walls} from the same
    interleaved rounds, so the gain's per-round ratios are paired."""
    from ..stats import ceiling, gain, port_records as make
    out = []
    for impl, w in walls.items():
        vs, parts = (removes or REMOVES).get(impl, (None, None))
        if vs is not None and (vs not in walls or vs not in atts) and impl in FALLBACK_REMOVES:
            vs, parts = FALLBACK_REMOVES[impl]
        if vs is None or vs not in walls or (parts is not None and vs not in atts):
            continue
        g = gain(walls[vs]["embed"], w["embed"])
        c = ceiling(atts[vs], parts) if parts is not None else None
        out += make(impl, scenario, c, g, vs, device)
    return out
