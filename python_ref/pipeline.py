"""python_ref Pipeline: the pure-Python tokenizer feeding the PyTorch eager model.

Other ports reuse `TorchForward` when they port only the tokenizer (cython_ext, numba_variant),
so the gain they show is the tokenizer's alone.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .api import Batch, check_texts, model_dir
from .model import BertModel
from .tokenizer import Tokenizer, added_tokens


class TorchForward:
    """forward() shared by every port whose model stage is python_ref's torch model."""

    def __init__(self, mdir, device: str = "cpu", weights: str = "real"):
        self.model = BertModel.from_dir(mdir, device, weights)
        self.device = device
        self.dim = self.model.dim

    def forward(self, batch: Batch) -> np.ndarray:
        if batch.ids.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = torch.from_numpy(batch.ids).to(self.device)             # (N, T)
        mask = torch.from_numpy(batch.attention_mask).to(self.device)  # (N, T)
        return self.model.forward(ids, mask).cpu().numpy()            # (N, D)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.forward(self.tokenize(texts))


class Pipeline(TorchForward):
    name = "python_ref"

    def __init__(self, model: str | None = None, device: str = "cpu", weights: str = "real"):
        mdir = model_dir(model)
        super().__init__(mdir, device, weights)
        self.tokenizer = Tokenizer(mdir / "vocab.txt", added=added_tokens(mdir / "tokenizer.json"))

    def tokenize(self, texts: Sequence[str]) -> Batch:
        return self.tokenizer.encode_batch(check_texts(texts))
