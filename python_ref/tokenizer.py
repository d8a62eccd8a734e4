"""python_ref tokenizer: BERT WordPiece, pure Python, stdlib only, so it also runs in Pyodide.

Ports HF `tokenizers`' BertNormalizer (clean_text, handle_chinese_chars, strip_accents, lowercase:
each flag as the model's spec says), BertPreTokenizer, WordPiece(max_input_chars_per_word=100, '##'),
the model's added tokens (found in the raw text as upstream finds them: added_tokens.py) and the
[CLS] $A [SEP] template, truncated to the spec's max_seq_length; encode_batch pads to the batch's
longest row. Leaves out: offsets, pairs, strides, normalizers other than BertNormalizer.
Written for reading: every rule is a per-character function below; str.translate applies them to
whole texts (CharMap), which keeps any input linear in time. encode() reads a text in pieces cut
where tokenizing piece by piece equals tokenizing the whole, and stops once it has enough ids.
"""
from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .added_tokens import AddedTokens
from contract.texts import check_texts
from .unicode_compat import (CONTROL_EXTRA, CONTROL_NOT, LOWER_FIX, MN_EXTRA, MN_NOT, NFD_FIX,
                             PUNCT_EXTRA, PUNCT_NOT)

MAX_WORD_CHARS = 100
PIECE_CHARS = 2048   # encode() normalizes this much raw text (or up to the next cut) at a time
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


def lower(ch: str) -> str:
    return LOWER_FIX.get(ch) or ch.lower()


def is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in CJK_RANGES)


class CharMap(dict):
    """A str.translate table that fills itself: code point -> fn(that character), on first sight.
    text.translate(table) then applies a per-character rule to a whole text in one C-speed pass,
    with every value computed by the functions above (the stdlib has no Unicode-property regex, and
    copying Unicode data by hand is what unicode_compat.py exists to avoid). Caches at most 2^18
    code points (about 30 MB); beyond that it computes without keeping."""

    def __init__(self, fn: Callable[[str], str]):
        super().__init__()
        self.fn = fn

    def __missing__(self, cp: int) -> str:
        out = self.fn(chr(cp))
        if len(self) < 1 << 18:
            self[cp] = out
        return out


_DECOMPOSE = CharMap(lambda ch: NFD_FIX.get(ch) or unicodedata.normalize("NFD", ch))
_MARK_OR_NOT = CharMap(lambda ch: "m" if unicodedata.combining(ch) else "s")
_RUN_OF_MARKS = re.compile("m{2,}")
_only_class = cache(lambda c: CharMap(lambda ch: ch if unicodedata.combining(ch) == c else ""))


def nfd(text: str) -> str:
    """Canonical decomposition (NFD) in linear time: each character's own decomposition (unicodedata's,
    or NFD_FIX where upstream's older tables differ), then every run of marks (nonzero combining class)
    stably sorted by class. unicodedata.normalize("NFD") orders a run by insertion sort, quadratic in
    its length, so it is only trusted with one character at a time."""
    if len(text) < 2:
        return NFD_FIX.get(text) or unicodedata.normalize("NFD", text)
    text = text.translate(_DECOMPOSE)
    out, pos = [], 0
    for m in _RUN_OF_MARKS.finditer(text.translate(_MARK_OR_NOT)):
        out += [text[pos:m.start()], _order_marks(text[m.start():m.end()])]
        pos = m.end()
    return "".join(out) + text[pos:] if out else text


def _order_marks(run: str) -> str:
    """A run of marks in canonical order: one pass per combining class present, each keeping its order."""
    classes = sorted({unicodedata.combining(c) for c in set(run)})
    return run if len(classes) == 1 else "".join(run.translate(_only_class(c)) for c in classes)


def clean_char(ch: str, clean_text: bool, handle_chinese_chars: bool) -> str:
    """normalize's first steps for one raw character: clean_text, then CJK spacing."""
    if clean_text and (ch == "\0" or ch == "\ufffd" or is_control(ch)):
        return ""
    if clean_text and ch in WHITESPACE:
        return " "
    return " " + ch + " " if handle_chinese_chars and is_cjk(ch) else ch


def strip_lower_char(ch: str, strip_accents: bool, lowercase: bool) -> str:
    """normalize's last steps for one character after NFD: drop Mn, then lowercase (per character,
    as upstream does: no final-sigma rule, so 'Σ' always becomes 'σ')."""
    if strip_accents and is_nonspacing_mark(ch):
        return ""
    return lower(ch) if lowercase else ch


@cache
def _tables(clean_text: bool, handle_chinese_chars: bool, strip_accents: bool, lowercase: bool):
    return (CharMap(lambda ch: clean_char(ch, clean_text, handle_chinese_chars)),
            CharMap(lambda ch: strip_lower_char(ch, strip_accents, lowercase)))


def normalize(text: str, clean_text: bool = True, handle_chinese_chars: bool = True, strip_accents: bool = True,
              lowercase: bool = True) -> str:
    """clean_text -> CJK spacing -> strip accents (NFD, drop Mn) -> lowercase, in upstream's order."""
    clean, strip_lower = _tables(clean_text, handle_chinese_chars, strip_accents, lowercase)
    text = text.translate(clean)
    return (nfd(text) if strip_accents else text).translate(strip_lower)


_KIND = CharMap(lambda ch: " " if ch in WHITESPACE else "p" if is_punctuation(ch) else "w")
_WORD = re.compile("w+|p")


def pre_tokenize(text: str) -> list[str]:
    """Split on whitespace; every punctuation character becomes a word of its own."""
    return [text[m.start():m.end()] for m in _WORD.finditer(text.translate(_KIND))]


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


def pieces(text: str, cuts: re.Pattern, size: int = PIECE_CHARS) -> Iterator[str]:
    """`text` in consecutive pieces of at least `size` characters (or the rest), each cut just before a
    character matching `cuts` (see Tokenizer.cuts). Linear: no character is searched twice."""
    pos = 0
    while pos < len(text):
        m = cuts.search(text, pos + size)
        end = m.start() if m else len(text)
        yield text[pos:end]
        pos = end


class Tokenizer:
    def __init__(self, vocab_path: str | Path, spec):
        """vocab.txt (id = line number; CRLF line ends allowed) + the settings of a contract.spec.ModelSpec."""
        lines = Path(vocab_path).read_bytes().decode("utf-8").split("\n")   # bytes: no newline translation
        lines = [t.removesuffix("\r") for t in (lines[:-1] if lines[-1:] == [""] else lines)]
        self.vocab = {t: i for i, t in enumerate(lines)}
        self.max_len = spec.max_seq_length
        self.unk, self.cls, self.sep, self.pad = spec.unk_id, spec.cls_id, spec.sep_id, spec.pad_id
        self.flags = {k: getattr(spec, k) for k in ("clean_text", "handle_chinese_chars", "strip_accents", "lowercase")}
        self.added = AddedTokens(dict(spec.added_tokens))   # leftmost-longest, linear in the text
        self.added_tokens = self.added.tokens
        self.kept_marks: set[str] = set()   # marks (nonzero combining class) seen surviving normalize
        self.char_map = CharMap(self._normalize_char)
        # Where a text can be cut (pieces()): a raw character that starts a new word whatever follows
        # (its normal form begins with whitespace or punctuation) and that no preceding mark can be
        # reordered across (an NFD starter that clean_text keeps). ASCII, the other whitespace and,
        # when spaced, CJK ideographs: enough to cut any ordinary text often.
        cut = [c for c in map(chr, range(128)) if self.is_cut(c)] + [c for c in sorted(WHITESPACE) if self.is_cut(c)]
        cjk = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in CJK_RANGES) if self.flags["handle_chinese_chars"] else ""
        self.cuts = re.compile("[" + "".join(map(re.escape, cut)) + cjk + "]")

    def is_cut(self, ch: str) -> bool:
        """Whether pieces() may cut a text just before `ch` (see __init__)."""
        n = normalize(ch, **self.flags)
        return n[:1] != "" and (n[0] in WHITESPACE or is_punctuation(n[0])) and not unicodedata.combining(nfd(ch)[0])

    def _normalize_char(self, ch: str) -> str:
        out = normalize(ch, **self.flags)
        self.kept_marks.update(c for c in out if unicodedata.combining(c))
        return out

    def normalize_for_words(self, text: str) -> str:
        """normalize(text) as far as pre_tokenize and wordpiece can tell, in one pass: each character
        normalized on its own (char_map). That is exact except for the canonical order of marks this
        model keeps (nonzero class, not Mn). Reordering stays inside a word, and a word longer than
        MAX_WORD_CHARS is [UNK] in any order, so only runs of kept marks short enough to be spelled
        out are checked; one out of order, and the text is normalized step by step."""
        out = text.translate(self.char_map)
        marks = [m for m in tuple(self.kept_marks) if m in out]   # a snapshot: other threads may add
        if marks:
            for m in re.finditer("[" + "".join(map(re.escape, marks)) + "]{2,}", out):
                ccc = [unicodedata.combining(c) for c in m.group()] if m.end() - m.start() <= MAX_WORD_CHARS else []
                if ccc != sorted(ccc):
                    return normalize(text, **self.flags)
        return out

    def segments(self, text: str) -> Iterator[tuple[str, int | None]]:
        """Split raw text around added tokens: (text, None) to tokenize, or (token, id) kept whole."""
        pos = 0
        for start, end, tid in self.added.finditer(text):
            if start > pos:
                yield text[pos:start], None
            yield text[start:end], tid
            pos = end
        if pos < len(text):
            yield text[pos:], None

    def encode(self, text: str) -> list[int]:
        """One text -> [CLS] ids [SEP], at most max_len; stops reading once it has enough."""
        budget = self.max_len - 2
        ids: list[int] = []
        for seg, added_id in self.segments(text):
            if added_id is not None:
                ids.append(added_id)
                continue
            for piece in pieces(seg, self.cuts):
                for word in pre_tokenize(self.normalize_for_words(piece)):
                    ids.extend(wordpiece(word, self.vocab, self.unk))
                if len(ids) >= budget:
                    break
            if len(ids) >= budget:
                break
        return [self.cls, *ids[:budget], self.sep]

    def encode_batch(self, texts: Sequence[str]):
        """-> api.Batch (numpy int64 ids and mask, padded to the longest row)."""
        from contract.api import pad_rows  # numpy, imported here so this module stays stdlib-only
        return pad_rows([self.encode(t) for t in check_texts(texts)], self.pad)
