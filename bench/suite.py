"""`bench all`: every part of DESIGN §7 in one run, into --out (results.json, report.md, PNGs,
index.html), then the decision table on the terminal. Glue only: each part is a measure/ module.

Repeats come from time budgets (PLANS), so `--quick` fits ~5 minutes and the default ~20 on a
2-core machine with every port built; `--full` adds the complete sweep and clean build timings.
An implementation that is not built is one line in the notes, never an error.
"""
from __future__ import annotations

import gc
import os
import time
from contextlib import contextmanager
from pathlib import Path

from . import oracle, registry, results
from .cli import _pin_threads, _print_tokenize, _table
from .results import Record
from .tolerances import tolerance
from .scenarios import SCENARIOS, SWEEP_BATCHES, SWEEP_LENGTHS, by_length, texts_for

PLANS = {  # budgets in seconds of measuring (warm-up included); rounds floor/ceiling
    "quick": {"eq_texts": 32, "scenario_s": {"single": 6, "batch": 30, "long": 20, "batch256": 20},
              "sweep": ((1, 32), ("short", "medium")), "sweep_s": 6, "min_rounds": 2, "max_rounds": 5,
              "attr_reps": 3, "cold_n": 1, "sort_texts": 64, "sort_rounds": 1, "compile": False},
    "default": {"eq_texts": 192, "scenario_s": {"single": 20, "batch": 100, "long": 70, "batch256": 60},
                "sweep": ((1, 8, 32, 128), ("short", "medium")), "sweep_s": 25, "min_rounds": 3, "max_rounds": 9,
                "attr_reps": 5, "cold_n": 3, "sort_texts": 512, "sort_rounds": 2, "compile": True},
}
PLANS["quick"].update(total_s=285, reserve_s=95, sort_s_est=10)    # reserve_s: cold start, maintenance, browser, report
PLANS["default"].update(total_s=1150, reserve_s=330, sort_s_est=90)
PLANS["full"] = {**PLANS["default"], "sweep": (SWEEP_BATCHES, SWEEP_LENGTHS), "sweep_s": 60, "total_s": None}
SCENARIO_SHARE = {"single": 0.12, "batch": 0.45, "long": 0.3, "batch256": 0.3}   # of the time left at the start
TOKENIZERS = ("python_ref", "cython_ext", "numba_variant", "cpp_port", "wasm_port", "hf_tokenizers")


class Run:
    """State shared by the parts: args, plan, pipes, records, notes, per-part seconds."""

    def __init__(self, args):
        from python_ref.api import model_dir
        self.args, self.device = args, args.device
        self.plan_name = "full" if getattr(args, "full", False) else ("quick" if args.quick else "default")
        self.plan = PLANS[self.plan_name]
        self.mdir = model_dir(args.model)
        self.recs: list[Record] = []
        self.notes: list[str] = []
        self.parts: dict[str, float] = {}
        self.pipes: dict = {}
        self.loaded: dict = {}
        self.cold_done: dict = {}
        self.t0 = time.perf_counter()
        self.rc = 0

    def left(self, reserve: bool = True) -> float:
        """Seconds left before the plan's deadline (minus what the parts after measuring need)."""
        if self.plan["total_s"] is None:
            return float("inf")
        return self.plan["total_s"] - (time.perf_counter() - self.t0) - (self.plan["reserve_s"] if reserve else 0)

    @contextmanager
    def part(self, name: str):
        t0 = time.perf_counter()
        print(f"\n== {name}", flush=True)
        try:
            yield
        except Exception as e:  # one part failing must not lose the others' results
            import traceback
            self.note(f"{name}: failed ({type(e).__name__}: {e})")
            traceback.print_exc()
        finally:
            self.parts[name] = time.perf_counter() - t0

    def note(self, line: str) -> None:
        self.notes.append(line)
        print(f"  note: {line}", flush=True)

    def add(self, recs) -> None:
        self.recs += recs


def progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    return Progress(TextColumn("  {task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def select(run: Run) -> list[str]:
    """Implementations to run: --impl, else every available one; one note per missing one."""
    args = run.args
    if args.impl:
        unknown = [n for n in args.impl if n not in registry.BY_NAME]
        if unknown:
            raise SystemExit(f"bench: unknown implementation(s) {unknown}; see `bench list`")
        wanted = list(args.impl)
    else:
        wanted = [e.name for e in registry.REGISTRY]
    names = []
    for n in wanted:
        why = registry.why_missing(n)
        if why:
            run.note(f"{n} not measured: {why}")
        elif n == "python_ref_compile" and not run.plan["compile"] and not args.impl:
            run.note("python_ref_compile skipped in --quick (torch.compile takes minutes here); run without --quick")
        elif run.device != "cpu" and n == "wasm_port":
            run.note(f"wasm_port not measured on {run.device}: it runs on the CPU only (browser WebGPU is for later)")
        else:
            names.append(n)
            if run.device != "cpu" and n == "onnxruntime":
                run.note(f"onnxruntime runs a CPU session even with --device {run.device}: compare with care")
    return names


def probe_compile(run: Run, names: list[str]) -> None:
    """torch.compile first in a fresh process (that is its cold-start row): a compile that fails
    leaves torch's dispatcher unusable in the process it failed in, so it must not fail in ours."""
    from .measure import coldstart
    r = coldstart.python_impl("python_ref_compile", str(run.mdir), run.device, run.args.threads,
                              texts_for(run.mdir, "medium", 8), timeout=900)
    if "error" in r:
        names.remove("python_ref_compile")
        run.note(f"python_ref_compile not measured: torch.compile fails here ({r['error'][-200:]})")
    else:
        run.cold_done["python_ref_compile"] = r
        print(f"  fresh process to first embedding, compiling included: {r['first_s']:.1f}s", flush=True)


def part_equivalence(run: Run, names: list[str]) -> None:
    """Ids against HF tokenizers on the whole corpus (cheap, with the loaded pipes); embeddings against
    sentence-transformers on an even sample of it (eq_texts), which is what fits the time budget on
    two cores. `bench equivalence` checks embeddings on the whole corpus."""
    from .measure.equivalence import batched, check, unpad
    corpus = oracle.read_corpus(run.args.corpus or oracle.PROJECT_CORPUS)
    label = run.args.corpus or "the project corpus"
    k = run.plan["eq_texts"]
    step = max(1, len(corpus) // k) if k else 1
    sample = corpus[::step][:k] if k else corpus
    # peers are the oracle; python_ref_compile is checked against python_ref in part_load (one compile, not two)
    checked = [n for n in names if registry.BY_NAME[n].kind != "peer" and n != "python_ref_compile"
               and (n in run.pipes or registry.BY_NAME[n].kind == "port")]   # an intervention that refused this model: noted at load
    ref_ids = oracle.hf_ids(run.mdir, corpus)
    ref_emb = oracle.st_embed(run.mdir, sample, run.device)
    rows = []
    with progress() as pb:
        task = pb.add_task("equivalence", total=len(checked))
        for n in checked:
            pb.update(task, description=f"equivalence: {n}")
            row = check(n, sample, run.mdir, run.device, ref_ids[::step][:len(sample)], ref_emb)
            if n in run.pipes and not row.error:   # ids on the whole corpus
                ids = [r for chunk in batched(corpus, 64) for r in unpad(run.pipes[n].tokenize(chunk))]
                bad = [i for i, (a, b) in enumerate(zip(ids, ref_ids)) if a != b]
                row.id_mismatches = len(bad) + abs(len(ids) - len(ref_ids))
                row.first_bad = corpus[bad[0]][:60] if bad else row.first_bad
            rows.append(row)
            pb.advance(task)
            gc.collect()
    for r in rows:
        ex = {"texts": len(corpus), "embedded": len(sample), "tol": r.tol, "min_cos": r.min_cos,
              "first_bad": r.first_bad, "error": r.error, "ok": r.ok, "corpus": label}
        run.add([Record(r.impl, "equivalence_id_mismatches", "equivalence", float(r.id_mismatches or 0), "texts",
                        run.device, extra=ex)])
        if r.max_abs is not None:
            run.add([Record(r.impl, "equivalence_max_abs", "equivalence", r.max_abs, "", run.device, extra=ex)])
    _table(f"equivalence on {label}: ids on all {len(corpus)} texts, embeddings on every {step}th ({len(sample)})",
           ["impl", "id mismatches", "max |Δ|", "tol", "min cos", "ok"],
           [[r.impl, r.id_mismatches, r.max_abs if r.max_abs is not None else "-", r.tol or "-",
             r.min_cos if r.min_cos is not None else "-", "yes" if r.ok else f"NO {r.error}"] for r in rows])
    if not all(r.ok for r in rows):
        run.rc = 1


def _dropped(run: Run):
    def on_error(name, e):
        run.note(f"{name} left out of this point: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
    return on_error


def part_load(run: Run, names: list[str]) -> None:
    if "python_ref_compile" in names:   # inductor's generated kernels then show in torch.profiler
        try:
            import torch._inductor.config as inductor_config
            inductor_config.cpp.enable_kernel_profile = True
        except (ImportError, AttributeError):
            pass
    with progress() as pb:
        task = pb.add_task("load", total=len(names))
        for n in names:
            pb.update(task, description=f"load: {n}")
            t0 = time.perf_counter()
            try:
                run.pipes[n] = registry.load(n, run.mdir, device=run.device)
            except Exception as e:
                run.note(f"{n} not measured: load failed on {run.device} ({type(e).__name__}: {e})")
                pb.advance(task)
                continue
            run.add([Record(n, "load_s", "load", time.perf_counter() - t0, "s", run.device)])
            pb.advance(task)
    if "python_ref_compile" in run.pipes and "python_ref" in run.pipes:   # compile time, reported apart
        shapes = [texts_for(run.mdir, "short", 1), texts_for(run.mdir, "medium", 32)]
        first, outs = [], []
        for n in ("python_ref_compile", "python_ref"):
            t0 = time.perf_counter()
            try:
                outs.append([run.pipes[n].embed(t) for t in shapes])
            except Exception as e:   # a compile failure: one note, the row left out
                run.note(f"python_ref_compile not measured: torch.compile failed ({type(e).__name__}: "
                         f"{str(e).strip().splitlines()[-1][:200] if str(e).strip() else ''})")
                run.pipes.pop("python_ref_compile", None)
                return
            first.append(time.perf_counter() - t0)
        diff = max(float(abs(a - b).max()) for a, b in zip(*outs))
        run.add([Record("python_ref_compile", "compile_s", "compile", max(0.0, first[0] - first[1]), "s", run.device,
                        extra={"how": "first embeds of the single and batch shapes minus python_ref's",
                               "max_abs_vs_python_ref": diff})])
        print(f"  torch.compile: {first[0] - first[1]:.1f}s of compiling; max |Δ| vs python_ref {diff:.1e}", flush=True)
        if diff > tolerance(True, run.device)[0]:
            run.note(f"python_ref_compile differs from python_ref by {diff:.1e}")


def part_tokenize(run: Run) -> None:
    from .measure.throughput import corpus_texts, tokenize_throughput
    pipes = {n: p for n, p in run.pipes.items() if n in TOKENIZERS}
    if "hf_tokenizers" not in pipes and registry.why_missing("hf_tokenizers") is None:
        pipes["hf_tokenizers"] = registry.load("hf_tokenizers", run.mdir)
    _pin_threads(1)
    try:
        recs = tokenize_throughput(pipes, corpus_texts(run.args.corpus), quick=run.plan_name == "quick")
    finally:
        _pin_threads(run.args.threads)
    run.add(recs)
    _print_tokenize(recs)


def _tokens(run: Run, texts: list[str]) -> int:
    return sum(len(ids) for ids in oracle.hf_ids(run.mdir, texts))


def forward_pipes(run: Run) -> dict:
    return {n: p for n, p in run.pipes.items() if "forward" in registry.BY_NAME[n].stages}


def shared_forward(pipes: dict) -> dict:
    """{follower: leader} for implementations whose forward() is the very same code (python_ref's
    TorchForward: cython_ext and numba_variant port only the tokenizer). Their forward is measured
    once, on the leader; the batch they feed it is the same ids (equivalence checks that)."""
    from python_ref.pipeline import TorchForward
    same = [n for n, p in pipes.items() if getattr(type(p), "forward", None) is TorchForward.forward]
    return {n: same[0] for n in same[1:]}


def part_scenarios(run: Run) -> dict:
    """single, batch, long (+ batch256 on CUDA): latency, throughput and attribution. -> {sc: res}."""
    from .measure import attribution
    from .measure.sweep import measure_point, point_records, walls
    pipes = forward_pipes(run)
    follow = shared_forward(pipes)
    scs = ["single", "batch", "long"] + (["batch256"] if run.device.startswith("cuda") else [])
    out, atts = {}, {}
    left0 = run.left()   # the scenarios' share of it, by expected cost; the rest: sweep, interventions
    with progress() as pb:
        task = pb.add_task("scenarios", total=len(scs) * (1 + len(pipes)))
        for sc in scs:
            bsz, length = SCENARIOS[sc]
            texts = texts_for(run.mdir, length, bsz)
            pb.update(task, description=f"{sc}: latency ({bsz} x {length})")
            # measured rounds only: warm-up and attribution come on top (~1.5 rounds), hence 0.6
            cap = min(run.left(), left0 * SCENARIO_SHARE[sc] * 0.6)
            res = measure_point(pipes, texts, run.plan["scenario_s"][sc], run.device,
                                min_rounds=run.plan["min_rounds"], max_rounds=run.plan["max_rounds"],
                                cap_s=max(cap, 0.0), on_error=_dropped(run), forward_ok=lambda n: n not in follow)
            if res["plan"]["rounds"] < run.plan["min_rounds"]:
                run.note(f"{sc}: {res['plan']['rounds']} round(s) only, to keep within the time budget")
            out[sc] = (res, texts)
            run.add(point_records(res, sc, bsz, length, _tokens(run, texts), run.device))
            pb.advance(task)
            for n, p in pipes.items():
                pb.update(task, description=f"{sc}: attribution {n}")
                if not walls(res, n):   # left out of this point (see the notes)
                    pb.advance(task)
                    continue
                try:
                    if n in follow and (sc, follow[n]) in atts:   # same forward code: reuse its split
                        att = attribution.with_tokenize(atts[(sc, follow[n])], walls(res, n), follow[n])
                    else:
                        att = attribution.attribute(n, p, texts, run.device, reps=run.plan["attr_reps"],
                                                    walls=walls(res, n))
                    atts[(sc, n)] = att
                    run.add(attribution.records(n, sc, att, run.device, {"batch": bsz, "length": length}))
                except Exception as e:
                    run.note(f"attribution {n}/{sc} failed: {type(e).__name__}: {e}")
                pb.advance(task)
    try:
        _print_scenarios(run, scs)
    except Exception as e:   # printing must never lose the measurements
        run.note(f"scenario table not printed: {type(e).__name__}: {e}")
    return out


def _print_scenarios(run: Run, scs: list[str]) -> None:
    from .measure.attribution import from_records, port_ceiling
    by = {}
    for r in run.recs:
        if r.scenario in scs:
            by.setdefault((r.impl, r.scenario), {})[r.metric] = r
    rows = []
    for sc in scs:
        ref = getattr(by.get(("python_ref", sc), {}).get("latency_p50"), "value", None)
        ref_att = from_records(run.recs, "python_ref", sc)
        for (impl, s), m in by.items():
            if s != sc or "latency_p50" not in m:
                continue
            att = from_records(run.recs, impl, sc)
            b = att["buckets"] if att else {}
            total = sum(b.values()) or 1
            ceil = port_ceiling(impl, ref_att) if ref_att else None
            rows.append([sc, impl, m["latency_p50"].value, m["latency_p99"].value, m["throughput"].value,
                         m["throughput_tokens"].value, f"{ref / m['latency_p50'].value:.2f}x" if ref else "-",
                         f"{ceil:.2f}x" if ceil else "-",
                         " ".join(f"{k[:3]}{100 * v / total:.0f}%" for k, v in b.items()) if b else "-"])
    _table("latency, throughput and attribution (embed = tokenize + forward)",
           ["scenario", "impl", "p50 ms", "p99 ms", "texts/s", "tokens/s", "gain vs python_ref", "ceiling",
            "tok / model_kernels / dispatch / io"], rows)


def part_sweep(run: Run, done: dict) -> None:
    from .measure.sweep import measure_point, point_records
    batches, lengths = run.plan["sweep"]
    pipes = forward_pipes(run)
    same = {(SCENARIOS[sc][0], SCENARIOS[sc][1]): sc for sc in done}
    points = [(b, ln) for ln in lengths for b in batches]
    rate = {r.impl: r.value for r in run.recs if r.metric == "throughput_tokens" and r.scenario in ("batch", "long")}
    skipped = []
    with progress() as pb:
        task = pb.add_task("sweep", total=len(points))
        for b, ln in points:
            name = f"sweep:{b}x{ln}"
            pb.update(task, description=f"sweep {b} x {ln}")
            if (b, ln) in same:   # the same texts as a scenario: reuse its samples
                res, texts = done[same[(b, ln)]]
                res = {"plan": res["plan"], "samples": {k: v for k, v in res["samples"].items() if k[1] == "embed"}}
            else:
                texts = texts_for(run.mdir, ln, b)
                tokens = _tokens(run, texts)
                est = sum(tokens / rate.get(n, min(rate.values(), default=1e3)) for n in pipes) * 3
                if est > run.left() - run.plan["sort_s_est"]:
                    skipped.append(f"{b}x{ln} (~{est:.0f}s)")
                    pb.advance(task)
                    continue
                budget = run.plan["sweep_s"] * (2 if b >= 32 else 1)
                res = measure_point(pipes, texts, budget, run.device, parts=("embed",),
                                    min_rounds=run.plan["min_rounds"], max_rounds=run.plan["max_rounds"],
                                    cap_s=max(0.0, (run.left() - run.plan["sort_s_est"]) / 3),
                                    on_error=_dropped(run))
            run.add(point_records(res, name, b, ln, _tokens(run, texts), run.device))
            pb.advance(task)
    if skipped:
        run.note(f"sweep points skipped to keep within the time budget: {', '.join(skipped)}")


def part_interventions(run: Run) -> None:
    """Length-sorted batching of a large mixed input (python_ref); compile and onnxruntime are rows
    of the scenarios already."""
    from .measure.sweep import mixed_texts, sorted_batching
    if "python_ref" not in run.pipes:
        run.note("length-sorted batching not measured: python_ref not loaded")
        return
    n = run.plan["sort_texts"]
    rate = next((r.value for r in run.recs if r.impl == "python_ref" and r.metric == "throughput_tokens"
                 and r.scenario == "long"), None)
    while rate and n > 64 and n * 256 / rate * (1 + run.plan["sort_rounds"] * 2) > run.left():
        n //= 2   # unsorted mixed batches pad to ~256 tokens; 64 = two batches, the least that shows it
    if n < run.plan["sort_texts"]:
        run.note(f"length-sorted batching on {n} texts instead of {run.plan['sort_texts']} (time budget)")
    texts = mixed_texts(by_length(run.mdir), n)
    r = sorted_batching(run.pipes["python_ref"], texts, batch=32, rounds=run.plan["sort_rounds"])
    ex = {k: v for k, v in r.items() if k not in ("unsorted_s", "sorted_s")}
    run.add([Record("python_ref", "sorted_batching_s", "large_input", r["sorted_s"], "s", run.device, extra=ex),
             Record("python_ref", "unsorted_batching_s", "large_input", r["unsorted_s"], "s", run.device, extra=ex),
             Record("python_ref_sorted", "throughput", "large_input", len(texts) / r["sorted_s"], "texts/s", run.device,
                    extra=ex),
             Record("python_ref", "throughput", "large_input", len(texts) / r["unsorted_s"], "texts/s", run.device,
                    extra=ex)])
    print(f"  {len(texts)} mixed texts, batch 32: unsorted {r['unsorted_s']:.2f}s, sorted {r['sorted_s']:.2f}s "
          f"({r['speedup']:.2f}x; padded tokens {r['padded_unsorted']} -> {r['padded_sorted']}; "
          f"max |Δ| {r['max_abs_diff']:.1e})", flush=True)


def part_coldstart(run: Run, names: list[str]) -> None:
    """Runs after the pipes are closed: the children get the machine to themselves."""
    from .measure import coldstart, footprint
    names = [n for n in names if "forward" in registry.BY_NAME[n].stages and run.loaded.get(n)]
    more = texts_for(run.mdir, "medium", 8)
    with progress() as pb:
        task = pb.add_task("cold start", total=len(names) + 2)
        n = run.plan["cold_n"] if run.left(reserve=False) > run.plan["reserve_s"] else 1
        rows = coldstart.coldstarts(names, run.mdir, run.device, run.args.threads, n, more,
                                    progress=lambda label: (pb.update(task, description=f"cold start: {label}"),
                                                            pb.advance(task)), done=run.cold_done)
    run.add([Record("model_weights", "disk_bytes", "footprint", float(footprint.model_bytes(run.mdir)), "B",
                    run.device, extra={"dir": str(run.mdir)})])
    table = []
    for label, r in rows.items():
        impl = coldstart.impl_of(label)
        if "error" in r:
            run.note(f"cold start {label}: {r['error']}")
            continue
        ex = {"row": label, "runs": r.get("runs"), "child": r.get("child"), "n": len(r.get("runs") or [1])}
        run.add([Record(impl, "coldstart", f"coldstart:{label}", r["first_s"], "s", run.device, extra=ex),
                 Record(impl, "peak_rss", f"footprint:{label}", float(r["peak_rss"]), "B", run.device,
                        extra={"row": label, "after": "load + 1 text + 8 medium texts"})])
        disk = footprint.disk_for(label, r)
        if disk:
            run.add([Record(impl, "disk_bytes", f"footprint:{label}", float(disk["own"] + disk["deps"] + disk["runtime"]),
                            "B", run.device, extra={"row": label, **disk})])
        table.append([label, r["first_s"], r["peak_rss"] / 2**20,
                      (disk["own"] + disk["deps"] + disk["runtime"]) / 1e6 if disk else "-",
                      disk["own"] / 1e6 if disk else "-"])
    _table("cold start (fresh process -> first embedding) and footprint",
           ["row", "cold s", "peak RSS MiB", "disk MB (all)", "own MB"], table)


def part_maintenance(run: Run) -> None:
    from .measure import maintenance
    m = maintenance.maintenance(full=run.plan_name == "full")
    for impl, v in m["lines"].items():
        run.add([Record(impl, "loc_code", "maintenance", float(v["code"]), "lines", extra=v),
                 Record(impl, "loc_glue", "maintenance", float(v["glue"]), "lines", extra={"files": v["glue_files"]})])
    for impl, v in m["build"].items():
        if v["seconds"] is not None:
            run.add([Record(impl, "build_s", "maintenance", v["seconds"], "s", extra=v)])
        else:
            run.note(f"build time of {impl}: {v['how']}")
    run.add([Record(impl, "toolchain", "maintenance", float(len(t)), "items",
                    extra={"toolchain": t, "versions": m["versions"]}) for impl, t in m["toolchains"].items()])
    _table("maintenance", ["impl", "code lines", "by language", "glue lines", "generated", "build s"],
           [[i, v["code"], ", ".join(f"{k} {n}" for k, n in v["by_language"].items()), v["glue"], v["generated"],
             m["build"].get(i, {}).get("seconds") or "-"] for i, v in m["lines"].items()])


def part_browser(run: Run) -> None:
    try:
        from .measure import browser
    except ImportError as e:
        run.note(f"browser bench not run: bench/measure/browser.py not importable ({e})")
        return
    why = browser.missing() if hasattr(browser, "missing") else None
    if why:
        run.note(f"browser bench not run: {why}")
        return
    res = browser.run_browser_bench(run.args.quick, Path(run.args.out), model=run.args.model)
    for r in res.get("records", []):
        run.add([Record(r["impl"], r["metric"], r["scenario"], float(r["value"]), r["unit"], r.get("device", "cpu"),
                        r.get("host", "chromium"), r.get("extra", {}))])
        if r["metric"] == "error":
            run.note(f"browser {r['impl']}: {r['extra'].get('error', '')[:200]}")
    browser.print_table(res)


def run_all(args) -> int:
    from . import report
    t0 = time.time()
    run = Run(args)
    _pin_threads(args.threads)
    print(f"bench all ({run.plan_name}): model {run.mdir}, device {run.device}, {args.threads} threads", flush=True)
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        run.note(f"the machine was busy at the start (load average {load:.1f} on {os.cpu_count()} cores): torch's "
                 f"{args.threads} OpenMP threads wait on each other when cores are taken, small batches most; "
                 "timings are inflated")
    names = select(run)
    if "python_ref_compile" in names:
        with run.part("torch.compile probe (its cold start)"):
            probe_compile(run, names)
    with run.part("load"):
        part_load(run, names)
    with run.part("equivalence"):
        part_equivalence(run, names)
    with run.part("tokenize"):
        part_tokenize(run)
    done = {}
    with run.part("scenarios"):
        done = part_scenarios(run)
    with run.part("sweep"):
        part_sweep(run, done)
    with run.part("interventions"):
        part_interventions(run)
    run.loaded = {n: True for n in run.pipes}
    for p in run.pipes.values():   # free memory and the Node process before the children start
        getattr(p, "close", lambda: None)()
    run.pipes.clear()
    gc.collect()
    with run.part("cold start + footprint"):
        part_coldstart(run, names)
    with run.part("maintenance"):
        part_maintenance(run)
    with run.part("browser"):
        part_browser(run)
    out = Path(args.out)
    mach = results.machine(args.threads)
    mach.update(device=run.device, plan=run.plan_name, notes=run.notes, load_average_start=round(load, 2),
                load_average_end=round(os.getloadavg()[0], 2),
                parts_s={k: round(v, 1) for k, v in run.parts.items()}, model=str(run.mdir))
    results.write(out / "results.json", mach, run.recs)
    with run.part("report"):
        files = report.write(out)
        print(f"  wrote {', '.join(str(f) for f in files)}")
    report.print_decision_table(report.load(out / "results.json"))
    print(f"bench all: {time.time() - t0:.0f}s ({', '.join(f'{k} {v:.0f}s' for k, v in run.parts.items())}); "
          f"results in {out}/", flush=True)
    return run.rc

