"""`make sanitize`, second half: minilm-embed-lite built with ASan+UBSan (its own code: the command
line and --serve loop, the safetensors reader, the threaded native kernels) and run here as a child
process, so this driver may load torch for the oracle. Covers: --serve embed/tokenize/forward/time
on corpus text with 1, 2 and 7 threads (the same bits each time, within tolerance of
sentence-transformers), invalid UTF-8 and malformed requests (an "id" nested 200,000 levels deep
and a warmup of 2147483647 among them: they once crashed or hung the loop), the stdin modes
(--jsonl, --npy), bad arguments, model variants with other heads, FFN activations, DistilBERT and a
default prompt left out of pooling (and --prompt-name, --prompt), and every broken model directory of
tests/test_lite.py.
Any sanitizer report aborts the binary (halt_on_error), which fails this driver.
Usage: python tests/sanitize/run_lite.py build/sanitize/minilm-embed-lite
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.equivalence import oracle  # noqa: E402
from bench.tolerances import tolerance  # noqa: E402
from contract.api import model_dir  # noqa: E402

ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1",
           UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")


def run(exe, *args, text: bytes = b"hello\n", want_rc=(0,)) -> subprocess.CompletedProcess:
    r = subprocess.run([exe, *map(str, args)], input=text, capture_output=True, env=ENV, timeout=900)
    err = r.stderr.decode(errors="replace")
    if r.returncode not in want_rc or "Sanitizer" in err or "runtime error" in err:
        sys.exit(f"run_lite: {' '.join(map(str, args))}: exit {r.returncode}\n{err[-3000:]}")
    return r


def serve(exe, mdir, threads: int, requests: list) -> list[dict]:
    """requests: dicts, or raw lines (too deep for json.dumps)."""
    text = "".join((q if isinstance(q, str) else json.dumps(q, ensure_ascii=False)) + "\n" for q in requests) + "not json\n"
    out = run(exe, "--serve", "--model", mdir, "--threads", threads, text=text.encode()).stdout.decode().splitlines()
    replies = [json.loads(line) for line in out]
    assert len(replies) == len(requests) + 2 and replies[0]["ok"] and not replies[-1]["ok"], out[-1]
    return replies[1:-1]


def floats(reply: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(reply["data"]), "<f4").reshape(reply["n"], reply["dim"])


def main() -> int:
    exe, mdir = sys.argv[1], model_dir()
    corpus = oracle.read_corpus(oracle.PROJECT_CORPUS)
    # a spread of lengths and the longest (truncated) text: ASan-built kernels are slow (CI time)
    texts = corpus[::16][:63] + [max(corpus, key=len)]
    ids = np.array([[101, 7592, 2088, 102, 0], [101, 2088, 102, 0, 0]], "<i4")
    reqs = [{"op": "embed", "texts": texts}, {"op": "tokenize", "texts": texts[:20]},
            {"op": "forward", "n": 2, "t": 5, "ids": base64.b64encode(ids.tobytes()).decode(),
             "mask": base64.b64encode((ids > 0).astype("<i4").tobytes()).decode()},
            {"op": "time", "what": "forward", "texts": texts[:4], "warmup": 1, "repeat": 2},
            {"op": "embed", "b64": [base64.b64encode(b"ok").decode(), base64.b64encode(b"\xc0\xaf").decode()]},
            {"op": "forward", "n": 1, "t": 2, "ids": "AAAA", "mask": "AAAA"}, {"op": "nope"}, {"op": "embed", "texts": [3]},
            {"op": "forward", "n": 1, "t": 1, "ids": base64.b64encode(np.array([999999], "<i4").tobytes()).decode(),
             "mask": base64.b64encode(np.array([1], "<i4").tobytes()).decode()},
            '{"id":' + "[" * 200_000 + "]" * 200_000 + ',"op":"info"}',
            {"id": 1, "op": "time", "what": "tokenize", "texts": ["a"], "warmup": 2147483647, "repeat": 1}]
    ref, outs = oracle.st_embed(mdir, texts), []
    for threads in (1, 2, 7):
        r = serve(exe, mdir, threads, reqs)
        assert all(x["ok"] for x in r[:4]) and not any(x["ok"] for x in r[4:]), r[4:]
        assert r[4]["code"] == -2 and "texts[1]" in r[4]["error"], r[4]
        assert "nested deeper" in r[9]["error"] and "warmup" in r[10]["error"] and r[10]["id"] == 1, r[9:]
        outs.append(floats(r[0]))
        assert r[1]["ids"] == oracle.hf_ids(mdir, texts[:20])
    assert all((o == outs[0]).all() for o in outs[1:]), "thread counts disagree"
    diff = np.abs(outs[0] - ref).max()
    assert diff <= tolerance(torch_model=False)[0], diff
    print(f"serve: {len(texts)} texts x threads 1/2/7, identical; max |d| vs sentence-transformers {diff:.1e}; "
          "bad requests answered in one line")
    lines = [t for t in texts if "\n" not in t and "\r" not in t][:40]
    got = run(exe, "--model", mdir, "--batch", 7, "--threads", 2, text=("\n".join(lines) + "\n").encode()).stdout
    with tempfile.TemporaryDirectory() as tmp:
        npy = Path(tmp) / "e.npy"
        run(exe, "--model", mdir, "--jsonl", "--npy", npy, text="".join(json.dumps({"text": t}) + "\n" for t in lines).encode())
        a = np.array([json.loads(x) for x in got.decode().splitlines()], np.float32)
        assert np.abs(np.load(npy) - a).max() <= 1e-6
        run(exe, "--model", mdir, text=b"ok\n\xc0\xaf\n", want_rc=(1,))
        run(exe, "--model", mdir, "--jsonl", text=b'{"txt": 1}\n', want_rc=(1,))
        for bad in (("--threads", "100000"), ("--batch", "0"), ("--what",)):
            run(exe, "--model", mdir, *bad, want_rc=(2,))
        run(exe, "--model", mdir, "--print-spec")
        print("stdin modes, --npy, --jsonl, invalid UTF-8 and bad arguments: clean")
        import variants
        from test_lite import broken_dirs
        for name, flags, kw in (("small", (), {}), ("dense", (), {}), ("cls", (), {}), ("max", (), {}), ("mean_sqrt", (), {}),
                                ("no_normalize", (), {}), ("gelu_new", (), {}), ("gelu_fast", (), {}), ("relu", (), {}),
                                ("distilbert", (), {}), ("prompts_no_include", (), {}),
                                ("prompts_no_include", ("--prompt-name", "tight"), {"prompt_name": "tight"}),
                                ("prompts_no_include", ("--prompt", "x: "), {"prompt": "x: "})):
            vdir = Path(tmp) / name
            if not vdir.exists():
                variants.build(name, mdir, vdir)
            out = run(exe, "--model", vdir, "--threads", 2, *flags, text=("\n".join(lines[:12]) + "\n").encode()).stdout
            got = np.array([json.loads(x) for x in out.decode().splitlines()], np.float32)
            assert np.abs(got - oracle.st_embed(vdir, lines[:12], **kw)).max() <= tolerance(torch_model=False)[0], name
        print("variants (other sizes, Dense, cls/max/mean_sqrt pooling, no Normalize, gelu_new/gelu_fast/relu, DistilBERT, "
              "prompts left out of pooling, --prompt-name, --prompt): match sentence-transformers")
        cases = broken_dirs(variants.build("small", mdir, Path(tmp) / "small2"), Path(tmp) / "broken")
        for case, (d, says) in cases.items():
            err = run(exe, "--model", d, want_rc=(2,)).stderr.decode()
            assert says in err and err.count("\n") == 1, (case, err)
        print(f"broken model directories: {len(cases)} refused in one line, exit 2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
