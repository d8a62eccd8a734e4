"""report.md -> a static index.html that works offline (markdown-it, which rich brings; the plots
inlined as base64)."""
from __future__ import annotations

import base64
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


def to_html(md: str, out: Path) -> str:
    try:
        from markdown_it import MarkdownIt
        body = MarkdownIt("commonmark").enable("table").render(md)
    except ImportError:   # rich depends on markdown-it-py, so this is a fallback only
        import html
        body = f"<pre>{html.escape(md)}</pre>"

    def inline(m):
        f = out / m.group(1)
        if not f.is_file():
            return m.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(f.read_bytes()).decode()}"'
    return HTML.replace("@BODY@", re.sub(r'src="([\w.-]+\.png)"', inline, body))
