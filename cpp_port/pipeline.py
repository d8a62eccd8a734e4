"""cpp_port Pipeline: thin wrapper over the pybind11 module cpp_port._core (tokenizer + LibTorch
forward both native). The prompt is put in front of each text here (contract.api.prompted) and its
tokens counted by the C++ tokenizer. Leaves out: anything but the Pipeline protocol of contract/api.py,
plus `tokenize_bytes` (raw UTF-8 in, for the bad-input tests) and `binary()` (where minilm-embed is)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from contract.api import Batch, ModelDirError, ModelSpec, forward_in_batches, load_spec, prompt_length, prompted

HERE = Path(__file__).resolve().parent


def missing() -> str | None:
    try:
        from . import _core  # noqa: F401
    except ImportError as e:
        return f"cpp_port: native module not built ({e}); build with pip install --no-build-isolation -e ."
    return None


def binary() -> str | None:
    """minilm-embed: the dev build's copy next to this file, else the one in this env's bin/."""
    for cand in (HERE / "minilm-embed", Path(sys.prefix) / "bin" / "minilm-embed"):
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which("minilm-embed")


class Pipeline:
    name = "cpp_port"

    def __init__(self, model: str | ModelSpec | None = None, device: str = "cpu", weights: str = "real",
                 num_threads: int = 1):
        from . import _core
        self.spec = spec = load_spec(model)   # read once, in python_ref; the C++ side takes it as JSON
        tmp = None
        if weights == "random":  # seeded random weights of the same shape, as files for the C++ loader
            from dataclasses import replace

            from contract.weights import random_weights_dir
            tmp = random_weights_dir(Path(spec.dir))
            spec = replace(spec, dir=tmp.name)
        try:
            self.core = _core.Core(spec.to_json(), device)
        except _core.ModelDirError as e:
            raise ModelDirError(str(e)) from None
        finally:
            if tmp:
                tmp.cleanup()  # the weights are loaded
        self.device, self.dim, self.num_threads = device, self.core.dim, num_threads

    def tokenize(self, texts: Sequence[str], prompt_name: str | None = None, prompt: str | None = None,
                 num_threads: int | None = None) -> Batch:
        """num_threads >= 1 (ValueError otherwise); more than _core.Core.max_threads are not started."""
        threads = self.num_threads if num_threads is None else num_threads
        texts, p = prompted(self.spec, texts, prompt_name, prompt)
        batch = Batch(*self.core.tokenize(texts, threads))
        if p:   # the prompt alone, [SEP] not counted: sentence-transformers' prompt_length
            batch.prompt_length = prompt_length(self.core.tokenize([p], 1)[0][0])
        return batch

    def tokenize_bytes(self, texts: Sequence[bytes], num_threads: int | None = None) -> Batch:
        return Batch(*self.core.tokenize_bytes(texts, self.num_threads if num_threads is None else num_threads))

    def forward(self, batch: Batch) -> np.ndarray:
        return self.core.forward(batch.ids, batch.attention_mask, batch.prompt_length)  # (N, D) float32

    def embed(self, texts: Sequence[str], prompt_name: str | None = None, prompt: str | None = None) -> np.ndarray:
        """tokenize + forward, the model run on at most api.MAX_BATCH_TOKENS padded tokens at a time."""
        return forward_in_batches(self.forward, self.tokenize(texts, prompt_name, prompt), self.dim)
