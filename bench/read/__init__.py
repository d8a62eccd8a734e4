"""`bench read`: the side-by-side reading view (docs/DESIGN.md §7): each stage (registry.STAGES) in every port,
found by its name in the port's registry dirs (find.py), rendered by page.py.
Leaves out: call graphs, diffs between ports."""
from __future__ import annotations

from pathlib import Path

from .. import registry
from .find import SOURCE_EXTS, Span, find

ROOT = Path(__file__).resolve().parents[2]
SKIP_PARTS = {"node_modules", "dist", "__pycache__", "build"}


def sources(name: str, root: Path = ROOT) -> list[Path]:
    """A port's source files: its registry dirs, without generated files, tooling and build output."""
    e = registry.BY_NAME[name]
    skip = set(e.generated) | set(e.tooling)
    out = []
    for d in e.dirs:
        for f in sorted((root / d).rglob("*")):
            rel = f.relative_to(root).as_posix()
            if f.is_file() and f.suffix in SOURCE_EXTS and rel not in skip and not SKIP_PARTS & set(f.parts):
                out.append(f)
    return out


def collect(ports: list[str] | None = None, stages=registry.STAGES, root: Path = ROOT) -> dict:
    """-> {stage: {port: [Span]}}, ports in registry order, only those that define the stage."""
    ports = ports or registry.ports(with_reference=True)
    files = {p: sources(p, root) for p in ports}
    out: dict = {}
    for st in stages:
        out[st] = {}
        for p in ports:
            spans = [s for f in files[p] for s in find(f, f.relative_to(root).as_posix(), st)]
            if spans:
                out[st][p] = spans
    return out


def write_page(path: Path, ports: list[str] | None = None, link_base: str | None = None, root: Path = ROOT) -> Path:
    """Write the page to `path` (its folder made) and return it; a link_base not http(s) is a UsageError."""
    from .page import check_link_base, render
    link_base = check_link_base(link_base)
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    ports = ports or registry.ports(with_reference=True)
    path.write_text(render(collect(ports, root=root), ports, path, link_base, root), encoding="utf-8")
    return path


__all__ = ["collect", "write_page", "sources", "Span"]
