"""Model directories and calls that used to crash, hang or answer silently wrong (issue 12), each over
every port it concerns: faulty weights refused at load in one line naming the file and the tensor
(tests/variants.py's WEIGHT_FAULTS; config values and vocabularies are its REFUSED variants, tested
by test_model_variants.py); `bench embed` exits 2 with one line; the pipe to a served process
(wasm_port's Node, cpp_port's binaries) never hands a reply to the wrong call, and a process that stops
answering is a clear error; thread counts no longer abort the interpreter or segfault torch."""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import variants
from bench import registry
from conftest import require
from contract.api import ModelDirError

ROOT = Path(__file__).resolve().parents[1]
FAULT_CASES = [(p, f) for p in ("python_ref", "cpp_port", "wasm_port") for f in variants.WEIGHT_FAULTS] + \
    [(p, f) for p in ("cython_ext", "numba_variant") for f in ("transposed", "nan")]   # python_ref's model code


@pytest.fixture(scope="module")
def fault_dir(mdir, tmp_path_factory):
    root, built = tmp_path_factory.mktemp("faults"), {}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = variants.weight_fault(name, mdir, root / name)
        return built[name]
    return get


@pytest.mark.parametrize("port,fault", FAULT_CASES, ids=[f"{p}-{f}" for p, f in FAULT_CASES])
def test_faulty_weights_refused_at_load(port, fault, fault_dir):
    require(port)
    with pytest.raises(ModelDirError) as e:
        pipe = registry.load_impl(port, fault_dir(fault))
        try:   # not refused: what it answers shows why that is wrong
            pytest.fail(f"loaded; embeds {pipe.embed(['hello world'])[0][:3]}")
        finally:
            getattr(pipe, "close", lambda: None)()
    msg = str(e.value)
    assert "\n" not in msg and "model.safetensors" in msg and variants.WEIGHT_FAULTS[fault] in msg, msg


@pytest.mark.parametrize("port,variant", [("python_ref", "eps_negative"), ("cpp_port", "eps_negative"),
                                          ("wasm_port", "eps_negative"), ("python_ref", "nan"), ("wasm_port", "nan"),
                                          ("cpp_port", "nan")])
def test_bench_embed_refuses_in_one_line(port, variant, mdir, fault_dir, tmp_path):
    require(port)
    d = fault_dir(variant) if variant in variants.WEIGHT_FAULTS else variants.build(variant, mdir, tmp_path / variant)
    r = subprocess.run([sys.executable, "-m", "bench", "embed", "--impl", port, "--model", str(d), "hello"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, (r.returncode, r.stderr[-1500:])
    assert r.stderr.startswith("bench: ") and ("config.json" in r.stderr or "model.safetensors" in r.stderr)


# -- the pipe to a served process (item 1): wasm_port's Node, cpp_port's binaries -------------------------

SERVED = {"wasm_port": "node", "minilm_embed_lite": "minilm-embed-lite"}   # implementation: its process


@pytest.fixture(params=list(SERVED))
def served(request, mdir):
    require(request.param)
    made = []
    yield lambda **kw: made.append(registry.load_impl(request.param, mdir, **kw)) or made[-1]
    for p in made:
        p.close()


def test_interrupted_call_never_desyncs(served, corpus):
    """A call interrupted while the process works (KeyboardInterrupt from a SIGALRM handler): the next
    calls get their own answers, bit for bit those of a fresh pipe, never the interrupted call's reply."""
    fresh = served()
    alpha, beta = fresh.embed(["alpha"]), fresh.embed(["beta"])
    p = served()

    def interrupt(*_):
        raise KeyboardInterrupt
    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            p.embed(corpus[:400])      # seconds of work in the process: the alarm comes first
        assert time.monotonic() - t0 < 5
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    got_beta = p.embed(["beta"])
    assert got_beta.shape == (1, p.dim) and np.array_equal(got_beta, beta)
    assert np.array_equal(p.embed(["alpha"]), alpha)


def test_a_process_that_stops_answering_is_a_clear_error(served):
    from contract.serve_pipe import ServeError
    p = served(timeout=2.0)
    want = p.embed(["beta"])
    os.kill(p._pipe.proc.pid, signal.SIGSTOP)     # alive, but it will never answer
    t0 = time.monotonic()
    with pytest.raises(ServeError, match=f"{p.label}: {SERVED[p.label]} did not answer embed within 2 s"):
        p.embed(["x"])
    assert time.monotonic() - t0 < 10
    assert np.array_equal(p.embed(["beta"]), want)   # a new process, the same answer


def test_a_process_that_dies_mid_call_is_a_clear_error_then_restarts(served, corpus):
    from contract.serve_pipe import ServeError
    p = served()
    want = p.embed(["beta"])
    killer = threading.Timer(0.3, p._pipe.proc.kill)
    killer.start()
    with pytest.raises(ServeError, match=f"{p.label}: {SERVED[p.label]} stopped"):
        p.embed(corpus[:400])
    killer.join()
    assert np.array_equal(p.embed(["beta"]), want)   # the next call starts a new process


def test_every_reply_carries_its_requests_id(served):
    """The id echo the pipe relies on, from each process itself (cpp_port/serve.cpp, node_runner.mjs)."""
    p = served()
    rid = next(p._pipe._ids)
    p._pipe.proc.stdin.write(b'{"op": "info", "id": %d}\n{"op": "nope", "id": %d}\n' % (rid, rid + 1))
    p._pipe.proc.stdin.flush()
    got, buf, deadline = [], b"", time.monotonic() + 30
    while len(got) < 2 and time.monotonic() < deadline:
        select.select([p._pipe.proc.stdout], [], [], 1.0)
        buf += os.read(p._pipe.proc.stdout.fileno(), 1 << 16)
        *lines, buf = buf.split(b"\n")
        got += [json.loads(x) for x in lines if x.strip()]
    assert [(r["id"], r["ok"]) for r in got] == [(rid, True), (rid + 1, False)], got


# -- thread counts (item 5) ----------------------------------------------------------------------------

_THREADS = """
import resource, sys
from bench import registry
p = registry.load_impl("cpp_port")
texts = ["hello world, café " * 20] * 200
want = p.tokenize(texts, num_threads=1).ids
if sys.argv[1] == "rlimit":   # no room left for a thread's stack: every thread start fails
    vm = int([l for l in open("/proc/self/status") if l.startswith("VmSize")][0].split()[1]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + 4 * 2**20, resource.RLIM_INFINITY))
    got = p.tokenize(texts, num_threads=8).ids
else:
    got = p.tokenize(texts * 200, num_threads=40000).ids[:200]
print("same" if (got == want).all() else "DIFFERENT")
"""


@pytest.mark.parametrize("how", ["40000", "rlimit"])
def test_cpp_port_thread_counts_never_abort(how):
    """num_threads=40000 used to abort the interpreter (std::terminate); now at most max_threads start,
    and a thread the system refuses is done by the calling thread."""
    require("cpp_port")
    r = subprocess.run([sys.executable, "-c", _THREADS, how], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("same"), (r.returncode, r.stderr[-1500:])


def test_cpp_port_thread_count_below_one_is_a_value_error(pipe_cpp):
    with pytest.raises(ValueError, match="num_threads"):
        pipe_cpp.tokenize(["a"], num_threads=0)
    with pytest.raises(ValueError, match="num_threads"):
        pipe_cpp.tokenize(["a"], num_threads=-3)


@pytest.fixture
def pipe_cpp(mdir):
    require("cpp_port")
    return registry.load_impl("cpp_port", mdir)


@pytest.mark.parametrize("threads", ["100000", "0", "-2"])
def test_bench_threads_out_of_range_is_one_line(threads, capsys):
    from bench.cli import main
    assert main(["latency", "--quick", "--threads", threads]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bench: --threads {threads}: must be between 1 and") and err.count("\n") == 1
