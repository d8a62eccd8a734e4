"""Hostile requests and model directories for the served ports (issue 27). Both binaries' --serve
loop (cpp_port/serve.cpp) refuses in one line each what once crashed or hung it, and answers the
next request: a value nested 200,000 levels deep (in the "id" or anywhere), an "id" that is not a
small scalar, more values or a longer line than its bounds, counts that overflow an int (a warmup of
2147483647) and counts that are not integers. One embed request of many long texts runs in batches
of contract.api.MAX_BATCH_TOKENS padded tokens in both binaries (Embedder::forward), so their peak
memory is one batch's, not the request's. wasm_port checks a model's weights against config.json
before it sizes memory for them: 1000 layers over a 6-layer file is one line naming the missing
tensor, from every served port."""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import variants
from bench import registry
from conftest import require
from contract.api import ModelDirError

EXES = ("minilm-embed", "minilm-embed-lite")
DEEP = 200_000
MAX_LINE = 256 << 20   # serve.cpp's kMaxLine
ROOT = Path(__file__).resolve().parents[1]


def find(name: str) -> str:
    from cpp_port.standalone import binary
    path = binary(name)
    require(None if path else f"cpp_port: {name} is not built (make setup)", is_reason=True)
    return path


# (request line, what its one-line refusal names, the id it echoes: None when the id itself is refused)
HOSTILE = [
    (b'{"id":' + b"[" * DEEP + b"]" * DEEP + b',"op":"info"}', "nested deeper", None),
    (b'{"op":"embed","texts":' + b"[" * DEEP + b"]" * DEEP + b"}", "nested deeper", None),
    (b'{"op":"info","x":' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}", "nested deeper", None),
    (json.dumps({"id": [1, 2], "op": "info"}).encode(), '"id"', None),
    (json.dumps({"id": {"a": 1}, "op": "info"}).encode(), '"id"', None),
    (json.dumps({"id": "x" * 1000, "op": "info"}).encode(), '"id"', None),
    (json.dumps({"op": "embed", "texts": [""] * (1 << 20)}).encode(), "values", None),
    *[(json.dumps({"id": k, "op": "time", "what": "tokenize", "texts": ["a"], "warmup": w, "repeat": 1}).encode(),
       '"warmup"', k) for k, w in enumerate((2147483647, 2**63 - 1, 2**64 - 1, -1, 2.5, "3", True, None))],
    *[(json.dumps({"id": 10 + k, "op": "time", "what": "tokenize", "texts": ["a"], "repeat": r}).encode(),
       '"repeat"', 10 + k) for k, r in enumerate((0, 2147483647, -2147483648))],
    (json.dumps({"id": 20, "op": "time", "texts": ["a"], "warmup": 100000, "repeat": 100000}).encode(), "warmup + repeat", 20),
    *[(json.dumps({"id": 30 + k, "op": "forward", "n": n, "t": t, "ids": "", "mask": ""}).encode(), key, 30 + k)
      for k, (n, t, key) in enumerate(((2**63, 1, '"n"'), (-1, 1, '"n"'), (1.5, 1, '"n"'), (1, 2**40, '"t"')))],
    (b'{"op":"info","pad":"' + b"x" * MAX_LINE + b'"}', "longer than", None),
]


@pytest.mark.parametrize("name", EXES)
def test_serve_refuses_hostile_requests_and_goes_on(name, mdir):
    """Each request above gets one reply line, ok false, naming its fault, and the loop then answers
    {"op": "info"}: no crash (the 200,000-deep id was a SIGSEGV), no hang (the warmup of 2147483647
    never answered). The timeout only guards against a hang: all of it takes a few seconds."""
    p = subprocess.Popen([find(name), "--serve", "--model", str(mdir), "--threads", "2"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = [line for line, _, _ in HOSTILE] + [json.dumps({"id": "last", "op": "info"}).encode()]
    try:
        out, err = p.communicate(b"\n".join(lines) + b"\n", timeout=300)
    finally:
        p.kill()
    assert p.returncode == 0, (p.returncode, err[-2000:])
    replies = [json.loads(line) for line in out.decode().splitlines()]
    assert len(replies) == len(HOSTILE) + 2 and replies[0]["ok"], replies[:3]
    for (line, says, rid), r in zip(HOSTILE, replies[1:]):
        assert r["ok"] is False and r["code"] == -1 and says in r["error"], (line[:80], r)
        assert r.get("id") == rid, (line[:80], r)
    assert replies[-1]["ok"] and replies[-1]["id"] == "last" and replies[-1]["binary"] == name


# -- one request of many long texts: the memory of one batch ---------------------------------------

def _hwm(pid: int) -> int:
    """Bytes: the peak resident set of process `pid` so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


@pytest.fixture(scope="module")
def wide(mdir, tmp_path_factory):
    """A random-weight model whose FFN activations are most of its memory at little compute (width
    32, FFN 2048, one layer), built by tests/variants.py's architecture helper."""
    d = variants._Dir(mdir, tmp_path_factory.mktemp("hostile") / "wide")
    variants._arch(d, 5, num_hidden_layers=1, hidden_size=32, num_attention_heads=2, intermediate_size=2048)
    return d.out


def test_binaries_batch_as_every_port():
    """cli.h's kMaxBatchTokens is python_ref's MAX_BATCH_TOKENS (the C++ cannot import it)."""
    from contract.api import MAX_BATCH_TOKENS
    assert f"kMaxBatchTokens = {MAX_BATCH_TOKENS};" in (ROOT / "cpp_port" / "cli.h").read_text()


@pytest.mark.parametrize("name", EXES)
def test_serve_embed_memory_is_one_batch(name, wide):
    """512 texts of 256 tokens in one embed request: the peak grows past that of a first request of
    64 such texts (16384 tokens: one batch) by far less than one FFN activation over all 512 (what
    minilm-embed's single forward took: 4.0 GB for 1,024 texts on all-MiniLM-L6-v2); the vectors are
    those of eight requests of 64, row for row."""
    cfg = json.loads((wide / "config.json").read_text())
    n, t = 512, 256
    texts = [" ".join(["hello", "world"] * 200 + [str(i)]) for i in range(n)]   # truncated to 256 tokens
    p = subprocess.Popen([find(name), "--serve", "--model", str(wide), "--threads", "2"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    guard = threading.Timer(600, p.kill)   # a hang fails the test (the reply line comes back empty)
    guard.start()

    def embed(some):
        p.stdin.write((json.dumps({"id": 1, "op": "embed", "texts": some}) + "\n").encode())
        p.stdin.flush()
        r = json.loads(p.stdout.readline())
        assert r["ok"], r
        return np.frombuffer(base64.b64decode(r["data"]), "<f4").reshape(r["n"], r["dim"])

    try:
        assert json.loads(p.stdout.readline())["ok"]
        parts = np.concatenate([embed(texts[i:i + 64]) for i in range(0, n, 64)])
        base = _hwm(p.pid)
        whole = embed(texts)
        peak = _hwm(p.pid)
    finally:
        guard.cancel()
        p.kill()
        p.wait()
    unbatched = n * t * cfg["intermediate_size"] * 4   # bytes: one FFN activation, all texts at once
    assert peak - base < unbatched / 4, (peak, base, unbatched)
    assert whole.shape == (n, cfg["hidden_size"])
    np.testing.assert_allclose(whole, parts, rtol=0, atol=1e-6)


# -- a config.json that outgrows its weights ----------------------------------------------------------

@pytest.fixture(scope="module")
def layers_1000(mdir, tmp_path_factory):
    """all-MiniLM-L6-v2 (6 layers) with num_hidden_layers 1000 in config.json."""
    d = variants._Dir(mdir, tmp_path_factory.mktemp("hostile") / "layers_1000")
    d.edit("config.json", lambda c: c.update(num_hidden_layers=1000))
    return d.out


@pytest.mark.parametrize("name", ["wasm_port", "minilm_embed", "minilm_embed_lite"])
def test_config_past_its_weights_names_the_missing_tensor(name, layers_1000):
    require(name)
    with pytest.raises(ModelDirError) as e:
        registry.load_impl(name, layers_1000).close()
    msg = str(e.value)
    assert "\n" not in msg and "model.safetensors" in msg and "encoder.layer.6.attention.self.query.weight" in msg, msg


_PEAK = """
import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], capture_output=True, timeout=300)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
sys.stdout.write(r.stdout.decode())
"""


def test_wasm_checks_the_weights_before_sizing_memory(layers_1000):
    """Node's peak memory on that directory: the runtime and the 90 MB file (~0.25 GB), not the wasm
    memory 1000 layers need (sized from config.json first, it reached 2.2 GB, then said "out of
    memory" instead of naming the tensor)."""
    require("wasm_port")
    from wasm_port.pipeline import RUNNER
    r = subprocess.run([sys.executable, "-c", _PEAK, "node", str(RUNNER), "--model", str(layers_1000)],
                       capture_output=True, text=True, timeout=400)
    peak, line = r.stdout.splitlines()[:2]
    reply = json.loads(line)
    assert not reply["ok"] and "lacks tensor 'encoder.layer.6.attention.self.query.weight'" in reply["error"], reply
    assert int(peak) < 1 << 30, peak
