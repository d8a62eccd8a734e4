"""The suite's measuring pieces and the report, on a small real run (python_ref + hf_tokenizers, tiny
scenarios): attribution adds up, cold start is measured, the report and its decision table are
written from real records. Nothing here skips (CI=true or not): every piece needs only python_ref."""
from __future__ import annotations

import argparse
import json

import pytest
import torch

from bench import report, results, suite
from bench.measure import attribution, coldstart
from bench.scenarios import texts_for

TINY = {"single": (1, "short"), "batch": (4, "short"), "long": (2, "long"), "batch256": (8, "short")}


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_attribution_buckets_sum_to_embed_wall(mdir, one_thread):
    from bench import registry
    pipe = registry.load("python_ref", mdir)
    texts = texts_for(mdir, "short", 4)
    errors = []
    for _ in range(3):   # a timing check on a shared machine: any of three attempts within 5%
        att = attribution.attribute("python_ref", pipe, texts, reps=15)
        assert set(att["buckets"]) == set(attribution.BUCKETS)
        assert all(v >= 0 for v in att["buckets"].values())
        assert att["buckets"]["model_kernels"] > 0 and att["buckets"]["tokenize"] > 0
        assert att["buckets"]["model_kernels"] <= att["forward_wall"]
        errors.append(att["sum_error"])
        if attribution.check_sum(att, 0.05):
            break
    assert min(errors) <= 0.05, f"buckets vs embed wall off by {errors}"


def test_kernel_time_excludes_wrappers_and_views():
    class E:
        def __init__(self, name, self_us):
            self.name, self.self_cpu_time_total = name, self_us
            self.device_type = type("D", (), {"name": "CPU"})()
    evs = [E("aten::addmm", 100.0), E("aten::linear", 7.0), E("aten::view", 1.0), E("aten::gelu", 20.0),
           E("aten::empty", 2.0), E("Torch-Compiled Region", 50.0)]
    kern, copy = attribution.kernel_seconds(evs)
    assert kern == pytest.approx(120e-6) and copy == 0


def test_ceiling_from_shares():
    att = {"buckets": {"tokenize": 0.2, "model_kernels": 0.5, "dispatch_overhead": 0.3, "io": 0.0}}
    c = attribution.ceiling(att)
    assert c["port_share"] == pytest.approx(0.5) and c["max_speedup"] == pytest.approx(2.0)
    assert c["tokenizer_max_speedup"] == pytest.approx(1.25) and c["dominant"] == "model_kernels"
    assert attribution.port_ceiling("cython_ext", att) == pytest.approx(1.25)
    assert attribution.port_ceiling("cpp_port", att) == pytest.approx(2.0)


def test_coldstart_of_python_ref_is_positive(mdir):
    r = coldstart.python_impl("python_ref", str(mdir), "cpu", 1)
    assert "error" not in r, r.get("error")
    assert r["first_s"] > 0 and r["first_s"] <= r["total_s"]
    assert r["peak_rss"] > 50 * 2**20          # torch alone is more than that
    assert r["child"]["dim"] > 0 and any("torch" in m for m in r["foot"]["modules"])


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """The real suite parts on tiny scenarios and budgets -> (out dir, results data)."""
    out = tmp_path_factory.mktemp("bench")
    (out / "corpus.txt").write_text("Hello there!\nÉtienne's café [MASK] 日本\n\nshort one\n")
    args = argparse.Namespace(model=None, device="cpu", impl=["python_ref", "hf_tokenizers"], threads=1,
                              corpus=str(out / "corpus.txt"), quick=True, out=str(out), full=False)
    mp = pytest.MonkeyPatch()
    mp.setattr(suite, "SCENARIOS", TINY)
    mp.setitem(suite.PLANS, "quick", {**suite.PLANS["quick"], "scenario_s": {k: 0.5 for k in TINY},
                                      "sweep": ((1, 2), ("short",)), "sweep_s": 0.3, "min_rounds": 2,
                                      "max_rounds": 2, "attr_reps": 2, "cold_n": 1, "sort_texts": 8,
                                      "eq_texts": 2})
    n = torch.get_num_threads()
    try:
        run = suite.Run(args)
        suite._pin_threads(1)
        names = suite.select(run)
        suite.part_load(run, names)
        suite.part_equivalence(run, names)
        done = suite.part_scenarios(run)
        suite.part_sweep(run, done)
        suite.part_interventions(run)
        run.loaded = {k: True for k in run.pipes}
        suite.part_coldstart(run, ["python_ref"])
        mach = results.machine(1)
        mach.update(notes=run.notes, plan="test")
        results.write(out / "results.json", mach, run.recs)
    finally:
        mp.undo()
        torch.set_num_threads(n)
    return out, json.loads((out / "results.json").read_text())


def test_results_hold_every_kind_of_record(small_run):
    _, data = small_run
    metrics = {(r["impl"], r["metric"]) for r in data["records"]}
    eq = {r["metric"]: r for r in data["records"] if r["impl"] == "python_ref" and r["scenario"] == "equivalence"}
    assert eq["equivalence_id_mismatches"]["value"] == 0 and eq["equivalence_id_mismatches"]["extra"]["texts"] == 4
    assert eq["equivalence_max_abs"]["value"] <= eq["equivalence_max_abs"]["extra"]["tol"]
    for m in ("latency_p50", "latency_p99", "throughput", "throughput_tokens", "attribution_tokenize",
              "attribution_model_kernels", "attribution_dispatch_overhead", "attribution_io", "coldstart", "peak_rss",
              "disk_bytes"):
        assert ("python_ref", m) in metrics, m
    for r in data["records"]:
        assert set(r) >= {"impl", "metric", "scenario", "device", "host", "value", "unit", "extra"}


def test_report_writes_markdown_plots_and_offline_html(small_run):
    out, data = small_run
    files = report.write(out, data)
    pngs = list(out.glob("*.png"))
    assert len(pngs) >= 3, pngs
    assert all(p.stat().st_size > 1000 for p in pngs)
    md = (out / "report.md").read_text()
    html = (out / "index.html").read_text()
    assert (out / "report.md") in files and (out / "index.html") in files
    assert md.rstrip().splitlines()[-1].startswith("| must run in the browser")   # ends with the decision table
    assert "## Decision table" in md and md.index("## Decision table") > md.index("## Cold start")
    assert html.count("data:image/png;base64,") == len(pngs) and "http" not in html.split("<body>")[1]


def test_decision_table_filled_from_records(small_run):
    _, data = small_run
    rows = {r["scenario"]: r for r in report.decision_rows(data)}
    for sc in ("single", "batch", "long"):
        r = rows[sc]
        assert r["dominant_bucket"] in attribution.BUCKETS
        assert r["ceiling"] >= 1.0
        assert r["intervention"] and r["port_pays"].split(":")[0] in ("yes", "no")
    assert "cold start / footprint" in rows and "must run in the browser" in rows


def _synthetic(kern, tok, disp, port_gain, rt_gain):
    """Records shaped like the suite's, numbers chosen to steer the decision."""
    from dataclasses import asdict
    from bench.results import Record
    recs = []
    for impl, b in (("python_ref", {"tokenize": tok, "model_kernels": kern, "dispatch_overhead": disp, "io": 0.0}),):
        att = {"buckets": {k: v / 1e3 for k, v in b.items()}, "embed_wall": sum(b.values()) / 1e3,
               "forward_wall": (kern + disp) / 1e3, "method": "synthetic", "sum_error": 0.0}
        recs += attribution.records(impl, "batch", att, "cpu")
    base = tok + kern + disp
    for impl, g in (("python_ref", 1.0), ("cpp_port", port_gain), ("python_ref_compile", rt_gain)):
        recs.append(Record(impl, "latency_p50", "batch", base / g, "ms"))
    return {"machine": {}, "records": [asdict(r) for r in recs]}


def test_decision_follows_the_numbers():
    kernels_bound = {r["scenario"]: r for r in report.decision_rows(_synthetic(90, 5, 5, 1.03, 1.5))}["batch"]
    assert kernels_bound["dominant_bucket"] == "model_kernels"
    assert kernels_bound["intervention"].startswith("runtime change: python_ref_compile")
    assert kernels_bound["port_pays"].startswith("no")
    glue_bound = {r["scenario"]: r for r in report.decision_rows(_synthetic(20, 50, 30, 3.0, 1.1))}["batch"]
    assert glue_bound["dominant_bucket"] == "tokenize" and glue_bound["ceiling"] == pytest.approx(5.0)
    assert glue_bound["intervention"].startswith("port: cpp_port") and glue_bound["port_pays"].startswith("yes")
