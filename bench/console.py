"""Console output: the rich tables and progress bars `bench` prints. It sits below the runner (the
runner and the CLI import it, it imports neither), as pyperf keeps `_cli` apart from `_runner`.
Leaves out: files (the report package writes those)."""
from __future__ import annotations

import sys

from . import registry


def table(title: str, cols: list[str], rows: list[list], width: int = 160) -> None:
    from rich.console import Console
    from rich.table import Table
    t = Table(title=title)
    for c in cols:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*[(f"{v:.3g}" if isinstance(v, float) else str(v)) for v in r])
    Console(width=None if sys.stdout.isatty() else width).print(t)


def progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    return Progress(TextColumn("  {task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def print_list(rows: list[list]) -> None:
    table("implementations", ["name", "kind", "stages", "tokenizer", "kernels", "available"], rows)


def print_equivalence(title: str, rows) -> None:
    """rows: measure.equivalence.Row."""
    table(title, ["impl", "texts", "id mismatches", "first offending text", "max |Δ|", "tol", "min cos", "ok"],
          [[r.impl, r.texts, r.id_mismatches, repr(r.first_bad) if r.first_bad else "",
            r.max_abs if r.max_abs is not None else "-", r.tol or "-",
            r.min_cos if r.min_cos is not None else "-", "yes" if r.ok else f"NO {r.error}"] for r in rows])


def print_tokenize(recs) -> None:
    by = {}
    for r in recs:
        by.setdefault(r.impl, {})[r.metric] = r
    peer = registry.TOKENIZE_PEER
    table("tokenizer throughput (single thread, batches of 64, str in -> ids out)",
          ["impl", "texts/s", "MB/s", f"× {peer}"],
          [[n, m["tokenize_texts_s"].value, m["tokenize_mb_s"].value,
            m["tokenize_texts_s"].extra.get(f"speedup_vs_{peer}", "-")] for n, m in by.items()])


def print_threads(recs) -> None:
    if recs:
        table(f"threaded tokenization: {recs[0].extra['threads']} Python threads vs 1 (GIL released?)",
              ["impl", "speed-up"], [[r.impl, r.value] for r in recs])


def print_scenarios(recs, scs: list[str]) -> None:
    """Latency, throughput, forward and (when measured) attribution with the ceiling, per scenario."""
    from .measure.attribution import from_records
    from .measure.ceilings import port_ceiling
    ref_name, peer = registry.REFERENCE, registry.EMBED_PEER
    by = {}
    for r in recs:
        if r.scenario in scs:
            by.setdefault((r.impl, r.scenario), {})[r.metric] = r
    rows = []
    for sc in scs:
        ref = getattr(by.get((ref_name, sc), {}).get("latency_p50"), "value", None)
        ref_att = from_records(recs, ref_name, sc)
        for (impl, s), m in by.items():
            if s != sc or "latency_p50" not in m:
                continue
            att = from_records(recs, impl, sc)
            b = att["buckets"] if att else {}
            total = sum(b.values()) or 1
            ceil = port_ceiling(impl, ref_att) if ref_att else None
            fwd = m.get("forward_p50")
            rows.append([sc, impl, m["latency_p50"].value, m["latency_p99"].value, m["throughput"].value,
                         m["throughput_tokens"].value, fwd.value if fwd else "-",
                         f"{ref / m['latency_p50'].value:.2f}x" if ref else "-",
                         m["latency_p50"].extra.get(f"ratio_vs_{peer}", "-"), f"{ceil:.2f}x" if ceil else "-",
                         " ".join(f"{k[:3]}{100 * v / total:.0f}%" for k, v in b.items()) if b else "-"])
    table("latency, throughput and attribution (embed = tokenize + forward)",
          ["scenario", "impl", "p50 ms", "p99 ms", "texts/s", "tokens/s", "forward p50 ms", f"gain vs {ref_name}",
           f"time ÷ {peer}", "ceiling", "tok / model_kernels / dispatch / io"], rows)


def print_coldstart(rows: list[list]) -> None:
    table("cold start (fresh process -> first embedding) and footprint",
          ["row", "cold s", "peak RSS MiB", "disk MB (all)", "own MB"], rows)


def print_maintenance(m: dict) -> None:
    table("maintenance", ["impl", "code lines", "by language", "glue lines", "generated", "tooling (apart)",
                          "build s"],
          [[i, v["code"], ", ".join(f"{k} {n}" for k, n in v["by_language"].items()), v["glue"], v["generated"],
            v.get("tooling", 0), m["build"].get(i, {}).get("seconds") or "-"] for i, v in m["lines"].items()])


def print_decision(cols: list[str], rows: list[list]) -> None:
    table("decision table (docs/DESIGN.md), filled from this machine's measurements", cols, rows, width=200)
