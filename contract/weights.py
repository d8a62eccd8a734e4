"""Seeded random weights (docs/DESIGN.md §7 `--weights random`): timing where the real weights cannot travel.

random_tensors(config) is every tensor BERT's config.json implies, seeded; random_weights_dir(DIR) is a
temporary model directory: every file of DIR (sentence-transformers modules, pooling, tokenizer,
config; linked, not copied) but the weights, which are random_tensors' model.safetensors. The one
directory every implementation loads through its ordinary path (`bench all --weights random` makes
one for the whole run, peers included; a port asked for weights="random" makes its own of the same
seed), so timings keep their meaning and equivalence still compares against upstream loading the
same directory. DIR need not hold any weights at all.
Leaves out: weights of architectures the spec does not read (BERT and DistilBERT are what the ports load).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

WEIGHT_FILES = {"model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "onnx"}
SEED = 0


def random_tensors(cfg: dict, seed: int = 0, scale: float = 0.02) -> dict[str, torch.Tensor]:
    """Seeded random weights (std `scale`) of the architecture a BERT config.json or a spec's to_dict() describes,
    named as the spec's tensor_names say (DistilBERT's names for a DistilBERT spec)."""
    from .spec import tensor_name
    gen = torch.Generator().manual_seed(seed)
    d, f, v = int(cfg["hidden_size"]), int(cfg["intermediate_size"]), int(cfg["vocab_size"])
    r = lambda *s: torch.randn(*s, generator=gen) * scale  # noqa: E731
    types = int(cfg.get("type_vocab_size", 2))
    t = {"embeddings.word_embeddings.weight": r(v, d), "embeddings.position_embeddings.weight":
         r(int(cfg["max_position_embeddings"]), d), "embeddings.token_type_embeddings.weight": r(max(types, 1), d),
         "embeddings.LayerNorm.weight": torch.ones(d), "embeddings.LayerNorm.bias": torch.zeros(d)}
    if cfg.get("model_type", "bert") == "bert":
        t |= {"pooler.dense.weight": r(d, d), "pooler.dense.bias": r(d)}   # unused here; upstream loads it
    for i in range(int(cfg["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        for name, shape in (("attention.self.query", (d, d)), ("attention.self.key", (d, d)),
                            ("attention.self.value", (d, d)), ("attention.output.dense", (d, d)),
                            ("intermediate.dense", (f, d)), ("output.dense", (d, f))):
            t[p + name + ".weight"], t[p + name + ".bias"] = r(*shape), r(shape[0])
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + ln + ".weight"], t[p + ln + ".bias"] = torch.ones(d), torch.zeros(d)
    if not types:   # drawn all the same, so the other tensors stay what they are with token types
        del t["embeddings.token_type_embeddings.weight"]
    names = cfg.get("tensor_names")
    return t if names is None else {tensor_name(names, k) if k.startswith(("embeddings.", "encoder.")) else k: x
                                    for k, x in t.items()}


def random_weights_dir(src: str | os.PathLike | None = None, seed: int = SEED) -> tempfile.TemporaryDirectory:
    """A temporary copy of `src` (default: the packaged model) with random model.safetensors; clean it
    up once everything has loaded it. Raises ModelDirError (one line) if src is unusable."""
    from safetensors.torch import save_file

    from .api import ModelDirError, model_dir, read_spec
    src = Path(model_dir(None) if src is None else src)
    if not src.is_dir():
        raise ModelDirError(f"model directory not found: {src}")
    lacking = [f for f in ("config.json", "vocab.txt", "tokenizer.json") if not (src / f).is_file()]
    if lacking:
        raise ModelDirError(f"model directory {src} lacks {', '.join(lacking)}")
    tmp = tempfile.TemporaryDirectory(prefix="portbench_random_weights_")
    out = Path(tmp.name)
    for p in src.iterdir():
        if p.name not in WEIGHT_FILES and not p.name.startswith("."):
            (out / p.name).symlink_to(p.resolve())
    tensors = random_tensors(read_spec(src).to_dict(), seed)   # the architecture as every port reads it
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / "model.safetensors"))
    return tmp
