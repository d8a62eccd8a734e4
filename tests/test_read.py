"""`bench read`, the side-by-side reading view: the stage finder on sources whose truth we wrote
(names in comments, strings, calls and declarations are not definitions), then the real page in
headless Chromium (Playwright, Debian's /usr/bin/chromium): every stage shows a column for each port
that defines it, as an independent scan of the sources says, with highlighted code, a line count and
a link to a line that names the stage."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bench import registry
from bench.read import collect, sources, write_page
from bench.read.find import find

ROOT = Path(__file__).resolve().parents[1]

PY = '''\
# normalize( in a comment
def helper():
    return normalize_other(1)  # normalize(


@decorator
def normalize(text,
              flag=")"):
    """normalize(x) in a docstring"""
    x = 1

    return x
# after
def other():
    pass
'''
CPP = '''\
// a call: normalize(x);
int normalize(int x);            // a declaration
/* normalize(y) { in a block comment } */
// What it does.
int Tok::normalize(int x) const {
  const char* s = "normalize(z) {";   // in a string
  if (x) { return x; }
  return normalize(x - 1);
}
void f() { normalize(3); }
'''
JS = '''\
function pad_rows(rows) {
  return rows.map((r) => { return r; });
}
const normalize = (t) => {
  return t;
};
obj.pad_rows(x);
'''
PYX = '''\
cdef struct Entry:          # normalize(): one raw code point
    int a

cdef inline int normalize(int cp) except -1 nogil:
    # the body
    return cp
'''


@pytest.fixture
def tree(tmp_path):
    d = tmp_path / "toy_port"
    d.mkdir()
    for name, text in (("a.py", PY), ("b.cpp", CPP), ("c.mjs", JS), ("d.pyx", PYX)):
        (d / name).write_text(text)
    return tmp_path


def spans(tree, name, stage):
    return [(s.start, s.def_line, s.end, s.lines) for s in find(tree / "toy_port" / name, name, stage)]


def test_finder_python(tree):
    # decorator included; signature over two lines; the comment after ends it; code lines: the two of
    # the signature, x = 1, return x (the docstring and the blank line are not code)
    assert spans(tree, "a.py", "normalize") == [(6, 7, 12, 4)]


def test_finder_cpp(tree):
    # the comments right above come with it (up to the declaration, which is code); the declaration, the
    # calls, the comments and the string are not definitions
    assert spans(tree, "b.cpp", "normalize") == [(3, 5, 9, 5)]


def test_finder_javascript(tree):
    assert spans(tree, "c.mjs", "pad_rows") == [(1, 1, 3, 3)]
    assert spans(tree, "c.mjs", "normalize") == [(4, 4, 6, 3)]


def test_finder_cython(tree):
    assert spans(tree, "d.pyx", "normalize") == [(4, 4, 6, 2)]
    assert spans(tree, "d.pyx", "wordpiece") == []


def test_collect_takes_dirs_from_the_registry(tree):
    e = dataclasses.replace(registry.BY_NAME[registry.REFERENCE], name="toy_port", dirs=("toy_port",),
                            generated=("toy_port/d.pyx",), glue=(), tooling=())
    registry.register(e)
    try:
        found = collect(["toy_port"], stages=("normalize", "pad_rows", "wordpiece"), root=tree)
    finally:
        registry.unregister("toy_port")
    assert sorted(s.file for s in found["normalize"]["toy_port"]) == ["toy_port/a.py", "toy_port/b.cpp",
                                                                       "toy_port/c.mjs"]   # d.pyx: generated
    assert [s.file for s in found["pad_rows"]["toy_port"]] == ["toy_port/c.mjs"] and found["wordpiece"] == {}


# -- an independent scan: simple per-language patterns, comments stripped naively ------------------
def defines(port: str, stage: str) -> bool:
    for f in sources(port):
        text = f.read_text()
        if f.suffix in (".py", ".pyx", ".pxd"):
            pat = r"^[ \t]*(?:async[ \t]+)?c?p?def\b[^#\n]*?\b" + stage + r"[ \t]*\("
            if re.search(pat, text, re.M):
                return True
        else:
            code = re.sub(r"/\*.*?\*/", "", re.sub(r"//[^\n]*", "", text), flags=re.S)
            if re.search(r"\b" + stage + r"\s*\([^;{}]*\)\s*(?:const\s*)?(?:noexcept\s*)?\{", code) or \
                    re.search(r"\b(?:const|let|var)\s+" + stage + r"\s*=\s*\([^)]*\)\s*=>\s*\{", code):
                return True
    return False


def test_page_in_chromium_shows_every_stage_in_every_port_that_has_it(tmp_path):
    from conftest import require
    from bench.browser import pages as browser
    require(None if Path(browser.CHROMIUM).is_file() else f"{browser.CHROMIUM} not found", is_reason=True)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        require("playwright (python) not installed", is_reason=True)
    page_path = write_page(tmp_path / "out" / "read.html")
    ports = registry.ports(with_reference=True)
    expected = {st: {p for p in ports if defines(p, st)} for st in registry.STAGES}
    assert all(expected[st] for st in registry.STAGES if st != "pad_rows")   # the scan sees real code
    assert expected["wordpiece"] >= {registry.REFERENCE}
    with browser.chromium() as b:
        page = b.new_page()
        page.goto(page_path.as_uri())
        got = page.evaluate("""() => [...document.querySelectorAll('section.stage')].map(s => ({
            stage: s.dataset.stage,
            cols: [...s.querySelectorAll('.col')].map(c => ({
                port: c.dataset.port, lines: +c.dataset.lines, shown: c.querySelector('.lines').textContent,
                highlighted: c.querySelectorAll('.hl span').length, visible: c.getBoundingClientRect().width > 100,
                links: [...c.querySelectorAll('a.src')].map(a => [a.dataset.file, +a.dataset.line,
                                                                   a.getAttribute('href')])}))}))""")
        summary_rows = page.locator("table.counts tr").count()
    assert [s["stage"] for s in got] == list(registry.STAGES)
    assert summary_rows == len(registry.STAGES) + 2   # header, one per stage, total
    for s in got:
        assert {c["port"] for c in s["cols"]} == expected[s["stage"]], s["stage"]
        for c in s["cols"]:
            assert c["lines"] > 0 and c["shown"] == f"{c['lines']} lines" and c["highlighted"] > 5 and c["visible"]
            for file, line, href in c["links"]:
                assert s["stage"] in (ROOT / file).read_text().splitlines()[line - 1], (file, line)
                assert (page_path.parent / href.split("#")[0]).resolve() == (ROOT / file).resolve()
