"""Find a stage's definitions in a port's source by its name, in Python, Cython, C/C++ and JavaScript.
Pygments masks comments and strings (a name in a comment is never a definition); then, on the masked text:
  Python, Cython  a `def` / `cdef` / `cpdef` naming the stage, its signature, the body by indentation
                  (decorators above it included)
  C, C++, JS      the name, balanced (...), then `{` (const, noexcept, `-> T` may sit between): a definition,
                  not a call or a declaration; the body to the matching `}`; `const name = (...) => {` too
Comment lines right above a definition come with it. By hand: no library finds definitions across these four
languages. Leaves out: definitions produced by macros, overloads told apart by signature (all are shown)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PY_FAMILY = {".py", ".pyx", ".pxd"}
SOURCE_EXTS = PY_FAMILY | {".c", ".cc", ".cpp", ".h", ".hpp", ".mjs", ".js"}   # the rest: the C family
QUALIFIERS = re.compile(r"\s*(?:(?:const|noexcept|override|final|mutable|volatile|&&|&)\b\s*|->\s*[\w:<>,\s*&]+?(?=\{))*\s*")


@dataclass(frozen=True)
class Span:
    file: str        # path relative to the repo root, '/' separated
    start: int       # first line shown (1-based, comments and decorators above included)
    def_line: int    # the line that names the stage
    end: int         # last line (inclusive)
    code: str        # the lines start..end
    lines: int       # code lines among them (blank and comment-only lines apart)


def lexer_for(path: str):
    from pygments.lexers import CppLexer, get_lexer_for_filename
    opts = {"stripnl": False, "ensurenl": False, "stripall": False}
    if path.endswith((".h", ".hpp")):   # this repo's headers are C++
        return CppLexer(**opts)
    return get_lexer_for_filename(path, **opts)


@lru_cache(maxsize=256)
def masked(path: str, text: str) -> str:
    """text with every comment and string literal replaced by spaces (newlines kept)."""
    from pygments.token import Comment, String
    out = list(text)
    for i, tok, val in lexer_for(path).get_tokens_unprocessed(text):
        if tok in Comment or tok in String:
            out[i:i + len(val)] = re.sub(r"[^\n]", " ", val)
    return "".join(out)


def _match(s: str, i: int, open_: str, close: str) -> int:
    """Index of the bracket closing the one at s[i] (masked text), or -1."""
    depth = 0
    for k in range(i, len(s)):
        if s[k] == open_:
            depth += 1
        elif s[k] == close:
            depth -= 1
            if depth == 0:
                return k
    return -1


def _line_of(s: str, i: int) -> int:
    return s.count("\n", 0, i)   # 0-based


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _py_spans(m: str, lines: list[str], mlines: list[str], name: str) -> list[tuple[int, int, int]]:
    out = []
    pat = re.compile(r"^([ \t]*)(?:async[ \t]+)?c?p?def\b[^\n(]*?\b" + re.escape(name) + r"[ \t]*\(", re.M)
    for hit in pat.finditer(m):
        close = _match(m, hit.end() - 1, "(", ")")
        colon = m.find(":", close) if close >= 0 else -1
        if colon < 0:
            continue
        first, sig_end, ind = _line_of(m, hit.start()), _line_of(m, colon), len(hit.group(1))
        end = sig_end
        for k in range(sig_end + 1, len(lines)):
            if not lines[k].strip():
                continue
            if _indent(mlines[k] if mlines[k].strip() else lines[k]) <= ind:
                break   # code, or a comment, at the def's own level: the body is over
            end = k
        start = first
        while start > 0 and mlines[start - 1].lstrip().startswith("@") and _indent(mlines[start - 1]) == ind:
            start -= 1
        out.append((start, first, end))
    return out


def _c_spans(m: str, mlines: list[str], name: str) -> list[tuple[int, int, int]]:
    out = []
    arrow = re.compile(r"\b(?:const|let|var)\s+" + re.escape(name) + r"\s*=\s*(?:async\s*)?(?:function\b\s*)?\(")
    for hit in re.finditer(r"\b" + re.escape(name) + r"\s*[(=]", m):
        if m[hit.end() - 1] == "=":   # `const name = (...) => {` (or `= function (...) {`)
            a = next((x for x in arrow.finditer(m, m.rfind("\n", 0, hit.start()) + 1) if x.start() <= hit.start()
                      < x.end()), None)
            if a is None:
                continue
            close = _match(m, a.end() - 1, "(", ")")
            rest = re.compile(r"\s*(?:=>)?\s*(?=\{)").match(m, close + 1) if close > 0 else None
        else:
            close = _match(m, hit.end() - 1, "(", ")")
            rest = QUALIFIERS.match(m, close + 1) if close > 0 else None
        if not rest or m[rest.end():rest.end() + 1] != "{":
            continue
        end = _match(m, rest.end(), "{", "}")
        if end < 0:
            continue
        first = _line_of(m, hit.start())
        start = first
        while start > 0 and mlines[start - 1].lstrip().startswith("template"):
            start -= 1
        out.append((start, first, _line_of(m, end)))
    return out


def find(path: Path, rel: str, name: str) -> list[Span]:
    """Every definition of `name` in the file at `path` (shown as `rel`)."""
    ext = path.suffix
    if ext not in SOURCE_EXTS:
        return []
    text = path.read_text(encoding="utf-8")
    if name not in text:
        return []
    m = masked(rel, text)
    lines, mlines = text.split("\n"), m.split("\n")
    found = _py_spans(m, lines, mlines, name) if ext in PY_FAMILY else _c_spans(m, mlines, name)
    spans = []
    for start, first, end in found:
        while start > 0 and lines[start - 1].strip() and not mlines[start - 1].strip():
            start -= 1   # the comment block right above
        code = "\n".join(lines[start:end + 1])
        n = sum(1 for k in range(first, end + 1) if mlines[k].strip())
        spans.append(Span(rel, start + 1, first + 1, end + 1, code, n))
    return spans
