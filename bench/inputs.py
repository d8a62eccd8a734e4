"""What a user hands the CLI, checked before any work: implementation names, device, threads, a corpus,
a prompt. Each problem is a one-line UsageError, which the CLI prints as `bench: <message>` with exit 2.
Leaves out: the model directory's own checks (contract.api.model_dir raises ModelDirError)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .equivalence import oracle
from . import registry


class UsageError(Exception):
    """Bad input on the command line; the message is one line."""


def check_impls(names: list[str] | None) -> None:
    unknown = [n for n in names or () if n not in registry.BY_NAME]
    if unknown:
        raise UsageError(f"unknown implementation{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(registry.BY_NAME)} (see `bench list`)")


def check_device(device: str) -> None:
    kind, _, index = device.partition(":")
    if kind not in ("cpu", "cuda") or (index and (kind == "cpu" or not index.isdigit())):
        raise UsageError(f"unknown --device {device!r} (cpu | cuda | cuda:N)")
    if kind == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise UsageError(f"--device {device}: no CUDA device here (torch.cuda.is_available() is False)")
        if index and int(index) >= torch.cuda.device_count():
            raise UsageError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def check_threads(threads: int) -> None:
    """--threads: torch and the threaded tokenizers get this many; an absurd count crashes OpenMP."""
    cap = max(256, 4 * (os.cpu_count() or 1))
    if not 1 <= threads <= cap:
        raise UsageError(f"--threads {threads}: must be between 1 and {cap} (this machine has {os.cpu_count()} cores)")


def check_args_utf8(argv: list[str]) -> None:
    """Arguments arrive as str with lone surrogates where their bytes were not UTF-8 (PEP 383)."""
    for i, a in enumerate(argv, 1):
        try:
            a.encode("utf-8")
        except UnicodeEncodeError as e:
            byte = ord(a[e.start]) - 0xDC00 if 0xDC80 <= ord(a[e.start]) <= 0xDCFF else None
            what = f"byte 0x{byte:02x}" if byte is not None else f"code point U+{ord(a[e.start]):04X}"
            raise UsageError(f"argument {i} is not valid UTF-8 ({what} at character {e.start})") from None


def read_corpus_checked(path: str | Path) -> list[str]:
    """oracle.read_corpus with every failure as one line: a missing path, a directory, a binary or
    non-UTF-8 file, an empty one, a .jsonl line that is not a JSON object with a string "text"."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"--corpus {path}: no such file")
    if p.is_dir():
        raise UsageError(f"--corpus {path}: is a directory, not a .txt or .jsonl file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise UsageError(f"--corpus {path}: cannot read it ({e.strerror})") from None
    nul = data.find(b"\0")
    if nul >= 0:
        raise UsageError(f"--corpus {path}: looks binary (NUL byte at offset {nul}); expected UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"--corpus {path}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None
    if p.suffix == ".jsonl":
        for n, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise UsageError(f"--corpus {path}, line {n}: not JSON ({e.msg})") from None
            if not isinstance(obj, dict) or "text" not in obj:
                raise UsageError(f'--corpus {path}, line {n}: no "text" field (expected {{"text": ...}})')
            if not isinstance(obj["text"], str):
                raise UsageError(f'--corpus {path}, line {n}: "text" is {type(obj["text"]).__name__}, not a string')
    texts = oracle.read_corpus(p)
    if not texts:
        raise UsageError(f"--corpus {path}: holds no texts")
    for i, t in enumerate(texts):   # JSON escapes can still carry lone surrogates
        try:
            t.encode("utf-8")
        except UnicodeEncodeError:
            raise UsageError(f"--corpus {path}: text {i} holds a lone surrogate (not encodable as UTF-8)") from None
    return texts


def corpus(args) -> list[str]:
    """The texts of --corpus, else the project's corpus."""
    return read_corpus_checked(args.corpus) if getattr(args, "corpus", None) else oracle.read_corpus(oracle.PROJECT_CORPUS)


def prompted_model(args) -> str | None:
    """args.model, or with --prompt-name NAME / --prompt TEXT a temporary model directory (removed at exit,
    named as the model, files linked) whose default prompt is the one asked: every implementation, upstream
    included, then embeds as encode(prompt_name=, prompt=) does. An unknown NAME, or both flags: UsageError."""
    import atexit
    import shutil
    import tempfile

    from contract.api import model_dir, read_spec
    model, prompt_name, prompt = args.model, getattr(args, "prompt_name", None), getattr(args, "prompt", None)
    if prompt_name is None and prompt is None:
        return model
    if prompt_name is not None and prompt is not None:
        raise UsageError("--prompt-name and --prompt: give one (sentence-transformers would ignore the name)")
    src = model_dir(model)
    spec = read_spec(src)
    try:
        spec.resolve_prompt(prompt_name, prompt)
    except ValueError as e:
        raise UsageError(f"--prompt-name: {e}") from None
    name = prompt_name if prompt is None else "bench_prompt"
    prompts = {**spec.prompts, **({} if prompt is None else {name: prompt})}
    tmp = tempfile.mkdtemp(prefix="portbench_prompt_")
    atexit.register(shutil.rmtree, tmp, True)
    out = Path(tmp) / spec.name
    out.mkdir()
    for p in src.iterdir():
        if p.name != "config_sentence_transformers.json" and not p.name.startswith("."):
            (out / p.name).symlink_to(p.resolve())
    st = json.loads((src / "config_sentence_transformers.json").read_text(encoding="utf-8")) \
        if (src / "config_sentence_transformers.json").is_file() else {}
    st.update(prompts=prompts, default_prompt_name=name)
    (out / "config_sentence_transformers.json").write_text(json.dumps(st, indent=1, ensure_ascii=False), encoding="utf-8")
    return str(out)
