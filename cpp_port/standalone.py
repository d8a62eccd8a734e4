"""cpp_port's standalone binaries as Pipelines: `minilm-embed` (LibTorch) and `minilm-embed-lite`
(wasm_port's portable kernels built natively: no LibTorch, no Python), each driven as one
long-lived child in `--serve` mode (cpp_port/serve.cpp).

The binary reads the model directory itself (its own spec reader, its own refusals: one it refuses
exits with code 2, and comes back as ModelDirError with the binary's line). The Pipeline methods (bad
input refused before sending, raw bytes into the binary, timings inside it) and the pipe (request
ids, `timeout=` seconds per call, a new process after an interrupted call) are contract/served.py's
and serve_pipe.py's, shared with wasm_port's Node runner; here: how the binary is started.
`binary(name)` says where a build put one (the cold-start rows run it directly).
Leaves out: concurrent requests (the pipe's one lock).
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from contract.api import ModelDirError, ModelSpec, model_dir
from contract.serve_pipe import ServeError, ServePipe
from contract.served import Served

HERE = Path(__file__).resolve().parent


def binary(name: str) -> str | None:
    """The dev build's copy next to this file, else the one in this env's bin/, else PATH's."""
    for cand in (HERE / name, Path(sys.prefix) / "bin" / name):
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which(name)


class BinaryError(ServeError):
    """The binary failed, died or stopped answering; the message says why, in one line."""


class _Binary(Served):
    name = label = ""
    exe = ""

    @classmethod
    def missing(cls) -> str | None:
        return None if binary(cls.exe) else f"{cls.name}: {cls.exe} is not built (make setup)"

    def __init__(self, model: str | ModelSpec | None = None, device: str = "cpu", weights: str = "real",
                 threads: int | None = None, timeout: float | None = None):
        exe = binary(self.exe)
        if exe is None:
            raise RuntimeError(self.missing())
        mdir = Path(model.dir) if isinstance(model, ModelSpec) else model_dir(model)
        self._tmp = None
        if weights == "random":   # seeded random weights of the same shape, as files the binary maps
            from contract.weights import random_weights_dir
            self._tmp = random_weights_dir(mdir)   # kept until close(): a restarted binary maps them again
            mdir = Path(self._tmp.name)
        threads = threads or int(os.environ.get("PORTBENCH_THREADS") or 0) or os.cpu_count() or 1
        cmd = [exe, "--serve", "--model", str(mdir), "--threads", str(threads), "--device", device]
        try:
            self._pipe = ServePipe(cmd, self.name, self.exe, BinaryError, timeout)
        except BinaryError as e:
            self.close()
            if e.exit_code == 2:   # the binary's one line about the model directory
                raise ModelDirError(e.tail.removeprefix(f"{self.exe}: ")) from None
            raise
        info = self._pipe.ready
        self.device, self.dim, self.threads = device, int(info["dim"]), int(info["threads"])
        self.pad_id, self.runtime = int(info["pad_id"]), info["runtime"]

    def close(self) -> None:
        self.close_pipe()
        if getattr(self, "_tmp", None):
            self._tmp.cleanup()
            self._tmp = None


class MinilmEmbed(_Binary):
    """`minilm-embed`: cpp_port's LibTorch model, no Python."""
    name = label = "minilm_embed"
    exe = "minilm-embed"


class MinilmEmbedLite(_Binary):
    """`minilm-embed-lite`: the portable kernels built natively, no LibTorch, no Python."""
    name = label = "minilm_embed_lite"
    exe = "minilm-embed-lite"
