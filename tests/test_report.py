"""The suite's measuring pieces and the report, on a small real run (bench all's runner with
python_ref, a sixth port and hf_tokenizers, tiny scenarios): attribution adds up, cold start is
measured, every timed record keeps its rounds, the report and its decision table are written from
real records. Nothing here skips (CI=true or not): every piece needs only python_ref."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import bench_run
from bench import report
from bench.measure import attribution, ceilings, coldstart
from bench.scenarios import texts_for


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
    c = ceilings.ceiling(att)
    assert c["port_share"] == pytest.approx(0.5) and c["max_speedup"] == pytest.approx(2.0)
    assert c["tokenizer_max_speedup"] == pytest.approx(1.25) and c["dominant"] == "model_kernels"
    assert ceilings.port_ceiling("cython_ext", att) == pytest.approx(1.25)
    assert ceilings.port_ceiling("cpp_port", att) == pytest.approx(2.0)


def test_coldstart_of_python_ref_is_positive(mdir):
    r = coldstart.python_impl("python_ref", str(mdir), "cpu", 1)
    assert "error" not in r, r.get("error")
    assert r["first_s"] > 0 and r["first_s"] <= r["total_s"]
    assert r["peak_rss"] > 50 * 2**20          # torch alone is more than that
    assert r["child"]["dim"] > 0 and any("torch" in m for m in r["foot"]["modules"])


@pytest.fixture(scope="module")
def small_run():
    """The real runner on tiny scenarios and budgets (tests/bench_run.py) -> (out dir, results data)."""
    out, data, _ = bench_run.small_run()
    return out, data


def test_results_hold_every_kind_of_record(small_run):
    _, data = small_run
    metrics = {(r["impl"], r["metric"]) for r in data["records"]}
    assert data["machine"]["plan"] == "quick" and data["machine"]["weights"] == "real"
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


TIMED = ("latency_p50", "latency_p90", "latency_p99", "throughput", "throughput_tokens", "forward_p50",
         "tokenize_p50", "tokenize_texts_s", "tokenize_mb_s")


def test_every_timed_record_keeps_its_round_medians(small_run):
    """The contract later tools bootstrap from: per-round medians in round order, and for a paired
    ratio the per-round ratios it is the median of."""
    _, data = small_run
    timed = [r for r in data["records"] if r["metric"] in TIMED]
    assert {r["metric"] for r in timed} >= set(TIMED) - {"tokenize_p50"}
    for r in timed:
        rm = r["extra"]["round_medians_ms"]
        assert isinstance(rm, list) and len(rm) >= 1 and all(x > 0 for x in rm), r
        if "rounds" in r["extra"]:
            assert len(rm) == r["extra"]["rounds"], r
        if r["metric"] == "latency_p50":   # the p50 of all samples lies within the rounds' medians
            assert min(rm) * 0.999 <= r["value"] <= max(rm) * 1.001
        for k, v in r["extra"].items():
            if k.startswith("ratio_vs_"):
                rr = r["extra"]["round_ratios_vs_" + k.removeprefix("ratio_vs_")]
                assert len(rr) == len(rm) and v == pytest.approx(float(np.median(rr)))
            if k.startswith("speedup_vs_"):
                rr = r["extra"]["round_ratios_vs_" + k.removeprefix("speedup_vs_")]
                assert v == pytest.approx(1 / float(np.median(rr)))
    sixth = [r for r in timed if r["impl"] == bench_run.SIXTH and r["metric"] == "latency_p50"]
    ref = {r["scenario"]: r for r in timed if r["impl"] == "python_ref" and r["metric"] == "latency_p50"}
    for r in sixth:   # paired against the reference, round by round
        rr = r["extra"]["round_ratios_vs_python_ref"]
        ours, theirs = r["extra"]["round_medians_ms"], ref[r["scenario"]]["extra"]["round_medians_ms"]
        assert rr == pytest.approx([a / b for a, b in zip(ours, theirs)])
