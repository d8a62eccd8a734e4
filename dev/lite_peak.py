"""Throw-away measurement for dev/NOTES-lite.md: the work (FLOPs per scenario from the real token
counts), the limit (this machine's FMA peak from dev/lite_fmapeak.cpp, torch.mm sgemm on the
model's shapes, 1 and 2 threads) and what minilm-embed-lite and minilm-embed reach, timed inside
each binary (--serve "time"), interleaved, median of rounds. Prints one JSON object.
Usage: .venv/bin/python dev/lite_peak.py [rounds]"""
import json, os, statistics as st, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import torch
from bench.equivalence import oracle
from bench.scenarios import texts_for
from cpp_port.standalone import MinilmEmbed, MinilmEmbedLite
from contract.api import model_dir, read_spec

ROOT = Path(__file__).resolve().parents[1]
m, spec = model_dir(), read_spec(model_dir())
D, F, L = spec.hidden_size, spec.intermediate_size, spec.num_hidden_layers
rounds = int((sys.argv[1:] or ["5"])[0])


def work(texts):
    lens = [len(i) for i in oracle.hf_ids(m, texts)]
    lin = 2 * sum(lens) * (4 * D * D + 2 * D * F) * L
    att = sum(4 * t * t * D for t in lens) * L   # per row at its own length (lite drops trailing padding)
    return {"texts": len(texts), "tokens": sum(lens), "max_len": max(lens), "gflop": (lin + att) / 1e9}


def fma_peak(threads):
    exe = Path(tempfile.gettempdir()) / "lite_fmapeak"
    subprocess.run(["g++", "-O3", "-march=native", "-ffp-contract=fast", "-DVB=64", "-pthread",
                    str(ROOT / "dev/lite_fmapeak.cpp"), "-o", str(exe)], check=True)
    return max(float(subprocess.run([str(exe), str(threads)], capture_output=True, text=True).stdout.split("=")[-1])
               for _ in range(3))


def sgemm(M, K, N, threads, r=20):
    torch.set_num_threads(threads)
    a, b = torch.randn(M, K), torch.randn(N, K)
    for _ in range(3):
        torch.nn.functional.linear(a, b)
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(r):
            torch.nn.functional.linear(a, b)
        best = max(best, 2 * M * K * N * r / (time.perf_counter() - t0) / 1e9)
    return best


scen = {"single": texts_for(m, "short", 1), "batch": texts_for(m, "medium", 32)}
out = {"load_start": os.getloadavg()[0], "work": {k: work(v) for k, v in scen.items()}}
for th in (1, 2):
    out[f"fma_peak_{th}t"] = fma_peak(th)
    toks = out["work"]["batch"]["tokens"]
    out[f"sgemm_{th}t"] = {f"{M}x{K}x{N}": round(sgemm(M, K, N, th), 1)
                           for M, K, N in ((16, D, F), (toks, D, D), (toks, D, F), (toks, F, D))}
    pipes = {C.name: C(m, threads=th) for C in (MinilmEmbedLite, MinilmEmbed)}
    ms = {(n, s): [] for n in pipes for s in scen}
    for _ in range(rounds):   # interleaved: each round times every binary on every scenario
        for (n, s) in ms:
            reps = 10 if s == "single" else 1
            ms[(n, s)].append(st.median(pipes[n].time("forward", scen[s], warmup=1, repeat=reps)))
    for (n, s), v in ms.items():
        g = out["work"][s]["gflop"]
        p50 = st.median(v)
        out[f"{n}_{s}_{th}t"] = {"forward_ms": round(p50, 2), "gflops": round(g / p50 * 1e3, 1),
                                 "of_fma_peak": round(g / p50 * 1e3 / out[f"fma_peak_{th}t"], 3)}
    for p in pipes.values():
        p.close()
out["load_end"] = os.getloadavg()[0]
print(json.dumps(out, indent=1))
