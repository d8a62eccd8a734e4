"""peak_fraction (bench/latency/peak.py): the work it counts against torch's own FLOP counter, the
fraction from walls and a peak whose values the test sets, the probes of the two runtimes with kernels
of their own (minilm-embed-lite natively, wasm_port in Node), and the records `bench latency` writes."""
from __future__ import annotations

import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench import registry
from bench.latency import peak
from bench.results import Record
from conftest import require
from contract.api import read_spec


def test_work_is_the_matmul_flops_torch_counts(mdir):
    """The projections and FFN: torch's FlopCounterMode over python_ref's forward of one unpadded row
    (it does not count the CPU attention kernel); attention: the counter over its two products."""
    from python_ref.pipeline import Pipeline
    spec, pipe = read_spec(mdir), Pipeline(mdir)
    for text in ("hello world", "a longer sentence, with punctuation and more words in it than the first"):
        b = pipe.tokenize([text])
        t = b.ids.shape[1]
        with FlopCounterMode(display=False) as fc:
            pipe.forward(b)
        h, dh = spec.num_attention_heads, spec.hidden_size // spec.num_attention_heads
        q = k = v = torch.zeros(1, h, t, dh)
        with FlopCounterMode(display=False) as att:
            torch.matmul(torch.matmul(q, k.transpose(-1, -2)), v)
        assert peak.work_flop(spec, [t]) == fc.get_total_flops() + att.get_total_flops() * spec.num_hidden_layers


def test_fraction_is_useful_gflops_over_the_peak(mdir):
    spec = read_spec(mdir)
    lens = [12, 30, 7]
    recs = [Record("minilm_embed_lite", "forward_p50", "batch", 20.0, "ms"),
            Record("wasm_port", "forward_p50", "batch", 80.0, "ms"),
            Record("minilm_embed_lite", "forward_p50", "single", 1.0, "ms"),
            Record("python_ref_int8", "forward_p50", "batch", 5.0, "ms")]   # int8: not fp32 FMAs, no fraction
    peaks = {"native": {"gflops": 200.0, "threads": 1, "lanes": 16, "gflops_1t": 200.0, "source": "x"}}
    out, missing = peak.peak_records(recs, "batch", spec, lens, peaks, "cpu")
    flop = peak.work_flop(spec, lens)
    assert [r.impl for r in out] == ["minilm_embed_lite"] and missing == ["wasm_port"]
    assert out[0].value == pytest.approx(flop / 0.020 / 1e9 / 200.0)
    assert out[0].extra["peak_gflops"] == 200.0 and out[0].extra["peak_runtime"] == "native"


def test_the_two_runtimes_probe_their_peak():
    """minilm-embed-lite at its -march's width (and more threads, more peak), wasm_port's SIMD128 in
    Node; LibTorch's binary has no probe of its own and says so."""
    require("minilm_embed_lite")
    require("wasm_port")
    flags = open("/proc/cpuinfo").read()
    pipes = {n: registry.load_impl(n) for n in ("minilm_embed_lite", "wasm_port")}
    try:
        got = peak.probe(pipes, threads=1)
        assert got["native"]["lanes"] == (16 if " avx512f" in flags else 8 if " avx2" in flags else 4)
        assert got["wasm"]["lanes"] == 4 and got["wasm"]["threads"] == 1
        assert got["native"]["gflops"] > got["wasm"]["gflops"] > 1.0
    finally:
        for p in pipes.values():
            p.close()
    require("minilm_embed")
    lt = registry.load_impl("minilm_embed")
    try:
        assert peak.probe({"minilm_embed": lt}, threads=1) == {}
    finally:
        lt.close()


def test_bench_latency_writes_peak_fraction_per_kernel_port(tmp_path):
    import bench_run
    from bench import cli, suite
    require("minilm_embed_lite")
    require("wasm_port")
    args = cli.parser().parse_args(["latency", "--impl", "minilm_embed_lite", "wasm_port", "--threads", "1",
                                    "--scenario", "single", "batch", "--out", str(tmp_path)])
    assert suite.run_latency(args, plan=bench_run.tiny_plan()) == 0
    recs = [r for r in json.loads((tmp_path / "latency.json").read_text())["records"] if r["metric"] == "peak_fraction"]
    assert {(r["impl"], r["scenario"]) for r in recs} == {(i, s) for i in ("minilm_embed_lite", "wasm_port")
                                                          for s in ("single", "batch")}
    for r in recs:
        assert 0 < r["value"] < 1.5 and r["extra"]["peak_gflops"] > 0
        assert r["extra"]["peak_runtime"] == registry.BY_NAME[r["impl"]].peak
