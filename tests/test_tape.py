"""The tape (bench/attribution/tape.py, cpp_port/tape.cpp): a Python torch forward's own ATen ops replayed
from LibTorch C++, the overhead model's kernels. Truths built here: the forward's own result (the
replay gives it bit for bit), the C++ port's forward (the same ops from C++: the tape costs what it
costs), known pure-Python work put between the ops (the split books it removable, all of it), and
forwards it cannot replay (refused in one line; the split falls back to the priced model)."""
from __future__ import annotations

import time
from statistics import median

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench import registry
from bench.attribution import overhead as oh, tape as tp
from bench.scenarios import texts_for
from tests.conftest import require


def _model_args(pipe, texts):
    return oh.io_split(pipe, pipe.tokenize(texts), reps=1)["args"]


@pytest.mark.parametrize("name", ["python_ref", "python_ref_packed"])
def test_tape_replays_the_forward_bit_for_bit(mdir, name):
    require(oh.cpp_missing(), is_reason=True)
    pipe = registry.load_impl(name, mdir)
    for texts in (texts_for(mdir, "short", 1), texts_for(mdir, "short", 2) + texts_for(mdir, "medium", 1)):
        args = _model_args(pipe, texts)
        tape = tp.Tape(pipe.model.forward, args)
        assert tape.run() > 0 and tape.core.live == len(tape.finals) == 1, "intermediates released at last use"
        assert np.array_equal(tape.output(), pipe.model.forward(*args).numpy())
        assert tape.ops >= 100


def test_tape_costs_what_the_cpp_port_costs(mdir):
    """Known truth: cpp_port runs python_ref_packed's very ops from C++ (cpp_port/model.cpp). The
    tape of python_ref_packed's forward, interleaved with cpp_port's forward (which adds its
    numpy in and out), costs the same within 20%, and less than the Python forward."""
    require(oh.cpp_missing(), is_reason=True)
    require("cpp_port")
    texts = texts_for(mdir, "short", 1)
    py, cpp = registry.load_impl("python_ref_packed", mdir), registry.load_impl("cpp_port", mdir)
    args, batch = _model_args(py, texts), cpp.tokenize(texts)
    tape = tp.Tape(py.model.forward, args)
    walls = {"tape": [], "cpp": [], "py": []}

    def timed(f):
        t0 = time.perf_counter()
        f()
        return time.perf_counter() - t0
    fns = {"tape": tape.run, "cpp": lambda: cpp.forward(batch), "py": lambda: py.model.forward(*args)}
    for f in fns.values():
        f()
    for r in range(9):
        for k, f in (fns.items() if r % 2 else reversed(fns.items())):
            walls[k].append(median(timed(f) for _ in range(5)))
    ratio = median(t / c for t, c in zip(walls["tape"], walls["cpp"]))
    assert 0.8 < ratio < 1.2, walls
    assert median(p / t for p, t in zip(walls["py"], walls["tape"])) > 1.02, walls


def test_split_books_python_work_between_ops_as_removable():
    """Known truth: 20 busy-waits of 25 us of pure Python between the ops of a forward (0.5 ms)
    make its removable time grow by that much (the tape replays the ops, not the Python)."""
    require(oh.cpp_missing(), is_reason=True)
    x, w, b = torch.randn(1, 16, 64), torch.randn(64, 64), torch.randn(64)

    def busy(s):
        end = time.perf_counter() + s
        while time.perf_counter() < end:
            pass

    def fwd(x, w, b, wait=0.0):
        for _ in range(20):
            x = F.gelu(F.linear(x, w, b))
            busy(wait)
        return x
    with torch.inference_mode():
        got = []
        for _ in range(3):
            s0 = oh.forward_split(fwd, (x, w, b, 0.0), reps=7)
            s1 = oh.forward_split(fwd, (x, w, b, 25e-6), reps=7)
            assert s0["tape"]["ops"] == s1["tape"]["ops"] == 40
            got.append(s1["python_overhead"] - s0["python_overhead"])
    assert abs(median(got) - 20 * 25e-6) / (20 * 25e-6) < 0.15, got


def test_tape_refuses_what_it_cannot_replay_in_one_line():
    require(oh.cpp_missing(), is_reason=True)
    x = torch.zeros(4)
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        with pytest.raises(tp.Unsupported, match="writes to a tensor the forward did not make"):
            tp.Tape(lambda x: x.add_(1), (x,))
        with pytest.raises(tp.Unsupported, match="Generator"):
            tp.Tape(lambda x: x + torch.randn(4, generator=g), (x,))
        s = oh.forward_split(lambda x: x + torch.randn(4, generator=g), (x,), reps=2)
    why = s["tape"]["why"]
    assert "Generator" in why and "\n" not in why
    assert all(p["python_overhead"] == p["priced"] and p["indirect"] == 0 for p in s["reps"]), "the priced model alone"
