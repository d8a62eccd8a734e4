"""Footprint (docs/DESIGN.md §7): peak RSS (from the cold-start children) and the bytes on disk each
implementation needs, of what a fresh process used, not a hand-kept list: the module files it imported
(a third-party package counts whole) and the shared libraries it mapped; a native binary with the
non-system libraries `ldd` resolves. Model weights apart. Buckets:
  own       the implementation's files in this repo (.py, .so, .wasm, .mjs, binary)
  deps      third-party Python packages and their bundled libraries (torch/lib, llvmlite, ...)
  runtime   the interpreter and stdlib, or node; system libraries (libc, libstdc++) are left out
Leaves out: the OS page cache, pip's own metadata."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

from .. import registry

ROOT = Path(__file__).resolve().parents[2]
SITE = [Path(p).resolve() for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}]
STDLIB = Path(sysconfig.get_paths()["stdlib"]).resolve()
# node's own libraries count (Debian ships node as libnode.so + friends), not these system C/C++ ones
SYSTEM_LIBS = ("libc.so", "libm.so", "libstdc++", "libgcc_s", "libpthread", "libdl.so", "librt.so", "ld-linux")


@lru_cache(maxsize=None)
def dir_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def _bytes(p: Path) -> int:
    return dir_bytes(p) if p.is_dir() else _size(p)


def _site_package(f: Path) -> Path | None:
    """site-packages/<top>[/...] -> the package dir (or single-file module) <top>."""
    return next((s / f.relative_to(s).parts[0] for s in SITE if f.is_relative_to(s)), None)


def stdlib_bytes() -> int:
    """The interpreter's standard library (its own site-packages excluded) + the executable."""
    total = sum(_bytes(p) for p in STDLIB.iterdir() if p.name != "site-packages")
    libpython = Path(sysconfig.get_config_var("LIBDIR") or "/") / (sysconfig.get_config_var("LDLIBRARY") or "")
    return total + _size(Path(sys.executable).resolve()) + (_size(libpython) if libpython.is_file() else 0)


def classify(modules: list[str], maps: list[str]) -> dict:
    """Module files a process imported + libraries it mapped -> {"own", "deps", "runtime"} bytes. A package
    whose code was imported counts whole; one that only lent a library (cpp_port's libtorch_cpu.so) by file."""
    own, pkgs, libs = set(), set(), set()
    for name in modules + maps:
        f = Path(name).resolve()
        if not f.exists():
            continue
        pkg = _site_package(f)
        if pkg is not None:
            if name in modules:
                pkgs.add(pkg)
            else:
                libs.add(f)
        elif ROOT in f.parents and ".venv" not in f.parts:
            own.add(f)
    libs = {f for f in libs if _site_package(f) not in pkgs}
    sizes = {p.name: _bytes(p) for p in pkgs}
    sizes.update({f.name: _size(f) for f in libs})
    return {"own": sum(_size(f) for f in own), "deps": sum(sizes.values()), "runtime": stdlib_bytes(),
            "packages": dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:12]),
            "own_files": sorted(str(f.relative_to(ROOT)) for f in own)}


def _ldd(exe: str) -> list[str]:
    """The shared libraries `ldd` resolves for exe."""
    try:
        out = subprocess.run(["ldd", exe], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return re.findall(r"=>\s+(/\S+)", out)


def binary_disk(exe: str) -> dict:
    """A native binary: itself, and the libraries it needs outside /lib, /usr/lib."""
    libs = [lib for lib in _ldd(exe) if not lib.startswith(("/lib", "/usr/lib"))]
    return {"own": _size(Path(exe)), "deps": sum(_size(Path(lib)) for lib in libs), "runtime": 0,
            "packages": {Path(lib).name: _size(Path(lib)) for lib in libs}, "own_files": [exe]}


def node_runtime(name: str) -> dict:
    """What an entry's Node path needs: its .wasm modules and .mjs scripts, and node itself."""
    own = [f for d in registry.BY_NAME[name].dirs for pat in ("**/*.wasm", "js/*.mjs")
           for f in sorted((ROOT / d).glob(pat)) if "node_modules" not in f.parts and f.is_file()]
    node = shutil.which("node")
    libs = [lib for lib in _ldd(node) if not any(s in lib for s in SYSTEM_LIBS)] if node else []
    runtime = _size(Path(node).resolve()) + sum(_size(Path(lib)) for lib in libs) if node else 0
    return {"own": sum(_size(f) for f in own), "deps": 0, "runtime": runtime,
            "packages": {}, "own_files": [str(f.relative_to(ROOT)) for f in own]}


def disk_for(label: str, cold: dict) -> dict | None:
    """Bytes on disk for a cold-start row measured without error (coldstarts: its result says its kind)."""
    kind, name = cold.get("kind", "python"), registry.owner(label)
    if kind == "binary":
        return binary_disk(cold["exe"])
    if kind == "node":
        return node_runtime(name)
    foot = cold.get("foot")
    if not foot:
        return None
    d = classify(foot["modules"], foot["maps"])
    if name in registry.BY_NAME and "node" in registry.BY_NAME[name].cold:   # its adapter drives Node too
        nw = node_runtime(name)
        d["own"] += nw["own"]
        d["runtime"] += nw["runtime"]
    return d
