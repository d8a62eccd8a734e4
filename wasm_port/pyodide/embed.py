"""Runs inside Pyodide: python_ref's pure-Python tokenizer (stdlib only: tokenizer.py, contract.py,
unicode_compat.py, loaded unchanged) feeding the wasm model (dist/minilm.wasm) through the JS FFI
(module `wasm_model`, registered by js/pyodide_embed.mjs). Leaves out: numpy (not offline in Pyodide),
so rows are padded as plain lists here instead of python_ref.api.pad_rows.
"""
from pyodide.ffi import to_js

import wasm_model
from python_ref.contract import check_texts
from python_ref.tokenizer import Tokenizer, added_tokens

TOK = Tokenizer("/model/vocab.txt", added=added_tokens("/model/tokenizer.json"))


def _rows(texts):
    return [TOK.encode(t) for t in check_texts(list(texts))]


def tokenize(texts):
    """texts (JS array of str) -> JS array of id arrays (unpadded)."""
    return to_js(_rows(texts))


def embed(texts):
    """texts -> Float32Array (N * dim), made by the wasm model's forward over rows padded with 0."""
    rows = _rows(texts)
    n, t = len(rows), max(map(len, rows), default=0)
    ids = [x for r in rows for x in r + [0] * (t - len(r))]
    mask = [x for r in rows for x in [1] * len(r) + [0] * (t - len(r))]
    return wasm_model.forward(to_js(ids), to_js(mask), n, t)
