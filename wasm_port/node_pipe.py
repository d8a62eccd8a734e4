"""wasm_port's pipe to its Node process (js/node_runner.mjs): JSON lines, one reply per request.

Every request carries an id that its reply echoes, and a reply is only ever matched to its own
call. A call that is interrupted (Ctrl-C, a signal's exception) or times out stops the Node process,
whose late reply could otherwise reach a later call; the next call starts a new one. The timeout is
for a Node that stopped answering: `timeout` seconds per call, or by default a minute plus 0.1 s per
text (per round, for timings) plus 2 s per MB sent. Lines are read with os.read into our own
buffer, so an interruption loses nothing already read. Leaves out: concurrent requests (one lock).
"""
from __future__ import annotations

import itertools
import json
import os
import re
import select
import subprocess
import tempfile
import threading
import time


class WasmRunnerError(RuntimeError):
    """The Node process failed, died or stopped answering; the message says why, in one line."""


class NodePipe:
    START_TIMEOUT = 180.0   # seconds for Node to load the model (Pyodide included) on a busy machine

    def __init__(self, cmd: list[str], timeout: float | None = None):
        self.cmd, self.timeout = cmd, timeout
        self.proc, self.ready = None, {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._start()

    def _start(self) -> None:
        """A new Node process; returns once it has loaded the model, else WasmRunnerError (its message)."""
        self._err, self._buf = tempfile.TemporaryFile(), b""
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err)
        try:
            ready = self._reply(None, time.monotonic() + self.START_TIMEOUT)
        except TimeoutError:
            self._stop()
            raise WasmRunnerError(f"wasm_port: node did not load the model within {self.START_TIMEOUT:.0f} s") from None
        except BaseException:
            self._stop()
            raise
        if not ready.get("ok"):
            self._stop()
            raise WasmRunnerError(f"wasm_port: {ready.get('error')}")
        self.ready = ready

    def _stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()

    def stderr_tail(self) -> str:
        """Why Node stopped, in one line: its error line ('XError: ...', a fatal error), else its last line."""
        self._err.seek(0)
        lines = [x.strip() for x in self._err.read().decode("utf-8", "replace").splitlines()]
        lines = [x for x in lines if x and x != "}" and not x.startswith(("Node.js v", "at ", "^"))]
        errors = [x for x in lines if re.match(r"\w*Error\b.*:", x) or "FATAL ERROR" in x]
        code = self.proc.poll() if self.proc else None
        return (errors or lines or [f"node exited with code {code}"])[-1]

    def _line(self, deadline: float) -> bytes:
        fd, parts = self.proc.stdout.fileno(), [self._buf]
        while b"\n" not in parts[-1]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if not select.select([fd], [], [], left)[0]:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise WasmRunnerError(f"wasm_port: node stopped: {self.stderr_tail()}")
            parts.append(chunk)
        line, _, self._buf = b"".join(parts).partition(b"\n")
        return line

    def _reply(self, rid: int | None, deadline: float) -> dict:
        """The reply to request `rid` (None: the ready line). Anything else on the pipe is skipped."""
        while True:
            try:
                reply = json.loads(self._line(deadline))
            except ValueError:
                continue
            if isinstance(reply, dict) and reply.get("id") == rid:
                return reply

    def budget(self, req: dict, nbytes: int) -> float:
        """Seconds to wait for the reply to `req` (nbytes long) when no timeout was given."""
        rounds = int(req.get("warmup", 0)) + int(req.get("repeat", 1)) if req["op"] == "time" else 1
        n = max(len(req.get("texts") or req.get("b64") or []), int(req.get("n", 0)))
        return 60.0 + 0.1 * n * rounds + 2.0 * nbytes / 1e6

    def call(self, req: dict) -> dict:
        """Send `req`, return its reply ({"ok": ...}); WasmRunnerError if Node died or stopped answering."""
        with self._lock:
            if self.proc is None or self.proc.poll() is not None:
                self._start()   # the first call after an interrupted one, or after Node died
            rid = next(self._ids)
            data = (json.dumps({**req, "id": rid}, ensure_ascii=False) + "\n").encode("utf-8")
            wait = self.timeout if self.timeout is not None else self.budget(req, len(data))
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
                return self._reply(rid, time.monotonic() + wait)
            except TimeoutError:
                self._stop()
                raise WasmRunnerError(f"wasm_port: node did not answer {req['op']} within {wait:.0f} s and was "
                                      "stopped; the next call starts a new one") from None
            except OSError:   # the pipe broke: Node is gone
                reason = self.stderr_tail()
                self._stop()
                raise WasmRunnerError(f"wasm_port: node stopped: {reason}") from None
            except BaseException:   # interrupted: this call's reply may still come, so never reuse the pipe
                self._stop()
                raise

    def close(self) -> None:
        with self._lock:
            proc, self.proc = self.proc, None
            if proc and proc.poll() is None:
                proc.stdin.close()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
