"""The one table of implementations and peers (DESIGN §4): name -> constructor.

A new port is one new line here. `available()` says what is built on this machine (and why not);
`load()` builds a Pipeline. Tests and the bench both walk this table.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    name: str
    target: str                       # "module:Class"; class or module may define missing() -> str | None
    kind: str                         # "port" | "peer" | "intervention"
    stages: tuple = ("tokenize", "forward")
    torch_model: bool = True          # forward uses torch/LibTorch kernels (tolerance class)


REGISTRY = [
    Entry("python_ref", "python_ref.pipeline:Pipeline", "port"),
    Entry("cython_ext", "cython_ext.pipeline:Pipeline", "port"),
    Entry("numba_variant", "numba_variant.pipeline:Pipeline", "port"),
    Entry("cpp_port", "cpp_port.pipeline:Pipeline", "port"),
    Entry("wasm_port", "wasm_port.pipeline:Pipeline", "port", torch_model=False),
    Entry("hf_tokenizers", "bench.peers:HFTokenizers", "peer", stages=("tokenize",)),
    Entry("sentence_transformers", "bench.peers:SentenceTransformers", "peer"),
    Entry("onnxruntime", "bench.peers:OnnxRuntime", "intervention", torch_model=False),
    Entry("python_ref_compile", "bench.peers:TorchCompiled", "intervention"),
    Entry("python_ref_packed", "python_ref.packed:Pipeline", "intervention"),
]
BY_NAME = {e.name: e for e in REGISTRY}
PORTS = [e.name for e in REGISTRY if e.kind == "port"]


def _resolve(entry: Entry):
    mod_name, cls_name = entry.target.split(":")
    mod = importlib.import_module(mod_name)
    return mod, getattr(mod, cls_name)


def why_missing(name: str) -> str | None:
    """None if `name` can run here, else one line saying what is missing."""
    try:
        mod, cls = _resolve(BY_NAME[name])
    except (ImportError, AttributeError) as e:
        return f"{name}: not built or not installed ({e})"
    check = getattr(cls, "missing", None) or getattr(mod, "missing", None)
    return check() if check else None


def available(kind: str | None = None) -> list[str]:
    return [e.name for e in REGISTRY if (kind is None or e.kind == kind) and why_missing(e.name) is None]


def load(name: str, model_dir=None, device: str = "cpu", **kw):
    if name not in BY_NAME:
        raise KeyError(f"unknown implementation {name!r}; known: {', '.join(BY_NAME)}")
    reason = why_missing(name)
    if reason:
        raise RuntimeError(reason)
    _, cls = _resolve(BY_NAME[name])
    return cls(model_dir, device=device, **kw)
