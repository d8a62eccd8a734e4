"""Upstream, the judge: sentence-transformers loading the model directory, computed live.
- ids: sentence-transformers' own tokenizer for the directory (with every change it makes), truncating at
  its max_seq_length, no padding, of prompt + text with the prompt encode() picks (`st_prompt`).
- vectors: SentenceTransformer(dir).encode().
- `hf_tokenizer`: the HF `tokenizers` peer, tokenizer.json set up from python_ref's spec without loading
  sentence-transformers (its cold start and footprint are the tokenizer's own); tests hold its ids equal.
Leaves out: any cache on disk, so a test can never compare against stale numbers."""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@lru_cache(maxsize=4)
def st_model(mdir: Path, device: str = "cpu"):
    from sentence_transformers import SentenceTransformer
    return SentenceTransformer(str(mdir), device=device)


@lru_cache(maxsize=16)
def st_tokenizer(mdir: Path):
    """sentence-transformers' own tokenizer of mdir, truncating at its max_seq_length, no padding."""
    from tokenizers import Tokenizer
    st = st_model(Path(mdir))
    tok = Tokenizer.from_str(st.tokenizer.backend_tokenizer.to_str())
    tok.enable_truncation(st.max_seq_length)
    tok.no_padding()
    return tok


def st_prompt(mdir: Path, prompt_name: str | None = None, prompt: str | None = None) -> str:
    """The prompt sentence-transformers' encode() puts in front of every text ("" for none)."""
    st = st_model(Path(mdir))
    if prompt is None and prompt_name is not None and prompt_name not in st.prompts:   # encode() raises ValueError too
        raise ValueError(f"prompt_name {prompt_name!r} is not one of {mdir}'s prompts ({', '.join(st.prompts)})")
    if prompt is None:
        prompt = st.prompts.get(prompt_name if prompt_name is not None else st.default_prompt_name)
    return prompt or ""


def hf_ids(mdir: Path, texts: list[str], prompt_name: str | None = None, prompt: str | None = None) -> list[list[int]]:
    """The ids upstream gives each text (prompt + text, as encode() picks the prompt): every tokenizer's judge."""
    p = st_prompt(mdir, prompt_name, prompt)
    return [e.ids for e in st_tokenizer(Path(mdir)).encode_batch([p + t for t in texts] if p else texts)]


def st_preprocess_ids(mdir: Path, texts: list[str], prompt_name: str | None = None,
                      prompt: str | None = None) -> list[list[int]]:
    """The same through sentence-transformers' public preprocess() (which puts the prompt in front itself)."""
    f = st_model(Path(mdir)).preprocess(texts, prompt=st_prompt(mdir, prompt_name, prompt) or None)
    return [ids[m.bool()].tolist() for ids, m in zip(f["input_ids"], f["attention_mask"])]


def st_prompt_length(mdir: Path, prompt_name: str | None = None, prompt: str | None = None) -> int:
    """The prompt's tokens as sentence-transformers counts them for pooling (preprocess's prompt_length; 0: none)."""
    p = st_prompt(mdir, prompt_name, prompt)
    return int(st_model(Path(mdir)).preprocess(["x"], prompt=p).get("prompt_length") or 0) if p else 0


@lru_cache(maxsize=16)
def hf_tokenizer(mdir: Path):
    """The HF tokenizers peer: tokenizer.json in the Rust library, set up as python_ref's spec says."""
    from tokenizers import AddedToken, Tokenizer, normalizers

    from contract.spec import read_spec
    spec = read_spec(mdir)
    tok = Tokenizer.from_file(str(Path(mdir) / "tokenizer.json"))
    tok.normalizer = normalizers.BertNormalizer(clean_text=spec.clean_text, handle_chinese_chars=spec.handle_chinese_chars,
                                                strip_accents=spec.strip_accents, lowercase=spec.lowercase)
    tok.add_special_tokens([AddedToken(c, normalized=False, special=True) for c, _ in spec.added_tokens])
    tok.enable_truncation(spec.max_seq_length)
    tok.no_padding()
    return tok


def st_embed(mdir: Path, texts: list[str], device: str = "cpu", batch_size: int = 32, prompt_name: str | None = None,
             prompt: str | None = None) -> np.ndarray:
    return st_model(Path(mdir), device).encode(texts, batch_size=batch_size, convert_to_numpy=True, prompt_name=prompt_name,
                                               prompt=prompt, show_progress_bar=False).astype(np.float32)


def read_corpus(path: str | Path) -> list[str]:
    """.txt (one text per line) or .jsonl ({"text": ...} per line)."""
    path = Path(path)
    # split on "\n" only: str.splitlines() would also cut at U+2028, U+0085 etc. inside texts
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line.removesuffix("\r") for line in lines]
    if path.suffix == ".jsonl":
        return [json.loads(line)["text"] for line in lines if line.strip()]
    return lines


PROJECT_CORPUS = Path(__file__).resolve().parents[2] / "testdata" / "corpus.jsonl"
