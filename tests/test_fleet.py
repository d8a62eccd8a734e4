"""`bench fleet` on a real local Ray cluster: a head and one worker node, both on 127.0.0.1 (and so
on this one machine), started here with ray.cluster_utils.Cluster and shut down by the processes it
started. `bench fleet --quick --impl python_ref cpp_port` must bring back one result set per node,
with distinct host ids, the two timed runs one after another (they share this machine's cores),
and one merged report. Under CI=true a missing Ray fails; locally it skips."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

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
                        "--impl", "python_ref", "cpp_port", "--out", str(out)],
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
        assert {r["impl"] for r in recs if r["metric"] == "latency_p50"} >= {"python_ref", "cpp_port"}
        assert (s.parent / "report.md").is_file() and (s.parent / "bench.log").is_file()
    md = (out / "report.md").read_text()
    for m in machines:
        assert f"`{m['host_id']}`" in md
    assert "## Verdicts that differ between hosts" in md and "## Decision table per host" in md
    assert len(json.loads((out / "merged.json").read_text())["sets"]) == 2
