"""Maintenance (DESIGN §7): what each implementation costs to keep.

  lines      code lines per implementation and language (`cloc --json --by-file`), generated
             files (unicode tables) and vendored/built output left out and listed apart
  glue       the lines that only connect one world to another (bindings, C ABI, adapters, loaders)
  build      seconds to build each native target: with --full a clean `cmake` build into a temp
             dir (-j2), else the compile work the last build recorded in its .ninja_log
  toolchain  compilers, runtimes and packages the implementation brings, with versions found here
Leaves out: review effort, test lines (tests are shared across ports by design).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMPL_DIRS = {"python_ref": ["python_ref"], "cython_ext": ["cython_ext"], "numba_variant": ["numba_variant"],
             "cpp_port": ["cpp_port"], "wasm_port": ["wasm_port"], "bench (harness)": ["bench"]}
GENERATED = {"python_ref/unicode_compat.py", "cpp_port/unicode_tables.h"}
EXCLUDE_DIRS = "node_modules,dist,__pycache__,build"
GLUE = {"cython_ext": ["cython_ext/pipeline.py"], "numba_variant": ["numba_variant/pipeline.py"],
        "cpp_port": ["cpp_port/bindings.cpp", "cpp_port/pipeline.py"],
        "wasm_port": ["wasm_port/exports.cpp", "wasm_port/pipeline.py", "wasm_port/js/loader.mjs",
                      "wasm_port/js/node_runner.mjs", "wasm_port/js/pyodide_embed.mjs"],
        "python_ref": ["python_ref/pipeline.py"]}
BUILD_LOGS = {"cython_ext": ["build/dev-cython_ext"], "cpp_port": ["build/dev-cpp_port"],
              "wasm_port": ["build/wasm", "build/dev-wasm_port"]}
TOOLCHAINS = {  # what each brings beyond python_ref's (CPython + torch + numpy)
    "python_ref": ["CPython", "torch", "numpy", "safetensors"],
    "cython_ext": ["Cython", "C++ compiler", "CMake", "scikit-build-core", "(+ python_ref's)"],
    "numba_variant": ["numba", "llvmlite (LLVM at run time)", "(+ python_ref's)"],
    "cpp_port": ["C++17 compiler", "CMake", "LibTorch (torch's C++ API)", "pybind11", "nlohmann-json"],
    "wasm_port": ["emscripten (clang/LLVM to wasm)", "CMake", "node", "npm packages (pyodide)", "a browser"],
}
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


def lines(impls: list[str] | None = None) -> dict:
    """-> {impl: {"code": n, "by_language": {...}, "generated": n, "glue": n, "glue_files": {...}}}."""
    impls = impls or list(IMPL_DIRS)
    files = cloc_by_file([d for i in impls for d in IMPL_DIRS.get(i, []) if (ROOT / d).exists()])
    out = {}
    for impl in impls:
        dirs = IMPL_DIRS.get(impl, [])
        mine = {f: v for f, v in files.items() if any(f == d or f.startswith(d + "/") for d in dirs)}
        core = {f: v for f, v in mine.items() if f not in GENERATED}
        by_lang: dict = {}
        for v in core.values():
            by_lang[v["language"]] = by_lang.get(v["language"], 0) + v["code"]
        glue = {f: files[f]["code"] for f in GLUE.get(impl, []) if f in files}
        out[impl] = {"code": sum(v["code"] for v in core.values()), "by_language": by_lang,
                     "generated": sum(v["code"] for f, v in mine.items() if f in GENERATED),
                     "glue": sum(glue.values()), "glue_files": glue, "files": len(core)}
    return out


def ninja_seconds(build_dir: Path) -> float | None:
    """Compile work of the last recorded build: sum over targets of (end - start), from .ninja_log."""
    log = build_dir / ".ninja_log"
    if not log.is_file():
        return None
    last = {}
    for line in log.read_text().splitlines():
        if line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) >= 4:
            last[parts[3]] = int(parts[1]) - int(parts[0])
    return sum(last.values()) / 1e3 if last else None


def recorded_build_times() -> dict:
    out = {}
    for impl, dirs in BUILD_LOGS.items():
        for d in dirs:
            s = ninja_seconds(ROOT / d)
            if s is not None:
                out[impl] = {"seconds": s, "how": f"compile work recorded in {d}/.ninja_log (sum over targets)"}
                break
        else:
            out[impl] = {"seconds": None, "how": "not measured (no build log; run bench all --full)"}
    return out


def clean_build_times(jobs: int = 2, timeout: float = 1800) -> dict:
    """Clean cmake builds of each native target into a temp dir, timed (configure + build)."""
    out = {}
    py = f"-DPython_EXECUTABLE={sys.executable}"
    targets = {"cython_ext": ["cmake", "-S", "cython_ext", "-G", "Ninja", py, "-DCMAKE_BUILD_TYPE=Release"],
               "cpp_port": ["cmake", "-S", "cpp_port", "-G", "Ninja", py, "-DCMAKE_BUILD_TYPE=Release"],
               "wasm_port": ["emcmake", "cmake", "-S", ".", "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release"]}
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


def versions() -> dict:
    out = {}
    for name, cmd in VERSION_CMDS.items():
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            out[name] = (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else "?"
        except (OSError, subprocess.TimeoutExpired):
            out[name] = "not found"
    for mod in ("torch", "numba", "llvmlite", "pybind11", "numpy", "onnxruntime", "sentence_transformers", "tokenizers"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception:
            out[mod] = "not installed"
    return out


def maintenance(full: bool = False, impls: list[str] | None = None) -> dict:
    return {"lines": lines(impls), "build": clean_build_times() if full else recorded_build_times(),
            "toolchains": TOOLCHAINS, "versions": versions()}
