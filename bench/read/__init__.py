"""`bench read`: the side-by-side reading view (docs/DESIGN.md §7): each stage (registry.STAGES) in every port,
found by its name in the port's registry dirs (find.py). The HTML: line counts (stage x port), then a section per
stage with a column per port, each definition highlighted by Pygments (inline CSS: works from file://) under a
link to its file and line. Every name and path goes through html.escape (`esc`); a --link-base is an http(s)
URL or refused. Leaves out: call graphs, diffs between ports."""
from __future__ import annotations

import os
import subprocess
from html import escape as esc
from pathlib import Path
from urllib.parse import urlsplit

from pygments import highlight
from pygments.formatters import HtmlFormatter

from .. import registry
from ..inputs import UsageError
from .find import SOURCE_EXTS, find, lexer_for

ROOT = Path(__file__).resolve().parents[2]
SKIP_PARTS = {"node_modules", "dist", "__pycache__", "build"}
STAGE_DOCS = {  # what each stage does (docs/DESIGN.md §1); prose only, never where the code is
    "normalize": "BERT normalizer: drop NUL, U+FFFD and controls; whitespace to ' '; spaces around CJK; "
                 "strip accents; lowercase",
    "pre_tokenize": "split on whitespace; every punctuation character becomes its own word",
    "wordpiece": "greedy longest-match-first against vocab.txt with the ## prefix; [UNK] for what cannot match",
    "encode_batch": "texts in, ids out: the stages above, [CLS] ... [SEP], truncation, the batch",
    "embeddings_forward": "word + position + type embeddings, then LayerNorm",
    "attention_forward": "multi-head self-attention with the padding mask",
    "ffn_forward": "linear, config.json's activation (exact erf gelu; the tanh approximations gelu_new, "
                   "gelu_pytorch_tanh, gelu_fast; relu), each as transformers writes it, linear",
    "layer_forward": "attention and FFN, each with residual + LayerNorm",
    "mean_pool": "mean over the positions where the mask is 1",
    "l2_normalize": "unit-length rows",
    "pad_rows": "id rows to one (N, T) batch: [PAD] to the longest row, attention mask 1/0",
}
PART_STAGES = {"tokenizer": registry.TOKENIZER_STAGES, "model": registry.MODEL_STAGES}
CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:#222}
h1{margin:.2em 0}h2{margin:1.6em 0 .2em;font-family:ui-monospace,monospace}
.doc{color:#555;margin:0 0 .6em}.none{color:#777;font-size:12.5px;margin:.4em 0}
table.counts{border-collapse:collapse;font-size:13px}table.counts td,table.counts th{border:1px solid #ccc;
padding:2px 8px;text-align:right}table.counts th:first-child,table.counts td:first-child{text-align:left}
table.counts td.borrowed{color:#888;font-style:italic}
.cols{display:grid;gap:10px;align-items:start;overflow-x:auto}
.col{border:1px solid #ddd;border-radius:4px;min-width:0;background:#fcfcfc}
.col h3{margin:0;padding:4px 8px;background:#eef2f7;font-size:13px;display:flex;justify-content:space-between}
.src{display:block;padding:2px 8px;font:12px ui-monospace,monospace;color:#0550ae}
.col pre{margin:0;padding:4px 8px;font-size:12px;line-height:1.35;overflow-x:auto}
.hl .linenos{color:#999;padding-right:8px}
"""


def sources(name: str, root: Path = ROOT) -> list[Path]:
    """A port's source files: its registry dirs, without generated files, tooling and build output."""
    e = registry.BY_NAME[name]
    skip = set(e.generated) | set(e.tooling)
    return [f for d in e.dirs for f in sorted((root / d).rglob("*"))
            if f.is_file() and f.suffix in SOURCE_EXTS and f.relative_to(root).as_posix() not in skip
            and not SKIP_PARTS & set(f.parts)]


def collect(ports: list[str], stages=registry.STAGES, root: Path = ROOT) -> dict:
    """-> {stage: {port: [Span]}}, ports in the order given, only those that define the stage."""
    files = {p: sources(p, root) for p in ports}
    out = {}
    for st in stages:
        spans = {p: [s for f in files[p] for s in find(f, f.relative_to(root).as_posix(), st)] for p in ports}
        out[st] = {p: found for p, found in spans.items() if found}
    return out


def write_page(path: Path, ports: list[str] | None = None, link_base: str | None = None) -> Path:
    """Write the page to `path` (its folder made) and return it; a link_base not http(s) is a UsageError."""
    link_base = check_link_base(link_base)
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    ports = ports or registry.ports(with_reference=True)
    path.write_text(render(collect(ports), ports, path, link_base), encoding="utf-8")
    return path


def check_link_base(base: str | None) -> str | None:
    """--link-base: an http(s) URL or nothing; anything else (javascript:, data:, file:) is one UsageError."""
    if base is None:
        return None
    u = urlsplit(base)
    if u.scheme.lower() not in ("http", "https") or not u.netloc or any(c.isspace() or ord(c) < 32 for c in base):
        raise UsageError(f"--link-base {base!r}: not an http(s) URL (e.g. https://github.com/OWNER/REPO/blob/COMMIT/)")
    return base


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _href(span, page: Path, link_base: str | None) -> str:
    if link_base:
        return f"{link_base.rstrip('/')}/{span.file}#L{span.start}-L{span.end}"
    return f"{Path(os.path.relpath(ROOT / span.file, page.parent)).as_posix()}#L{span.def_line}"


def _borrowed(port: str, stage: str) -> str | None:
    """The port whose code `port` reuses for `stage` (registry borrows), or None."""
    return next((whose for part, whose in registry.BY_NAME[port].borrows if stage in PART_STAGES.get(part, ())), None)


def _lines(spans) -> int:
    return sum(s.lines for s in spans)


def _counts(found: dict, ports: list[str]) -> str:
    def cell(st: str, by: dict, p: str) -> str:
        if p in by:
            return f'<td data-port="{esc(p)}">{_lines(by[p])}</td>'
        whose = _borrowed(p, st)
        return f'<td class="borrowed">{esc(whose)}\'s</td>' if whose else "<td></td>"

    head = "".join(f"<th>{esc(p)}</th>" for p in ports)
    rows = [f'<tr><td><a href="#stage-{esc(st)}">{esc(st)}</a></td>{"".join(cell(st, by, p) for p in ports)}</tr>'
            for st, by in found.items()]
    total = "".join(f"<th>{sum(_lines(by.get(p, ())) for by in found.values())}</th>" for p in ports)
    return f'<table class="counts"><tr><th>stage</th>{head}</tr>{"".join(rows)}<tr><th>total</th>{total}</tr></table>'


def _section(st: str, by: dict, ports: list[str], page: Path, link_base: str | None) -> str:
    cols = []
    for p, spans in by.items():
        body = []
        for s in spans:
            fmt = HtmlFormatter(linenos="inline", linenostart=s.start, cssclass="hl", wrapcode=True)
            body.append(f'<a class="src" href="{esc(_href(s, page, link_base))}" data-file="{esc(s.file)}" '
                        f'data-line="{s.def_line}">{esc(s.file)}:{s.def_line}</a>'
                        + highlight(s.code + "\n", lexer_for(s.file), fmt))
        cols.append(f'<div class="col" data-port="{esc(p)}" data-lines="{_lines(spans)}"><h3><span>{esc(p)}</span>'
                    f'<span class="lines">{_lines(spans)} lines</span></h3>{"".join(body)}</div>')
    borrowed = {p: _borrowed(p, st) for p in ports if p not in by}
    notes = []
    if any(borrowed.values()):
        notes.append("reuses another port's code: " + ", ".join(f"{p} ({w}'s)" for p, w in borrowed.items() if w))
    if not all(borrowed.values()):
        notes.append(f"no definition named {st} in: " + ", ".join(p for p, w in borrowed.items() if not w))
    total = sum(_lines(spans) for spans in by.values())
    return (f'<section class="stage" id="stage-{esc(st)}" data-stage="{esc(st)}"><h2>{esc(st)}</h2>'
            f'<p class="doc">{esc(STAGE_DOCS.get(st, ""))} — {total} lines in {len(by)} port(s)</p>'
            f'<div class="cols" style="grid-template-columns:repeat({max(len(by), 1)},minmax(24em,1fr))">'
            f'{"".join(cols)}</div>' + "".join(f'<p class="none">{esc(n)}</p>' for n in notes) + "</section>")


def render(found: dict, ports: list[str], page: Path, link_base: str | None) -> str:
    commit = _commit()
    style = HtmlFormatter(cssclass="hl").get_style_defs(".hl")
    body = ["<h1>portbench: the pipeline, stage by stage, in every port</h1>",
            f"<p>Each section is one stage; each column the code of that stage in a port, found by its name in "
            f"the port's source (<code>bench read</code>{', commit ' + esc(commit) if commit else ''}). Line counts "
            f"are code lines: blank and comment-only lines apart. Ports: {esc(', '.join(ports))}.</p>",
            _counts(found, ports)]
    body += [_section(st, by, ports, page, link_base) for st, by in found.items()]
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>portbench: reading view</title>'
            f"<style>{CSS}{style}</style></head><body>{''.join(body)}</body></html>\n")
