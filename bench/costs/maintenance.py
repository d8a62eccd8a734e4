"""Maintenance (docs/DESIGN.md §7): what each implementation costs to keep; every list comes from the
registry (dirs, glue, generated, tooling, build_logs, clean_build, toolchain).
  lines      code lines per implementation and language (cloc); generated files and tooling (serving the
             peers or the harness) counted apart
  glue       the lines that only connect one world to another (bindings, C ABI, adapters, loaders)
  build      seconds to build each native target: with --full a clean `cmake` build, else the compile work
             its last build recorded in a .ninja_log
  toolchain  compilers, runtimes and packages the implementation brings, with versions found here
Leaves out: review effort, test lines (tests are shared across ports by design)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import registry
from .change_cost import under

ROOT = Path(__file__).resolve().parents[2]
HARNESS_ROW, SHARED_ROW = "bench (harness)", "contract (shared by every port)"
ALTERNATIVES_ROW = "alternatives (peers and interventions)"
EXCLUDE_DIRS = "node_modules,dist,__pycache__,build"
VERSION_CMDS = {"Cython": [sys.executable, "-m", "cython", "--version"], "CMake": ["cmake", "--version"],
                "C++ compiler": ["c++", "--version"], "node": ["node", "--version"], "emscripten": ["emcc", "--version"],
                "cloc": ["cloc", "--version"]}


def cloc_by_file(paths: list[str]) -> dict:
    """{relative path: {"language", "code", "comment", "blank"}} for the files under paths."""
    if shutil.which("cloc") is None:
        raise RuntimeError("cloc not installed (apt-get install cloc)")
    out = subprocess.run(["cloc", "--json", "--by-file", "--quiet", f"--exclude-dir={EXCLUDE_DIRS}",
                          "--exclude-ext=so,wasm,json,lock", *paths], capture_output=True, text=True, cwd=ROOT,
                         timeout=120)
    data = json.loads(out.stdout or "{}")
    return {k: v for k, v in data.items() if k not in ("header", "SUM")}


def row_facts() -> dict[str, dict]:
    """{row: registry facts} for every port (in registry order), what they share, the peers and interventions,
    and the harness: no port is charged for the contract every port implements."""
    out = {n: registry.BY_NAME[n] for n in registry.ports(with_reference=True)}
    out[SHARED_ROW] = registry.Entry(SHARED_ROW, "", "shared", dirs=registry.SHARED)
    out[ALTERNATIVES_ROW] = registry.Entry(ALTERNATIVES_ROW, "", "alternatives", dirs=registry.ALTERNATIVES)
    out[HARNESS_ROW] = registry.Entry(HARNESS_ROW, "", "harness", dirs=registry.HARNESS)
    return out


def line_counts() -> dict:
    """-> {row: {"code": n, "by_language": {...}, "generated": n, "glue": n, "glue_files": {...},
    "tooling": n, "tooling_files": {...}}}; `code` leaves generated and tooling files out."""
    facts = row_facts()
    files = cloc_by_file(sorted({d for e in facts.values() for d in e.dirs if (ROOT / d).exists()}))
    out = {}
    for impl, e in facts.items():
        mine = {f: v for f, v in files.items() if under(f, e.dirs)}
        core = {f: v for f, v in mine.items() if f not in e.generated and f not in e.tooling}
        by_lang: dict = {}
        for v in core.values():
            by_lang[v["language"]] = by_lang.get(v["language"], 0) + v["code"]
        glue = {f: files[f]["code"] for f in e.glue if f in files}
        tooling = {f: files[f]["code"] for f in e.tooling if f in files}
        out[impl] = {"code": sum(v["code"] for v in core.values()), "by_language": by_lang,
                     "generated": sum(v["code"] for f, v in mine.items() if f in e.generated),
                     "glue": sum(glue.values()), "glue_files": glue, "files": len(core),
                     "tooling": sum(tooling.values()), "tooling_files": tooling}
    return out


def ninja_seconds(build_dir: Path, prefix: str) -> float | None:
    """Compile seconds of the last recorded build of the targets under `prefix` (build_dir/.ninja_log)."""
    log = build_dir / ".ninja_log"
    if not log.is_file():
        return None
    last = {}
    for line in log.read_text().splitlines():
        parts = line.split("\t")
        if not line.startswith("#") and len(parts) >= 4 and parts[3].startswith(prefix):
            last[parts[3]] = int(parts[1]) - int(parts[0])
    return sum(last.values()) / 1e3 if last else None


def recorded_build_times() -> dict:
    out = {}
    for impl in [n for n in registry.ports(with_reference=True) if registry.BY_NAME[n].build_logs]:
        for pattern, prefix in registry.BY_NAME[impl].build_logs:
            found = [(d, s) for d in sorted(ROOT.glob(pattern)) if (s := ninja_seconds(d, prefix)) is not None]
            if found:
                d, s = found[-1]
                where = f"{d.relative_to(ROOT)}/.ninja_log" + (f", targets {prefix}*" if prefix else "")
                out[impl] = {"seconds": s, "how": f"compile work recorded in {where} (sum over targets)"}
                break
        else:
            out[impl] = {"seconds": None, "how": "not measured (no build log; run bench all --full)"}
    return out


def clean_build_times(jobs: int = 2, timeout: float = 1800) -> dict:
    """Clean cmake builds of each native target into a temp dir, timed (configure + build)."""
    out = {}
    py = f"-DPython_EXECUTABLE={sys.executable}"
    targets = {n: list(registry.BY_NAME[n].clean_build) + ([py] if registry.BY_NAME[n].clean_build[0] == "cmake" else [])
               for n in registry.ports(with_reference=True) if registry.BY_NAME[n].clean_build}
    env = dict(os.environ, NODE_PATH=os.environ.get("NODE_PATH", "/usr/share/nodejs"))
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    for impl, cfg in targets.items():
        if shutil.which(cfg[0]) is None:
            out[impl] = {"seconds": None, "how": f"{cfg[0]} not found"}
            continue
        with tempfile.TemporaryDirectory(prefix=f"build_{impl}_") as tmp:
            t0 = time.perf_counter()
            try:
                subprocess.run(cfg + ["-B", tmp], cwd=ROOT, env=env, check=True, capture_output=True, timeout=timeout)
                subprocess.run(["cmake", "--build", tmp, f"-j{jobs}"], cwd=ROOT, env=env, check=True,
                               capture_output=True, timeout=timeout)
                out[impl] = {"seconds": time.perf_counter() - t0, "how": f"clean cmake build, -j{jobs}, temp dir"}
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
                err = getattr(e, "stderr", b"") or b""
                out[impl] = {"seconds": None, "how": f"clean build failed: {err.decode(errors='replace')[-200:]}"}
    return out


def tool_versions() -> dict:
    out = {}
    for name, cmd in VERSION_CMDS.items():
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            out[name] = ((r.stdout or r.stderr).strip().splitlines() or ["?"])[0]
        except (OSError, subprocess.TimeoutExpired):
            out[name] = "not found"
    for mod in ("torch", "numba", "llvmlite", "pybind11", "numpy", "onnxruntime", "sentence_transformers", "tokenizers"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:
            out[mod] = "not installed"
    return out


def measure_maintenance(full: bool = False) -> dict:
    return {"lines": line_counts(), "build": clean_build_times() if full else recorded_build_times(),
            "toolchains": {n: list(registry.BY_NAME[n].toolchain) for n in registry.ports(with_reference=True)},
            "versions": tool_versions()}
