"""Runs inside Pyodide: python_ref's pure-Python tokenizer feeding the wasm model (dist/minilm.wasm)
through the JS FFI (module `wasm_model`, registered by js/pyodide_embed.mjs). Leaves out: numpy."""
from pyodide.ffi import to_js

import wasm_model
from python_ref.tokenizer import Tokenizer

TOK = Tokenizer("/model/vocab.txt")


def tokenize(texts):
    """texts (JS array of str) -> JS array of id arrays."""
    return to_js([row for row in TOK.encode_batch(list(texts)).ids])


def embed(texts):
    """texts -> Float32Array (N * dim), made by the wasm model's forward."""
    b = TOK.encode_batch(list(texts))
    n, t = len(b.ids), len(b.ids[0]) if b.ids else 0
    flat = lambda rows: to_js([x for r in rows for x in r])  # noqa: E731
    return wasm_model.forward(flat(b.ids), flat(b.attention_mask), n, t)
