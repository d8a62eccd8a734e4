"""cpp_port's standalone binaries as Pipelines: `minilm-embed` (LibTorch) and `minilm-embed-lite`
(wasm_port's portable kernels built natively: no LibTorch, no Python), each driven as one
long-lived child in `--serve` mode (cpp_port/serve.cpp), as wasm_port's pipeline drives Node.

The binary reads the model directory itself (its own spec reader, its own refusals: a fault comes
back as ModelDirError with the binary's line). The bad-input contract's TypeError/ValueError happen
here, via python_ref's check_texts, before anything is sent; raw bytes (tokenize_bytes/embed_bytes)
reach the binary unchecked, so invalid UTF-8 comes back as a ValueError with the binary's message.
Timings are taken inside the binary (`time()`), never across the pipe. `binary(name)` says where a
build put one (the cold-start rows run it directly). Leaves out: concurrent requests (one lock).
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from python_ref.api import Batch, ModelDirError, ModelSpec, check_texts, model_dir, pad_rows

HERE = Path(__file__).resolve().parent


def binary(name: str) -> str | None:
    """The dev build's copy next to this file, else the one in this env's bin/, else PATH's."""
    for cand in (HERE / name, Path(sys.prefix) / "bin" / name):
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which(name)


class BinaryError(RuntimeError):
    """The binary failed or died; the message carries its last stderr lines."""


class _Binary:
    name = ""
    exe = ""

    @classmethod
    def missing(cls) -> str | None:
        return None if binary(cls.exe) else f"{cls.name}: {cls.exe} is not built (make setup)"

    def __init__(self, model: str | ModelSpec | None = None, device: str = "cpu", weights: str = "real",
                 threads: int | None = None):
        exe = binary(self.exe)
        if exe is None:
            raise RuntimeError(self.missing())
        mdir = Path(model.dir) if isinstance(model, ModelSpec) else model_dir(model)
        self._tmp = None
        if weights == "random":   # seeded random weights of the same shape, as files the binary maps
            from python_ref.model import random_model_dir
            self._tmp = random_model_dir(mdir)
            mdir = Path(self._tmp.name)
        threads = threads or int(os.environ.get("PORTBENCH_THREADS") or 0) or os.cpu_count() or 1
        self._err = tempfile.TemporaryFile()
        self._proc = subprocess.Popen([exe, "--serve", "--model", str(mdir), "--threads", str(threads),
                                       "--device", device], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._err)
        self._lock = threading.Lock()
        try:
            info = self._read()
        except BinaryError as e:
            rc = self._proc.wait()
            self.close()
            if rc == 2:   # the binary's one line about the model directory
                raise ModelDirError(str(e).removeprefix(f"{self.exe}: ")) from None
            raise
        finally:
            if self._tmp is not None:   # mapped by now (or failed): the files can go
                self._tmp.cleanup()
                self._tmp = None
        self.device, self.dim, self.threads = device, int(info["dim"]), int(info["threads"])
        self.pad_id, self.runtime = int(info["pad_id"]), info["runtime"]

    def _stderr_tail(self) -> str:
        self._err.seek(0)
        lines = self._err.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(lines[-3:]) or f"{self.exe} exited with code {self._proc.poll()}"

    def _read(self) -> dict:
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait()
            raise BinaryError(self._stderr_tail())
        reply = json.loads(line)
        if not reply.get("ok"):
            err = f"{self.exe}: {reply.get('error')}"
            raise ValueError(err) if reply.get("code") == -2 else BinaryError(err)
        return reply

    def _call(self, req: dict) -> dict:
        data = (json.dumps(req, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if self._proc.poll() is not None:
                raise BinaryError(self._stderr_tail())
            self._proc.stdin.write(data)
            self._proc.stdin.flush()
            return self._read()

    def _floats(self, reply: dict) -> np.ndarray:
        return np.frombuffer(base64.b64decode(reply["data"]), dtype="<f4").reshape(reply["n"], reply["dim"]).copy()

    # -- the Pipeline interface --------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> Batch:
        texts = check_texts(texts)
        return pad_rows(self._call({"op": "tokenize", "texts": texts})["ids"] if texts else [], self.pad_id)

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

    # -- raw bytes straight into the binary (invalid UTF-8 -> ValueError) ----------------------------
    def tokenize_bytes(self, raw: Sequence[bytes]) -> list[list[int]]:
        return self._call({"op": "tokenize", "b64": [base64.b64encode(r).decode() for r in raw]})["ids"]

    def embed_bytes(self, raw: Sequence[bytes]) -> np.ndarray:
        return self._floats(self._call({"op": "embed", "b64": [base64.b64encode(r).decode() for r in raw]}))

    # -- measured inside the binary ------------------------------------------------------------------
    def time(self, what: str, texts: Sequence[str], warmup: int = 3, repeat: int = 20) -> list[float]:
        """Milliseconds per call of `what` ("embed" | "forward" | "tokenize"), timed in the binary."""
        return self._call({"op": "time", "what": what, "texts": check_texts(texts), "warmup": warmup,
                           "repeat": repeat})["ms"]

    def info(self) -> dict:
        return self._call({"op": "info"})

    def close(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc and proc.poll() is None:
            proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if getattr(self, "_tmp", None):
            self._tmp.cleanup()
            self._tmp = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class MinilmEmbed(_Binary):
    """`minilm-embed`: cpp_port's LibTorch model, no Python."""
    name, exe = "minilm_embed", "minilm-embed"


class MinilmEmbedLite(_Binary):
    """`minilm-embed-lite`: the portable kernels built natively, no LibTorch, no Python."""
    name, exe = "minilm_embed_lite", "minilm-embed-lite"
