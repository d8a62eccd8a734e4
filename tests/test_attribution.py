"""Attribution wired into `bench all` (issue 10, phase 2), on the project's own scenarios: the small
real run of tests/bench_run.py (python_ref, the algorithm change, the language port, a tokenizer
port, tiny scenarios, three rounds). Its results hold the contract (port_ceiling and port_gain per
implementation and scenario with extra.ci), no gain lies above its ceiling (a method failure), the
overhead model's figure stands beside its cross-checks, and the report leads with a decision table
that names which change moved the number. Also the methods' pieces on truths built here."""
from __future__ import annotations

import math
from dataclasses import asdict
from types import SimpleNamespace

import pytest

import bench_run
from bench import registry, report, stats
from bench.attribution import profiled as attribution, ceilings
from bench.results import Record
from tests.conftest import require


@pytest.fixture(scope="module")
def run():
    for n in bench_run.OWN:
        require(n)
    out, data, printed = bench_run.small_run()
    return out, data, printed


def _recs(data, metric):
    return [r for r in data["records"] if r["metric"] == metric]


def test_every_change_has_a_ceiling_and_a_gain_with_intervals(run):
    _, data, _ = run
    scs = {r["scenario"] for r in _recs(data, "attribution_tokenize")}
    assert scs >= {"single", "batch", "long"}
    for impl in bench_run.OWN:
        for sc in scs:
            c = [r for r in _recs(data, "port_ceiling") if r["impl"] == impl and r["scenario"] == sc]
            g = [r for r in _recs(data, "port_gain") if r["impl"] == impl and r["scenario"] == sc]
            assert len(c) == 1 and len(g) == 1, (impl, sc)
            for r in c + g:
                lo, hi = r["extra"]["ci"]
                assert lo <= r["value"] <= hi, r
            assert g[0]["extra"]["vs"] == c[0]["extra"]["vs"] == registry.baseline(impl)
            settled = g[0]["extra"]["settled_rounds"]
            assert settled >= 0 and len(g[0]["extra"]["rounds"]) == 3 + settled, "paired per round of the scenario"
    # the reference and what changes nothing of it have no gain to bound
    assert not [r for r in _recs(data, "port_gain") if r["impl"] in (registry.REFERENCE, bench_run.SIXTH)]


def test_no_gain_lies_above_its_ceiling_on_the_projects_scenarios(run):
    _, data, _ = run
    assert stats.method_failures(data["records"]) == []
    assert not [r for r in _recs(data, "port_gain") if r["extra"].get("method_failure")]


def test_each_split_adds_up_with_one_bucket_vocabulary(run):
    _, data, _ = run
    for impl in (registry.REFERENCE, *bench_run.OWN):
        for sc in ("single", "batch", "long"):
            a = ceilings.from_records(data["records"], impl, sc)
            assert a is not None, (impl, sc)
            for i, e in enumerate(a["embed_rounds"]):   # the four and the rest make the wall, round by round
                total = sum(a["rounds"][b][i] for b in registry.BUCKETS) + a["rounds"]["unattributed"][i]
                assert total == pytest.approx(e, rel=1e-9)
            assert a["buckets"]["model_kernels"] > 0 and a["buckets"]["tokenize"] > 0
    # the overhead model measures framework_overhead; the profiler split of a C++ forward says it is a residual
    model = ceilings.from_records(data["records"], registry.REFERENCE, "single")
    cpp = ceilings.from_records(data["records"], "cpp_port", "single")
    assert "framework_overhead" not in model["residual"] and model["method"].startswith("overhead model")
    assert cpp["residual"] == ["framework_overhead"] and cpp["method"].startswith("torch.profiler")
    # padding: the padded reference wastes kernel time at batch, the packed forward (almost) none
    ref_b = ceilings.from_records(data["records"], registry.REFERENCE, "batch")
    packed_b = ceilings.from_records(data["records"], "python_ref_packed", "batch")
    assert ref_b["values"]["padding_waste"] > 0
    assert packed_b["values"]["padding_waste"] < 0.05 * ref_b["values"]["padding_waste"]
    # the reference's waste is its padded forward against its unpadded one in the wall rounds, beside
    # the gains; the per-call probe's figure stands beside it; the packed forward has none of that
    pad = ref_b["detail"]["padding"]
    assert pad["from"] == "wall rounds" and pad["attention"]["calls"] > 0 and pad["per_call"] > 0
    assert pad["unpadded"] < pad["padded"] and not packed_b["detail"].get("padding")
    assert not [r for r in data["records"] if r["metric"].startswith("unpadded")], "a part for the split, no record"


def test_the_model_stands_beside_its_cross_checks(run):
    _, data, _ = run
    views = {r["extra"]["view"]: r for r in _recs(data, "overhead_view") if r["scenario"] == "single"}
    assert set(views) == {"model", "priced", "intercept", "pyspy", "direct", "traced"}
    for v, r in views.items():
        assert (r["value"] is not None) or r["extra"].get("error"), v   # a view that cannot run says why
    assert views["model"]["value"] > 0 and views["intercept"]["extra"]["vs"] == "cpp_port"
    assert "tape" in views["model"]["extra"]["how"] and views["priced"]["value"] > 0   # the model's own parts


def test_report_leads_with_the_decision_and_names_what_moved(run):
    out, data, printed = run
    md = (out / "report.md").read_text()
    assert md.index("## Decision table") < md.index("## Equivalence") < md.index("## Attribution")
    rows = {r["scenario"]: r for r in report.decision_rows(data)}
    for sc in ("single", "batch", "long"):
        r = rows[sc]
        for ch in registry.CHANGES:
            assert r[ch] is not None and r[ch]["verdict"] in ("yes", "no", stats.UNDECIDED), (sc, ch)
            assert "[" in r[ch]["cell"] and r[ch]["impl"] in r[ch]["cell"]   # every figure with its interval
        assert r["verdict"] in ("yes", "no", stats.UNDECIDED)
        assert r["moved"] and r["port_pays"].endswith("(indicative: --quick)")
    assert "verdicts are indicative" in printed and "indicative" in md


def _judged(g) -> dict:
    """The verdict and the interval it reads, as the run writes them (stats.port_record_pair)."""
    from bench import stats
    return {"verdict": stats.verdict(list(g[1:]), value=g[0]), "verdict_ci": stats.widen(list(g[1:]), g[0])}


def _synthetic(plan="default", packed=(1.36, 1.33, 1.43), lang=(1.01, 0.99, 1.03), lang_ceil=(1.03, 1.02, 1.04),
               tok=(1.04, 1.02, 1.06), failure=None):
    """Records shaped like the suite's: the reference's split, then gains and ceilings chosen to steer
    the decision."""
    rounds = 5
    recs = []
    for b, ms in (("tokenize", 1.0), ("model_kernels", 95.0), ("framework_overhead", 1.0), ("io", 0.5),
                  ("unattributed", 2.5)):
        recs.append(Record(registry.REFERENCE, f"attribution_{b}", "batch", ms, "ms", extra={
            "ci": [ms * 0.9, ms * 1.1], "round_ms": [ms] * rounds, "share": ms / 100, "embed_wall_ms": 100.0,
            "forward_wall_ms": 97.0, "embed_round_ms": [100.0] * rounds, "method": "synthetic", "residual": []}))

    def pair(impl, vs, g, c, why=None):
        return [Record(impl, "port_ceiling", "batch", c[0], "x", extra={"vs": vs, "ci": list(c[1:]), "upper": None}),
                Record(impl, "port_gain", "batch", g[0], "x", extra={"vs": vs, "ci": list(g[1:]), "method_failure": why,
                                                                     "note": None, **_judged(g)})]
    # the reference's full-port ceiling, as the run writes it from that split
    recs += ceilings.reference_records({registry.REFERENCE: ceilings.from_records(recs, registry.REFERENCE, "batch")}, "batch")
    recs += pair("python_ref_packed", registry.REFERENCE, packed, (1.39, 1.34, 1.41))
    recs += pair("cpp_port", "python_ref_packed", lang, lang_ceil, failure)
    recs += pair("cython_ext", registry.REFERENCE, tok, (1.03, 1.02, 1.05))
    recs.append(Record(registry.REFERENCE, "latency_p50", "batch", 100.0, "ms", extra={"batch": 32}))
    return {"machine": {"plan": plan}, "records": [asdict(r) for r in recs]}


def test_decision_names_the_change_that_moved_the_number():
    row = {r["scenario"]: r for r in report.decision_rows(_synthetic())}["batch"]
    assert row["algorithm"]["verdict"] == "yes" and row["language"]["verdict"] == "no"
    assert row["tokenizer"]["verdict"] == "no" and row["verdict"] == "no"
    lo, hi = stats.widen([1.33, 1.43], 1.36)   # the table shows the interval its verdict reads
    assert lo < 1.33 and hi > 1.43
    assert row["moved"].startswith(f"the algorithm change (python_ref_packed 1.36x [{lo:.2f}, {hi:.2f}])")
    assert row["port_pays"].startswith("no: ") and "indicative" not in row["port_pays"]
    assert row["dominant_bucket"] == "model_kernels"
    # the full-port ceiling the run wrote: 100 ms a round, less what the ports remove (planted ms above)
    full = next(r for r in _synthetic()["records"] if r["metric"] == "full_port_ceiling")
    planted = {"tokenize": 1.0, "model_kernels": 95.0, "framework_overhead": 1.0, "io": 0.5, "unattributed": 2.5}
    assert {"tokenize", "framework_overhead"} <= set(full["extra"]["removes"]) and "model_kernels" not in full["extra"]["removes"]
    assert row["ceiling"] == full["value"] == pytest.approx(100 / (100 - sum(planted[b] for b in full["extra"]["removes"])))
    assert full["extra"]["dominant"] == "model_kernels" and full["extra"]["dominant_share"] == pytest.approx(0.95)
    straddle = {r["scenario"]: r for r in report.decision_rows(_synthetic(lang=(1.12, 1.05, 1.2)))}["batch"]
    assert straddle["language"]["verdict"] == stats.UNDECIDED and straddle["verdict"] == stats.UNDECIDED
    assert "undecided: language port cpp_port" in straddle["moved"]
    quick = {r["scenario"]: r for r in report.decision_rows(_synthetic(plan="quick"))}["batch"]
    assert quick["port_pays"].endswith("(indicative: --quick)")


def test_the_report_reads_the_runs_verdicts_and_never_judges_again():
    """The decision table shows the verdict and interval the run wrote (issue 29): a record whose
    stored verdict differs from what its interval would give is shown as stored; one without a
    verdict is undecided."""
    data = _synthetic()
    g = next(r for r in data["records"] if r["impl"] == "cpp_port" and r["metric"] == "port_gain")
    assert g["extra"]["verdict"] == "no"
    g["extra"]["verdict"], g["extra"]["verdict_ci"] = "yes", [1.2, 1.3]   # planted: not what [0.99, 1.03] gives
    row = {r["scenario"]: r for r in report.decision_rows(data)}["batch"]
    assert row["language"]["verdict"] == "yes" and row["language"]["gain_ci"] == [1.2, 1.3]
    del g["extra"]["verdict"]
    assert {r["scenario"]: r for r in report.decision_rows(data)}["batch"]["language"]["verdict"] == stats.UNDECIDED


def test_a_method_failure_is_printed_in_red_with_its_reason(tmp_path, capsys):
    why = "gain 1.30-1.40x lies above the ceiling 1.02-1.04x: synthetic"
    data = _synthetic(lang=(1.35, 1.30, 1.40), failure=why)
    md = report.markdown(data, [])
    assert f'<span style="color:#c00">**method failure** at batch: cpp_port: {why}</span>' in md
    assert "METHOD FAILURE" in md.split("## Attribution")[0]
    report.print_decision_table(data)
    out = capsys.readouterr().out
    assert "method failure at batch: cpp_port" in out and why.split(":")[0] in out


def test_plot_is_drawn_as_shares_with_ceiling_and_gain(tmp_path, monkeypatch):
    """The attribution plot's bars are 100% stacked (each row sums to 1) and mark ceiling and gain."""
    from bench.report import plots
    from bench.report.index import Index
    data = _synthetic()
    for impl in ("python_ref_packed", "cpp_port"):   # give them splits too, of other walls
        for r in [r for r in data["records"] if r["impl"] == registry.REFERENCE and r["metric"].startswith("attri")]:
            data["records"].append({**r, "impl": impl, "extra": {**r["extra"], "embed_wall_ms": 50.0}})
    bars, marks = [], []
    import matplotlib.axes
    real_barh, real_errorbar = matplotlib.axes.Axes.barh, matplotlib.axes.Axes.errorbar
    monkeypatch.setattr(matplotlib.axes.Axes, "barh", lambda self, y, w, **kw: (bars.append((list(y), list(w))),
                                                                              real_barh(self, y, w, **kw))[1])
    monkeypatch.setattr(matplotlib.axes.Axes, "errorbar", lambda self, x, y, **kw: (marks.append(x),
                                                                                   real_errorbar(self, x, y, **kw))[1])
    assert plots.plot_attribution(Index(data), tmp_path / "a.png") and (tmp_path / "a.png").stat().st_size > 1000
    names = bars[0][0]
    for i in range(len(names)):
        assert sum(w[i] for _, w in bars) == pytest.approx(1.0)
    assert len(marks) == 2 and marks[0][0] == pytest.approx(1 - 1 / 1.36)   # gains of the two with a baseline


def test_outermost_op_time_counts_each_op_once():
    """op_seconds: an op's total holds its nested ops; wrappers (a compiled region) do not enclose."""
    cpu = SimpleNamespace(name="CPU")

    def ev(name, total, parent=None):
        return SimpleNamespace(name=name, cpu_time_total=total, cpu_parent=parent, device_type=cpu)
    linear = ev("aten::linear", 100.0)
    region = ev("Torch-Compiled Region", 500.0)
    evs = [linear, ev("aten::addmm", 90.0, linear), ev("aten::t", 3.0, linear), ev("aten::gelu", 20.0),
           region, ev("cpp_fused_gelu_0", 40.0, region), ev("aten::mm", 60.0, region)]
    assert attribution.op_seconds(evs) == pytest.approx((100 + 20 + 40 + 60) / 1e6)


def test_profiler_split_of_a_forward_is_round_by_round(mdir):
    """attribution.attribute_profiled on python_ref's forward from given walls: per round, kernels are the
    profiled share of that round's forward and framework_overhead its residual."""
    from bench.attribution import split
    from bench.scenarios import texts_for
    pipe = registry.load_impl(registry.REFERENCE, mdir)
    texts = texts_for(mdir, "short", 2)
    walls = split.measure_walls({"p": pipe}, texts, rounds=3, reps=2)["p"]
    a = attribution.attribute_profiled(registry.REFERENCE, pipe, texts, walls, reps=3)
    assert a["residual"] == ["framework_overhead"] and 0 < a["detail"]["profiled_share"] <= 1.5
    for i, f in enumerate(walls["forward"]):
        k, fo, io = (a["rounds"][b][i] for b in ("model_kernels", "framework_overhead", "io"))
        assert k <= f and fo >= 0 and io > 0
        assert k + fo + io == pytest.approx(f) or fo == 0
    assert all(math.isfinite(x) for x in a["ci"]["model_kernels"])


def test_unpadded_batch_is_the_real_tokens_in_order():
    """The unpadded batch is the real tokens in order, N rows of M // N, its mask all ones; args
    without a mask are refused in one line."""
    import torch

    from bench.attribution import padding
    N, T, lens = 4, 60, (60, 20, 35, 37)
    mask = (torch.arange(T)[None, :] < torch.tensor(lens)[:, None]).long()
    ids = (torch.arange(N * T).reshape(N, T) + 1) * mask
    M = int(mask.sum())
    small = padding.unpadded((ids, mask), N * T, M)
    assert small[0].shape == (N, M // N) and torch.equal(small[0].reshape(-1), ids[mask.bool()][:N * (M // N)])
    assert bool(small[1].eq(1).all()) and small[1].shape == (N, M // N)
    with pytest.raises(ValueError, match="no attention mask"):
        padding.unpadded((ids,), N * T, M)


def test_padding_waste_from_the_wall_rounds_recovers_a_known_cost_per_padded_row(mdir):
    """Known truth, through the path bench all takes (the unpadded forward a part of the wall rounds,
    the split's padding.waste): python_ref twice, one copy's model busy-waiting a set time per row of
    its ids. The difference of their padding_waste is that time on the rows the unpadded batch
    leaves out (N*T - N*(M // N)), within 15%. Walls without the unpadded forward are refused."""
    import time
    from statistics import median

    from bench.attribution import split
    from bench.scenarios import texts_for
    plain, slow = registry.load_impl(registry.REFERENCE, mdir), registry.load_impl(registry.REFERENCE, mdir)
    per_row, base = 300e-6, slow.model.forward   # well above the model's own ~0.2 ms a row here

    def busy_forward(ids, mask):
        end = time.perf_counter() + per_row * ids.numel()
        while time.perf_counter() < end:
            pass
        return base(ids, mask)
    slow.model.forward = busy_forward
    texts = texts_for(mdir, "short", 3) + texts_for(mdir, "medium", 1)
    b = plain.tokenize(texts)
    (N, T), M = b.ids.shape, int(b.attention_mask.sum())
    truth = per_row * (N * T - N * (M // N))
    assert truth > 10e-3   # the batch has padding worth measuring, well above the plain waste's noise
    pipes = {"plain": plain, "slow": slow}
    walls = split.measure_walls(pipes, texts, rounds=5, reps=2)
    assert all(len(walls[n]["unpadded"]) == 5 for n in pipes)
    atts = split.attribute_many(pipes, texts, walls, reps=2)
    assert all(a["detail"]["padding"]["from"] == "wall rounds" for a in atts.values())
    got = median(atts["slow"]["rounds"]["padding_waste"]) - median(atts["plain"]["rounds"]["padding_waste"])
    assert abs(got - truth) < 0.15 * truth, (got, truth)
    no_pair = {k: v for k, v in walls["plain"].items() if k != "unpadded"}
    with pytest.raises(ValueError, match="no unpadded forward"):
        split.attribute("plain", plain, texts, no_pair, reps=2)


def test_padding_probe_reruns_exactly_the_padded_per_token_calls(mdir):
    """Counts that follow from the code: python_ref's forward on a padded batch makes per layer 4
    linear, 1 gelu, 2 layer_norm and 2 residual adds on the N*T rows, plus the embeddings'
    LayerNorm (its broadcast add stays padded in a packed forward too, so it is not probed); the
    packed forward runs the layers on the M real rows: only its embeddings' LayerNorm is padded.
    Results are untouched."""
    import numpy as np
    import torch

    from bench.attribution import overhead as oh, padding
    from bench.scenarios import texts_for
    from contract.api import load_config
    layers = int(load_config(mdir)["num_hidden_layers"])
    ref, packed = registry.load_impl(registry.REFERENCE, mdir), registry.load_impl("python_ref_packed", mdir)
    batch = ref.tokenize(texts_for(mdir, "medium", 4))
    real, rows = int(batch.attention_mask.sum()), batch.ids.size
    assert real < rows, "medium texts of different lengths pad"
    args = oh.io_split(ref, batch, reps=1)["args"]
    p = padding.Probe(rows, real)
    with torch.inference_mode(), p:
        out = ref.model.forward(*args)
    assert p.calls == 9 * layers + 1 and set(p.full) == set(padding.PER_TOKEN)
    assert np.allclose(out.numpy(), ref.model.forward(*args).numpy(), atol=1e-6)
    assert padding.per_call(packed.model.forward, args, rows, real)["calls"] == 1
    assert padding.per_call(ref.model.forward, args, rows, rows)["calls"] == 0   # no padding: nothing to remove
    # whole forwards for the forward whose layers run padded, only there; its unpadded batch embeds
    assert padding.layers_padded(ref, batch) and not padding.layers_padded(packed, batch)
    assert not padding.layers_padded(ref, ref.tokenize(texts_for(mdir, "medium", 1)))
    assert list(padding.unpadded_parts({"ref": ref, "packed": packed}, texts_for(mdir, "medium", 4))) == [("ref", "unpadded")]
    u = padding.unpadded_batch(batch)
    assert u.ids.shape == (batch.ids.shape[0], real // batch.ids.shape[0]) and u.attention_mask.all()
    assert ref.forward(u).shape == (batch.ids.shape[0], ref.dim)
    # the probe's small call runs on the real rows (the mask's), as packing keeps them, not the first M
    keep = torch.as_tensor(batch.attention_mask).reshape(-1).nonzero().squeeze(1)
    x = torch.randn(batch.ids.shape[0], batch.ids.shape[1], 8)
    want = x[torch.as_tensor(batch.attention_mask).bool()]
    assert torch.equal(padding.Probe(rows, real, keep)._real(x), want) and not torch.equal(x.reshape(-1, 8)[:real], want)
