"""python_ref model: the BERT encoder of a sentence-transformers model in PyTorch eager, plus its head.

Ports transformers' BertModel forward (absolute positions, token type 0, post-LayerNorm, eps from
config), and DistilBertModel's, the same encoder without token types (its tensors found through the
spec's tensor_names), with the FFN activation config.json names (ffn_forward: each of transformers.
activations' definitions), and the sentence-transformers modules after it, as the model spec says:
Pooling (mean, cls, max, mean_sqrt_len_tokens; the prompt's tokens left out where include_prompt is
false), Dense layers (linear + tanh/identity), Normalize. Leaves out: dropout, the unused pooler,
cross-attention, relative positions, KV caching, training. All sizes come from the spec
(contract/spec.py). cpp_port (LibTorch) and wasm_port (own kernels) mirror these function names.
Shapes: N texts, T positions, D hidden, H heads, F FFN width, E output width after Dense.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from contract.spec import ModelDirError, ModelSpec
from contract.weights import random_tensors


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


@dataclass
class Dense:
    w: torch.Tensor              # (E, D_in)
    b: torch.Tensor | None       # (E,)
    activation: str              # "tanh" | "identity"


class BertModel:
    def __init__(self, spec: ModelSpec, tensors: dict[str, torch.Tensor], device: str = "cpu",
                 dense: list[Dense] | None = None):
        self.spec, self.dim = spec, spec.dim
        self.heads, self.eps, self.act = spec.num_attention_heads, spec.layer_norm_eps, spec.hidden_act
        check_tensors(spec, tensors)
        # BERT's names, as model.safetensors gives them (DistilBERT: transformer.layer.{i}.attention.q_lin ...)
        g = lambda k: tensors[spec.tensor_name(k)].to(device=device, dtype=torch.float32).contiguous()  # noqa: E731
        self.word, self.pos = g("embeddings.word_embeddings.weight"), g("embeddings.position_embeddings.weight")
        self.type0 = g("embeddings.token_type_embeddings.weight")[0] if spec.type_vocab_size else None
        self.ln_w, self.ln_b = g("embeddings.LayerNorm.weight"), g("embeddings.LayerNorm.bias")
        self.layers = []
        for i in range(spec.num_hidden_layers):
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
        self.dense = [Dense(d.w.to(device), None if d.b is None else d.b.to(device), d.activation) for d in dense or []]
        self.device = device

    @classmethod
    def from_dir(cls, spec: ModelSpec, device: str = "cpu", weights: str = "real") -> "BertModel":
        mdir = Path(spec.dir)
        dense = [load_dense(mdir, d) for d in spec.dense]
        if weights == "random":
            return cls(spec, random_tensors(spec.to_dict()), device, dense)
        tensors = {k.removeprefix(spec.tensor_prefix): v for k, v in _load_safetensors(mdir, "model.safetensors").items()}
        return cls(spec, tensors, device, dense)

    @torch.inference_mode()
    def forward(self, ids: torch.Tensor, mask: torch.Tensor, prompt_length: int = 0) -> torch.Tensor:
        """ids, mask: int64 (N, T) -> float32 (N, E): pooled, through the Dense layers, normalised if the model
        says; prompt_length: the prompt's tokens at the start of each row (Batch.prompt_length)."""
        x = embeddings_forward(self, ids)                             # (N, T, D)
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min  # (N, 1, 1, T)
        for layer in self.layers:
            x = layer_forward(x, bias, layer, self.heads, self.eps, self.act)
        return head_forward(self, x, mask, prompt_length)             # (N, E)


def head_forward(m: BertModel, x: torch.Tensor, mask: torch.Tensor, prompt_length: int = 0) -> torch.Tensor:
    """(N, T, D) hidden states -> (N, E): the spec's pooling, its Dense layers, then Normalize if the
    model has one (python_ref_packed ends with it too). include_prompt false: the prompt's positions are
    masked for pooling only, as sentence-transformers' Pooling does."""
    if prompt_length and not m.spec.include_prompt:
        mask = mask.clone()
        mask[:, :prompt_length] = 0                                   # (N, T), for pooling only
    y = POOLS[m.spec.pooling](x, mask)                                # (N, D)
    for d in m.dense:
        y = dense_forward(y, d)                                       # (N, E)
    return l2_normalize(y) if m.spec.normalize else y


def expected_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Every tensor the encoder reads (BERT's name), with the shape config.json implies (as transformers'
    BertModel, DistilBertModel)."""
    d, f = spec.hidden_size, spec.intermediate_size
    out = {"embeddings.word_embeddings.weight": (spec.vocab_size, d),
           "embeddings.position_embeddings.weight": (spec.max_position_embeddings, d),
           "embeddings.token_type_embeddings.weight": (spec.type_vocab_size, d),
           "embeddings.LayerNorm.weight": (d,), "embeddings.LayerNorm.bias": (d,)}
    if not spec.type_vocab_size:
        del out["embeddings.token_type_embeddings.weight"]
    for i in range(spec.num_hidden_layers):
        p = f"encoder.layer.{i}."
        for name, (rows, cols) in (("attention.self.query", (d, d)), ("attention.self.key", (d, d)),
                                   ("attention.self.value", (d, d)), ("attention.output.dense", (d, d)),
                                   ("intermediate.dense", (f, d)), ("output.dense", (d, f))):
            out[p + name + ".weight"], out[p + name + ".bias"] = (rows, cols), (rows,)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            out[p + ln + ".weight"], out[p + ln + ".bias"] = (d,), (d,)
    return out


def check_tensors(spec: ModelSpec, tensors: dict[str, torch.Tensor], file: str = "model.safetensors") -> None:
    """Refuse, in one line naming the tensor, weights the model cannot use: missing, not floating point,
    of another shape than config.json says (a transposed weight has the right size only), or holding
    NaN or infinity (every vector would be NaN). One pass over the weights: cheap next to loading them.
    `tensors`: as the file names them (tensor_prefix dropped); errors name them so."""
    for bert_name, shape in expected_shapes(spec).items():
        name = spec.tensor_name(bert_name)
        t = tensors.get(name)
        if t is None:
            raise ModelDirError(f"{file}: lacks tensor {name!r}")
        if not t.is_floating_point():
            raise ModelDirError(f"{file}: tensor {name} is {str(t.dtype).removeprefix('torch.')}, not floating point")
        if tuple(t.shape) != shape:
            raise ModelDirError(f"{file}: tensor {name} has shape {list(t.shape)}; config.json says {list(shape)}")
        if not torch.isfinite(t).all():
            raise ModelDirError(f"{file}: tensor {name} holds NaN or infinite values")


def _load_safetensors(mdir: Path, rel: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    if not (mdir / rel).is_file():   # never open a FIFO (it would block) or a device
        raise ModelDirError(f"{rel}: missing, or not a regular file")
    try:
        return load_file(str(mdir / rel))
    except Exception as e:  # safetensors raises several types for a corrupt file
        raise ModelDirError(f"{rel}: cannot read ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def load_dense(mdir: Path, d) -> Dense:
    """A Dense module's folder (sentence-transformers' layout: linear.weight, linear.bias)."""
    t = _load_safetensors(mdir, f"{d.path}/model.safetensors")
    w, b = t.get("linear.weight"), t.get("linear.bias")
    if w is None or tuple(w.shape) != (d.out_features, d.in_features) or (d.bias and (b is None or tuple(b.shape) != (d.out_features,))):
        raise ModelDirError(f"{d.path}/model.safetensors: linear.weight/bias do not match {d.path}/config.json")
    for name, x in (("linear.weight", w), ("linear.bias", b if d.bias else None)):
        if x is not None and not (x.is_floating_point() and torch.isfinite(x).all()):
            raise ModelDirError(f"{d.path}/model.safetensors: tensor {name} is not finite floating point")
    return Dense(w.float().contiguous(), b.float().contiguous() if d.bias else None, d.activation)


def embeddings_forward(m: BertModel, ids: torch.Tensor) -> torch.Tensor:
    t = ids.shape[1]
    x = m.word[ids] + m.pos[:t]                                       # (N, T, D)
    if m.type0 is not None:                                           # token type 0 (DistilBERT has none)
        x = x + m.type0
    return F.layer_norm(x, (x.shape[-1],), m.ln_w, m.ln_b, m.eps)


def attention_forward(x: torch.Tensor, bias: torch.Tensor, p: Layer, heads: int) -> torch.Tensor:
    n, t, d = x.shape
    qkv = F.linear(x, p.qkv_w, p.qkv_b)                               # (N, T, 3D)
    q, k, v = qkv.view(n, t, 3, heads, d // heads).permute(2, 0, 3, 1, 4)  # each (N, H, T, D/H)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0 / math.sqrt(d // heads))
    y = y.transpose(1, 2).reshape(n, t, d)                            # (N, T, D)
    return F.linear(y, p.ao_w, p.ao_b)


def ffn_forward(x: torch.Tensor, p: Layer, act: str = "gelu") -> torch.Tensor:
    h = F.linear(x, p.ff1_w, p.ff1_b)                                 # (N, T, F)
    # config.json's hidden_act, each as transformers.activations writes it
    if act == "gelu":                                                 # exact erf GELU
        h = F.gelu(h)
    elif act == "gelu_pytorch_tanh":                                  # torch's tanh approximation
        h = F.gelu(h, approximate="tanh")
    elif act == "gelu_new":                                           # the same formula, in ops
        h = 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * torch.pow(h, 3.0))))
    elif act == "gelu_fast":
        h = 0.5 * h * (1.0 + torch.tanh(h * 0.7978845608 * (1.0 + 0.044715 * h * h)))
    elif act == "relu":
        h = F.relu(h)
    else:
        raise ValueError(f"hidden_act {act!r}")                       # the spec reader refuses it first
    return F.linear(h, p.ff2_w, p.ff2_b)                              # (N, T, D)


def layer_forward(x: torch.Tensor, bias: torch.Tensor, p: Layer, heads: int, eps: float, act: str = "gelu") -> torch.Tensor:
    d = x.shape[-1]
    x = F.layer_norm(x + attention_forward(x, bias, p, heads), (d,), p.ln1_w, p.ln1_b, eps)
    return F.layer_norm(x + ffn_forward(x, p, act), (d,), p.ln2_w, p.ln2_b, eps)


def mean_pool(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(x.dtype)                                # (N, T, 1)
    return (x * m).sum(1) / m.sum(1).clamp(min=1e-9)                  # (N, D)


def mean_sqrt_len_pool(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(x.dtype)                                # (N, T, 1)
    return (x * m).sum(1) / torch.sqrt(m.sum(1).clamp(min=1e-9))      # (N, D)


def cls_pool(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    first = mask.to(torch.int).argmax(1)                              # (N,) first real position
    return x[torch.arange(x.shape[0], device=x.device), first]        # (N, D)


def max_pool(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return x.masked_fill(mask.unsqueeze(-1) == 0, float("-inf")).max(1).values  # (N, D)


POOLS = {"mean": mean_pool, "cls": cls_pool, "max": max_pool, "mean_sqrt_len_tokens": mean_sqrt_len_pool}


def dense_forward(x: torch.Tensor, d: Dense) -> torch.Tensor:
    y = F.linear(x, d.w, d.b)                                         # (N, E)
    return torch.tanh(y) if d.activation == "tanh" else y


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, p=2, dim=1)                                 # (N, E), unit rows
