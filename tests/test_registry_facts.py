"""Every fact about a port lives in bench/registry.py and the rest of bench/ derives from it:
a sixth port registered there alone (python_ref's classes under a new name) shows up in every table
of a real `bench all` report that the reference shows up in; no module of bench/ keeps a list of
port names of its own."""
from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

import bench_run
from bench import registry

ROOT = Path(__file__).resolve().parents[1]
REF = registry.REFERENCE


def md_tables(md: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """(heading, header cells, rows) of every markdown table in report.md."""
    out, section, sub, lines = [], "", "", md.splitlines()
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("#"):
            section, sub = ln.strip("# ").split(":")[0], ""
        elif ln.startswith(("**", "*")) and not ln.startswith("* "):
            sub = ln.strip("*").split("*")[0]
        heading = f"{section} / {sub}" if sub else section
        if ln.startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            head = [c.strip() for c in ln.strip("|").split("|")]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("| "):
                rows.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            out.append((heading, head, rows))
            continue
        i += 1
    return out


def test_a_port_registered_alone_appears_in_every_table_of_the_report():
    out, data, printed = bench_run.small_run()
    md = (out / "report.md").read_text()
    tables = md_tables(md)
    checked = []
    for heading, head, rows in tables:
        key = next((head.index(c) for c in ("impl", "row") if c in head), None)
        if key is None:
            continue
        names = [r[key] for r in rows]
        if REF in names:
            assert bench_run.SIXTH in names, f"{bench_run.SIXTH} missing from the table under '{heading}': {names}"
            checked.append(heading)
    # equivalence, latency, tokenizer, attribution x3 scenarios, sweep, cold start, footprint, maintenance
    assert len(checked) >= 10, checked
    for section in ("Equivalence", "Latency and throughput", "Attribution", "Sweep", "Cold start", "Footprint",
                    "Maintenance"):
        assert any(h.startswith(section) for h in checked), (section, checked)
    # its facts, not python_ref's name, decided where it went: its own tokenizer row, its ceiling column
    tok = next(rows for h, head, rows in tables if head[:2] == ["impl", "texts/s"])
    assert bench_run.SIXTH in [r[0] for r in tok]
    # the terminal tables of the same run list it too: equivalence, tokenizer, 3 scenarios, cold start, maintenance
    assert printed.count(bench_run.SIXTH) >= 7


def test_the_sixth_port_has_the_reference_facts_and_nothing_else_knows_it():
    entry = bench_run.register_sixth()
    try:
        assert entry.name in registry.ports() and entry.name in registry.tokenizers()
        assert registry.cold_rows(entry.name) == [("python", entry.name)]
        assert registry.owner(entry.name) == entry.name
        assert registry.entry_from_dict(registry.entry_to_dict(entry)) == entry
        pipe = registry.load_impl(entry.name)
        assert pipe.name == entry.name
    finally:
        registry.unregister(entry.name)
    assert entry.name not in registry.BY_NAME and entry.name not in registry.PORTS


def _string_constants(tree: ast.AST) -> list[tuple[int, str]]:
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def test_no_module_of_bench_names_a_port():
    """Port names live in the registry; a string naming one elsewhere in bench/ is a list kept apart
    (what the review found: a new port silently missing from tables). Prose (docstrings) may name them;
    f-strings are checked by their literal parts."""
    ports = registry.ports(with_reference=True)
    pat = re.compile(r"(?<![\w])(" + "|".join(map(re.escape, ports)) + r")(?![\w])")
    allowed = {"bench/registry.py",
               "bench/equivalence/oracle.py", "bench/equivalence/fuzz.py"}   # owned by the ports' helper; they take names as arguments
    bad = []
    for f in sorted((ROOT / "bench").rglob("*.py")):
        rel = f.relative_to(ROOT).as_posix()
        if rel in allowed:
            continue
        for line, s in _string_constants(ast.parse(f.read_text())):
            if pat.search(s):
                bad.append(f"{rel}:{line}: {s[:80]!r}")
    assert not bad, "port names outside the registry:\n" + "\n".join(bad)


def test_baselines_and_what_each_change_removes_are_registry_facts():
    """Whose split bounds a change, and which of its buckets it removes, come from the registry: the
    chain of baselines ends at the reference, and a baseline not measured passes its own buckets on."""
    vocab = set(registry.BUCKETS) | set(registry.PIECES)
    for e in registry.REGISTRY:
        assert set(e.replaces) <= vocab, (e.name, e.replaces)
        seen, b = [], registry.baseline(e.name)
        while b is not None:
            assert b in registry.BY_NAME and b not in seen, (e.name, seen)
            seen.append(b)
            b = registry.baseline(b)
        if e.change:
            assert seen and seen[-1] == REF, (e.name, seen)
    for ch in registry.CHANGES:
        assert any(e.change == ch for e in registry.REGISTRY), ch
    lang = next(e for e in registry.REGISTRY if e.change == "language")
    vs, parts = registry.bounds(lang.name, set(registry.BY_NAME))
    assert vs == lang.baseline and set(parts) == set(lang.replaces)
    vs, parts = registry.bounds(lang.name, {REF})   # its baseline not measured: the baseline's buckets too
    assert vs == REF and set(parts) == set(lang.replaces) | set(registry.replaces(lang.baseline))
    swap = next(e for e in registry.REGISTRY if "model_kernels" in e.replaces)
    assert registry.bounds(swap.name, {REF}) == (REF, None)
    assert registry.baseline(REF) is None and registry.bounds(REF, {REF}) is None
    # a peer that embeds has a gain over the reference and no ceiling; a tokenizer-only peer neither
    assert registry.bounds(registry.EMBED_PEER, {REF}) == (REF, None)
    assert registry.baseline(registry.TOKENIZE_PEER) is None


def test_a_change_registered_alone_is_bounded_and_gains_against_its_baseline():
    """A new language port over the algorithm change, registered here only, gets its ceiling from that
    baseline's split and its gain from the paired rounds: nothing else in bench/ is told."""
    from bench.attribution import ceilings
    lang = next(e for e in registry.REGISTRY if e.change == "language")
    entry = dataclasses.replace(lang, name="seventh_port")
    registry.register(entry)
    try:
        def att(e, parts):
            return {"embed_rounds": e, "rounds": {p: [1.0] * len(e) for p in parts}}
        w = {REF: {"embed": [10.0] * 3}, lang.baseline: {"embed": [8.0] * 3}, "seventh_port": {"embed": [7.0] * 3}}
        recs = ceilings.port_records({REF: att([10.0] * 3, (*registry.BUCKETS, *registry.PIECES)), lang.baseline: att(
            [8.0] * 3, (*registry.BUCKETS, *registry.PIECES))}, w, "batch")
        by = {(r.impl, r.metric): r for r in recs}
        assert by[("seventh_port", "port_gain")].extra["vs"] == lang.baseline
        assert by[("seventh_port", "port_gain")].value == pytest.approx(8.0 / 7.0)
        k = sum(1 for p in lang.replaces)
        assert by[("seventh_port", "port_ceiling")].value == pytest.approx(8.0 / (8.0 - k))
    finally:
        registry.unregister("seventh_port")
