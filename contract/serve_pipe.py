"""The pipe to a served model process: JSON lines, one reply per request, the protocol wasm_port's Node
runner (js/node_runner.mjs) and cpp_port's binaries (`--serve`, serve.cpp) speak; served.py adds the
Pipeline methods. Shared, as contract/api.py is.
Every request carries an id that its reply echoes, and a reply is only ever matched to its own
call. A call that is interrupted (Ctrl-C, a signal's exception) or times out stops the process,
whose late reply could otherwise reach a later call; the next call starts a new one. The timeout is
for a process that stopped answering: `timeout` seconds per call, or by default a minute plus 0.1 s
per text (per round, for timings) plus 2 s per MB sent. Lines are read with os.read into our own
buffer, so an interruption loses nothing already read. An error names the port and the process
("wasm_port: node ...", "minilm_embed: minilm-embed ..."); one that ended the process carries its
exit code and its last stderr line (`exit_code`, `tail`). Leaves out: concurrent requests (one lock).
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


class ServeError(RuntimeError):
    """The served process failed, died or stopped answering; the message says why, in one line."""
    exit_code: int | None = None
    tail: str = ""


class ServePipe:
    START_TIMEOUT = 180.0   # seconds to load the model (Pyodide included) on a busy machine

    def __init__(self, cmd: list[str], port: str, proc: str, error: type = ServeError, timeout: float | None = None):
        self.cmd, self.timeout, self.port, self.what, self.error = cmd, timeout, port, proc, error
        self.proc, self.ready = None, {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._start()

    def _fail(self, msg: str, ended: bool = False) -> ServeError:
        """The error to raise: `port: msg`; where the process ended, with its exit code and last line."""
        e = self.error(f"{self.port}: {msg}")
        if ended and self.proc is not None:
            try:
                e.exit_code = self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                e.exit_code = None
            e.tail = self.stderr_tail()
        return e

    def _start(self) -> None:
        """A new process; returns once it has loaded the model, else self.error (its message)."""
        self._err, self._buf = tempfile.TemporaryFile(), b""
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err)
        try:
            ready = self._reply(None, time.monotonic() + self.START_TIMEOUT)
        except TimeoutError:
            self._stop()
            raise self._fail(f"{self.what} did not load the model within {self.START_TIMEOUT:.0f} s") from None
        except BaseException:
            self._stop()
            raise
        if not ready.get("ok"):
            self._stop()
            raise self._fail(str(ready.get("error")))
        self.ready = ready

    def _stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()

    def stderr_tail(self) -> str:
        """Why it stopped, in one line: its error line ('XError: ...', a fatal error), else its last line
        (a Node stack's frames and source excerpts skipped)."""
        self._err.seek(0)
        lines = [x.strip() for x in self._err.read().decode("utf-8", "replace").splitlines()]
        lines = [x for x in lines if x and x != "}" and not x.startswith(("Node.js v", "at ", "^"))]
        errors = [x for x in lines if re.match(r"\w*Error\b.*:", x) or "FATAL ERROR" in x]
        code = self.proc.poll() if self.proc else None
        return (errors or lines or [f"{self.what} exited with code {code}"])[-1]

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
                raise self._fail(f"{self.what} stopped: {self.stderr_tail()}", ended=True)
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
        """Send `req`, return its reply ({"ok": ...}); self.error if the process died or stopped answering."""
        with self._lock:
            if self.proc is None or self.proc.poll() is not None:
                self._start()   # the first call after an interrupted one, or after the process died
            rid = next(self._ids)
            data = (json.dumps({**req, "id": rid}, ensure_ascii=False) + "\n").encode("utf-8")
            wait = self.timeout if self.timeout is not None else self.budget(req, len(data))
            try:
                self.proc.stdin.write(data)
                self.proc.stdin.flush()
                return self._reply(rid, time.monotonic() + wait)
            except TimeoutError:
                self._stop()
                raise self._fail(f"{self.what} did not answer {req['op']} within {wait:.0f} s and was stopped; "
                                 "the next call starts a new one") from None
            except OSError:   # the pipe broke: the process is gone
                e = self._fail(f"{self.what} stopped: {self.stderr_tail()}", ended=True)
                self._stop()
                raise e from None
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
