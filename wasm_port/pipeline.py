"""wasm_port Pipeline: drives one long-lived Node process (js/node_runner.mjs) that runs the
emscripten-built model (dist/minilm.wasm) with cpp_port's tokenizer compiled in, set up from the
model spec python_ref read (handed to Node as a JSON file).

The bad-input contract's TypeError/ValueError happen here, via python_ref.api.check_texts, before
anything is sent; raw bytes (tokenize_bytes/embed_bytes) reach the wasm ABI unchecked, so invalid
UTF-8 there comes back as a ValueError with the wasm's message. Timings are taken inside Node
(`time()`), never across the pipe. via="pyodide" tokenizes with python_ref's pure-Python tokenizer
inside Pyodide instead. The pipe (ids, interruptions, `timeout=` seconds per call) is node_pipe.py's;
a model directory Node cannot load is a ModelDirError with the loader's own message.
Leaves out: devices other than cpu, concurrent requests (one lock).
"""
from __future__ import annotations

import base64
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from python_ref.api import Batch, ModelDirError, ModelSpec, check_texts, load_spec, pad_rows

from .node_pipe import NodePipe, WasmRunnerError  # noqa: F401  (WasmRunnerError: re-exported)

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "js" / "node_runner.mjs"
WASM = HERE / "dist" / "minilm.wasm"


def missing(via: str = "wasm") -> str | None:
    """None if this port can run here, else one line saying what is missing."""
    if shutil.which("node") is None:
        return "wasm_port: node not found on PATH"
    if not WASM.is_file():
        return f"wasm_port: {WASM.relative_to(HERE.parent)} not built (emscripten build: make wasm)"
    if via == "pyodide" and not (HERE / "node_modules" / "pyodide" / "pyodide.mjs").is_file():
        return "wasm_port: npm package pyodide not installed (cd wasm_port && npm ci)"
    return None


class Pipeline:
    name = "wasm_port"

    def __init__(self, model: str | ModelSpec | None = None, device: str = "cpu", weights: str = "real",
                 via: str = "wasm", timeout: float | None = None):
        if device != "cpu":
            raise ValueError(f"wasm_port runs on cpu only, not {device!r}")
        self.spec = spec = load_spec(model)   # a directory fault or unsupported setting fails here, in one line
        reason = missing(via)
        if reason:
            raise RuntimeError(reason)
        self._tmp, self._pipe = None, None
        mdir = Path(spec.dir)
        if weights == "random":   # seeded random weights of the same shape, written for Node to read
            from python_ref.model import random_model_dir
            self._tmp = random_model_dir(mdir)  # removed in close(): a restarted Node reads it again
            mdir = Path(self._tmp.name)
        self.via = via
        self._spec_file = tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False)
        with self._spec_file as f:
            f.write(spec.to_json())
        cmd = ["node", str(RUNNER), "--model", str(mdir), "--spec", self._spec_file.name]
        try:
            self._pipe = NodePipe(cmd + (["--pyodide"] if via == "pyodide" else []), timeout)
        except WasmRunnerError as e:   # Node could not load the directory: the loader's own message
            self.close()
            raise ModelDirError(str(e).removeprefix("wasm_port: ")) from None
        self.dim = int(self._pipe.ready["dim"])

    def _call(self, req: dict) -> dict:
        reply = self._pipe.call(req)
        if not reply.get("ok"):
            err = f"wasm_port: {reply.get('error')}"
            raise ValueError(err) if reply.get("code") == -2 else WasmRunnerError(err)
        return reply

    def _floats(self, reply: dict) -> np.ndarray:
        return np.frombuffer(base64.b64decode(reply["data"]), dtype="<f4").reshape(reply["n"], reply["dim"]).copy()

    # -- the Pipeline interface --------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> Batch:
        texts = check_texts(texts)
        return pad_rows(self._call({"op": "tokenize", "texts": texts})["ids"] if texts else [], self.spec.pad_id)

    def forward(self, batch: Batch) -> np.ndarray:
        n, t = batch.ids.shape
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        enc = lambda a: base64.b64encode(np.ascontiguousarray(a, dtype="<i4").tobytes()).decode()  # noqa: E731
        return self._floats(self._call({"op": "forward", "n": n, "t": t, "ids": enc(batch.ids),
                                        "mask": enc(batch.attention_mask)}))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._floats(self._call({"op": "embed", "texts": texts}))

    # -- raw bytes straight into the wasm ABI (invalid UTF-8 -> ValueError) --------------------------
    def tokenize_bytes(self, raw: Sequence[bytes]) -> list[list[int]]:
        return self._call({"op": "tokenize_bytes", "b64": [base64.b64encode(r).decode() for r in raw]})["ids"]

    def embed_bytes(self, raw: Sequence[bytes]) -> np.ndarray:
        return self._floats(self._call({"op": "embed_bytes", "b64": [base64.b64encode(r).decode() for r in raw]}))

    # -- measured inside Node ---------------------------------------------------------------------
    def time(self, what: str, texts: Sequence[str], warmup: int = 3, repeat: int = 20) -> list[float]:
        """Milliseconds per call of `what` ("embed" | "forward" | "tokenize"), timed in JS."""
        return self._call({"op": "time", "what": what, "texts": check_texts(texts), "warmup": warmup,
                           "repeat": repeat})["ms"]

    def info(self) -> dict:
        return self._call({"op": "info"})

    def close(self) -> None:
        if getattr(self, "_pipe", None):
            self._pipe.close()
            self._pipe = None
        if getattr(self, "_tmp", None):
            self._tmp.cleanup()
            self._tmp = None
        if getattr(self, "_spec_file", None):
            Path(self._spec_file.name).unlink(missing_ok=True)
            self._spec_file = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
