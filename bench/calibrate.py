"""`bench calibrate` (issue 10 item 4): the attribution tested on a truth we built. python_ref runs
twice on the same texts, interleaved: as it is, and with a known cost injected, then the split
(measure/split.py) must book the difference to the right buckets.

  injected Python  pure-Python work (integer arithmetic, no torch) after every layer, through an
                   iterator over the layers that BertModel.forward's own loop drives; its cost per
                   call timed standalone in this run
  injected IO      a host copy of a preallocated buffer (np.copyto, as a serialiser would do) in
                   the pipeline's forward, outside the model call; timed standalone too, each copy
                   right after a plain forward (the cache state it meets inside the pipeline)
  recovered        framework_overhead and io of the injected run minus those of the plain run
Last line: `calibration: injected X ms, attributed Y ms (error E%)` (both parts together); exit 1
when the total or either part is off by more than TOLERANCE.
Leaves out: injected kernel work (the kernels are the bucket a port cannot change).
"""
from __future__ import annotations

import time
from statistics import median

import numpy as np

from .measure.latency import InnerTime
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
    layers of the forward that loops over it (and once after the last)."""
    n = 0

    def __iter__(self):
        for layer in list.__iter__(self):
            yield layer
            busy(self.n)


def injected_pipeline(model=None, busy_n: int = 4000, io_bytes: int = 8 << 20):
    """python_ref with busy(busy_n) after every layer and an io_bytes host copy per forward."""
    from python_ref.pipeline import Pipeline, TorchForward

    class Injected(Pipeline):
        name = "python_ref_injected"

        def forward(self, batch):
            np.copyto(self.dst, self.src)   # the injected IO: outside the model call, like a transfer
            return TorchForward.forward(self, batch)
    p = Injected(model)
    p.model.layers = BusyLayers(p.model.layers)
    p.model.layers.n = busy_n
    p.src, p.dst = np.ones(io_bytes, np.uint8), np.zeros(io_bytes, np.uint8)
    return p


def _after(before, fn):
    """fn timed alone, right after an untimed before(): fn in the cache state it meets in the
    pipeline (a copy after a forward's kernels runs 2-3x slower here than after a plain flush)."""
    def g():
        before()
        t0 = time.perf_counter()
        fn()
        return InnerTime(time.perf_counter() - t0)
    return g


def run(model=None, rounds: int = 5, texts: list[str] | None = None, busy_n: int = 4000,
        io_bytes: int = 8 << 20) -> dict:
    """Measure both pipelines and compare. -> {"injected": {"python", "io"}, "attributed": {...},
    "error": {"python", "io", "total"}, "plain": att, "inj": att} (seconds)."""
    from python_ref.api import model_dir
    from python_ref.pipeline import Pipeline

    from .measure import split
    from .scenarios import texts_for
    mdir = model_dir(model)
    texts = texts or texts_for(mdir, "short", 1)
    plain, inj = Pipeline(model), injected_pipeline(model, busy_n, io_bytes)
    n_layers, batch = len(inj.model.layers), plain.tokenize(texts)
    calib = split.calibrate([plain, inj], texts, rounds=rounds)
    # the injected costs, timed standalone in the same interleaved rounds as the pipelines
    walls = split.measure_walls({"plain": plain, "inj": inj}, texts, rounds=rounds, extra={
        "busy": _after(lambda: plain.forward(batch), lambda: busy(busy_n)),
        "copy": _after(lambda: plain.forward(batch), lambda: np.copyto(inj.dst, inj.src))})
    x_py, x_io = n_layers * median(walls["busy"]), median(walls["copy"])
    a = split.attribute(REFERENCE, plain, texts, walls["plain"], calib, reps=5)
    b = split.attribute("python_ref_injected", inj, texts, walls["inj"], calib, reps=5)
    y_py = b["buckets"]["framework_overhead"] - a["buckets"]["framework_overhead"]
    y_io = b["buckets"]["io"] - a["buckets"]["io"]
    err = lambda y, x: abs(y - x) / x  # noqa: E731
    return {"injected": {"python": x_py, "io": x_io}, "attributed": {"python": y_py, "io": y_io},
            "error": {"python": err(y_py, x_py), "io": err(y_io, x_io), "total": err(y_py + y_io, x_py + x_io)},
            "plain": a, "inj": b}


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
    x, y = inj["python"] + inj["io"], att["python"] + att["io"]
    print(f"calibration: injected {x * 1e3:.2f} ms, attributed {y * 1e3:.2f} ms (error {100 * e['total']:.1f}%)")
    return 1 if bad else 0
