"""The stdlib-only part of python_ref's interface: the length limit and the bad-input contract
(docs/DESIGN.md §5). Split from api.py so the tokenizer imports without numpy, as Pyodide needs offline."""
from __future__ import annotations

from typing import Sequence

MAX_LEN = 256  # docs/DESIGN.md §1: [CLS] + 254 pieces + [SEP]


def check_texts(texts: Sequence[str]) -> list[str]:
    """Bad-input contract (docs/DESIGN.md §5): TypeError / ValueError naming the offending index."""
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a sequence of str, not a single " + type(texts).__name__)
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, not str")
        try:
            t.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(f"texts[{i}] is not valid Unicode (lone surrogate at {e.start})") from None
    return out
