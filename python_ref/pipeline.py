"""python_ref Pipeline: the pure-Python tokenizer feeding the PyTorch eager model.

Other ports reuse `TorchForward` when they port only the tokenizer (cython_ext, numba_variant),
so the gain they show is the tokenizer's alone. Every port reads the model directory once, into a
contract.spec.ModelSpec (`self.spec`), and takes all its settings from it, its prompts included:
tokenize puts the prompt in front of each text and counts its tokens with the same tokenizer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from contract.api import Batch, ModelSpec, forward_in_batches, load_spec, prompt_length, prompted
from .model import BertModel
from .tokenizer import Tokenizer


class TorchForward:
    """forward() shared by every port whose model stage is python_ref's torch model."""

    def __init__(self, spec: ModelSpec, device: str = "cpu", weights: str = "real"):
        self.model = BertModel.from_dir(spec, device, weights)
        self.device = device
        self.dim = self.model.dim
        self.include_prompt = spec.include_prompt

    def forward(self, batch: Batch) -> np.ndarray:
        if batch.ids.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        ids = torch.from_numpy(batch.ids).to(self.device)             # (N, T)
        mask = torch.from_numpy(batch.attention_mask).to(self.device)  # (N, T)
        # prompt_length only where pooling leaves the prompt out: forward(ids, mask) stays the traceable call
        extra = (batch.prompt_length,) if batch.prompt_length and not self.include_prompt else ()
        return self.model.forward(ids, mask, *extra).cpu().numpy()    # (N, E)

    def embed(self, texts: Sequence[str], prompt_name: str | None = None, prompt: str | None = None) -> np.ndarray:
        """tokenize + forward, the model run on at most api.MAX_BATCH_TOKENS padded tokens at a time."""
        return forward_in_batches(self.forward, self.tokenize(texts, prompt_name, prompt), self.dim)


class TokenizerPort(TorchForward):
    """A pipeline whose tokenizer is its own and whose model is python_ref's: python_ref itself, and
    the ports of the tokenizer alone (cython_ext, numba_variant). Subclasses set name and
    load_tokenizer(spec) -> an object whose encode_batch(texts) checks bad input and returns a Batch."""
    name: str

    @staticmethod
    def load_tokenizer(spec):
        raise NotImplementedError

    def __init__(self, model: str | ModelSpec | None = None, device: str = "cpu", weights: str = "real"):
        self.spec = load_spec(model)
        self.tokenizer = self.load_tokenizer(self.spec)
        super().__init__(self.spec, device, weights)

    def tokenize(self, texts: Sequence[str], prompt_name: str | None = None, prompt: str | None = None) -> Batch:
        texts, p = prompted(self.spec, texts, prompt_name, prompt)
        batch = self.tokenizer.encode_batch(texts)
        if p:   # the prompt alone, [SEP] not counted: sentence-transformers' prompt_length
            batch.prompt_length = prompt_length(self.tokenizer.encode_batch([p]).ids[0])
        return batch


def load_tokenizer(model=None) -> Tokenizer:
    """The tokenizer alone (no torch model) of a model directory or spec."""
    spec = load_spec(model)
    return Tokenizer(Path(spec.dir) / "vocab.txt", spec)


class Pipeline(TokenizerPort):
    name = "python_ref"
    load_tokenizer = staticmethod(load_tokenizer)
