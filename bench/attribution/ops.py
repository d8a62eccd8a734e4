"""The op kinds a Python torch forward calls, each with its twin on tiny tensors from Python (PY_CALLS) and from
LibTorch C++ (cpp_port._core.op_cost, same op, same shapes): what overhead.py counts and prices forwards in.
Leaves out: pricing itself (overhead.OpMix), CUDA (cuda_overhead.py)."""
from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import torch
import torch.nn.functional as F

# Python-level torch function name -> calibration kind (the same names op_cost knows in C++).
KIND_OF = {
    "linear": "linear", "layer_norm": "layer_norm", "scaled_dot_product_attention": "sdpa", "gelu": "gelu",
    "add": "add", "__add__": "add", "__radd__": "add", "__iadd__": "add", "mul": "mul", "__mul__": "mul",
    "__rmul__": "mul", "sub": "rsub", "__sub__": "rsub", "__rsub__": "rsub", "rsub": "rsub", "div": "div",
    "__truediv__": "div", "__div__": "div", "sum": "sum", "clamp": "clamp", "clamp_min": "clamp", "view": "view",
    "reshape": "reshape", "permute": "permute", "transpose": "transpose", "unsqueeze": "unsqueeze",
    "squeeze": "squeeze", "unbind": "unbind", "to": "to", "normalize": "normalize", "nonzero": "nonzero",
    "index_select": "index_select", "index_copy_": "index_copy", "index_copy": "index_copy", "zeros": "zeros",
    "new_zeros": "zeros", "__get__": "attr", "dim": "attr", "size": "attr", "numel": "attr",
}
FALLBACK = "add"   # uncalibrated names are priced as a simple pointwise op, and listed
# The Python twin of op_cost's C++ calls (cpp_port/bindings.cpp), on the same tiny shapes, as a forward writes them.
PY_CALLS = {
    "none": "x", "attr": "x.shape", "linear": "F.linear(x, w, b)", "layer_norm": "F.layer_norm(x, (d,), b, b, 1e-12)",
    "sdpa": "F.scaled_dot_product_attention(q, q, q, attn_mask=bias, scale=0.5)", "gelu": "F.gelu(x)",
    "add": "x + x", "mul": "x * x", "rsub": "1.0 - x", "div": "x / x", "sum": "x.sum(1)", "clamp": "x.clamp(min=1e-9)",
    "view": "x.view(2, d)", "reshape": "x.reshape(2, d)", "permute": "x.permute(2, 0, 1)", "transpose": "x.transpose(1, 2)",
    "unsqueeze": "x.unsqueeze(-1)", "squeeze": "x.squeeze(0)", "unbind": "x.unbind(0)", "to": "mask.to(torch.float32)",
    "index": "w[ids]", "getitem": "x[:, None]", "normalize": "F.normalize(x2, p=2, dim=1)",
    "nonzero": "keep.nonzero()", "index_select": "x2.index_select(0, keep)",
    "index_copy": "x2.index_copy_(0, keep, src2)", "zeros": "torch.zeros((2, d), dtype=torch.float32)",
}


def straight(stmts: list[str]):
    """run(t): the statements once, straight-line, with tiny()'s operands in locals: the bytecode around a
    call (attribute loads, arithmetic) is not the call's cost; the replay books it between ops."""
    body = "".join(f"    {s}\n" for s in stmts) or "    pass\n"
    src = (f"def run(t):\n    x, x2, src2, w, b, q, bias, ids, mask, keep, d = (t.x, t.x2, t.src2, t.w, t.b, t.q, "
           f"t.bias, t.ids, t.mask, t.keep, t.d)\n{body}")
    ns = {"F": F, "torch": torch}
    exec(compile(src, "<overhead mix>", "exec"), ns)   # generated: one statement per call priced
    return ns["run"]


def tiny(d: int = 12) -> SimpleNamespace:
    """The operands of PY_CALLS as a forward meets them (op_cost makes the same): weights, input ids and mask
    ordinary tensors, activations inference tensors: an op's cost depends on the kind (dev/NOTES-attribution.md)."""
    g = torch.Generator().manual_seed(0)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    with torch.inference_mode(False):
        w, b, ids, mask = r(d, d), r(d), torch.arange(2).view(1, 2), torch.ones(1, 2, dtype=torch.long)
    with torch.inference_mode():
        return SimpleNamespace(d=d, x=r(1, 2, d), x2=r(2, d), src2=r(2, d), w=w, b=b, q=r(1, 3, 2, d // 3),
                               bias=torch.zeros(1, 1, 1, 2), ids=ids, mask=mask, keep=torch.arange(2))


def kind_of(func, args) -> str:
    name = getattr(func, "__name__", str(func))
    if name == "__getitem__":   # a tensor index gathers (aten::index); anything else is slicing/views
        idx = args[1] if len(args) > 1 else None
        return "index" if any(isinstance(i, torch.Tensor) for i in (idx if isinstance(idx, tuple) else (idx,))) \
            else "getitem"
    return KIND_OF.get(name, "?" + name)


def rows_of(a) -> int:
    """Rows of a tensor of 2 dims or more (all dims but the last), else 0."""
    return a.numel() // a.shape[-1] if isinstance(a, torch.Tensor) and a.dim() >= 2 and a.shape[-1] else 0


def _core():
    """The module whose op_cost(kind, n, d) times one op from C++ (the registry's `op_cost` fact)."""
    import importlib

    from .. import registry
    name = registry.op_cost_module()
    if not name:
        raise ImportError("no registered implementation exposes op_cost")
    return importlib.import_module(name)


def cpp_missing() -> str | None:
    try:
        core = _core()
    except ImportError as e:
        return f"the C++ per-op cost needs a native module with op_cost ({e})"
    return None if hasattr(core, "op_cost") else f"{core.__name__} has no op_cost (rebuild it)"


@contextmanager
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)
