"""peak_fraction: how much of this machine's multiply-add peak each forward reaches (docs/DESIGN.md §9):
the encoder's matmul FLOPs on the scenario's real tokens (`work_flop`) / forward_p50 / the peak probe
(wasm_port/peak.cpp) of the runtime its kernels run in, its registry fact `peak`: "native" (minilm-embed-lite's
build for this CPU, the run's threads) or "wasm" (SIMD128 in Node). None for a runtime with no probe loaded
(a note) nor for the int8 rows (not fp32 multiply-adds). Leaves out: embeddings, layer norms, GELU and
softmax (under 2% of the FLOPs at these shapes), the tokenizer."""
from __future__ import annotations

from .. import registry
from ..results import Record

PROBE_MS = 400   # the probe's bursts, best of: about this long per runtime and thread count


def work_flop(spec, lens: list[int]) -> float:
    """FLOPs of one forward over rows of these real token counts (spec: python_ref's ModelSpec)."""
    d, f, layers = spec.hidden_size, spec.intermediate_size, spec.num_hidden_layers
    per_layer = sum(2 * t * (4 * d * d + 2 * d * f) + 4 * t * t * d for t in lens)
    heads = sum(2 * h.in_features * h.out_features for h in spec.dense) * len(lens)
    return float(per_layer * layers + heads)


def probe(pipes: dict, threads: int) -> dict:
    """{runtime: its peak} from the loaded pipes that carry a probe (Served.peak): {"gflops" at the
    threads it ran on, "threads", "lanes", "gflops_1t", "source": the implementation that measured it}."""
    out: dict = {}
    for name, pipe in pipes.items():
        kind = registry.BY_NAME[name].peak if name in registry.BY_NAME else ""
        if kind and kind not in out and callable(getattr(pipe, "peak", None)):
            try:
                one = pipe.peak(1, PROBE_MS)
                many = pipe.peak(threads, PROBE_MS) if threads > 1 else one   # wasm: at most the module's threads
            except (RuntimeError, ValueError):   # a process without a probe of its own (LibTorch's binary)
                continue
            out[kind] = {"gflops": many["gflops"], "threads": many["threads"], "lanes": one["lanes"],
                         "gflops_1t": one["gflops"], "source": name}
    return out


def peak_records(recs: list[Record], scenario: str, spec, lens: list[int], peaks: dict,
                 device: str, runtime: str | None = None) -> tuple[list[Record], list[str]]:
    """(peak_fraction of every forward_p50 record of `scenario` whose runtime's peak was probed, the names
    left without). runtime: every record's (a browser page's engine), else each one's registry fact `peak`."""
    flop = work_flop(spec, lens)
    out, missing = [], []
    for r in recs:
        if r.scenario != scenario or r.metric != "forward_p50" or r.device != "cpu":
            continue
        if r.impl in registry.BY_NAME and registry.BY_NAME[r.impl].change in registry.LOSSY:
            continue   # int8: its multiply-adds are not the fp32 FMAs the probe counts (VNNI does 4 a lane)
        kind = runtime or (registry.BY_NAME[r.impl].peak if r.impl in registry.BY_NAME else "native")
        peak = peaks.get(kind)
        if not peak:
            missing.append(r.impl)
            continue
        useful = flop / (r.value / 1e3) / 1e9
        out.append(Record(r.impl, "peak_fraction", scenario, useful / peak["gflops"], "fraction", device,
                          extra={"useful_gflops": useful, "gflop": flop / 1e9, "tokens": sum(lens), "rows": len(lens),
                                 "forward_ms": r.value, "peak_gflops": peak["gflops"], "peak_threads": peak["threads"],
                                 "peak_gflops_1t": peak["gflops_1t"], "peak_lanes": peak["lanes"],
                                 "peak_runtime": kind, "peak_source": peak["source"],
                                 # above 1: the probe read low (disturbed) or the forward ran another path
                                 "above_peak": useful > peak["gflops"]}))
    return out, missing
