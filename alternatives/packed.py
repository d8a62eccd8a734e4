"""python_ref_packed: python_ref's model with cpp_port's algorithm, in Python eager (an intervention): the
per-token stages run on the M real tokens packed as (M, D), attention alone padded (N, H, T, D/H). It is
cpp_port/model.cpp's Packing op for op, so the gain of dropping padding is booked to the algorithm, not the port.
Reuses python_ref/model.py's weights and stages but attention_forward and layer_forward (they take the Packing).
Leaves out: varlen attention kernels. Shapes: N texts, T longest row, M real tokens, D hidden, H heads, C any."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from python_ref.model import BertModel, embeddings_forward, ffn_forward, head_forward
from python_ref.pipeline import Pipeline as RefPipeline
from python_ref.pipeline import TorchForward


@dataclass
class Packing:
    n: int
    t: int
    keep: torch.Tensor    # (M,) int64 indices of mask == 1 in the flattened (N*T)
    on: bool              # False when there is no padding: then packed == padded

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """(M, C) -> (N, T, C), zeros at padding."""
        if not self.on:
            return x.view(self.n, self.t, x.shape[-1])
        return torch.zeros((self.n * self.t, x.shape[-1]), dtype=x.dtype, device=x.device) \
            .index_copy_(0, self.keep, x).view(self.n, self.t, x.shape[-1])

    def unpad(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T, C) -> (M, C)."""
        flat = x.reshape(self.n * self.t, x.shape[-1])
        return flat.index_select(0, self.keep) if self.on else flat


class PackedModel:
    """BertModel's weights, cpp_port's forward."""

    def __init__(self, m: BertModel):
        self.m = m

    @torch.inference_mode()
    def forward(self, ids: torch.Tensor, mask: torch.Tensor, prompt_length: int = 0) -> torch.Tensor:
        """ids, mask: int64 (N, T) -> float32 (N, E): the model's own head (pooling, Dense, Normalize)."""
        m = self.m
        n, t = ids.shape
        keep = mask.reshape(-1).nonzero().squeeze(1)                  # (M,)
        pk = Packing(n, t, keep, keep.shape[0] < n * t)
        x = pk.unpad(embeddings_forward(m, ids))                      # (M, D)
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min  # (N, 1, 1, T)
        for layer in m.layers:
            x = layer_forward(x, bias, layer, m.heads, m.eps, pk, m.act)
        return head_forward(m, pk.pad(x), mask, prompt_length)        # (N, E)


def attention_forward(x: torch.Tensor, bias: torch.Tensor, p, heads: int, pk: Packing) -> torch.Tensor:
    n, t, d = pk.n, pk.t, x.shape[-1]
    qkv = pk.pad(F.linear(x, p.qkv_w, p.qkv_b))                       # (N, T, 3D)
    q, k, v = qkv.view(n, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)  # each (N, H, T, D/H)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0 / math.sqrt(d // heads))
    y = pk.unpad(y.transpose(1, 2).reshape(n, t, d))                  # (M, D)
    return F.linear(y, p.ao_w, p.ao_b)


def layer_forward(x: torch.Tensor, bias: torch.Tensor, p, heads: int, eps: float, pk: Packing,
                  act: str = "gelu") -> torch.Tensor:
    d = x.shape[-1]
    x = F.layer_norm(x + attention_forward(x, bias, p, heads, pk), (d,), p.ln1_w, p.ln1_b, eps)
    return F.layer_norm(x + ffn_forward(x, p, act), (d,), p.ln2_w, p.ln2_b, eps)    # (M, D)


class Pipeline(RefPipeline):
    """python_ref's tokenizer and weights; the packed forward."""
    name = "python_ref_packed"

    def __init__(self, model: str | None = None, device: str = "cpu", weights: str = "real"):
        super().__init__(model, device, weights)
        self.model = PackedModel(self.model)

    # its own function object: pipelines whose forward *is* TorchForward.forward share one split; its model differs
    def forward(self, batch):
        return TorchForward.forward(self, batch)
