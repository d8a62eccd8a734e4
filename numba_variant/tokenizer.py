"""numba_variant tokenizer: python_ref/tokenizer.py's BERT WordPiece with the loops in Numba @njit.

Ports normalize -> pre_tokenize -> wordpiece -> encode_batch -> pad_rows, with every setting
(normalizer flags, special and added tokens, max_seq_length) from the model's contract.spec.ModelSpec.
Texts cross into Numba as arrays of
code points (uint32); the vocabulary is a trie over code points in flat arrays (CSR: per node a
sorted run of (code point, child) edges), one root for word starts and one for '##' pieces.
Leaves out: offsets, pairs, the per-stage Python API (python_ref has it).

Where Numba's language subset forced a design different from cython_ext's:
- Numba cannot read a Python str's storage, so every text is copied into a code-point array
  (one join + encode per batch); Cython reads PyUnicode_DATA in place.
- nopython code has no unicodedata and cannot call back into Python (Cython describes new code
  points lazily under `with gil`). So a pure-ASCII text is normalised inside Numba with 128-entry
  tables built from python_ref's functions, and any other text is normalised in Python by
  python_ref's Tokenizer.normalize_for_words (one str.translate pass over a table its per-character
  functions fill lazily, exact for the ids; canonical reordering only where it can matter), then one
  more pass puts spaces around punctuation. Nothing is copied from Unicode data by hand.
- No early exit from a str we never read: long texts are tried on a prefix (cut where python_ref's
  pieces() may cut, or at an added token), growing x16 until 254 pieces or the whole text: linear.
- A C-level hash needs pointer tricks Numba lacks; a CSR trie is plain arrays and finds the
  longest match in one walk (Cython: open addressing with O(1) substring hashes).
- Added tokens ([CLS] ...) are split out in Python with python_ref's own segments(); Numba sees
  each as the lone surrogate U+D800, which valid input never contains (check_texts rejects it), and
  reads their ids in order from one array (any number of added tokens), so a whole batch still
  travels as one str -> one utf-32 encode ('surrogatepass').
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from numba import njit

from python_ref import tokenizer as ref
from contract.api import Batch, check_texts

MAX_WORD = ref.MAX_WORD_CHARS
ADDED = 0xD800                      # a lone surrogate: the next added token of the text (added_seq)
DROP, SPACE, PUNCT, WORD = 0, 1, 2, 3
FIRST_PREFIX = 4096                 # chars tried first; x16 per retry


# ---------------------------------------------------------------- Numba kernels (nopython)

@njit(cache=True, nogil=True, inline="always")
def wordpiece(w, n, row, n_out, budget, unk, first, count, edge_cp, edge_child, node_tok):
    """Greedy longest-match-first of w[:n] via the trie; writes ids into row, returns new n_out."""
    if n == 0:
        return n_out
    if n > MAX_WORD:
        if n_out < budget:
            row[n_out] = unk
        return n_out + 1
    start, cnt = 0, 0
    while start < n:
        node, j, best_end, best_tok = 1 if start > 0 else 0, start, -1, -1  # root 1: '##' pieces
        while j < n:
            lo, hi, cp = first[node], first[node] + count[node], w[j]
            while lo < hi:                    # binary search the node's sorted edges (written
                mid = (lo + hi) >> 1          # inline: a helper taking arrays costs refcounting)
                if edge_cp[mid] < cp:
                    lo = mid + 1
                else:
                    hi = mid
            if lo == first[node] + count[node] or edge_cp[lo] != cp:
                break
            node = edge_child[lo]
            j += 1
            if node_tok[node] >= 0:
                best_end, best_tok = j, node_tok[node]
        if best_tok < 0:                  # unmatched remainder: the whole word is [UNK]
            if n_out < budget:
                row[n_out] = unk
            return n_out + 1
        if n_out + cnt < budget:
            row[n_out + cnt] = best_tok
        cnt += 1
        start = best_end
    return n_out + cnt


@njit(cache=True, nogil=True)
def pre_tokenize(buf, starts, ends, raw, rows, pieces, n_out, cls8, low8, added_seq, added_at, unk,
                 first, count, edge_cp, edge_child, node_tok):
    """Split texts buf[starts[k]:ends[k]] into words and wordpiece each into pieces[rows[k]] (N, budget).

    raw[k]: an ASCII text still to normalise here (tables cls8/low8); else already normalised in
    Python: split on ' ', and the j-th surrogate ADDED of text k is added token added_seq[added_at[k] + j]."""
    budget = pieces.shape[1]
    w = np.empty(MAX_WORD + 1, np.uint32)                        # current word
    for k in range(starts.shape[0]):
        row, n, wl, a = pieces[rows[k]], 0, 0, added_at[k]
        for i in range(starts[k], ends[k]):
            if n >= budget:
                break
            cp = buf[i]
            c = cls8[cp] if raw[k] else (SPACE if cp == 32 else
                                         PUNCT if cp == ADDED else WORD)
            if c == WORD:
                if wl <= MAX_WORD:
                    w[wl] = low8[cp] if raw[k] else cp
                    wl += 1
            elif c != DROP:                                      # SPACE, PUNCT or added token
                n = wordpiece(w, wl, row, n, budget, unk, first, count, edge_cp, edge_child, node_tok)
                wl = 0
                if c == PUNCT and raw[k]:
                    w[0] = cp
                    n = wordpiece(w, 1, row, n, budget, unk, first, count, edge_cp, edge_child, node_tok)
                elif c == PUNCT:
                    if n < budget:
                        row[n] = added_seq[a]
                    n += 1
                    a += 1
        if n < budget:
            n = wordpiece(w, wl, row, n, budget, unk, first, count, edge_cp, edge_child, node_tok)
        n_out[rows[k]] = min(n, budget)


@njit(cache=True, nogil=True)
def pad_rows(pieces, n_out, cls, sep, pad):
    """[CLS] pieces [SEP] [PAD] ... -> ids (N, T) int64, mask (N, T) int64."""
    n = n_out.shape[0]
    t = 0
    for i in range(n):
        t = max(t, n_out[i] + 2)
    ids = np.full((n, t), pad, np.int64)
    mask = np.zeros((n, t), np.int64)
    for i in range(n):
        ids[i, 0] = cls
        for j in range(n_out[i]):
            ids[i, j + 1] = pieces[i, j]
        ids[i, n_out[i] + 1] = sep
        mask[i, :n_out[i] + 2] = 1
    return ids, mask


# ---------------------------------------------------------------- Python side: tables, normalize

def _trie(vocab: dict[str, int]):
    """CSR trie over code points: root 0 = word starts, root 1 = '##' continuations."""
    kids: list[dict[int, int]] = [{}, {}]
    tok = [-1, -1]
    for piece, i in vocab.items():
        for root, key in ((0, piece), (1, piece[2:] if piece.startswith("##") and len(piece) > 2 else "")):
            node = root
            for ch in key:
                nxt = kids[node].get(ord(ch))
                if nxt is None:
                    nxt = kids[node][ord(ch)] = len(kids)
                    kids.append({})
                    tok.append(-1)
                node = nxt
            if key:
                tok[node] = i
    count = np.array([len(k) for k in kids], np.int64)
    first = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    edges = [e for k in kids for e in sorted(k.items())]
    edge_cp = np.array([e[0] for e in edges], np.uint32)
    edge_child = np.array([e[1] for e in edges], np.int64)
    return first, count, edge_cp, edge_child, np.array(tok, np.int64)


class Tokenizer:
    def __init__(self, vocab_path: str | Path, spec):
        """vocab.txt + the settings of a contract.spec.ModelSpec."""
        self.ref = ref.Tokenizer(vocab_path, spec)   # loads vocab.txt and the settings
        self.budget = self.ref.max_len - 2
        self.trie = _trie(self.ref.vocab)
        f = self.flags = self.ref.flags
        ascii_ = [chr(c) for c in range(128)]
        self.cls8 = np.array([DROP if ref.clean_char(ch, f["clean_text"], f["handle_chinese_chars"]) == "" else
                              SPACE if ch in ref.WHITESPACE else PUNCT if ref.is_punctuation(ch) else WORD
                              for ch in ascii_], np.uint8)
        self.low8 = np.array([ord(ref.lower(ch) if f["lowercase"] else ch) for ch in ascii_], np.uint32)
        # After normalising: whitespace -> ' ' (cleaned or not, the pre-tokenizer splits there), ' p ' around punctuation
        self._split = ref.CharMap(lambda ch: " " if ch in ref.WHITESPACE else f" {ch} " if ref.is_punctuation(ch) else ch)
        added = self.ref.added_tokens
        self._added_first = sorted({t[0] for t in added if t})

    @classmethod
    def from_spec(cls, spec) -> "Tokenizer":
        return cls(Path(spec.dir) / "vocab.txt", spec)

    def normalize(self, text: str) -> str:
        """python_ref's normalisation (as its encode() does it) + the punctuation split, as C-speed passes."""
        return self.ref.normalize_for_words(text).translate(self._split)

    def _has_added(self, text: str) -> bool:
        return bool(self._added_first) and any(f in text for f in self._added_first) \
            and self.ref.added.find(text) is not None

    def _prepare(self, text: str) -> tuple[str, bool, list[int]]:
        """(text, True, []): ASCII for Numba to normalise; else (normalised text, False, ids) with
        each added token as the stand-in ADDED and its id in ids, in order."""
        if not self._has_added(text):
            return (text, True, []) if text.isascii() else (self.normalize(text), False, [])
        segs = list(self.ref.segments(text))
        return ("".join(self.normalize(seg) if tid is None else chr(ADDED) for seg, tid in segs), False,
                [tid for _, tid in segs if tid is not None])

    def _prefix_end(self, text: str, size: int) -> int:
        """End of the first `size`+ chars where cutting changes no id: before one of python_ref's cut
        characters outside an added token, or at an added token's edge (python_ref reads the same way)."""
        pos = 0
        for seg, tid in self.ref.segments(text) if len(text) > size else ():
            end = pos + len(seg)
            if end >= size:
                m = self.ref.cuts.search(seg, max(0, size - pos)) if tid is None else None
                return pos + m.start() if m else end
            pos = end
        return len(text)

    def encode_batch(self, texts: Sequence[str]) -> Batch:
        texts = check_texts(texts)                   # the shared bad-input contract
        n = len(texts)
        pieces = np.zeros((n, self.budget), np.int32)  # (N, budget)
        n_out = np.zeros(n, np.int64)
        todo, size = list(range(n)), FIRST_PREFIX
        while todo:
            cut = {i: self._prefix_end(texts[i], size) for i in todo}
            strs, raw, ids = zip(*[self._prepare(texts[i][:cut[i]]) for i in todo])
            lens = np.fromiter(map(len, strs), np.int64, len(strs))
            added_at = np.cumsum([0, *map(len, ids)])[:-1].astype(np.int64)       # (len(todo),)
            added_seq = np.array([t for row in ids for t in row] or [0], np.int64)
            ends = np.cumsum(lens)
            buf = np.frombuffer("".join(strs).encode("utf-32-le", "surrogatepass"), np.uint32)  # (sum lens,)
            pre_tokenize(buf, ends - lens, ends, np.array(raw, np.bool_), np.array(todo, np.int64), pieces,
                         n_out, self.cls8, self.low8, added_seq, added_at, self.ref.unk, *self.trie)
            todo = [i for i in todo if n_out[i] < self.budget and cut[i] < len(texts[i])]
            size *= 16
        return Batch(*pad_rows(pieces, n_out, self.ref.cls, self.ref.sep, self.ref.pad))
