"""The machine descriptor every results.json carries (docs/DESIGN.md §7 "many hosts"): CPU, cores, threads used,
ISA flags (ISA_FLAGS) and AMX tile permission, memory, GPUs, OS, versions, the commit with a dirty flag.
The host id is `<name>-<8 hex>`: PORTBENCH_HOST_LABEL (set by a fleet) or the hostname, and a hash of the
hardware and OS fields (ID_FIELDS) with that name, stable across runs, commits and package upgrades.
Leaves out: macOS/Windows hardware probes (Linux /proc only; elsewhere the fields say "unknown")."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

ISA_FLAGS = {  # /proc/cpuinfo flag -> descriptor name
    "avx2": "avx2", "fma": "fma", "avx512f": "avx512f", "avx512_vnni": "avx512_vnni", "avx512_bf16": "avx512_bf16",
    "avx_vnni": "avx_vnni", "amx_tile": "amx_tile", "amx_bf16": "amx_bf16", "amx_int8": "amx_int8",
    "asimd": "neon", "sve": "sve"}   # the last two: ARM hosts
LABEL_ENV = "PORTBENCH_HOST_LABEL"
COMMIT_ENV = "PORTBENCH_COMMIT"
REPO = Path(__file__).resolve().parent.parent
# The fields the host id hashes: hardware and OS, never versions of software, the commit or threads.
ID_FIELDS = ("cpu", "cores", "physical_cores", "memory_gib", "gpus", "os", "arch")


def _run(argv: list[str], timeout: float = 20) -> subprocess.CompletedProcess | None:
    """The finished process, or None when the command is missing, cannot start or times out."""
    if not shutil.which(argv[0]):
        return None
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None


def _cmd(*argv: str) -> str | None:
    """First line of a command's output, or None when it is missing or fails."""
    p = _run(list(argv))
    out = (p.stdout or p.stderr).strip() if p else ""
    return out.splitlines()[0].strip() if p and p.returncode == 0 and out else None


def _line(path: str, prefix: str) -> str | None:
    """The rest of the first line of the file at `path` that starts with prefix; None when none or unreadable."""
    try:
        return next((ln[len(prefix):] for ln in Path(path).read_text().splitlines() if ln.startswith(prefix)), None)
    except OSError:
        return None


def cpuinfo(text: str | None = None) -> dict:
    """CPU model, ISA flags and physical cores from /proc/cpuinfo (text: for tests)."""
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text()
        except OSError:
            text = ""
    model, flags, cores, phys = None, set(), set(), None
    for line in text.splitlines():
        k, _, v = line.partition(":")
        k, v = k.strip(), v.strip()
        if k in ("model name", "Model", "cpu model") and model is None:
            model = v
        elif k in ("flags", "Features") and not flags:
            flags = set(v.split())
        elif k == "physical id":
            phys = v
        elif k == "core id":
            cores.add((phys, v))
    return {"cpu": model or platform.processor() or "unknown",
            "isa": {name: flag in flags for flag, name in ISA_FLAGS.items()},
            "physical_cores": len(cores) or None}


def amx_granted() -> bool | None:
    """Whether this process holds Linux's AMX tile permission (ARCH_GET_XCOMP_PERM, XTILEDATA), which a library
    asks for before an AMX kernel (onnxruntime's MLAS at import). None: not Linux x86-64, or the kernel cannot say."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return None
    try:
        import ctypes
        perm = ctypes.c_uint64(0)
        if ctypes.CDLL(None, use_errno=True).syscall(158, 0x1022, ctypes.byref(perm)) != 0:   # SYS_arch_prctl
            return None
        return bool(perm.value & (1 << 18))
    except (OSError, AttributeError):
        return None


def memory_bytes() -> int | None:
    try:
        return int(_line("/proc/meminfo", "MemTotal:").split()[0]) * 1024
    except (AttributeError, ValueError, IndexError):
        return None


def gpus() -> tuple[list[dict], str | None]:
    """([{name, memory_bytes}], driver) from nvidia-smi, else torch.cuda; ([], None) without a GPU."""
    p = _run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"], 30)
    out = p.stdout if p and p.returncode == 0 else None
    if out and out.strip():
        rows = [[c.strip() for c in line.split(",")] for line in out.strip().splitlines()]
        return ([{"name": r[0], "memory_bytes": int(float(r[1])) * 2**20 if r[1].replace(".", "").isdigit() else None}
                 for r in rows], rows[0][2] if len(rows[0]) > 2 else None)
    try:
        import torch
        if torch.cuda.is_available():
            return ([{"name": torch.cuda.get_device_name(i),
                      "memory_bytes": torch.cuda.get_device_properties(i).total_memory}
                     for i in range(torch.cuda.device_count())], None)
    except Exception:   # a broken CUDA install must not stop the descriptor
        pass
    return [], None


def _version(module: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(module)
    except PackageNotFoundError:
        return None


def versions() -> dict:
    emcc = _cmd("emcc", "--version")
    m = re.search(r"(\d+\.\d+\.\d+)", emcc or "")
    node = _cmd("node", "--version")
    return {"python": platform.python_version(), "torch": _version("torch"), "onnxruntime": _version("onnxruntime"),
            "node": node.lstrip("v") if node else None, "emscripten": m.group(1) if m else None}


def commit(repo: Path = REPO) -> dict:
    """{"sha", "dirty"} of the checkout; not a git checkout: PORTBENCH_COMMIT's sha, else "unknown"."""
    if not (repo / ".git").exists():
        return {"sha": os.environ.get(COMMIT_ENV) or "unknown", "dirty": None}
    sha = _cmd("git", "-C", str(repo), "rev-parse", "HEAD")
    if not sha:
        return {"sha": "unknown", "dirty": None}
    p = _run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"], 30)
    return {"sha": sha, "dirty": bool(p.stdout.strip()) if p and p.returncode == 0 else None}


def os_name() -> str:
    pretty = _line("/etc/os-release", "PRETTY_NAME=")
    return pretty.strip().strip('"') if pretty is not None else f"{platform.system()} {platform.release()}"


def host_id(desc: dict) -> str:
    """`<label or hostname>-<8 hex of the hardware/OS fields and that name>`, safe as a file name."""
    name = desc.get("host_label") or desc.get("host") or "host"
    key = json.dumps({k: desc.get(k) for k in ID_FIELDS} | {"name": name}, sort_keys=True)
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:40] or "host"
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def describe(threads: int | None = None) -> dict:
    """The descriptor: the flat keys the report reads (host, cpu, cores, threads, python, torch, ...)."""
    ci = cpuinfo()
    gl, driver = gpus()
    cuda = None
    try:
        import torch
        cuda = torch.version.cuda
    except ImportError:
        pass
    mem = memory_bytes()
    v = versions()
    desc = {"host": socket.gethostname(), "host_label": os.environ.get(LABEL_ENV) or None,
            "cpu": ci["cpu"], "cores": os.cpu_count(), "physical_cores": ci["physical_cores"],
            "threads": threads, "isa": ci["isa"], "amx_granted": amx_granted(), "memory_bytes": mem,
            "memory_gib": round(mem / 2**30) if mem else None, "gpus": [g["name"] for g in gl],
            "gpu": gl[0]["name"] if gl else None, "gpu_memory_bytes": gl[0]["memory_bytes"] if gl else None,
            "gpu_driver": driver, "cuda": cuda, "os": os_name(), "arch": platform.machine(),
            "platform": platform.platform(), "python": v["python"], "torch": v["torch"], "versions": v,
            "commit": commit()}
    desc["host_id"] = host_id(desc)
    return desc


def model_fingerprint(mdir) -> str | None:
    """sha256 (16 hex) over a model directory's files and names: the same model wherever it is installed."""
    p = Path(mdir)
    if not p.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file() and "__pycache__" not in x.parts):
        h.update(str(f.relative_to(p)).encode() + b"\0")
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def complete(mach: dict) -> dict:
    """mach with the model fingerprint and the host id filled in where it lacks them."""
    out = dict(mach)
    if out.get("model") and not out.get("model_sha256"):
        out["model_sha256"] = model_fingerprint(out["model"])
    out.setdefault("host_id", host_id(out))
    return out


def cpu_times() -> tuple[float, float, float] | None:
    """(wall clock, the machine's busy seconds, CPU seconds of this process and its children) or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")   # user nice system [idle iowait] irq softirq steal
    t = os.times()
    return time.time(), busy, t.user + t.system + t.children_user + t.children_system


def others_cpu(start, end=None) -> float | None:
    """Cores' worth of CPU other processes (and hypervisor steal) took on average since `start` (cpu_times),
    this run's own work left out, as the load average cannot. None where it cannot be read."""
    end = end or cpu_times()
    if start is None or end is None or end[0] - start[0] < 1.0:
        return None
    return round(max(0.0, (end[1] - start[1]) - (end[2] - start[2])) / (end[0] - start[0]), 2)
