"""One small but real `bench all` run shared by test_report.py, test_registry_facts.py and
test_attribution.py: the real runner (bench.suite.run_all) on tiny scenarios and budgets, with
python_ref, a sixth port that is registered in the registry alone (python_ref's classes under a
new name), hf_tokenizers, and the project's own changes of the reference that split, bound and
gain against each other (OWN: the algorithm change, the language port, a tokenizer port; those not
built here are one note each, and test_attribution.py requires them). Three rounds per point: the
fewest whose intervals can decide anything (stats.interval). Computed once per session (the first
test that asks), in a temp dir removed at exit."""
from __future__ import annotations

import argparse
import atexit
import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

SIXTH = "sixth_port"
OWN = ("python_ref_packed", "cpp_port", "cython_ext")
TINY = {"single": (1, "short"), "batch": (4, "short"), "long": (2, "long"), "batch256": (8, "short")}
_CACHE: dict = {}


def tiny_plan() -> dict:
    from bench.suite import PLANS
    return {**PLANS["quick"], "scenarios": TINY, "scenario_s": {k: 0.5 for k in TINY}, "sweep": ((1, 2), ("short",)),
            "sweep_s": 0.3, "min_rounds": 3, "max_rounds": 3, "scenario_rounds": 3, "scenario_min_rounds": 3,
            "attr_reps": 2,
            "settle_s": {k: 0.5 for k in TINY}, "gain_rounds": 5, "settle_cap_s": 5.0,
            "gain_rounds_read": 7, "settle_read_cap_s": 5.0,
            "xcheck_rounds": 3, "xcheck_reps": 2, "pyspy_s": 1.0, "cold_n": 1, "sort_texts": 8,
            "eq_texts": 2, "budget_s": None}


def register_sixth():
    """The sixth port: python_ref's entry, renamed; nothing else in bench/ is told about it."""
    from bench import registry
    entry = dataclasses.replace(registry.BY_NAME["python_ref"], name=SIXTH)
    registry.register(entry)
    return entry


def small_run() -> tuple[Path, dict, str]:
    """-> (out dir, results.json data, what bench all printed)."""
    if "run" in _CACHE:
        return _CACHE["run"]
    import contextlib
    import io

    import torch

    from bench import registry, suite
    out = Path(tempfile.mkdtemp(prefix="portbench_small_run_"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    (out / "corpus.txt").write_text("Hello there!\nÉtienne's café [MASK] 日本\n\nshort one\n")
    args = argparse.Namespace(cmd="all", model=None, device="cpu", impl=["python_ref", SIXTH, "hf_tokenizers", *OWN],
                              threads=1, corpus=str(out / "corpus.txt"), quick=True, out=str(out), full=False,
                              weights="real")
    n = torch.get_num_threads()
    register_sixth()
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            rc = suite.run_all(args, plan=tiny_plan())
    finally:
        registry.unregister(SIXTH)
        torch.set_num_threads(n)
    assert rc == 0, buf.getvalue()[-3000:]
    data = json.loads((out / "results.json").read_text())
    failed = [n for n in data["machine"]["notes"] if "failed" in n]   # a part, a split or a view that raised
    assert not failed, failed
    _CACHE["run"] = (out, data, buf.getvalue())
    return _CACHE["run"]
