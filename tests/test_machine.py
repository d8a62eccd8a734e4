"""The machine descriptor (bench/machine.py): every field the issue names is there and read from the
real sources (/proc, git, node, emcc, the installed packages); the host id is stable, ignores what
changes between runs, and tells apart two nodes on one machine through PORTBENCH_HOST_LABEL."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from importlib.metadata import version

from bench import machine, results
from conftest import require

FIELDS = ("host", "host_id", "cpu", "cores", "threads", "isa", "memory_bytes", "gpu", "gpu_driver", "cuda", "os",
          "python", "torch", "versions", "commit")


def test_descriptor_has_every_field():
    d = machine.describe(threads=3)
    assert all(k in d for k in FIELDS), [k for k in FIELDS if k not in d]
    assert d["threads"] == 3 and d["cores"] == os.cpu_count()
    assert set(d["versions"]) == {"python", "torch", "onnxruntime", "node", "emscripten"}
    assert d["versions"]["torch"] == version("torch")
    assert all(k in d["isa"] for k in ("avx2", "fma", "avx512f", "amx_tile"))
    assert d["memory_bytes"] > 2**30
    import torch
    assert bool(d["gpus"]) == (torch.cuda.is_available() or bool(shutil.which("nvidia-smi")))
    json.dumps(d)   # it goes into results.json


def test_isa_and_cores_from_cpuinfo():
    text = ("processor\t: 0\nmodel name\t: Built CPU 9000\nphysical id\t: 0\ncore id\t: 0\n"
            "flags\t\t: fpu sse2 avx2 fma avx512f amx_tile amx_bf16\n\n"
            "processor\t: 1\nmodel name\t: Built CPU 9000\nphysical id\t: 0\ncore id\t: 0\nflags\t\t: fpu\n\n"
            "processor\t: 2\nmodel name\t: Built CPU 9000\nphysical id\t: 0\ncore id\t: 1\nflags\t\t: fpu\n")
    ci = machine.cpuinfo(text)
    assert ci["cpu"] == "Built CPU 9000" and ci["physical_cores"] == 2   # two threads share core 0
    assert ci["isa"]["avx2"] and ci["isa"]["amx_tile"] and ci["isa"]["amx_bf16"] and ci["isa"]["fma"]
    assert not ci["isa"]["avx512_vnni"] and not ci["isa"]["amx_int8"]


def test_versions_match_the_tools():
    v = machine.versions()
    if shutil.which("node"):
        assert v["node"] == subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()[1:]
    else:
        assert v["node"] is None
    if shutil.which("emcc"):
        assert v["emscripten"] and v["emscripten"] in subprocess.run(["emcc", "--version"], capture_output=True,
                                                                       text=True).stdout
    try:
        assert v["onnxruntime"] == version("onnxruntime")
    except Exception:
        assert v["onnxruntime"] is None


def test_host_id_is_stable_and_ignores_run_settings(monkeypatch):
    monkeypatch.delenv(machine.LABEL_ENV, raising=False)
    a, b = machine.describe(threads=1), machine.describe(threads=8)
    assert a["host_id"] == b["host_id"]
    changed = dict(a, torch="9.9", versions={}, commit={"sha": "f" * 40, "dirty": True}, threads=64)
    assert machine.host_id(changed) == a["host_id"]
    assert machine.host_id(dict(a, cpu="Other CPU")) != a["host_id"]
    monkeypatch.setenv(machine.LABEL_ENV, "node b/7")
    c = machine.describe(threads=1)
    assert c["host_label"] == "node b/7" and c["host_id"].startswith("node-b-7-") and c["host_id"] != a["host_id"]


def _git(repo, *argv):
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *argv], check=True,
                   capture_output=True)


def test_commit_and_dirty_flag(tmp_path, monkeypatch):
    require(None if shutil.which("git") else "git missing", is_reason=True)
    monkeypatch.delenv(machine.COMMIT_ENV, raising=False)
    assert machine.commit(tmp_path) == {"sha": "unknown", "dirty": None}
    monkeypatch.setenv(machine.COMMIT_ENV, "0123abcd")   # an installed wheel or image that says its commit
    assert machine.commit(tmp_path) == {"sha": "0123abcd", "dirty": None}
    monkeypatch.delenv(machine.COMMIT_ENV)
    _git(tmp_path, "init", "-q")
    (tmp_path / "f.txt").write_text("a")
    _git(tmp_path, "add", "f.txt")
    _git(tmp_path, "commit", "-q", "-m", "one")
    sha = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    assert machine.commit(tmp_path) == {"sha": sha, "dirty": False}
    (tmp_path / "untracked.o").write_text("build output")
    assert machine.commit(tmp_path)["dirty"] is False   # untracked build output is not a change
    (tmp_path / "f.txt").write_text("b")
    assert machine.commit(tmp_path) == {"sha": sha, "dirty": True}


def test_results_json_carries_descriptor_and_model_fingerprint(tmp_path, mdir):
    mach = results.machine(2)
    mach["model"] = str(mdir)
    results.write(tmp_path / "results.json", mach, [])
    m = json.loads((tmp_path / "results.json").read_text())["machine"]
    assert m["host_id"] == mach["host_id"] and m["threads"] == 2
    assert m["model_sha256"] == machine.model_fingerprint(mdir)
    copy = tmp_path / "model"
    shutil.copytree(mdir, copy)
    assert machine.model_fingerprint(copy) == m["model_sha256"]   # same content elsewhere: same model
    cfg = json.loads((copy / "config.json").read_text())
    cfg["layer_norm_eps"] = 1e-6
    (copy / "config.json").write_text(json.dumps(cfg))
    assert machine.model_fingerprint(copy) != m["model_sha256"]
