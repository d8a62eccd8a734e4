"""python_ref model: the BERT encoder of all-MiniLM-L6-v2 written out in PyTorch eager, plus pooling.

Ports transformers' BertModel forward (absolute positions, token type 0, post-LayerNorm, exact erf
GELU, eps from config) and sentence-transformers' mean pooling + Normalize. Leaves out: dropout,
the unused pooler, cross-attention, relative positions, KV caching, training. All sizes come from
config.json. The cpp_port (LibTorch) and wasm_port (own kernels) mirror these function names.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .api import ModelDirError, load_config


@dataclass
class Layer:
    qkv_w: torch.Tensor   # (3D, D) query, key and value projections stacked: one matmul instead of three
    qkv_b: torch.Tensor   # (3D,)
    ao_w: torch.Tensor    # (D, D) attention output projection
    ao_b: torch.Tensor
    ln1_w: torch.Tensor   # (D,) LayerNorm after attention + residual
    ln1_b: torch.Tensor
    ff1_w: torch.Tensor   # (F, D) intermediate
    ff1_b: torch.Tensor
    ff2_w: torch.Tensor   # (D, F) output
    ff2_b: torch.Tensor
    ln2_w: torch.Tensor
    ln2_b: torch.Tensor


class BertModel:
    def __init__(self, cfg: dict, tensors: dict[str, torch.Tensor], device: str = "cpu"):
        self.dim = int(cfg["hidden_size"])
        self.heads = int(cfg["num_attention_heads"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        g = lambda k: tensors[k].to(device=device, dtype=torch.float32).contiguous()  # noqa: E731
        self.word, self.pos = g("embeddings.word_embeddings.weight"), g("embeddings.position_embeddings.weight")
        self.type0 = g("embeddings.token_type_embeddings.weight")[0]
        self.ln_w, self.ln_b = g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias")
        self.layers = []
        for i in range(int(cfg["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            a = p + "attention.self."
            self.layers.append(Layer(
                torch.cat([g(a + "query.weight"), g(a + "key.weight"), g(a + "value.weight")]),
                torch.cat([g(a + "query.bias"), g(a + "key.bias"), g(a + "value.bias")]),
                g(p + "attention.output.dense.weight"), g(p + "attention.output.dense.bias"),
                g(p + "attention.output.LayerNorm.weight"), g(p + "attention.output.LayerNorm.bias"),
                g(p + "intermediate.dense.weight"), g(p + "intermediate.dense.bias"),
                g(p + "output.dense.weight"), g(p + "output.dense.bias"),
                g(p + "output.LayerNorm.weight"), g(p + "output.LayerNorm.bias")))
        self.device = device

    @classmethod
    def from_dir(cls, mdir: Path, device: str = "cpu", weights: str = "real") -> "BertModel":
        cfg = load_config(mdir)
        if weights == "random":
            return cls(cfg, random_tensors(cfg), device)
        from safetensors.torch import load_file
        try:
            tensors = load_file(str(mdir / "model.safetensors"))
        except Exception as e:  # safetensors raises several types for a corrupt file
            raise ModelDirError(f"cannot read {mdir / 'model.safetensors'}: {e}") from None
        tensors = {k.removeprefix("bert."): v for k, v in tensors.items()}
        try:
            return cls(cfg, tensors, device)
        except KeyError as e:
            raise ModelDirError(f"{mdir / 'model.safetensors'} lacks tensor {e}") from None

    @torch.inference_mode()
    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids, mask: int64 (N, T) -> float32 (N, D), mean-pooled and L2-normalised."""
        x = embeddings_forward(self, ids)                             # (N, T, D)
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min  # (N, 1, 1, T)
        for layer in self.layers:
            x = layer_forward(x, bias, layer, self.heads, self.eps)
        return l2_normalize(mean_pool(x, mask))


def embeddings_forward(m: BertModel, ids: torch.Tensor) -> torch.Tensor:
    t = ids.shape[1]
    x = m.word[ids] + m.pos[:t] + m.type0                             # (N, T, D)
    return F.layer_norm(x, (m.dim,), m.ln_w, m.ln_b, m.eps)


def attention_forward(x: torch.Tensor, bias: torch.Tensor, p: Layer, heads: int) -> torch.Tensor:
    n, t, d = x.shape
    qkv = F.linear(x, p.qkv_w, p.qkv_b)                               # (N, T, 3D)
    q, k, v = qkv.view(n, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)  # each (N, H, T, D/H)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0 / math.sqrt(d // heads))
    y = y.transpose(1, 2).reshape(n, t, d)                            # (N, T, D)
    return F.linear(y, p.ao_w, p.ao_b)


def ffn_forward(x: torch.Tensor, p: Layer) -> torch.Tensor:
    h = F.gelu(F.linear(x, p.ff1_w, p.ff1_b))                         # (N, T, F), exact erf GELU
    return F.linear(h, p.ff2_w, p.ff2_b)                              # (N, T, D)


def layer_forward(x: torch.Tensor, bias: torch.Tensor, p: Layer, heads: int, eps: float) -> torch.Tensor:
    d = x.shape[-1]
    x = F.layer_norm(x + attention_forward(x, bias, p, heads), (d,), p.ln1_w, p.ln1_b, eps)
    return F.layer_norm(x + ffn_forward(x, p), (d,), p.ln2_w, p.ln2_b, eps)


def mean_pool(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(x.dtype)                                # (N, T, 1)
    return (x * m).sum(1) / m.sum(1).clamp(min=1e-9)                  # (N, D)


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, p=2, dim=1)                                 # (N, D), unit rows


def random_tensors(cfg: dict, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random weights of the same architecture, for timing where real weights can't travel."""
    gen = torch.Generator().manual_seed(seed)
    d, f, v = int(cfg["hidden_size"]), int(cfg["intermediate_size"]), int(cfg["vocab_size"])
    r = lambda *s: torch.randn(*s, generator=gen) * 0.02  # noqa: E731
    t = {"embeddings.word_embeddings.weight": r(v, d), "embeddings.position_embeddings.weight":
         r(int(cfg["max_position_embeddings"]), d), "embeddings.token_type_embeddings.weight": r(2, d),
         "embeddings.LayerNorm.weight": torch.ones(d), "embeddings.LayerNorm.bias": torch.zeros(d)}
    for i in range(int(cfg["num_hidden_layers"])):
        p = f"encoder.layer.{i}."
        for name, shape in (("attention.self.query", (d, d)), ("attention.self.key", (d, d)),
                            ("attention.self.value", (d, d)), ("attention.output.dense", (d, d)),
                            ("intermediate.dense", (f, d)), ("output.dense", (d, f))):
            t[p + name + ".weight"], t[p + name + ".bias"] = r(*shape), r(shape[0])
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + ln + ".weight"], t[p + ln + ".bias"] = torch.ones(d), torch.zeros(d)
    return t


def random_model_dir(mdir: Path, seed: int = 0):
    """A TemporaryDirectory holding `mdir` with random_tensors() as its model.safetensors, for ports
    that load weights from files (cpp_port, wasm_port). Clean it up once they have loaded."""
    import shutil
    import tempfile

    from safetensors.torch import save_file
    tmp = tempfile.TemporaryDirectory(prefix="portbench_random_")
    out = Path(tmp.name)
    save_file({k: v.contiguous() for k, v in random_tensors(load_config(mdir), seed).items()}, str(out / "model.safetensors"))
    for f in ("config.json", "vocab.txt", "tokenizer.json"):
        shutil.copy(mdir / f, out / f)
    return tmp
