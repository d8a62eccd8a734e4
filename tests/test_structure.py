"""The repo's edges, checked: bench/ has no import cycle and no file over 300 lines, the design is in
the repo and every reference to it resolves, and nothing names a path of one machine."""
from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def bench_modules() -> dict[str, Path]:
    out = {}
    for f in BENCH.rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


def import_graph() -> dict[str, set[str]]:
    """bench module -> the bench modules it imports, at any level (module or inside a function):
    `from .x import y` is an edge to x.y when that is a module, else to x."""
    mods = bench_modules()
    graph = {}
    for mod, f in mods.items():
        pkg = mod if f.name == "__init__.py" else mod.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    p = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                    base = ".".join(p + ([base] if base else []))
                deps |= {f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names}
        graph[mod] = {d for d in deps if d in mods and d != mod}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if not state.get(d):
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if not state.get(m):
            found = visit(m)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_bench_has_no_import_cycle():
    graph = import_graph()
    assert {"bench.cli", "bench.suite", "bench.console", "bench.report", "bench.registry"} <= set(graph)
    assert "bench.console" in graph["bench.suite.prepare"]   # the graph does see imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    # the console sits below the runner and the CLI: it imports neither
    below = {"bench.cli", "bench.suite", "bench.suite.run"}
    assert not (graph["bench.console"] & below)


def test_no_bench_file_over_300_lines():
    long = {f.relative_to(ROOT).as_posix(): n for f in BENCH.rglob("*.py")
            if (n := len(f.read_text().splitlines())) > 300}
    assert not long, long


def test_no_public_name_defined_twice_in_bench():
    """Every public top-level function or class of bench/ has one home: a name defined in two modules
    reads as one thing and is two (issue 29). Rename by concept, or call the one definition."""
    defs: dict[str, list[str]] = {}
    for f in sorted(BENCH.rglob("*.py")):
        for n in ast.parse(f.read_text()).body:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not n.name.startswith("_"):
                defs.setdefault(n.name, []).append(f.relative_to(ROOT).as_posix())
    twice = {k: v for k, v in defs.items() if len(v) > 1}
    assert not twice, f"defined in more than one module of bench/: {twice}"


def tracked() -> list[str]:
    r = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:   # not a git checkout (an sdist): the files on disk, build output apart
        skip = {".venv", "build", "node_modules", "__pycache__", "dist", "results"}
        return [f.relative_to(ROOT).as_posix() for f in ROOT.rglob("*") if f.is_file()
                and not skip & set(f.relative_to(ROOT).parts)]
    return r.stdout.split()


def test_nothing_names_a_path_of_one_machine():
    pat = re.compile(r"(?<![\w.])/(?:work|root|home/(?!pyodide/))[\w./-]*")   # /home/pyodide/: Pyodide's own FS
    bad = []
    for rel in tracked():
        f = ROOT / rel
        if f.suffix in (".png", ".wasm", ".so") or rel.endswith("package-lock.json") or not f.is_file():
            continue
        for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
            if pat.search(line):
                bad.append(f"{rel}:{n}: {line.strip()[:100]}")
    assert not bad, "\n".join(bad)


def test_the_design_is_in_the_repo_and_every_reference_resolves():
    design = (ROOT / "docs" / "DESIGN.md").read_text()
    sections = set(re.findall(r"^## (\d+)\.", design, re.M))
    assert sections >= {str(i) for i in range(1, 9)}
    refs, bad = 0, []
    for rel in tracked():
        f = ROOT / rel
        if f.suffix not in (".py", ".pyx", ".cpp", ".h", ".mjs", ".md", ".txt") and f.name != "Makefile":
            continue
        text = f.read_text(errors="replace")
        for m in re.finditer(r"(\S*)DESIGN(?:\.md)?\s*§(\d+)", text):
            refs += 1
            if not m.group(1).endswith("docs/"):
                bad.append(f"{rel}: {m.group(0)} (cite docs/DESIGN.md §n)")
            elif m.group(2) not in sections:
                bad.append(f"{rel}: {m.group(0)} (no such section)")
        if any(x + "/DESIGN" in text for x in ("shared", "..")):   # spelt apart: this file is scanned too
            bad.append(f"{rel}: points outside the repo")
    assert refs >= 20 and not bad, bad


SOURCE_DIRS = ("contract", "python_ref", "cython_ext", "numba_variant", "cpp_port", "wasm_port", "alternatives",
               "bench")
SOURCE = re.compile(r"\.(py|pyx|cpp|h|mjs|html)$|CMakeLists\.txt$")


def test_design_layout_names_every_source_file():
    """docs/DESIGN.md §3 names every source file of the ports, the contract, the alternatives and the bench, in its
    folder's lines (a file's name, or its stem as in `tokenizer.{h,cpp}`); package markers apart."""
    design = (ROOT / "docs" / "DESIGN.md").read_text()
    block = design[design.index("## 3. Layout"):design.index("## 4.")]
    folders = re.split(r"\n(?=\S|  \S)", block)   # one chunk per folder line and its continuation lines
    tracked = subprocess.run(["git", "ls-files", *SOURCE_DIRS], cwd=ROOT, capture_output=True, text=True).stdout.split()
    missing = []
    for f in tracked:
        p = Path(f)
        if not SOURCE.search(p.name) or p.name in ("__init__.py", "__main__.py") or "node_modules" in p.parts:
            continue
        folder = f"{p.parts[-2]}/" if len(p.parts) > 1 else ""
        text = next((c for c in folders if c.lstrip().startswith(folder)), "")
        if p.parts[0] == "wasm_port" and len(p.parts) > 2:   # js/, web/, pyodide/: named under wasm_port/
            text = next((c for c in folders if c.startswith("wasm_port/")), "")
        if not re.search(rf"(?<![\w.]){re.escape(p.name)}(?![\w])|(?<![\w.]){re.escape(p.stem)}\.\{{", text):
            missing.append(f)
    assert not missing, "docs/DESIGN.md §3 does not name: " + ", ".join(missing)
