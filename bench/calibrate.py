"""`bench calibrate` (issue 10 item 4): the attribution tested on a truth we built. python_ref runs
twice on the same texts, interleaved: as it is, and with a known cost injected, then the split
(measure/split.py) must book the difference to the right buckets.

  injected Python  pure-Python work (integer arithmetic, no torch) after every layer, through an
                   iterator over the layers that BertModel.forward's own loop drives
  injected IO      a host copy of a preallocated buffer (np.copyto, as a serialiser would do) in
                   the pipeline's forward, outside the model call
  truth            both timed in place, inside the embed calls of the injected run's split blocks
                   (the calls whose wall the split's shares are of): the very executions, in the
                   cache state and machine pace they met (a copy after a forward's kernels runs
                   2-3x slower here than after a flush; this VM's pace moves within a second,
                   Python ~1.9x and kernels ~1.4x, so a truth timed elsewhere is of another machine)
  recovered        framework_overhead and io of the injected run's block minus those of the plain
                   run's, the repetitions of the two blocks alternating (split.attribute_many), each
                   at its block's pace (before the split puts them on the walls: that proportional
                   step is not what this checks); compared with the truth round by round
                   (attributed / injected, the median over rounds)
Last line: `calibration: injected X ms, attributed Y ms (error E%)` (both parts together); exit 1
when the total or either part is off by more than TOLERANCE.
Leaves out: injected kernel work (the kernels are the bucket a port cannot change).
"""
from __future__ import annotations

import time
from statistics import median

import numpy as np

from .registry import REFERENCE

TOLERANCE = 0.15


def busy(n: int) -> int:
    """Pure-Python work: n multiply-adds in the interpreter, no C call that could release the GIL."""
    acc = 0
    for i in range(n):
        acc = (acc + i * i) & 0xFFFF
    return acc


class BusyLayers(list):
    """A list of layers whose iterator runs busy(n) after handing out each layer, i.e. between the
    layers of the forward that loops over it (and once after the last), adding its time to spent."""
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


def run(model=None, rounds: int = 5, texts: list[str] | None = None, busy_n: int = 4000,
        io_bytes: int = 8 << 20) -> dict:
    """Measure both pipelines and compare, round by round. -> {"injected": {"python", "io", "total"}
    (medians over rounds), "attributed": {...} (the injected times the median over rounds of
    attributed / injected: each round's pair from the same block), "error": {...}, "plain": att,
    "inj": att} (seconds)."""
    from python_ref.api import model_dir
    from python_ref.pipeline import Pipeline

    from .measure import split
    from .scenarios import texts_for
    mdir = model_dir(model)
    texts = texts or texts_for(mdir, "short", 1)
    plain, inj = Pipeline(model), injected_pipeline(model, busy_n, io_bytes)
    walls = split.measure_walls({"plain": plain, "inj": inj}, texts, rounds=rounds)
    x = {"python": [], "io": []}

    def on_round(name, r):   # the injections as timed inside the pipeline forwards of inj's block r
        if name == "python_ref_injected":
            log = inj.log[1:]   # the first is the block's untimed warm-up forward
            x["python"].append(median(p for p, _ in log))
            x["io"].append(median(c for _, c in log))
            inj.log = []
    inj.log = []
    atts = split.attribute_many({REFERENCE: plain, "python_ref_injected": inj}, texts,
                                {REFERENCE: walls["plain"], "python_ref_injected": walls["inj"]}, reps=5,
                                on_round=on_round)
    inj.log = None
    a, b = atts[REFERENCE], atts["python_ref_injected"]
    y = {part: [bi - ai for ai, bi in zip(a["rounds"][k], b["rounds"][k])]
         for part, k in (("python", "block_overhead"), ("io", "block_io"))}
    for d in (x, y):
        d["total"] = [p + i for p, i in zip(d["python"], d["io"])]
    ratio = {k: median(yr / xr for yr, xr in zip(y[k], x[k])) for k in x}
    inj_s = {k: median(x[k]) for k in x}
    return {"injected": inj_s, "attributed": {k: inj_s[k] * ratio[k] for k in x},
            "error": {k: abs(ratio[k] - 1) for k in x}, "plain": a, "inj": b}


def _row(name: str, att: dict) -> str:
    b, s = att["buckets"], att["shares"]
    cells = " ".join(f"{k} {b[k] * 1e3:.3f} ms ({100 * s[k]:.1f}%)" for k in b)
    return (f"  {name:20s} embed {att['embed_wall'] * 1e3:.3f} ms: {cells}; unattributed "
            f"{att['unattributed'] * 1e3:+.3f} ms ({100 * att['shares']['unattributed']:+.1f}%)")


def main(args) -> int:
    import torch

    from .measure.split import supports
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
    print(_row(f"{REFERENCE} + injected", r["inj"]))
    for part in ("python", "io"):
        print(f"  {part:6s}: injected {inj[part] * 1e3:.3f} ms, attributed {att[part] * 1e3:.3f} ms "
              f"(error {100 * e[part]:.1f}%)")
    bad = [p for p in ("python", "io", "total") if e[p] > TOLERANCE]
    if bad:
        print(f"calibration: FAILED: {', '.join(bad)} off by more than {100 * TOLERANCE:.0f}%")
    x, y = inj["total"], att["total"]
    print(f"calibration: injected {x * 1e3:.2f} ms, attributed {y * 1e3:.2f} ms (error {100 * e['total']:.1f}%)")
    return 1 if bad else 0
