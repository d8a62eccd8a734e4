"""Runs inside Pyodide: python_ref's pure-Python tokenizer (stdlib only: tokenizer.py, added_tokens.py,
unicode_compat.py, and the contract's texts.py, spec.py, spec_tokenizer.py, loaded unchanged) feeding
the wasm model (dist/minilm.wasm) through the JS FFI (module `wasm_model`, registered by
js/pyodide_embed.mjs). The tokenizer's settings are the wasm model's own spec (/model/spec.json).
Leaves out: numpy (not offline in Pyodide), so rows are padded by contract.texts.pad_rows as plain
lists instead of contract.api.pad_rows.
"""
import json

from pyodide.ffi import to_js

import wasm_model
from contract.texts import check_texts, pad_rows
from contract.spec import ModelSpec
from python_ref.tokenizer import Tokenizer

with open("/model/spec.json", encoding="utf-8") as f:
    SPEC = ModelSpec.from_dict(json.load(f))
TOK = Tokenizer("/model/vocab.txt", SPEC)


def _rows(texts):
    return [TOK.encode(t) for t in check_texts(list(texts))]


def tokenize(texts):
    """texts (JS array of str) -> JS array of id arrays (unpadded)."""
    return to_js(_rows(texts))


def embed(texts, prompt_length=0):
    """texts -> Float32Array (N * dim), made by the wasm model's forward over rows padded by pad_rows.
    prompt_length: the tokens of a prompt the caller put in front of each text (Batch.prompt_length)."""
    rows = _rows(texts)
    ids, mask = pad_rows(rows, SPEC.pad_id)
    t = len(ids[0]) if ids else 0
    return wasm_model.forward(to_js([x for r in ids for x in r]), to_js([x for r in mask for x in r]), len(rows), t,
                              prompt_length)
