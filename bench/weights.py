"""`--weights random` (docs/DESIGN.md §7): timing where the real weights cannot travel.

One model directory is made for the whole run: every file of `--model DIR` (sentence-transformers
modules, pooling, tokenizer, config) but the weights, which are python_ref's seeded random tensors
of the architecture config.json names (the same ones the ports' own `weights="random"` builds).
Every implementation, the peers included, then loads it through its ordinary path, so timings keep
their meaning and equivalence still compares against upstream loading the same directory.
DIR need not hold any weights at all. Leaves out: weights other than BERT's (what the ports load).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

WEIGHT_FILES = {"model.safetensors", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "onnx"}
SEED = 0


def random_weights_dir(src: str | os.PathLike | None) -> tempfile.TemporaryDirectory:
    """A temp copy of `src` (default: the packaged model) with random model.safetensors; clean it up
    when the run is over. Raises python_ref's ModelDirError (one line) if src is unusable."""
    from safetensors.torch import save_file

    from python_ref.api import ModelDirError, load_config, model_dir
    from python_ref.model import random_tensors
    if src is None:
        src = model_dir(None)
    src = Path(src)
    if not src.is_dir():
        raise ModelDirError(f"model directory not found: {src}")
    lacking = [f for f in ("config.json", "vocab.txt", "tokenizer.json") if not (src / f).is_file()]
    if lacking:
        raise ModelDirError(f"model directory {src} lacks {', '.join(lacking)}")
    tmp = tempfile.TemporaryDirectory(prefix="portbench_random_weights_")
    out = Path(tmp.name)
    for p in src.iterdir():
        if p.name in WEIGHT_FILES or p.name.startswith("."):
            continue
        (shutil.copytree if p.is_dir() else shutil.copy)(p, out / p.name)
    tensors = random_tensors(load_config(src), SEED)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(out / "model.safetensors"))
    return tmp
