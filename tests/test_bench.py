"""The bench's own code: CLI exit codes, corpus formats, the measuring method."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.equivalence import oracle
from bench import registry
from bench.equivalence import check as equivalence
from bench.latency import timing as latency
from contract.api import Batch


def bench(*args, **kw):
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, **kw)


def test_read_corpus_txt_and_jsonl(tmp_path):
    texts = ["a\u2028b", "x\x85y", "plain", ""]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    (tmp_path / "c.txt").write_text("one\r\ntwo\u2028still two\n\nfour\n")
    assert oracle.read_corpus(tmp_path / "c.jsonl") == texts
    assert oracle.read_corpus(tmp_path / "c.txt") == ["one", "two\u2028still two", "", "four"]


def test_equivalence_cli_passes_on_a_user_corpus(tmp_path):
    (tmp_path / "mine.txt").write_text("Hello there!\nÉtienne's café [MASK] 日本\n\n" + "long " * 300 + "\n")
    r = bench("equivalence", "--impl", "python_ref", "--corpus", str(tmp_path / "mine.txt"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "python_ref" in r.stdout and "mismatch" in r.stdout


def test_equivalence_detects_a_wrong_tokenizer(mdir, monkeypatch):
    real = registry.load_impl("python_ref", mdir)

    class Broken:
        name = "python_ref"

        def tokenize(self, texts):
            b = real.tokenize(texts)
            b.ids[:, 1] += 1  # off by one id
            return b

        def embed(self, texts):
            return real.embed(texts) * 0.5  # wrong norm

    monkeypatch.setattr(registry, "load_impl", lambda *a, **k: Broken())
    row = equivalence.check_equivalence("python_ref", ["hello world", "again"], mdir)
    assert row.id_mismatches == 2 and not row.ok and row.max_abs > 0.01


def test_bad_model_dir_exits_2_with_one_line(tmp_path):
    r = bench("embed", "--model", str(tmp_path / "missing"), "hi")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "not found" in r.stderr


def test_embed_prints_unit_vectors():
    r = bench("embed", "hello world", "second text")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["text"] for x in rows] == ["hello world", "second text"]
    assert all(abs(np.linalg.norm(x["embedding"]) - 1) < 1e-4 for x in rows)


def test_interleaved_shuffles_and_counts():
    calls = []
    fns = {n: (lambda n=n: calls.append(n)) for n in "abc"}
    out = latency.interleaved(fns, rounds=6, reps=2, warmup=1)
    assert {k: [len(r) for r in v] for k, v in out.items()} == {k: [2] * 6 for k in "abc"}
    timed = calls[3:]  # after warm-up: 6 rounds of 3 impls x 2 reps, each impl's reps back to back
    rounds = [timed[i:i + 6] for i in range(0, 36, 6)]
    assert all(sorted(r) == list("aabbcc") and r[0] == r[1] and r[2] == r[3] for r in rounds)
    assert len({r[0] for r in rounds}) > 1  # the order changes between rounds


def test_interleaved_keeps_one_implementations_parts_together():
    calls = []
    keys = [(i, part) for i in "abc" for part in ("embed", "forward")]
    latency.interleaved({k: (lambda k=k: calls.append(k)) for k in keys}, rounds=5, reps=1, warmup=0)
    rounds = [calls[i:i + 6] for i in range(0, 30, 6)]
    for r in rounds:   # each implementation's embed, then its forward, next to each other
        assert sorted(r) == sorted(keys) and all(r[j][0] == r[j + 1][0] and r[j][1] == "embed" for j in (0, 2, 4))
    assert len({r[0][0] for r in rounds}) > 1   # the implementations' order changes between rounds


def test_paired_ratio():
    a = [[2.0, 2.0], [4.0, 4.0]]
    b = [[1.0, 1.0], [2.0, 2.0]]
    assert latency.paired_ratio(a, b) == pytest.approx(2.0)


def test_unpad_roundtrip():
    b = Batch(np.array([[101, 7, 102, 0], [101, 102, 0, 0]]), np.array([[1, 1, 1, 0], [1, 1, 0, 0]]))
    assert equivalence.unpad(b) == [[101, 7, 102], [101, 102]]


def test_weights_random_times_every_implementation_on_one_random_model(tmp_path, mdir):
    """`bench latency --weights random` from a model directory without any weights: the one random
    directory holds python_ref's seeded tensors (the ports' own weights="random"), every
    implementation runs it, and the records say so."""
    import shutil

    import bench_run
    from bench import cli, suite
    from contract.weights import random_weights_dir
    no_weights = tmp_path / "no_weights"
    shutil.copytree(mdir, no_weights, ignore=shutil.ignore_patterns("model.safetensors"))
    args = cli.parser().parse_args(["latency", "--weights", "random", "--model", str(no_weights), "--impl",
                                    "python_ref", "hf_tokenizers", "--threads", "1", "--out", str(tmp_path)])
    assert args.weights == "random" and args.fn is cli.cmd_latency
    with pytest.raises(SystemExit):   # only where it means something
        cli.parser().parse_args(["embed", "--weights", "random", "x"])
    tmp = random_weights_dir(no_weights)
    try:
        texts = ["hello world", "a second, longer text"]
        got = registry.load_impl("python_ref", tmp.name).embed(texts)
        want = registry.load_impl("python_ref", mdir, weights="random").embed(texts)
        assert np.abs(got - want).max() <= 1e-6                    # the same seeded model
        assert np.abs(got - registry.load_impl("python_ref", mdir).embed(texts)).max() > 0.01   # not the real one
        assert oracle.st_embed(Path(tmp.name), texts).shape == got.shape   # the peers load it too
    finally:
        tmp.cleanup()
    rc = suite.run_latency(args, plan=bench_run.tiny_plan())
    assert rc == 0
    data = json.loads((tmp_path / "latency.json").read_text())
    assert data["machine"]["weights"] == "random" and str(no_weights) in data["machine"]["model"]
    recs = [r for r in data["records"] if r["metric"] == "latency_p50"]
    assert {r["impl"] for r in recs} == {"python_ref"} and {r["scenario"] for r in recs} == {"single", "batch", "long"}
    assert all(len(r["extra"]["round_medians_ms"]) == r["extra"]["rounds"] for r in recs)


def test_a_missing_model_dir_for_random_weights_is_one_line(tmp_path):
    r = bench("latency", "--weights", "random", "--model", str(tmp_path / "nowhere"), "--quick")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "not found" in r.stderr
