"""python_ref tokenizer: BERT WordPiece, pure Python, stdlib only, so it also runs in Pyodide.

Ports HF `tokenizers`' BertNormalizer (clean_text, handle_chinese_chars, strip_accents, lowercase:
each flag as the model's spec says), BertPreTokenizer, WordPiece(max_input_chars_per_word=100, '##'),
the model's added tokens (matched verbatim in the raw text, as upstream does) and the
[CLS] $A [SEP] template, truncated to the spec's max_seq_length; encode_batch pads to the batch's
longest row. Leaves out: offsets, pairs, strides, normalizers other than BertNormalizer.
Written for reading, not speed: the Cython, Numba and C++ ports are the fast ones.
"""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Iterator, Sequence

from .contract import check_texts
from .unicode_compat import (CONTROL_EXTRA, CONTROL_NOT, LOWER_FIX, MN_EXTRA, MN_NOT, NFD_FIX,
                             PUNCT_EXTRA, PUNCT_NOT)

MAX_WORD_CHARS = 100
# Rust's char::is_whitespace is Unicode's White_Space property, which the stdlib does not expose
# (str.isspace() also accepts U+001C..U+001F), so the 25 code points are listed by hand.
WHITESPACE = frozenset(map(chr, [*range(0x09, 0x0E), 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                                 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]))
# The CJK Unified Ideograph blocks BERT surrounds with spaces (upstream's is_chinese_char).
CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
              (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def is_control(ch: str) -> bool:
    """Cc/Cf/Co, except \\t \\n \\r; corrected where upstream's older Unicode tables disagree."""
    if ch in "\t\n\r":
        return False
    if ch in CONTROL_EXTRA:
        return True
    return unicodedata.category(ch) in ("Cc", "Cf", "Co") and ch not in CONTROL_NOT


def is_punctuation(ch: str) -> bool:
    """ASCII punctuation and symbols, or any Unicode P* (with the same version corrections)."""
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    if ch in PUNCT_EXTRA:
        return True
    return unicodedata.category(ch).startswith("P") and ch not in PUNCT_NOT


def is_nonspacing_mark(ch: str) -> bool:
    if ch in MN_EXTRA:
        return True
    return unicodedata.category(ch) == "Mn" and ch not in MN_NOT


def nfd(text: str) -> str:
    """unicodedata NFD, except the code points upstream's older tables do not decompose."""
    if not NFD_FIX.keys() & set(text):
        return unicodedata.normalize("NFD", text)
    # Split around those code points (starters upstream, so nothing reorders across them) and
    # decompose the runs in between whole, canonical reordering included.
    parts = re.split("(" + "|".join(map(re.escape, NFD_FIX)) + ")", text)
    return "".join(NFD_FIX.get(p) or unicodedata.normalize("NFD", p) for p in parts)


def lower(ch: str) -> str:
    return LOWER_FIX.get(ch) or ch.lower()


def is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


def normalize(text: str, clean_text: bool = True, handle_chinese_chars: bool = True, strip_accents: bool = True,
              lowercase: bool = True) -> str:
    """clean_text -> CJK spacing -> strip accents (NFD, drop Mn) -> lowercase, in upstream's order."""
    out = []
    for ch in text:
        if clean_text and (ch == "\0" or ch == "\ufffd" or is_control(ch)):
            continue
        if clean_text and ch in WHITESPACE:
            out.append(" ")
        elif handle_chinese_chars and is_cjk(ch):
            out.append(" " + ch + " ")
        else:
            out.append(ch)
    text = "".join(out)
    if strip_accents:
        text = "".join(ch for ch in nfd(text) if not is_nonspacing_mark(ch))
    # Per character, as upstream does: no final-sigma rule, so 'Σ' always becomes 'σ'.
    return "".join(lower(ch) for ch in text) if lowercase else text


def pre_tokenize(text: str) -> list[str]:
    """Split on whitespace; every punctuation character becomes a word of its own."""
    words, word = [], []
    for ch in text:
        if ch in WHITESPACE or is_punctuation(ch):
            if word:
                words.append("".join(word))
                word = []
            if ch not in WHITESPACE:
                words.append(ch)
        else:
            word.append(ch)
    if word:
        words.append("".join(word))
    return words


def wordpiece(word: str, vocab: dict[str, int], unk_id: int) -> list[int]:
    """Greedy longest-match-first; any unmatched remainder (or > 100 chars) makes the word [UNK]."""
    if len(word) > MAX_WORD_CHARS:
        return [unk_id]
    ids, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                ids.append(vocab[piece])
                break
            end -= 1
        else:
            return [unk_id]
        start = end
    return ids


def _chunks(text: str, size: int = 2048) -> Iterator[str]:
    """Raw text in pieces that end just before an ASCII space. A space is a Unicode starter, so
    normalising piece by piece equals normalising the whole; this lets encode() stop early."""
    pos = 0
    while pos < len(text):
        cut = text.find(" ", pos + size)
        cut = len(text) if cut < 0 else cut
        yield text[pos:cut]
        pos = cut


class Tokenizer:
    def __init__(self, vocab_path: str | Path, spec):
        """vocab.txt (id = line number) + the settings of a python_ref.spec.ModelSpec."""
        lines = Path(vocab_path).read_bytes().decode("utf-8").split("\n")   # "\n" only, as every port splits
        self.vocab = {t: i for i, t in enumerate(lines[:-1] if lines[-1:] == [""] else lines)}
        self.max_len = spec.max_seq_length
        self.unk, self.cls, self.sep, self.pad = spec.unk_id, spec.cls_id, spec.sep_id, spec.pad_id
        self.flags = {k: getattr(spec, k) for k in ("clean_text", "handle_chinese_chars", "strip_accents", "lowercase")}
        self.added_tokens = dict(spec.added_tokens)
        # Longest first, so the leftmost match is also the longest (upstream uses Aho-Corasick).
        self.added_re = re.compile("|".join(map(re.escape, sorted(self.added_tokens, key=len, reverse=True))) or "(?!)")

    def segments(self, chunk: str) -> Iterator[tuple[str, int | None]]:
        """Split raw text around added tokens: (text, None) to tokenize, or (token, id) kept whole."""
        pos = 0
        for m in self.added_re.finditer(chunk):
            if m.start() > pos:
                yield chunk[pos:m.start()], None
            yield m.group(), self.added_tokens[m.group()]
            pos = m.end()
        if pos < len(chunk):
            yield chunk[pos:], None

    def encode(self, text: str) -> list[int]:
        """One text -> [CLS] ids [SEP], at most max_len; stops reading once it has enough."""
        budget = self.max_len - 2
        ids: list[int] = []
        for chunk in _chunks(text):
            for seg, added_id in self.segments(chunk):
                if added_id is not None:
                    ids.append(added_id)
                    continue
                for word in pre_tokenize(normalize(seg, **self.flags)):
                    ids.extend(wordpiece(word, self.vocab, self.unk))
            if len(ids) >= budget:
                break
        return [self.cls, *ids[:budget], self.sep]

    def encode_batch(self, texts: Sequence[str]):
        """-> api.Batch (numpy int64 ids and mask, padded to the longest row)."""
        from .api import pad_rows  # numpy, imported here so this module stays stdlib-only
        return pad_rows([self.encode(t) for t in check_texts(texts)], self.pad)
