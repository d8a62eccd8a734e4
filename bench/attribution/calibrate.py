"""`bench calibrate` (docs/DESIGN.md §7): python_ref plain, + pure-Python work after every layer, + a host copy
outside the model call, interleaved; each injected block's framework_overhead (or io) less the plain block's against
the truth timed inside that block. Exit 1 when the total or either part is off by more than TOLERANCE.
Leaves out: injected kernel work (the kernels are the bucket a port cannot change)."""
from __future__ import annotations

import time
from statistics import median

import numpy as np

from ..registry import REFERENCE

TOLERANCE = 0.15


def busy(n: int) -> int:
    """Pure-Python work: n multiply-adds in the interpreter, no C call that could release the GIL."""
    acc = 0
    for i in range(n):
        acc = (acc + i * i) & 0xFFFF
    return acc


class BusyLayers(list):
    """Layers whose iterator runs busy(n) after each layer it hands out, adding its time to spent."""
    n, spent = 0, 0.0

    def __iter__(self):
        for layer in list.__iter__(self):
            yield layer
            t0 = time.perf_counter()
            busy(self.n)
            self.spent += time.perf_counter() - t0


def injected_pipeline(model=None, busy_n: int = 4000, io_bytes: int = 8 << 20):
    """python_ref with busy(busy_n) after every layer and an io_bytes host copy per forward; while
    its `log` is a list, each forward appends (busy seconds, copy seconds) to it."""
    from python_ref.pipeline import Pipeline, TorchForward

    class Injected(Pipeline):
        name = "python_ref_injected"
        log = None

        def forward(self, batch):
            self.model.layers.spent = 0.0
            t0 = time.perf_counter()
            np.copyto(self.dst, self.src)   # the injected IO: outside the model call, like a transfer
            t_io = time.perf_counter() - t0
            out = TorchForward.forward(self, batch)
            if self.log is not None:
                self.log.append((self.model.layers.spent, t_io))
            return out
    p = Injected(model)
    p.model.layers = BusyLayers(p.model.layers)
    p.model.layers.n = busy_n
    p.src, p.dst = np.ones(io_bytes, np.uint8), np.zeros(io_bytes, np.uint8)
    return p


def run(model=None, rounds: int = 5) -> dict:
    """The three pipelines (plain, + Python, + IO) compared round by round, in seconds. -> {"injected": {"python",
    "io", "total"}, "attributed": {...}, "error": {...}, "direct": busy in place, "plain", "inj", "inj_io": atts}"""
    from contract.api import model_dir
    from python_ref.pipeline import Pipeline

    from . import split
    from ..scenarios import texts_for
    mdir = model_dir(model)
    texts = texts_for(mdir, "short", 1)
    # a pipeline per injection: the copy also slows the kernels after it, which the Python truth would take in
    pipes = {REFERENCE: Pipeline(model), "+python": injected_pipeline(model, io_bytes=0),
             "+io": injected_pipeline(model, busy_n=0)}
    walls = split.measure_walls(pipes, texts, rounds=rounds)
    logs = {"+python": [], "+io": []}

    def on_round(name, r):   # the injections as timed inside the pipeline forwards of its block r
        if name in logs:
            log = pipes[name].log[1:]   # the first is the block's untimed warm-up forward
            logs[name].append(median(x[0 if name == "+python" else 1] for x in log))
            pipes[name].log = []
    for n in logs:
        pipes[n].log = []
    atts = split.attribute_many(pipes, texts, walls, reps=5, on_round=on_round)
    for n in logs:
        pipes[n].log = None
    a, rnd = atts[REFERENCE], {n: atts[n]["rounds"] for n in atts}
    x = {"python": [fi - fp for fp, fi in zip(rnd[REFERENCE]["block_forward"], rnd["+python"]["block_forward"])],
         "io": logs["+io"]}
    y = {part: [bi - ai for ai, bi in zip(rnd[REFERENCE][k], rnd[n][k])]
         for part, n, k in (("python", "+python", "block_overhead"), ("io", "+io", "block_io"))}
    for d in (x, y):
        d["total"] = [p + i for p, i in zip(d["python"], d["io"])]
    ratio = {k: median(yr / xr for yr, xr in zip(y[k], x[k])) for k in x}
    inj_s = {k: median(x[k]) for k in x}
    return {"injected": inj_s, "attributed": {k: inj_s[k] * ratio[k] for k in x}, "direct": median(logs["+python"]),
            "error": {k: abs(ratio[k] - 1) for k in x}, "plain": a, "inj": atts["+python"], "inj_io": atts["+io"]}


def _row(name: str, att: dict) -> str:
    b, s = att["buckets"], att["shares"]
    cells = " ".join(f"{k} {b[k] * 1e3:.3f} ms ({100 * s[k]:.1f}%)" for k in b)
    return (f"  {name:20s} embed {att['embed_wall'] * 1e3:.3f} ms: {cells}; unattributed "
            f"{att['unattributed'] * 1e3:+.3f} ms ({100 * att['shares']['unattributed']:+.1f}%)")


def run_calibrate(args) -> int:
    import torch

    from .split import supports
    from python_ref.pipeline import Pipeline
    torch.set_num_threads(args.threads)
    why = supports(Pipeline(args.model))
    if why:
        print(f"calibration: cannot run: {why}")
        return 2
    r = run(args.model, rounds=5 if args.quick else 9)
    inj, att, e = r["injected"], r["attributed"], r["error"]
    print(f"calibration on {REFERENCE}, 1 short text, {args.threads} thread(s), {r['plain']['detail']['rounds']} rounds")
    print(_row(REFERENCE, r["plain"]))
    print(_row(f"{REFERENCE} + Python", r["inj"]))
    print(_row(f"{REFERENCE} + IO", r["inj_io"]))
    for part in ("python", "io"):
        how = (f" (busy {r['direct'] * 1e3:.3f} ms in place + its effect on the kernels after it: the forward "
               "with - without)") if part == "python" else " (timed in place)"
        print(f"  {part:6s}: injected {inj[part] * 1e3:.3f} ms{how}, attributed {att[part] * 1e3:.3f} ms "
              f"(error {100 * e[part]:.1f}%)")
    bad = [p for p in ("python", "io", "total") if e[p] > TOLERANCE]
    if bad:
        print(f"calibration: FAILED: {', '.join(bad)} off by more than {100 * TOLERANCE:.0f}%")
    x, y = inj["total"], att["total"]
    print(f"calibration: injected {x * 1e3:.2f} ms, attributed {y * 1e3:.2f} ms (error {100 * e['total']:.1f}%)")
    return 1 if bad else 0
