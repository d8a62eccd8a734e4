"""Cold start (docs/DESIGN.md §7): a fresh process, from its spawn to its first embedding, timed from the
parent, median of N; each child also reports what it imported and mapped, and its peak RSS (LAUNCHER), for
footprint.py. Rows: each entry's registry fact `cold`: "python" (a fresh interpreter, handed the entry
itself), "jit" (an empty NUMBA_CACHE_DIR, then cached), "binary" (its standalone binary) and "node" (its
Node runner alone, `--cold`); browser rows come from the browser bench.
Leaves out: OS page-cache effects (files are warm after the first run; said in the report)."""
from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from statistics import median

from .. import registry

ROOT = Path(__file__).resolve().parents[2]
HELLO = "hello world"

# The child: load, embed one text, say so at once; then (footprint) embed more, list its imports and mapped libraries.
CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
entry, model, device, more = json.loads(sys.argv[1])
from bench import registry
p = registry.construct(registry.entry_from_dict(entry), model, device=device)
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


# A tiny launcher between the bench and each child: Linux folds the parent's RSS at fork into the child's
# ru_maxrss (kept across exec), so a child forked from the ~1 GB bench would report that. It also stamps the
# spawn time (perf_counter is CLOCK_MONOTONIC, shared by processes), so its own start-up is not counted.
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
    """Start cmd (through LAUNCHER): first_s from its spawn to the line starting with `marker` (None: the
    first line), its output, and peak_rss (bytes; a child it waited for, e.g. Node, counts when larger)."""
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
    """A fresh interpreter constructing the entry `name` (CHILD): run_child's result, with the child's
    "child" (load_s, embed_s, dim) and "foot" (modules, maps) lines."""
    arg = json.dumps([registry.entry_to_dict(registry.BY_NAME[name]), model, device, list(more)])
    r = run_child([sys.executable, "-c", CHILD, arg], _env(threads, env_extra), timeout=timeout)
    for line in r.pop("lines"):
        if line.startswith("FIRST "):
            r["child"] = json.loads(line[6:])
        elif line.startswith("FOOT "):
            r["foot"] = json.loads(line[5:])
    return r


def _module(name: str):
    return importlib.import_module(registry.BY_NAME[name].target.split(":")[0])


def native_binary(name: str, mdir: Path, threads: int, more: list[str] = (), device: str = "cpu") -> dict:
    """The entry's standalone binary (its module's binary(name) says where): texts on stdin, one
    embedding per line out; the CLI flags are minilm-embed's (--model --threads --device --batch)."""
    exe = getattr(_module(name), "binary", lambda _: None)(registry.BY_NAME[name].binary)
    if exe is None:
        return {"error": f"{name}'s standalone binary is not built"}
    texts = "\n".join([HELLO, *more]) + "\n"
    # --batch 1: it writes (and flushes) the first embedding before reading on, as the Python children do
    r = run_child([exe, "--model", str(mdir), "--threads", str(threads), "--device", device, "--batch", "1"],
                  _env(threads), stdin=texts, marker=None)
    r.pop("lines")
    r["exe"] = exe
    return r


def node_runner(name: str, mdir: Path) -> dict:
    """The entry's Node runner alone (its module's RUNNER), `--cold`: load, embed one text, print it."""
    mod = _module(name)
    runner = Path(getattr(mod, "RUNNER", ""))
    if shutil.which("node") is None or not runner.is_file():
        return {"error": f"node or {name}'s Node runner missing"}
    why = getattr(mod, "missing", lambda: None)()
    if why:
        return {"error": why}
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
               progress, done: dict) -> dict:
    """-> {row label: result}, the rows of each entry's `cold` fact (registry.cold_rows); each result
    says its "kind". progress(label) before each row; rows in `done` (measured earlier: a compile probe)
    are kept as they are."""
    rows = dict(done)
    for name in names:
        py = partial(python_impl, name, str(mdir), device, threads, more)
        for kind, label in registry.cold_rows(name):
            progress(label)
            if label in rows:
                rows[label].setdefault("kind", kind)
                continue
            if kind == "python" and registry.BY_NAME[name].compiles:
                r = py(timeout=600)   # compiles: once
            elif kind == "python":
                r = repeat(py, n)
            elif kind == "jit":
                if label.endswith("(JIT cached)"):
                    continue   # measured with its cold twin, in the same cache dir
                with tempfile.TemporaryDirectory(prefix="numba_cache_", ignore_cleanup_errors=True) as cache:
                    rows[label] = {**py({"NUMBA_CACHE_DIR": cache}), "kind": kind}
                    label = label.replace("(JIT cold)", "(JIT cached)")
                    r = repeat(partial(py, {"NUMBA_CACHE_DIR": cache}), n)
            elif kind == "binary":
                r = repeat(lambda: native_binary(name, mdir, threads, more, device), max(n, 3))
            elif kind == "node" and device == "cpu":
                r = repeat(lambda: node_runner(name, mdir), max(n, 3))
            else:
                continue
            rows[label] = {**r, "kind": kind}
    return rows
