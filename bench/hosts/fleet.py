"""`bench fleet --address ADDR [--per-node 1]`: `bench all` once on every node of a Ray cluster with the project
installed, each results directory brought back into --out/hosts/<host-id>/ and merged as `bench merge` does.
Never two timed runs on one machine: a run is pinned to its node and takes all its CPUs (and `portbench_slot`),
and nodes sharing a boot id run one after another. Nodes with a GPU also run `--device cuda`; nodes sharing a
hostname get PORTBENCH_HOST_LABEL=<hostname>-<node id>.
Leaves out: starting or scaling the cluster (`ray up`, KubeRay), shipping the code (runtime_env)."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

SLOT = "portbench_slot"
MAX_FILE = 64 << 20   # bytes; a results directory holds JSON, markdown, HTML and PNGs


def _probe() -> dict:
    """Runs on a node: what it is and whether the project is importable there."""
    import importlib.util
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"hostname": socket.gethostname(), "boot_id": boot or socket.gethostname(), "cores": cores,
            "python": sys.executable, "bench": importlib.util.find_spec("bench.suite") is not None}


def _run(argv: list[str], env_extra: dict, timeout: float, meta: dict) -> dict:
    """Runs on a node: `bench all --out TMP ARGV` in its own session (a timeout ends its children) -> its files."""
    tmp = Path(tempfile.mkdtemp(prefix="portbench-fleet-"))
    out = tmp / "results"
    env = {**os.environ, **env_extra}
    t0, start = time.perf_counter(), time.time()
    try:
        with open(tmp / "bench.log", "wb") as log:
            p = subprocess.Popen([sys.executable, "-m", "bench", "all", "--out", str(out), *argv], env=env, cwd=tmp,
                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                rc = 124
        files = {str(f.relative_to(out)): f.read_bytes() for f in sorted(out.rglob("*"))
                 if f.is_file() and f.stat().st_size <= MAX_FILE} if out.is_dir() else {}
        files["bench.log"] = (tmp / "bench.log").read_bytes()
        if "results.json" in files:   # say where it ran and when, for the merge and for the record
            data = json.loads(files["results.json"])
            data["machine"]["fleet"] = {**meta, "start": start, "end": time.time(), "rc": rc}
            files["results.json"] = json.dumps(data, indent=1).encode()
        return {"rc": rc, "seconds": time.perf_counter() - t0, "files": files}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def reachable(address: str, timeout: float = 5.0) -> str | None:
    """None when something listens at host:port, else why not, in seconds (Ray retries for minutes)."""
    hostport = address.split("://")[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return f"{address!r} is not host:port (or ray://host:port)"
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        return (f"nothing answers at {hostport} ({e.strerror or e}): start the cluster (`ray start --head`) "
                "or fix --address")
    return None


def connect(address: str):
    why = reachable(address)
    if why:
        raise SystemExit(f"bench fleet: {why}")
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    if host in ("127.0.0.1", "localhost", "::1"):
        # Ray rewrites a loopback address to the machine's own IP before connecting, and a cluster
        # bound to 127.0.0.1 is not there (ray-project/ray#59110); this keeps it on loopback.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise SystemExit("bench fleet: needs Ray: pip install '.[fleet]' (on this machine and on every node)")
    import logging
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except Exception as e:   # no cluster there, or another Ray version: one line, no traceback
        why = str(e).strip().splitlines()[-1][:300] if str(e).strip() else ""
        raise SystemExit(f"bench fleet: cannot connect to a Ray cluster at {address}: {type(e).__name__}: {why}")
    return ray


def bench_argv(args, device: str, threads: int) -> list[str]:
    """`bench all`'s options on a node, from `bench fleet`'s (args: cli.py's fleet parser)."""
    argv = ["--device", device, "--threads", str(threads)] + [f"--{f}" for f in ("quick", "full") if getattr(args, f)]
    for opt in ("model", "corpus"):
        if getattr(args, opt):
            argv += [f"--{opt}", getattr(args, opt)]
    if args.impl:
        argv += ["--impl", *args.impl]
    extra = args.bench_args or []
    return argv + (extra[1:] if extra[:1] == ["--"] else extra)


def plan(nodes: list[dict], probes: dict, args) -> dict:
    """{boot_id: deque of runs} (one queue per machine; the queues run side by side)."""
    names = [probes[n["NodeID"]]["hostname"] for n in nodes]
    queues: dict = {}
    for n in nodes:
        nid, pr = n["NodeID"], probes[n["NodeID"]]
        label = f"{pr['hostname']}-{nid[:8]}" if names.count(pr["hostname"]) > 1 else None
        gpus = n["Resources"].get("GPU", 0)
        devices = {"auto": ["cpu"] + (["cuda"] if gpus else []), "cpu": ["cpu"],
                   "cuda": ["cuda"] if gpus else []}.get(args.device)
        if devices is None:
            raise SystemExit(f"bench fleet: --device {args.device!r}: use auto, cpu or cuda")
        if not devices:
            print(f"  node {nid[:8]} ({pr['hostname']}): no GPU, CUDA scenarios skipped")
        for dev in devices:
            for k in range(args.per_node):
                queues.setdefault(pr["boot_id"], deque()).append(
                    {"node": n, "label": label, "device": dev, "k": k, "gpus": gpus if dev == "cuda" else 0,
                     "threads": args.threads or int(n["Resources"].get("CPU", 0)) or pr["cores"]})
    return queues


def options(ray, job: dict) -> dict:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    res = job["node"]["Resources"]
    return {"num_cpus": res.get("CPU", 0), "num_gpus": job["gpus"], "max_retries": 0,
            "resources": {SLOT: 1} if res.get(SLOT, 0) >= 1 else {},
            "scheduling_strategy": NodeAffinitySchedulingStrategy(job["node"]["NodeID"], soft=False)}


def save(out: Path, job: dict, res: dict, taken: set) -> Path:
    """Write a run's files under out/hosts/<host-id>[-cuda][.k]/ (taken: names this fleet wrote). Names from the
    node are cut to [A-Za-z0-9_.-], none written outside; a bad results.json is kept for merge to refuse."""
    from ..results import check
    host = job["label"] or job["node"]["NodeManagerAddress"]
    if "results.json" in res["files"]:
        try:
            host = check(json.loads(res["files"]["results.json"]))["machine"].get("host_id") or host
        except (ValueError, RecursionError):   # ResultsError, not JSON, not UTF-8
            pass
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", str(host)).strip(".") or "host"
    name = host + ("-cuda" if job["device"] == "cuda" else "") + (f".{job['k'] + 1}" if job["k"] else "")
    if name in taken:   # two nodes that still got one host id: keep both
        name += f"-{job['node']['NodeID'][:8]}"
    taken.add(name)
    d = out / "hosts" / name
    if d.exists():
        shutil.rmtree(d)
    inside = d.resolve()
    for rel, data in res["files"].items():
        f = (d / rel).resolve()
        if not f.is_relative_to(inside) or f == inside:
            continue
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
    return d


def run_nodes(ray, args) -> tuple[list[Path], list[str]]:
    """-> (result directories, problems)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    out = Path(args.out)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    probe = ray.remote(_probe)
    refs = {n["NodeID"]: probe.options(num_cpus=0, max_retries=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
        n["NodeID"], soft=False)).remote() for n in nodes}
    probes, problems = {}, []
    for nid, ref in refs.items():
        try:
            probes[nid] = ray.get(ref, timeout=300)
        except Exception as e:   # most often: the project is not installed on that node
            problems.append(f"node {nid[:8]}: probe failed ({type(e).__name__}: {str(e).splitlines()[0][:300]})")
    for nid, pr in list(probes.items()):
        if not pr["bench"]:
            problems.append(f"node {nid[:8]} ({pr['hostname']}): the project is not installed for {pr['python']}")
            probes.pop(nid)
    nodes = [n for n in nodes if n["NodeID"] in probes]
    queues = plan(nodes, probes, args)
    shared = sum(len(q) for q in queues.values() if len({j["node"]["NodeID"] for j in q}) > 1)
    print(f"fleet: {len(nodes)} node(s) on {len(queues)} machine(s)" +
          (f"; {shared} run(s) share a machine and go one after another" if shared else ""), flush=True)
    run = ray.remote(_run)
    inflight, dirs, taken = {}, [], set()

    def launch(boot):
        job = queues[boot].popleft()
        n = job["node"]
        env = {"OMP_NUM_THREADS": str(job["threads"])}   # Ray sets it to the task's CPUs; bench pins threads itself
        if job["label"]:
            env["PORTBENCH_HOST_LABEL"] = job["label"]
        meta = {"ray_node_id": n["NodeID"], "node_ip": n["NodeManagerAddress"], "address": args.address,
                "boot_id": probes[n["NodeID"]]["boot_id"], "run": job["k"] + 1}
        print(f"  start: node {n['NodeID'][:8]} ({probes[n['NodeID']]['hostname']}) {job['device']} run {job['k'] + 1}",
              flush=True)
        ref = run.options(**options(ray, job)).remote(bench_argv(args, job["device"], job["threads"]), env,
                                                      args.timeout, meta)
        inflight[ref] = (boot, job)

    for boot in queues:
        launch(boot)
    while inflight:
        done, _ = ray.wait(list(inflight), num_returns=1)
        boot, job = inflight.pop(done[0])
        nid = job["node"]["NodeID"][:8]
        try:
            res = ray.get(done[0])
        except Exception as e:
            why = str(e).splitlines()[0][:300] if str(e) else ""
            problems.append(f"node {nid} {job['device']}: run failed ({type(e).__name__}: {why})")
        else:
            d = save(out, job, res, taken)
            print(f"  done: node {nid} {job['device']} in {res['seconds']:.0f}s, rc {res['rc']} -> {d}", flush=True)
            if (d / "results.json").is_file():
                dirs.append(d)
            if res["rc"] != 0:
                problems.append(f"node {nid} {job['device']}: bench all exited {res['rc']} (log: {d / 'bench.log'})")
        if queues[boot]:
            launch(boot)
    return dirs, problems


def run_fleet(args) -> int:
    from .merge import write_merged
    if args.per_node < 1:
        raise SystemExit("bench fleet: --per-node must be at least 1")
    ray = connect(args.address)
    try:
        dirs, problems = run_nodes(ray, args)
    finally:
        ray.shutdown()
    for p in problems:
        print(f"fleet: {p}", file=sys.stderr)
    if not dirs:
        print("fleet: no node produced results", file=sys.stderr)
        return 1
    files, diffs = write_merged(dirs, args.out, args.allow_mixed)
    print(f"fleet: {len(dirs)} result set(s) merged: {files[0]} ({len(diffs)} verdict(s) differ between hosts)")
    return 1 if problems else 0
