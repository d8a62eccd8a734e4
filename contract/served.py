"""The Pipeline interface over a served model process (serve_pipe.py): what wasm_port's Node runner
and cpp_port's binaries share, so each port keeps only how it starts its process.

The bad-input contract's TypeError/ValueError happen here, via check_texts, before anything is sent;
raw bytes (tokenize_bytes/embed_bytes) reach the process unchecked, so invalid UTF-8 comes back as a
ValueError with the process's own message (reply code -2). Timings are taken inside the process
(`time()`), never across the pipe. Prompts: tokenize and embed send the caller's prompt_name / prompt
(type-checked here), and the process resolves them with its own spec (neither: the model's default
prompt), counts the prompt's tokens with its own tokenizer and leaves them out of pooling where the
model says so; a prompt_name the model lacks comes back as ValueError (reply code -7). A class using it
sets `_pipe` (a ServePipe), `label` (the name its errors start with), `dim` and `pad_id`. After close() every method raises ServeError "<label>:
the pipeline is closed", here for every port (not an AttributeError from the missing pipe).
Leaves out: concurrent requests (the pipe's one lock).
"""
from __future__ import annotations

import base64
from typing import Sequence

import numpy as np

from .api import Batch, check_texts, pad_rows
from .serve_pipe import ServeError
from .texts import check_prompt


class Served:
    label = ""
    _pipe = None

    def _open(self):
        """The pipe, or ServeError once close() has run (or the constructor did not get as far)."""
        if self._pipe is None:
            raise ServeError(f"{self.label or type(self).__name__}: the pipeline is closed (close() was called); "
                             "load a new one")
        return self._pipe

    def _call(self, req: dict) -> dict:
        reply = self._open().call(req)
        if not reply.get("ok"):
            err = f"{self.label}: {reply.get('error')}"
            raise ValueError(err) if reply.get("code") in (-2, -7) else self._pipe.error(err)
        return reply

    @staticmethod
    def _prompt(prompt_name, prompt) -> dict:
        """The request's prompt fields (those given), checked as every port checks them."""
        check_prompt(prompt_name, prompt)
        return {k: v for k, v in (("prompt_name", prompt_name), ("prompt", prompt)) if v is not None}

    def _floats(self, reply: dict) -> np.ndarray:
        return np.frombuffer(base64.b64decode(reply["data"]), dtype="<f4").reshape(reply["n"], reply["dim"]).copy()

    # -- the Pipeline interface --------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str], prompt_name: str | None = None, prompt: str | None = None) -> Batch:
        texts, fields = check_texts(texts), self._prompt(prompt_name, prompt)
        self._open()
        reply = self._call({"op": "tokenize", "texts": texts, **fields})   # no texts: still the prompt's check
        batch = pad_rows(reply["ids"], self.pad_id)
        batch.prompt_length = int(reply.get("prompt_length") or 0)
        return batch

    def forward(self, batch: Batch) -> np.ndarray:
        n, t = batch.ids.shape
        self._open()
        if n == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        enc = lambda a: base64.b64encode(np.ascontiguousarray(a, dtype="<i4").tobytes()).decode()  # noqa: E731
        return self._floats(self._call({"op": "forward", "n": n, "t": t, "ids": enc(batch.ids),
                                        "mask": enc(batch.attention_mask), "prompt_length": int(batch.prompt_length)}))

    def embed(self, texts: Sequence[str], prompt_name: str | None = None, prompt: str | None = None) -> np.ndarray:
        texts, fields = check_texts(texts), self._prompt(prompt_name, prompt)
        self._open()
        if not texts and not fields:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._floats(self._call({"op": "embed", "texts": texts, **fields}))

    # -- raw bytes straight into the process (invalid UTF-8 -> ValueError) --------------------------
    def tokenize_bytes(self, raw: Sequence[bytes]) -> list[list[int]]:
        return self._call({"op": "tokenize_bytes", "b64": [base64.b64encode(r).decode() for r in raw]})["ids"]

    def embed_bytes(self, raw: Sequence[bytes]) -> np.ndarray:
        return self._floats(self._call({"op": "embed_bytes", "b64": [base64.b64encode(r).decode() for r in raw]}))

    # -- measured inside the process ---------------------------------------------------------------
    def time(self, what: str, texts: Sequence[str], warmup: int = 3, repeat: int = 20) -> list[float]:
        """Milliseconds per call of `what` ("embed" | "forward" | "tokenize"), timed in the process."""
        return self._call({"op": "time", "what": what, "texts": check_texts(texts), "warmup": warmup,
                           "repeat": repeat})["ms"]

    def info(self) -> dict:
        return self._call({"op": "info"})

    def peak(self, threads: int = 1, ms: int = 300) -> dict:
        """The process's multiply-add peak at its kernels' vector width (wasm_port/peak.cpp):
        {"gflops" on "threads" threads, "lanes"}; ServeError where the process has no probe (LibTorch's binary)."""
        return self._call({"op": "peak", "threads": threads, "ms": ms})

    def close_pipe(self) -> None:
        if getattr(self, "_pipe", None):
            self._pipe.close()
            self._pipe = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
