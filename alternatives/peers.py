"""Peers and cheaper interventions behind the one Pipeline interface: hf_tokenizers (tokenizer only),
sentence_transformers, onnxruntime (a CPU session on the project's ONNX export), python_ref under
torch.compile. The int8 rows are alternatives/quantised.py."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from contract.api import Batch, check_texts, model_dir, pad_rows, prompt_length, prompted, read_spec

from bench.equivalence import oracle

ROOT = Path(__file__).resolve().parent.parent
# written by `make onnx` (wasm_port/export_onnx.py), shared with the browser peer transformers.js
ONNX_PATH = ROOT / "build" / "onnx" / "minilm" / "onnx" / "model.onnx"


class HFTokenizers:
    name = "hf_tokenizers"

    def __init__(self, model=None, device="cpu", **_):
        self.tok = oracle.hf_tokenizer(model_dir(model))
        self.spec = read_spec(model_dir(model))

    def tokenize(self, texts: Sequence[str], prompt_name: str | None = None, prompt: str | None = None) -> Batch:
        texts, p = prompted(self.spec, texts, prompt_name, prompt)   # the model's default prompt too
        batch = pad_rows([e.ids for e in self.tok.encode_batch(check_texts(texts))])
        batch.prompt_length = prompt_length(self.tok.encode(p).ids) if p else 0
        return batch

    def encode_raw(self, texts: Sequence[str]):
        """encode_batch alone: the strict baseline for tokenizer throughput (no padding, no checks)."""
        return self.tok.encode_batch(texts)

    def forward(self, batch: Batch) -> np.ndarray:
        raise NotImplementedError("hf_tokenizers is a tokenizer only")

    embed = forward


class SentenceTransformers:
    name = "sentence_transformers"

    def __init__(self, model=None, device="cpu", **_):
        import torch
        self.torch, self.device, self.mdir = torch, device, model_dir(model)
        self.model = oracle.st_model(self.mdir, device)
        self.types = "token_type_ids" in self.model.tokenizer.model_input_names

    def tokenize(self, texts: Sequence[str], prompt_name: str | None = None, prompt: str | None = None) -> Batch:
        """Its own preprocess(), with the prompt encode() would use (the model's default one too)."""
        p = oracle.st_prompt(self.mdir, prompt_name, prompt)
        f = self.model.preprocess(check_texts(texts), prompt=p or None)
        return Batch(f["input_ids"].numpy().astype(np.int64), f["attention_mask"].numpy().astype(np.int64),
                     int(f.get("prompt_length") or 0))

    def forward(self, batch: Batch) -> np.ndarray:
        t = self.torch
        feats = {"input_ids": t.from_numpy(batch.ids).to(self.device),
                 "attention_mask": t.from_numpy(batch.attention_mask).to(self.device)}
        if self.types:   # BERT's forward takes token types; DistilBERT's does not
            feats["token_type_ids"] = t.zeros_like(t.from_numpy(batch.ids)).to(self.device)
        if batch.prompt_length:
            feats["prompt_length"] = batch.prompt_length
        with t.inference_mode():
            return self.model(feats)["sentence_embedding"].float().cpu().numpy()

    def embed(self, texts: Sequence[str], prompt_name: str | None = None, prompt: str | None = None) -> np.ndarray:
        return self.forward(self.tokenize(texts, prompt_name, prompt))


def missing_onnx() -> str | None:
    if not ONNX_PATH.is_file():
        return f"onnxruntime: no ONNX export at {ONNX_PATH.relative_to(ROOT)} (run `make onnx`)"
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "onnxruntime: the onnxruntime package is not installed"
    return None


def onnx_path(mdir: Path) -> Path:
    """The ONNX export of `mdir`: `make onnx`'s for the packaged model, else one exported into
    build/onnx-<hash of its config and weights>/, so a session never runs another model's weights."""
    from contract.api import model_dir as default_dir
    if Path(mdir).resolve() == default_dir().resolve():
        return ONNX_PATH
    import hashlib

    from wasm_port.export_onnx import NAME, export
    h = hashlib.sha1()
    for f in ("config.json", "model.safetensors"):
        with open(Path(mdir) / f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    out = ROOT / "build" / f"onnx-{h.hexdigest()[:12]}"
    cached = out / NAME / "onnx" / "model.onnx"   # keyed by content: if it is there, it is this model's
    return cached if cached.is_file() else export(Path(mdir), out) / "onnx" / "model.onnx"


class OnnxRuntime:
    """python_ref's tokenizer + an onnxruntime CPU session: a runtime change, not a port."""
    name = "onnxruntime"
    missing = staticmethod(missing_onnx)

    def __init__(self, model=None, device="cpu", **_):
        import onnxruntime as ort
        from python_ref.pipeline import Pipeline
        reason = missing_onnx()
        if reason:
            raise RuntimeError(reason)
        self.ref = Pipeline(model, "cpu")
        from wasm_port.export_onnx import check_head
        why = check_head(self.ref.spec)   # the ONNX graph is the encoder: its head must be what forward() applies
        if why:
            raise RuntimeError(why)
        self.path = self.model_file(model_dir(model))   # this model's own export (by content), never another's
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(os.environ.get("PORTBENCH_THREADS", "0") or 0)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no spinning into the next impl's timing
        self.sess = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.sess.get_inputs()}

    def model_file(self, mdir: Path) -> Path:
        """The ONNX file the session runs (alternatives/quantised.py's int8 row: the int8 model of the same export)."""
        return onnx_path(mdir)

    def tokenize(self, texts):
        return self.ref.tokenize(texts)

    def forward(self, batch: Batch) -> np.ndarray:
        if batch.ids.shape[0] == 0:
            return np.zeros((0, self.ref.dim), np.float32)
        feed = {"input_ids": batch.ids, "attention_mask": batch.attention_mask}
        if "token_type_ids" in self.inputs:
            feed["token_type_ids"] = np.zeros_like(batch.ids)
        out = self.sess.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]  # (N, T, D) or (N, D)
        if out.ndim == 3:  # last_hidden_state: pool here, as sentence-transformers does
            m = batch.attention_mask[..., None].astype(np.float32)
            out = (out * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)

    def embed(self, texts):
        return self.forward(self.tokenize(texts))


class OnReference:
    """An intervention on python_ref's own pipeline (`self.ref`), whose forward it changes in place: the
    interface's calls are the reference's."""

    def tokenize(self, texts, prompt_name=None, prompt=None):
        return self.ref.tokenize(texts, prompt_name, prompt)

    def forward(self, batch):
        return self.ref.forward(batch)

    def embed(self, texts, prompt_name=None, prompt=None):
        return self.ref.embed(texts, prompt_name, prompt)


class TorchCompiled(OnReference):
    """python_ref with torch.compile on the model's forward: the cheaper fix tried before a port."""
    name = "python_ref_compile"

    def __init__(self, model=None, device="cpu", **kw):
        import functools

        import torch
        from python_ref.pipeline import Pipeline
        self.ref = Pipeline(model, device, **kw)
        m = self.ref.model
        # dynamo cannot trace through @torch.inference_mode ("Cannot set version_counter for inference
        # tensor"): compile the undecorated forward and run it under no_grad instead
        compiled = torch.compile(functools.partial(type(m).forward.__wrapped__, m), dynamic=True)

        def forward(ids, mask, prompt_length=0):
            with torch.no_grad():
                return compiled(ids, mask, prompt_length)
        m.forward = forward
        self.dim = self.ref.dim
