"""`bench fleet` on a real local Ray cluster: a head and one worker node, both on 127.0.0.1 (and so
on this one machine), started here with ray.cluster_utils.Cluster and shut down by the processes it
started. `bench fleet --quick --impl python_ref -- --scenario single --budget 40` (the budget: the test's
time, ~30 s a node instead of ~70) must bring back one result set per node,
with distinct host ids, the two timed runs one after another (they share this machine's cores),
and one merged report. Under CI=true a missing Ray fails; locally it skips."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bench.hosts import fleet
from bench.cli import parser
from conftest import require

NODE = {"num_cpus": 1, "node_ip_address": "127.0.0.1", "resources": {"portbench_slot": 1},
        "object_store_memory": 100 * 2**20}


@pytest.fixture
def cluster(monkeypatch):
    try:
        from ray.cluster_utils import Cluster
    except ImportError:
        require("Ray not installed: pip install '.[fleet]'", is_reason=True)
    tmp = tempfile.mkdtemp(prefix="pbray", dir="/tmp")   # short: Ray's unix socket paths must fit 107 bytes
    (Path(tmp) / "ray").mkdir()
    monkeypatch.setenv("RAY_TMPDIR", tmp)   # this cluster's session files and address file, nobody else's
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")   # offline: no usage report to send
    c = Cluster(initialize_head=True, head_node_args={**NODE, "include_dashboard": False})
    try:
        c.add_node(**NODE)
        c.wait_for_nodes()
        yield c
    finally:
        nodes = c.list_all_nodes()
        c.shutdown()   # kills the processes each node started (gcs, raylets, workers), nothing else
        assert not any(n.any_processes_alive() for n in nodes)
        shutil.rmtree(tmp, ignore_errors=True)


def test_fleet_runs_every_node_once_and_merges(cluster, tmp_path):
    out = tmp_path / "fleet"
    t0 = time.time()
    p = subprocess.run([sys.executable, "-m", "bench", "fleet", "--address", cluster.address, "--quick",
                        "--impl", "python_ref", "--out", str(out), "--", "--scenario", "single", "--budget", "40"],
                       capture_output=True, text=True, timeout=1800, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    print(f"fleet wall time {time.time() - t0:.0f}s\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    assert p.returncode == 0, p.stderr[-3000:]
    sets = sorted((out / "hosts").glob("*/results.json"))
    assert len(sets) == 2, [str(s) for s in sets]
    machines = [json.loads(s.read_text())["machine"] for s in sets]
    fleet = [m["fleet"] for m in machines]
    assert {f["ray_node_id"] for f in fleet} == {n.node_id for n in cluster.list_all_nodes()}   # each node once
    assert len({m["host_id"] for m in machines}) == 2   # one machine, two nodes: told apart by the label
    assert all(m["host_label"] and m["host_label"].startswith(m["host"]) for m in machines)
    assert fleet[0]["boot_id"] == fleet[1]["boot_id"]
    first, second = sorted(fleet, key=lambda f: f["start"])
    assert first["end"] <= second["start"], "two timed runs overlapped on one machine"
    for s in sets:
        recs = json.loads(s.read_text())["records"]
        assert {r["impl"] for r in recs if r["metric"] == "latency_p50"} == {"python_ref"}
        scs = {r["scenario"] for r in recs if r["metric"] == "latency_p50" and not r["scenario"].startswith("sweep:")}
        assert scs == {"single"}, scs   # what came after --
        assert (s.parent / "report.md").is_file() and (s.parent / "bench.log").is_file()
    md = (out / "report.md").read_text()
    for m in machines:
        assert f"`{m['host_id']}`" in md
    assert "## Verdicts that differ between hosts" in md and "## Decision table per host" in md
    assert len(json.loads((out / "merged.json").read_text())["sets"]) == 2


def _node(nid: str, cpus: float, gpus: float = 0, slot: bool = True) -> dict:
    res = {"CPU": cpus, **({"GPU": gpus} if gpus else {}), **({"portbench_slot": 1.0} if slot else {})}
    return {"NodeID": nid * 56, "NodeManagerAddress": "10.0.0.1", "Resources": res, "Alive": True}


def test_plan_gpu_nodes_run_cuda_too_and_one_machine_runs_in_sequence():
    """The scheduling plan, on node tables written here (what ray.nodes() returns)."""
    nodes = [_node("a", 8, gpus=2), _node("b", 4), _node("c", 2, slot=False), _node("d", 2, slot=False)]
    probes = {nodes[0]["NodeID"]: {"hostname": "gpu-box", "boot_id": "k1", "cores": 16},
              nodes[1]["NodeID"]: {"hostname": "cpu-box", "boot_id": "k2", "cores": 4},
              nodes[2]["NodeID"]: {"hostname": "pod", "boot_id": "k3", "cores": 2},
              nodes[3]["NodeID"]: {"hostname": "pod", "boot_id": "k3", "cores": 2}}
    q = fleet.plan(nodes, probes, argparse.Namespace(device="auto", per_node=1, threads=None))
    assert [(j["device"], j["gpus"], j["threads"]) for j in q["k1"]] == [("cpu", 0, 8), ("cuda", 2, 8)]
    assert [j["device"] for j in q["k2"]] == ["cpu"]                   # no GPU: the CUDA scenarios skipped
    assert [j["node"]["NodeID"][0] for j in q["k3"]] == ["c", "d"]    # one kernel, one queue: in sequence
    assert [j["label"] for j in q["k3"]] == ["pod-cccccccc", "pod-dddddddd"] and q["k1"][0]["label"] is None
    cpu_only = fleet.plan(nodes, probes, argparse.Namespace(device="cpu", per_node=2, threads=3))
    assert [(j["device"], j["k"], j["threads"]) for j in cpu_only["k1"]] == [("cpu", 0, 3), ("cpu", 1, 3)]
    with pytest.raises(SystemExit, match="--device"):
        fleet.plan(nodes, probes, argparse.Namespace(device="tpu", per_node=1, threads=None))


def test_each_run_takes_its_whole_node():
    try:
        import ray
    except ImportError:
        require("Ray not installed: pip install '.[fleet]'", is_reason=True)
    gpu = {"node": _node("a", 8, gpus=2), "gpus": 2}
    o = fleet.options(ray, gpu)
    assert (o["num_cpus"], o["num_gpus"], o["resources"], o["max_retries"]) == (8, 2, {"portbench_slot": 1}, 0)
    assert o["scheduling_strategy"].node_id == "a" * 56 and o["scheduling_strategy"].soft is False
    assert fleet.options(ray, {"node": _node("c", 2, slot=False), "gpus": 0})["resources"] == {}


def test_bench_all_options_pass_through():
    a = parser().parse_args(["fleet", "--address", "h:6379", "--quick", "--impl", "python_ref", "cpp_port",
                             "--", "--corpus", "c.txt"])
    assert fleet.bench_argv(a, "cpu", 4) == ["--device", "cpu", "--threads", "4", "--quick", "--impl", "python_ref",
                                              "cpp_port", "--corpus", "c.txt"]


def test_no_cluster_at_the_address_is_one_clear_line():
    import socket
    with socket.socket() as s:   # a port nothing listens on: bound here, never listened
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        t0 = time.time()
        p = subprocess.run([sys.executable, "-m", "bench", "fleet", "--address", f"127.0.0.1:{port}", "--quick"],
                           capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and time.time() - t0 < 60
    assert p.stderr.strip().count("\n") == 0 and f"nothing answers at 127.0.0.1:{port}" in p.stderr
    assert fleet.reachable("no-port-here") == "'no-port-here' is not host:port (or ray://host:port)"
