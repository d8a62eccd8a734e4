"""report.md -> a static index.html that works offline (markdown-it, the plots inlined), for `bench report`
and `bench merge`. Result files travel between hosts, so markdown-it renders with raw HTML off (all text
escaped, no javascript: links); the only markup let back is the report's own fixed OWN_TAGS."""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

HTML = """<!doctype html><html><head><meta charset="utf-8"><title>portbench report</title><style>
body{font:14px/1.45 system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.2em;font-size:12.5px}th,td{border:1px solid #ccc;padding:3px 7px}
th{background:#f2f2f2}tr:nth-child(even){background:#fafafa}img{max-width:100%}code{background:#f4f4f4}
</style></head><body>
@BODY@
</body></html>
"""
OWN_TAGS = ('<span style="color:#c00">', "</span>", "<br>")   # the only markup report.md itself writes


def to_html(md: str, out: Path) -> str:
    try:
        from markdown_it import MarkdownIt
        body = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)
        for tag in OWN_TAGS:
            body = body.replace(html.escape(tag), tag)
    except ImportError:   # rich depends on markdown-it-py, so this is a fallback only
        body = f"<pre>{html.escape(md)}</pre>"

    def inline(m):
        f = out / m.group(1)
        if not f.is_file():
            return m.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(f.read_bytes()).decode()}"'
    return HTML.replace("@BODY@", re.sub(r'src="([\w.-]+\.png)"', inline, body))
