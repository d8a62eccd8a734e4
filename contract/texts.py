"""The stdlib-only part of python_ref's interface: the bad-input contract (docs/DESIGN.md §5), texts and
prompts, and padding as
plain lists. Split from api.py so the tokenizer imports without numpy, as Pyodide needs offline.
The length limit is not here: it is each model's max_seq_length (contract/spec.py)."""
from __future__ import annotations

from typing import Sequence


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


def check_prompt(prompt_name, prompt) -> None:
    """A prompt_name and prompt as every port's tokenize/embed take them: None or str (TypeError), the prompt
    valid Unicode (ValueError). Whether the name is one of the model's is the spec's to say (resolve_prompt)."""
    for what, v in (("prompt_name", prompt_name), ("prompt", prompt)):
        if v is not None and not isinstance(v, str):
            raise TypeError(f"{what} is {type(v).__name__}, not str")
    try:
        (prompt or "").encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"prompt is not valid Unicode (lone surrogate at {e.start})") from None


def pad_rows(rows: Sequence[Sequence[int]], pad_id: int = 0) -> tuple[list[list[int]], list[list[int]]]:
    """Pad id rows with pad_id to the longest row -> (ids, mask) as lists of rows; mask 1/0."""
    t = max((len(r) for r in rows), default=0)
    return ([[*r, *[pad_id] * (t - len(r))] for r in rows],
            [[1] * len(r) + [0] * (t - len(r)) for r in rows])
