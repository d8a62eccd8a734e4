"""Pyodide stand-in for python_ref/api.py (installed in Pyodide's file system as python_ref/api.py).

numpy is not available offline in Pyodide, and python_ref/api.py imports it. So MAX_LEN and
check_texts (the bad-input contract) are taken from the real api.py's source, shipped alongside
as _api_real.py and exec'd from its AST (never copied); Batch and pad_rows hold plain lists here.
Leaves out: model_dir/load_config/Pipeline (the browser has no model-dir lookup).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

_tree = ast.parse(Path(__file__).with_name("_api_real.py").read_text(encoding="utf-8"))
_keep = [n for n in _tree.body
         if (isinstance(n, ast.FunctionDef) and n.name == "check_texts")
         or (isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "MAX_LEN" for t in n.targets))]
exec(compile(ast.Module(body=_keep, type_ignores=[]), "python_ref/api.py", "exec"), globals())


@dataclass
class Batch:
    ids: list             # (N, T) lists of int
    attention_mask: list  # (N, T)


def pad_rows(rows: Sequence[Sequence[int]]) -> Batch:
    t = max((len(r) for r in rows), default=0)
    return Batch([list(r) + [0] * (t - len(r)) for r in rows], [[1] * len(r) + [0] * (t - len(r)) for r in rows])
