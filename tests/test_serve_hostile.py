"""Hostile requests for the served binaries (issue 27). Both binaries' --serve loop
(cpp_port/serve.cpp) refuses in one line each what once crashed or hung it, and answers the next
request: a value nested 200,000 levels deep (in the "id" or anywhere), an "id" that is not a small
scalar, more values or a longer line than its bounds, counts that overflow an int (a warmup of
2147483647) and counts that are not integers."""
from __future__ import annotations

import json
import subprocess

import pytest

from conftest import require

EXES = ("minilm-embed", "minilm-embed-lite")
DEEP = 200_000
MAX_LINE = 256 << 20   # serve.cpp's kMaxLine


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
