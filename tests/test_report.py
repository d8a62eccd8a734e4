"""The suite's measuring pieces and the report, on a small real run (tests/bench_run.py: bench all's
runner with python_ref, a sixth port, hf_tokenizers and the project's own changes, tiny scenarios):
cold start is measured, every timed record keeps its rounds, the report and its decision table are
written from real records. Nothing here skips (CI=true or not): these pieces need only python_ref.
Attribution, ceilings and gains: test_attribution.py."""
from __future__ import annotations

import numpy as np
import pytest

import bench_run
from bench import registry, report
from bench.costs import coldstart


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
              "attribution_model_kernels", "attribution_framework_overhead", "attribution_io",
              "attribution_unattributed", "coldstart", "peak_rss", "disk_bytes"):
        assert ("python_ref", m) in metrics, m
    spread = {r["scenario"]: r for r in data["records"] if r["metric"] == "pair_spread"}
    assert set(spread) >= {"single", "batch", "long"}                # is the machine quiet? per scenario
    gains = {(r["impl"], r["scenario"]): r["extra"]["rounds"] for r in data["records"] if r["metric"] == "port_gain"}
    for sc, r in spread.items():                                     # the gains' own rounds, recomputed
        sd = r["extra"]["gains"]
        assert r["impl"] == "python_ref" and len(sd) >= 3 and r["value"] == pytest.approx(float(np.median(list(sd.values()))))
        for impl, v in sd.items():
            assert v == pytest.approx(float(np.log(gains[impl, sc]).std(ddof=1)))
    for r in data["records"]:
        assert set(r) >= {"impl", "metric", "scenario", "device", "host", "value", "unit", "extra"}


def test_report_writes_markdown_plots_and_offline_html(small_run):
    out, data = small_run
    files = report.write_report(out, data)
    pngs = list(out.glob("*.png"))
    assert len(pngs) >= 3, pngs
    assert all(p.stat().st_size > 1000 for p in pngs)
    md = (out / "report.md").read_text()
    html = (out / "index.html").read_text()
    assert (out / "report.md") in files and (out / "index.html") in files
    assert md.index("## Decision table") < md.index("## Equivalence")   # the answer first
    assert md.index("| must run in the browser") < md.index("## Equivalence")
    assert html.count("data:image/png;base64,") == len(pngs) and "http" not in html.split("<body>")[1]


def test_decision_table_filled_from_records(small_run):
    _, data = small_run
    rows = {r["scenario"]: r for r in report.decision_rows(data)}
    for sc in ("single", "batch", "long"):
        r = rows[sc]
        assert r["dominant_bucket"] in registry.BUCKETS
        lo, hi = r["ceiling_ci"]
        assert 1.0 <= lo <= r["ceiling"] <= hi   # the full-port ceiling from the reference's split
        assert r["intervention"] and r["verdict"] in ("yes", "no", "undecided at this precision", "not measured")
    assert "cold start / footprint" in rows and "must run in the browser" in rows


def test_the_answer_says_when_the_machine_was_not_quiet(small_run, capsys):
    # the small run's own pair_spread records replaced by one planted per case: under QUIET, then above
    from bench.report.costs import decision
    from bench.report.index import Index
    from bench.hosts.stability import QUIET
    _, data = small_run
    base = [r for r in data["records"] if r["metric"] != "pair_spread"]
    ref = next(r for r in data["records"] if r["metric"] == "pair_spread")
    for value in (QUIET / 2, 2.5 * QUIET):
        d = {**data, "records": base + [{**ref, "scenario": "batch", "value": value}]}
        md = decision(Index(d), [])
        report.print_decision_table(d)
        out = capsys.readouterr().out
        if value > QUIET:
            assert f"{100 * value:.0f}% at batch" in md and "Not a quiet machine" in md and "not a quiet machine" in out
        else:
            assert "quiet machine" not in md and "quiet machine" not in out


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
