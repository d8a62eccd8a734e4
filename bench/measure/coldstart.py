"""Cold start (DESIGN §7): a fresh process, from its start to the first embedding, timed from the
parent (perf_counter from the child's spawn, stopped when the child reports its first embedding),
median of N. Each child also reports what it imported and mapped, and its peak RSS comes from
os.wait4 in a small launcher (see LAUNCHER), so footprint.py needs no second set of processes.

Rows: every Python implementation through the registry (numba_variant twice: JIT cold with an empty
NUMBA_CACHE_DIR, then cached), `minilm-embed` (C++/LibTorch, no Python) and the wasm module in Node
(`node wasm_port/js/node_runner.mjs --cold`). Browser rows come from the browser bench.
Leaves out: OS page-cache effects (files are warm after the first run; said in the report).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parents[2]
HELLO = "hello world"

# The child: load through the registry, embed one text, say so at once; then (footprint) embed
# a few more texts and list the packages it imported and the shared libraries it mapped.
CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
name, model, device, more = json.loads(sys.argv[1])
from bench import registry
p = registry.load(name, model, device=device)
t1 = time.perf_counter()
v = p.embed([%r])
t2 = time.perf_counter()
print("FIRST " + json.dumps({"load_s": t1 - t0, "embed_s": t2 - t1, "dim": int(v.shape[1])}), flush=True)
if more:
    p.embed(more)
mods = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())} - {""})
maps = set()
try:
    for line in open("/proc/self/maps"):
        f = line.split()[-1]
        if f.startswith("/") and (".so" in f or f.endswith(".wasm")):
            maps.add(f)
except OSError:
    pass
print("FOOT " + json.dumps({"modules": mods, "maps": sorted(maps)}), flush=True)
close = getattr(p, "close", None)
if close:
    close()
""" % HELLO


# A tiny launcher between the bench and each child. Linux folds the parent's resident size at fork
# into the child's ru_maxrss (kept across exec), so children forked straight from the big bench
# process would all report its ~1 GB; forked from this small one they report their own peak.
# The launcher also stamps the spawn time (perf_counter is CLOCK_MONOTONIC, shared by processes),
# so its own start-up is not counted in the cold start.
LAUNCHER = r"""
import json, os, subprocess, sys, time
t = time.perf_counter()
p = subprocess.Popen(sys.argv[2:])
_, status, ru = os.wait4(p.pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"t_spawn": t, "maxrss_kb": ru.ru_maxrss, "rc": os.waitstatus_to_exitcode(status)}, f)
"""


def _env(threads: int, extra: dict | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
               OMP_NUM_THREADS=str(threads), PORTBENCH_THREADS=str(threads), HF_HUB_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", PYTHONDONTWRITEBYTECODE="0")
    env.update(extra or {})
    return env


def run_child(cmd: list[str], env: dict, stdin: str | None = None, marker: str | None = "FIRST",
              timeout: float = 300) -> dict:
    """Start cmd (through LAUNCHER); the time from its spawn to the line starting with `marker` (or the
    first line when marker is None), its output, and its peak RSS (bytes; wait4, so a child it waited
    for, such as wasm_port's Node, counts when larger)."""
    fd, stamp = tempfile.mkstemp(prefix="coldstart_", suffix=".json")
    os.close(fd)
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-I", "-S", "-c", LAUNCHER, stamp, *cmd],
                         stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT, text=True)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(p.stderr), daemon=True)
    reader.start()
    if stdin is not None:
        p.stdin.write(stdin)
        p.stdin.close()
    t_first, lines = None, []
    for line in p.stdout:
        if t_first is None and (marker is None or line.startswith(marker)):
            t_first = time.perf_counter()
        lines.append(line.rstrip("\n"))
    p.wait()
    timer.cancel()
    reader.join(timeout=5)
    try:
        st = json.loads(Path(stamp).read_text())
    except ValueError:
        st = {"t_spawn": t0, "maxrss_kb": 0, "rc": p.returncode}
    finally:
        os.remove(stamp)
    p.returncode = st["rc"] if p.returncode == 0 else p.returncode
    first_s = t_first - st["t_spawn"] if t_first is not None else None
    out = {"first_s": first_s, "total_s": time.perf_counter() - st["t_spawn"], "peak_rss": st["maxrss_kb"] * 1024,
           "rc": p.returncode, "lines": lines, "stderr_tail": "".join(err[-3:]).strip()[-400:]}
    if p.returncode != 0 or first_s is None:
        why = [ln.strip() for ln in err[-60:] if re.match(r"\s*[\w.]+(Error|Exception|Failed)\b", ln)]
        out["error"] = f"exit {p.returncode}: {(why[-1] if why else out['stderr_tail']) or 'no output'}"[:400]
    return out


def python_impl(name: str, model: str | None, device: str, threads: int, more: list[str] = (),
                env_extra: dict | None = None, timeout: float = 300) -> dict:
    arg = json.dumps([name, model, device, list(more)])
    r = run_child([sys.executable, "-c", CHILD, arg], _env(threads, env_extra), timeout=timeout)
    for line in r["lines"]:
        if line.startswith("FIRST "):
            r["child"] = json.loads(line[6:])
        elif line.startswith("FOOT "):
            r["foot"] = json.loads(line[5:])
    r.pop("lines")
    return r


def minilm_embed(mdir: Path, threads: int, more: list[str] = (), device: str = "cpu") -> dict:
    from cpp_port.pipeline import binary
    exe = binary()
    if exe is None:
        return {"error": "minilm-embed not built (cpp_port build)"}
    texts = "\n".join([HELLO, *more]) + "\n"
    # --batch 1: it writes (and flushes) the first embedding before reading on, as the Python children do
    r = run_child([exe, "--model", str(mdir), "--threads", str(threads), "--device", device, "--batch", "1"],
                  _env(threads), stdin=texts, marker=None)
    r.pop("lines")
    r["exe"] = exe
    return r


def node_wasm(mdir: Path) -> dict:
    runner = ROOT / "wasm_port" / "js" / "node_runner.mjs"
    if shutil.which("node") is None or not runner.is_file():
        return {"error": "node or wasm_port/js/node_runner.mjs missing"}
    from wasm_port.pipeline import missing
    if missing():
        return {"error": missing()}
    r = run_child(["node", str(runner), "--model", str(mdir), "--cold", HELLO], _env(1), marker=None)
    for line in r.pop("lines"):
        try:
            r["child"] = json.loads(line)
        except ValueError:
            pass
    return r


def repeat(fn, n: int) -> dict:
    """Median of n runs of fn() -> dict (first_s, peak_rss); keeps the first run's details."""
    runs = [fn() for _ in range(n)]
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    out = dict(ok[0])
    out.update(first_s=median(r["first_s"] for r in ok), peak_rss=median(r["peak_rss"] for r in ok),
               runs=[round(r["first_s"], 3) for r in ok])
    return out


def coldstarts(names: list[str], mdir: Path, device: str, threads: int, n: int, more: list[str],
               progress=lambda label: None, done: dict | None = None) -> dict:
    """-> {row label: result}. Python impls via the registry; numba_variant cold + cached; the binary;
    Node. Labels are implementation names, with a suffix where one implementation has several rows."""
    rows = dict(done or {})   # rows measured earlier (the torch.compile probe)
    for name in names:
        progress(name)
        if name in rows:
            continue
        if name == "numba_variant":
            cache = tempfile.mkdtemp(prefix="numba_cache_")
            try:
                env = {"NUMBA_CACHE_DIR": cache}
                rows["numba_variant (JIT cold)"] = python_impl(name, str(mdir), device, threads, more, env)
                rows["numba_variant (JIT cached)"] = repeat(
                    lambda: python_impl(name, str(mdir), device, threads, more, env), n)
            finally:
                shutil.rmtree(cache, ignore_errors=True)
        elif name == "python_ref_compile":
            rows[name] = python_impl(name, str(mdir), device, threads, more, timeout=600)  # compiles: once
        else:
            rows[name] = repeat(lambda: python_impl(name, str(mdir), device, threads, more), n)
    if "cpp_port" in names:
        progress("minilm-embed")
        rows["minilm-embed"] = repeat(lambda: minilm_embed(mdir, threads, more, device), max(n, 3))
    if "wasm_port" in names and device == "cpu":
        progress("node+wasm")
        rows["wasm_port (node)"] = repeat(lambda: node_wasm(mdir), max(n, 3))
    return rows


def impl_of(label: str) -> str:
    """Row label -> implementation name (for records)."""
    return {"minilm-embed": "cpp_port", "wasm_port (node)": "wasm_port"}.get(label, label.split(" (")[0])
