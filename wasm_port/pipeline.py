"""wasm_port Pipeline: drives one long-lived Node process (js/node_runner.mjs) that runs the
emscripten-built model (dist/minilm.wasm) with cpp_port's tokenizer compiled in, set up from the
model spec python_ref read (handed to Node as a JSON file).

The Pipeline methods (bad input refused before sending, raw bytes into the wasm ABI, timings inside
Node) and the pipe (ids, interruptions, `timeout=` seconds per call) are contract/served.py's and
serve_pipe.py's, shared with cpp_port's binaries; here: how Node is started. via="pyodide" tokenizes
with python_ref's pure-Python tokenizer inside Pyodide instead. A model directory Node cannot load is
a ModelDirError with the loader's own message. `threads` (else PORTBENCH_THREADS, else 1), as the
bench pins every implementation's: 1 runs a single-threaded build, N > 1 a threaded one with N - 1
workers; a runner that did not get them fails here, never runs on fewer. relaxed=True: Node starts
with relaxed SIMD on (Node 20: --experimental-wasm-relaxed-simd; Chromium ships it) and the loader
takes the relaxed-SIMD build where the engine validates it; False: plain SIMD128. `build` and
`threads` say what runs ("simd128", "simd128-mt", "relaxed", "relaxed-mt").
Leaves out: devices other than cpu, concurrent requests (one lock).
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from contract.api import ModelDirError, ModelSpec, load_spec
from contract.serve_pipe import ServeError, ServePipe
from contract.served import Served


class WasmRunnerError(ServeError):
    """Node failed, died or stopped answering; the message says why, in one line."""


HERE = Path(__file__).resolve().parent
RUNNER = HERE / "js" / "node_runner.mjs"
WASM = HERE / "dist" / "minilm.wasm"
WASM_MT = HERE / "dist" / "minilm_mt.wasm"
RELAXED_FLAG = "--experimental-wasm-relaxed-simd"


@functools.lru_cache(maxsize=None)
def node_flags() -> tuple[str, ...]:
    """The flag that turns relaxed SIMD on in this Node, where it takes one (Node 20); () where not."""
    try:
        ok = subprocess.run(["node", RELAXED_FLAG, "-e", ""], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return (RELAXED_FLAG,) if ok else ()


def threads_wanted(threads: int | None = None) -> int:
    """The threads asked for: `threads`, else PORTBENCH_THREADS (the bench's pin), else 1."""
    return max(1, int(threads or os.environ.get("PORTBENCH_THREADS") or 1))


def missing(via: str = "wasm", threads: int | None = None) -> str | None:
    """None if this port can run here (on threads_wanted(threads)), else one line saying what is missing."""
    if shutil.which("node") is None:
        return "wasm_port: node not found on PATH"
    n = threads_wanted(threads)
    for need, f in ((True, WASM), (n > 1, WASM_MT), (True, WASM.with_name("minilm_relaxed.wasm")),
                    (n > 1, WASM.with_name("minilm_relaxed_mt.wasm"))):
        if need and not f.is_file():
            return f"wasm_port: {f.relative_to(HERE.parent)} not built (emscripten build: make wasm)"
    if via == "pyodide" and not (HERE / "node_modules" / "pyodide" / "pyodide.mjs").is_file():
        return "wasm_port: npm package pyodide not installed (cd wasm_port && npm ci)"
    return None


class Pipeline(Served):
    name = label = "wasm_port"

    def __init__(self, model: str | ModelSpec | None = None, device: str = "cpu", weights: str = "real",
                 via: str = "wasm", threads: int | None = None, relaxed: bool = True, timeout: float | None = None):
        if device != "cpu":
            raise ValueError(f"wasm_port runs on cpu only, not {device!r}")
        self.spec = spec = load_spec(model)   # a directory fault or unsupported setting fails here, in one line
        threads = threads_wanted(threads)
        reason = missing(via, threads)
        if reason:
            raise RuntimeError(reason)
        self._tmp, self._pipe = None, None
        mdir = Path(spec.dir)
        if weights == "random":   # seeded random weights of the same shape, written for Node to read
            from contract.weights import random_weights_dir
            self._tmp = random_weights_dir(mdir)  # removed in close(): a restarted Node reads it again
            mdir = Path(self._tmp.name)
        self.via = via
        self._spec_file = tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False)
        with self._spec_file as f:
            f.write(spec.to_json())
        cmd = ["node", *(node_flags() if relaxed else ()), str(RUNNER), "--model", str(mdir), "--spec",
               self._spec_file.name, "--threads", str(threads), "--relaxed", "auto" if relaxed else "0"]
        try:
            self._pipe = ServePipe(cmd + (["--pyodide"] if via == "pyodide" else []), "wasm_port", "node",
                                   WasmRunnerError, timeout)
        except WasmRunnerError as e:   # Node could not load the directory: the loader's own message
            self.close()
            raise ModelDirError(str(e).removeprefix("wasm_port: ")) from None
        ready = self._pipe.ready
        self.dim, self.pad_id = int(ready["dim"]), spec.pad_id
        self.build, self.threads = ready.get("build"), int(ready.get("threads") or 0)
        if self.threads != threads:   # never a silent fallback to fewer threads
            self.close()
            raise WasmRunnerError(f"wasm_port: asked for {threads} threads, the Node runner has {self.threads} "
                                  f"({ready.get('fallback') or self.build})")

    def close(self) -> None:
        self.close_pipe()
        if getattr(self, "_tmp", None):
            self._tmp.cleanup()
            self._tmp = None
        if getattr(self, "_spec_file", None):
            Path(self._spec_file.name).unlink(missing_ok=True)
            self._spec_file = None
