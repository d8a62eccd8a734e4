"""Bad input on the bench command line is one line on stderr and exit 2, never a traceback: a bad
--corpus (binary, not UTF-8, empty, a line that is not JSON or lacks "text", a directory, a missing
path), a bad --device, an unknown --impl or --scenario, arguments that are not UTF-8, a tokenizer asked to embed."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ENV = dict(os.environ, PYTHONIOENCODING="utf-8")


def bench(*args, cwd=None):
    """Run `python -m bench ARGS` with bytes arguments allowed (non-UTF-8 argv)."""
    return subprocess.run([sys.executable.encode(), b"-m", b"bench", *[a if isinstance(a, bytes) else a.encode()
                                                                        for a in args]],
                          capture_output=True, env=ENV, cwd=cwd, timeout=300)


def one_line_exit_2(r, *needles):
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, (r.returncode, err[-2000:])
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip() and "Loading weights" not in ln]
    assert len(lines) == 1 and lines[0].startswith("bench: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


CORPORA = {  # file name -> (content, words the message must hold)
    "binary.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ("binary", "NUL")),
    "latin1.txt": ("café\n".encode("latin-1"), ("not UTF-8", "0xe9")),
    "empty.txt": (b"", ("no texts",)),
    "blank.jsonl": (b"\n\n", ("no texts",)),
    "notjson.jsonl": (b'{"text": "fine"}\n{"text": oops}\n', ("line 2", "not JSON")),
    "notext.jsonl": (b'{"text": "fine"}\n{"body": "no text field"}\n', ("line 2", '"text"')),
    "list.jsonl": (b'["text"]\n', ("line 1", '"text"')),
    "number.jsonl": (b'{"text": 3}\n', ("line 1", "not a string")),
    "surrogate.jsonl": (b'{"text": "\\ud800"}\n', ("surrogate",)),
}


@pytest.mark.parametrize("name", list(CORPORA))
def test_bad_corpus_file(tmp_path, name):
    content, needles = CORPORA[name]
    (tmp_path / name).write_bytes(content)
    one_line_exit_2(bench("equivalence", "--impl", "python_ref", "--corpus", str(tmp_path / name)), name, *needles)


def test_corpus_that_is_a_directory_or_missing(tmp_path):
    one_line_exit_2(bench("equivalence", "--corpus", str(tmp_path)), "directory")
    one_line_exit_2(bench("tokenize", "--corpus", str(tmp_path / "nope.txt")), "no such file")
    one_line_exit_2(bench("all", "--quick", "--corpus", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path)),
                    "no such file")
    assert not (tmp_path / "results.json").exists()   # refused before any work


@pytest.mark.parametrize("device,needle", [("xpu", "unknown --device"), ("cuda:x", "unknown --device"),
                                           ("cpu:1", "unknown --device")])
def test_bad_device(device, needle):
    one_line_exit_2(bench("embed", "--device", device, "hello"), needle, device)


def test_cuda_without_a_gpu():
    import torch
    if torch.cuda.is_available():   # then it must run: the check is for machines without one
        r = bench("embed", "--device", "cuda", "hello")
        assert r.returncode == 0, r.stderr
    else:
        one_line_exit_2(bench("latency", "--device", "cuda", "--quick"), "no CUDA device")


def test_unknown_impl():
    line = one_line_exit_2(bench("latency", "--impl", "python_ref", "rust_port", "--quick"), "'rust_port'")
    assert "python_ref" in line   # the known names are listed
    one_line_exit_2(bench("embed", "--impl", "nope", "hello"), "'nope'")


def test_unknown_scenario(tmp_path):
    line = one_line_exit_2(bench("latency", "--scenario", "single", "huge", "--quick", "--out", str(tmp_path)),
                           "huge")
    assert "--scenario huge:" in line and "batch" in line   # only the unknown one named, the known ones listed
    assert not (tmp_path / "latency.json").exists()


def test_non_utf8_arguments(tmp_path):
    one_line_exit_2(bench("embed", b"caf\xe9"), "not valid UTF-8", "0xe9")
    one_line_exit_2(bench("equivalence", "--corpus", str(tmp_path).encode() + b"/\xff.txt"), "0xff")


def test_a_tokenizer_cannot_embed():
    one_line_exit_2(bench("embed", "--impl", "hf_tokenizers", "hello"), "tokenizer only")


def test_report_without_results(tmp_path):
    one_line_exit_2(bench("report", "--out", str(tmp_path)), "results.json")
