"""The int8 rows (docs/DESIGN.md §2): the reference's torch model and the onnxruntime session, weights quantised
to int8 dynamically at load from the baseline's fp32 weights; the reference's tokenizer and pooling. Judged by
the fidelity budget (tolerances.FIDELITY), not the fp32 contract.
  TorchInt8        quantize_dynamic (one scale per output row) of every Linear; a TorchFunctionMode keyed by the
                   weight routes F.linear to the quantised modules, python_ref's code unchanged. The fp32 weights
                   are dropped, so a call the mode missed fails loudly instead of running fp32.
  OnnxRuntimeInt8  onnxruntime's quantize_dynamic (QInt8, per channel: MatMul and the embedding Gathers) of the
                   fp32 export, beside it as model_quantized.onnx ("q8" of transformers.js), rebuilt when it changes.
Leaves out: static (calibrated) quantisation, int8 of the project's own kernels (registry.UNBUILT), CUDA."""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

from .peers import OnnxRuntime, OnReference, missing_onnx


class TorchInt8(OnReference):
    """The reference's pipeline with its Linear weights in int8 (dynamic, per channel)."""
    name = "python_ref_int8"

    def __init__(self, model=None, device="cpu", **kw):
        import torch
        import torch.nn.functional as F
        from torch.overrides import TorchFunctionMode

        from python_ref.pipeline import Pipeline
        if device != "cpu":
            raise RuntimeError(f"{self.name}: torch's dynamic int8 kernels run on the CPU only, not {device}")
        self.ref = Pipeline(model, device, **kw)
        m, self.dim = self.ref.model, self.ref.dim
        owners = [(layer, w) for layer in m.layers for w in ("qkv_w", "ao_w", "ff1_w", "ff2_w")] + \
                 [(d, "w") for d in m.dense]                      # (object, its weight attribute)
        linears = torch.nn.ModuleList()
        for obj, w in owners:
            weight = getattr(obj, w)                                # (out, in)
            bias = getattr(obj, w[:-1] + "b")
            lin = torch.nn.utils.skip_init(torch.nn.Linear, weight.shape[1], weight.shape[0], bias=bias is not None)
            lin.weight = torch.nn.Parameter(weight, requires_grad=False)
            if bias is not None:
                lin.bias = torch.nn.Parameter(bias, requires_grad=False)
            linears.append(lin)
        # torch 2.13's deprecation warnings for torch.ao.quantization: only those, only here (dev/NOTES-hosts.md)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated")
            warnings.filterwarnings("ignore", message="torch.quantize_per_tensor, torch.quantize_per_channel")
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
            qlin = quantize_dynamic(linears, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
        route = {}
        for (obj, w), q in zip(owners, qlin):
            stand_in = torch.empty(0)                               # the fp32 weight goes; F.linear on this one routes
            setattr(obj, w, stand_in)
            route[id(stand_in)] = (stand_in, q)                     # the tensor kept alive: its id stays its own
        self.routed = len(route)

        class Route(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                if func is F.linear and len(args) > 1 and id(args[1]) in route:
                    return route[id(args[1])][1](args[0])         # (..., in) -> (..., out), bias included
                return func(*args, **(kwargs or {}))
        fp32_forward = m.forward

        def forward(ids, mask, prompt_length=0):
            with Route():
                return fp32_forward(ids, mask, prompt_length)
        m.forward = forward


INT8_NAME = "model_quantized.onnx"   # beside the fp32 export: the file transformers.js' dtype "q8" loads
SETTINGS = {"weight_type": "QInt8", "per_channel": True, "how": "onnxruntime.quantization.quantize_dynamic"}


def _sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def int8_export(fp32: Path) -> Path:
    """The int8 model of the export `fp32`, rebuilt when it changes (its sha1 kept in model_quantized.json)."""
    out, meta = fp32.with_name(INT8_NAME), fp32.with_name("model_quantized.json")
    want = {"source_sha1": _sha1(fp32), **SETTINGS}
    try:
        if out.is_file() and json.loads(meta.read_text()) == want:
            return out
    except (OSError, ValueError):
        pass
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    logging.disable(logging.WARNING)   # its advice to run shape inference first: quantised as users quantise
    try:
        quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
        os.replace(tmp, out)
    finally:
        logging.disable(logging.NOTSET)
        tmp.unlink(missing_ok=True)
    meta.write_text(json.dumps(want))
    return out


def missing_int8() -> str | None:
    reason = missing_onnx()
    if reason:
        return reason.replace("onnxruntime:", "onnxruntime_int8:", 1)
    try:
        import onnx  # noqa: F401
        from onnxruntime.quantization import quantize_dynamic  # noqa: F401
    except ImportError as e:
        return f"onnxruntime_int8: onnxruntime.quantization cannot be imported ({e})"
    return None


class OnnxRuntimeInt8(OnnxRuntime):
    """onnxruntime's session on the int8 model of the same export (the reference's tokenizer, pooling here)."""
    name = "onnxruntime_int8"
    missing = staticmethod(missing_int8)

    def __init__(self, model=None, device="cpu", **kw):
        if device != "cpu":
            raise RuntimeError(f"{self.name}: a CPU session of int8 kernels; not {device}")
        super().__init__(model, device, **kw)

    def model_file(self, mdir) -> Path:
        return int8_export(super().model_file(mdir))
