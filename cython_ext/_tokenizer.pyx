# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""cython_ext tokenizer: python_ref/tokenizer.py's BERT WordPiece as typed C loops over code points.

Ports normalize -> pre_tokenize -> wordpiece -> encode_batch -> pad_rows, fused into one pass per
text that reads the str's own storage (PyUnicode_KIND/DATA, no UTF-8 copy), stops reading once it
has max_seq_length - 2 pieces, and writes ids + mask straight into int64 numpy buffers. The batch
runs without the GIL. Every setting (normalizer flags, special and added tokens, max_seq_length)
comes from the model's contract.spec.ModelSpec.

How it stays exact without hand-copied Unicode data:
- normalize is per code point, except NFD's canonical reordering. Each non-ASCII code point is
  described once (per 256-code-point page, on first sight) by python_ref's own functions
  (is_control, nfd, is_nonspacing_mark, lower, is_cjk, is_punctuation), under the model's
  normalizer flags, into <= 3 output code points. Reordering (strip_accents only: no NFD without
  it) only moves marks with nonzero combining class; almost all are Mn and are stripped anyway. A
  code point whose decomposition keeps such a mark is flagged, and a text that reaches one is
  encoded by python_ref itself (exact, rare).
- Added tokens ([CLS], [SEP], ...) are found in the raw text as upstream finds them (leftmost-longest,
  linear in the text), by walking python_ref's own automaton (python_ref/added_tokens.py) in C.
Leaves out: offsets, pairs, the Python-level stage functions (python_ref has those).
Thread safety: the vocabulary is read-only; pages are filled under the GIL and published with
an atomic compare-and-swap, never changed or freed until the Tokenizer dies.
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcmp
from cpython.unicode cimport PyUnicode_DATA, PyUnicode_GET_LENGTH, PyUnicode_KIND

import unicodedata
from pathlib import Path

import numpy as np

from python_ref import tokenizer as ref
from contract.api import Batch

cdef extern from *:
    """
    #include <stdint.h>
    /* One code point of a str in any of CPython's three storage kinds (1, 2 or 4 bytes). */
    static inline uint32_t pb_read(int kind, const void *data, Py_ssize_t i) {
        return kind == 1 ? ((const uint8_t *)data)[i]
             : kind == 2 ? ((const uint16_t *)data)[i] : ((const uint32_t *)data)[i];
    }
    /* GCC/Clang atomics: pages are published once and read without the GIL. */
    static inline void *pb_load(void **slot) { return __atomic_load_n(slot, __ATOMIC_ACQUIRE); }
    static inline int pb_publish(void **slot, void *page) {
        void *expected = NULL;
        return __atomic_compare_exchange_n(slot, &expected, page, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    }
    """
    uint32_t pb_read(int kind, const void *data, Py_ssize_t i) noexcept nogil
    void *pb_load(void **slot) noexcept nogil
    bint pb_publish(void **slot, void *page) noexcept nogil

cdef enum:
    MAX_WORD = 100      # upstream's max_input_chars_per_word
    N_PAGES = 0x1100    # 0x110000 code points in pages of 256
    C_WORD = 0          # classes of a normalised code point
    C_SPACE = 1
    C_PUNCT = 2
    F_FALLBACK = 1      # keeps a mark with nonzero combining class: NFD order matters, use python_ref

cdef uint64_t HBASE = 0x100000001B3ULL       # polynomial hash over code points (mod 2^64)
cdef uint64_t GOLD = 0x9E3779B97F4A7C15ULL   # Fibonacci hashing into the table
cdef uint64_t CONT = 0x2545F4914F6CDD1DULL   # added to the hash of '##' continuation keys

cdef struct Entry:          # normalize(): one raw code point -> 0..3 code points, each classed
    uint32_t out[3]
    uint8_t cls[3]
    uint8_t n
    uint8_t flags

cdef struct Core:           # everything encode_one reads; read-only except pages (see header)
    Entry **pages           # (N_PAGES,) pointers, NULL until first needed
    uint64_t *slot_hash     # (cap,) open addressing, linear probing
    int32_t *slot_key       # (cap,) key index or -1
    uint64_t mask
    int shift
    uint32_t *key_cps       # all keys' code points, concatenated
    int32_t *key_off
    int32_t *key_len
    int32_t *key_tok
    int max_key             # longest key, in code points: bounds the greedy search
    int32_t *ac_first         # added tokens: python_ref's Aho-Corasick automaton (AddedTokens.flat())
    int32_t *ac_count
    uint32_t *ac_cp
    int32_t *ac_to
    int32_t *ac_fail
    int32_t *ac_depth
    int32_t *ac_len
    int32_t *ac_id
    bint has_added
    int32_t unk, cls, sep, pad, budget
    uint64_t pw[MAX_WORD + 1]   # HBASE ** k
    void *owner             # the Tokenizer (borrowed): its Python code describes a new page

cdef struct State:          # one text being encoded
    uint32_t w[MAX_WORD + 1]    # the current word; wlen == MAX_WORD + 1 means "too long"
    uint64_t h[MAX_WORD + 2]    # prefix hashes of w
    int wlen
    int32_t *row                # (budget,) pieces
    int n_out


cdef inline uint64_t poly_hash(const uint32_t *w, int n) noexcept nogil:
    cdef uint64_t h = 0
    cdef int k
    for k in range(n):
        h = h * HBASE + w[k]
    return h


cdef inline int32_t lookup(const Core *c, uint64_t h, bint cont, const uint32_t *w, int n) noexcept nogil:
    """Vocabulary id of w[:n] (after '##' if cont), or -1. h = poly_hash(w, n)."""
    cdef uint64_t hk = h + CONT if cont else h
    cdef uint64_t i = (hk * GOLD) >> c.shift
    cdef int32_t k
    while True:
        k = c.slot_key[i]
        if k < 0:
            return -1
        if (c.slot_hash[i] == hk and c.key_len[k] == n
                and memcmp(c.key_cps + c.key_off[k], w, n * sizeof(uint32_t)) == 0):
            return c.key_tok[k]
        i = (i + 1) & c.mask


cdef Entry *fill_page(Core *c, uint32_t page) except NULL with gil:
    """Describe 256 code points with python_ref's functions; publish once (first writer wins)."""
    cdef Entry *p = <Entry *>pb_load(<void **>&c.pages[page])
    cdef Entry *e
    if p != NULL:
        return p
    rows = (<Tokenizer>c.owner)._describe_page(page)
    p = <Entry *>calloc(256, sizeof(Entry))
    if p == NULL:
        raise MemoryError()
    for k, (out, classes, flags) in enumerate(rows):
        e = &p[k]
        e.n, e.flags = len(out), flags
        for j in range(e.n):
            e.out[j], e.cls[j] = ord(out[j]), classes[j]
    if not pb_publish(<void **>&c.pages[page], p):
        free(p)
        p = <Entry *>pb_load(<void **>&c.pages[page])
    return p


cdef inline const Entry *normalize(Core *c, uint32_t cp) except NULL nogil:
    """BERT normalizer for one raw code point (clean, CJK spacing, strip accents, lowercase)."""
    cdef Entry *p = <Entry *>pb_load(<void **>&c.pages[cp >> 8])
    if p == NULL:
        p = fill_page(c, cp >> 8)
    return p + (cp & 255)


cdef void wordpiece(const Core *c, State *s) noexcept nogil:
    """Greedy longest-match-first over s.w; appends ids to s.row (at most budget), clears the word."""
    cdef int n = s.wlen, start = 0, end, cnt = 0, base = s.n_out, k
    cdef int32_t tok = -1
    s.wlen = 0
    if n == 0:
        return
    if n > MAX_WORD:
        if base < c.budget:
            s.row[base] = c.unk
        s.n_out = base + 1
        return
    s.h[0] = 0
    for k in range(n):
        s.h[k + 1] = s.h[k] * HBASE + s.w[k]
    while start < n:
        end = n if n - start < c.max_key else start + c.max_key
        while end > start:
            tok = lookup(c, s.h[end] - s.h[start] * c.pw[end - start], start > 0, &s.w[start], end - start)
            if tok >= 0:
                break
            end -= 1
        if tok < 0:             # unmatched remainder: the whole word is [UNK]
            if base < c.budget:
                s.row[base] = c.unk
            s.n_out = base + 1
            return
        if base + cnt < c.budget:
            s.row[base + cnt] = tok
        cnt += 1
        start = end
    s.n_out = base + cnt


cdef inline void pre_tokenize(const Core *c, State *s, const Entry *e) noexcept nogil:
    """Feed normalised code points into the word: split on ' ', punctuation is a word of its own."""
    cdef int k
    for k in range(e.n):
        if e.cls[k] == C_WORD:
            if s.wlen <= MAX_WORD:
                s.w[s.wlen] = e.out[k]
                s.wlen += 1
        elif e.cls[k] == C_SPACE:
            wordpiece(c, s)
        else:
            wordpiece(c, s)
            s.w[0] = e.out[k]
            s.wlen = 1
            wordpiece(c, s)


cdef inline int32_t ac_next(const Core *c, int32_t s, uint32_t cp) noexcept nogil:
    """The automaton's state after s reads cp (binary search of s's sorted edges), 0 if none."""
    cdef int32_t lo, hi, mid
    while True:
        lo, hi = c.ac_first[s], c.ac_first[s] + c.ac_count[s]
        while lo < hi:
            mid = (lo + hi) >> 1
            if c.ac_cp[mid] < cp:
                lo = mid + 1
            else:
                hi = mid
        if lo < c.ac_first[s] + c.ac_count[s] and c.ac_cp[lo] == cp:
            return c.ac_to[lo]
        if s == 0:
            return 0
        s = c.ac_fail[s]


cdef void find_added(const Core *c, int kind, const void *data, Py_ssize_t n, Py_ssize_t pos,
                     Py_ssize_t *start, Py_ssize_t *end, int32_t *tok) noexcept nogil:
    """python_ref's AddedTokens.find: the leftmost-longest added token at or after pos -> start, end,
    tok; start = n if none."""
    cdef int32_t s = 0
    cdef Py_ssize_t i = pos, st
    start[0], end[0], tok[0] = n, n, -1
    while i < n:
        if s == 0 and start[0] < n:
            return
        s = ac_next(c, s, pb_read(kind, data, i))
        i += 1
        if c.ac_len[s]:
            st = i - c.ac_len[s]
            if st < start[0] or (st == start[0] and i > end[0]):
                start[0], end[0], tok[0] = st, i, c.ac_id[s]
        if start[0] < n and i - c.ac_depth[s] > start[0]:   # every match still open starts after it
            return


cdef int encode_one(Core *c, int kind, const void *data, Py_ssize_t n, State *s) except -1 nogil:
    """One text -> s.row[:s.n_out] pieces (no [CLS]/[SEP]). Returns 1 if python_ref must do it."""
    cdef Py_ssize_t i = 0, a_start = n, a_end = n
    cdef const Entry *e
    cdef int32_t a_tok = -1
    s.wlen = 0
    s.n_out = 0
    if c.has_added:
        find_added(c, kind, data, n, 0, &a_start, &a_end, &a_tok)
    while i < n and s.n_out < c.budget:
        if i == a_start:                # an added token: a word boundary and its own id
            wordpiece(c, s)
            if s.n_out < c.budget:
                s.row[s.n_out] = a_tok
            s.n_out += 1
            i = a_end
            find_added(c, kind, data, n, i, &a_start, &a_end, &a_tok)
            continue
        e = normalize(c, pb_read(kind, data, i))
        if e.flags & F_FALLBACK:
            return 1
        pre_tokenize(c, s, e)
        i += 1
    if s.n_out < c.budget:
        wordpiece(c, s)
    if s.n_out > c.budget:
        s.n_out = c.budget
    return 0


cdef Py_ssize_t find_surrogate(int kind, const void *data, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef uint32_t cp
    if kind == 1:
        return -1
    for i in range(n):
        cp = pb_read(kind, data, i)
        if 0xD800 <= cp <= 0xDFFF:
            return i
    return -1


cdef class Tokenizer:
    cdef Core core
    cdef object _ref, _arrays, _flags
    cdef bint ready

    def __cinit__(self):
        self.core.pages = <Entry **>calloc(N_PAGES, sizeof(Entry *))
        if self.core.pages == NULL:
            raise MemoryError()

    def __dealloc__(self):
        if self.core.pages != NULL:
            for p in range(N_PAGES):
                free(self.core.pages[p])
            free(self.core.pages)

    def __init__(self, vocab_path, spec):
        """vocab.txt + the settings of a contract.spec.ModelSpec."""
        if self.ready:
            raise ValueError("Tokenizer: __init__ runs once")
        # python_ref loads vocab.txt and the settings, so both ports read them the same way.
        self._ref = ref.Tokenizer(vocab_path, spec)
        self._flags = self._ref.flags
        keys = [(0, t, i) for t, i in self._ref.vocab.items()]
        keys += [(1, t[2:], i) for t, i in self._ref.vocab.items() if t.startswith("##") and len(t) > 2]
        cap = 1 << max(4, (2 * len(keys)).bit_length())
        a = dict(
            key_cps=np.frombuffer("".join(k[1] for k in keys).encode("utf-32-le"), np.uint32).copy(),
            key_len=np.array([len(k[1]) for k in keys], np.int32),
            key_tok=np.array([k[2] for k in keys], np.int32),
            slot_hash=np.zeros(cap, np.uint64), slot_key=np.full(cap, -1, np.int32))
        a["key_off"] = (np.cumsum(a["key_len"]) - a["key_len"]).astype(np.int32)
        for k, v in self._ref.added.flat().items():
            a["ac_" + k] = np.array(v, np.uint32 if k == "edge_cp" else np.int32)
        for v in a.values():  # keep a valid pointer even for empty arrays
            v.resize(max(v.size, 1), refcheck=False)
        self._arrays = a  # owns the memory the Core points into
        cdef Core *c = &self.core
        c.key_cps, c.key_off = <uint32_t *>_ptr(a["key_cps"]), <int32_t *>_ptr(a["key_off"])
        c.key_len, c.key_tok = <int32_t *>_ptr(a["key_len"]), <int32_t *>_ptr(a["key_tok"])
        c.ac_first, c.ac_count = <int32_t *>_ptr(a["ac_first"]), <int32_t *>_ptr(a["ac_count"])
        c.ac_cp, c.ac_to = <uint32_t *>_ptr(a["ac_edge_cp"]), <int32_t *>_ptr(a["ac_edge_to"])
        c.ac_fail, c.ac_depth = <int32_t *>_ptr(a["ac_fail"]), <int32_t *>_ptr(a["ac_depth"])
        c.ac_len, c.ac_id = <int32_t *>_ptr(a["ac_out_len"]), <int32_t *>_ptr(a["ac_out_id"])
        c.has_added = bool(self._ref.added)
        c.slot_hash, c.slot_key = <uint64_t *>_ptr(a["slot_hash"]), <int32_t *>_ptr(a["slot_key"])
        c.mask, c.shift = cap - 1, 64 - (cap.bit_length() - 1)
        c.max_key = max([len(k[1]) for k in keys] + [1])
        c.unk, c.cls, c.sep, c.pad = self._ref.unk, self._ref.cls, self._ref.sep, self._ref.pad
        c.budget = self._ref.max_len - 2
        c.pw[0] = 1
        for k in range(1, MAX_WORD + 1):
            c.pw[k] = c.pw[k - 1] * HBASE
        cdef uint64_t h, slot
        for k in range(len(keys)):
            h = poly_hash(c.key_cps + c.key_off[k], c.key_len[k]) + (CONT if keys[k][0] else 0)
            slot = (h * GOLD) >> c.shift
            while c.slot_key[slot] >= 0:
                slot = (slot + 1) & c.mask
            c.slot_hash[slot], c.slot_key[slot] = h, k
        c.owner = <void *>self
        fill_page(c, 0)  # Latin-1, ASCII included: always needed
        self.ready = True

    @classmethod
    def from_spec(cls, spec):
        """The tokenizer of a model, from its contract.spec.ModelSpec."""
        return cls(Path(spec.dir) / "vocab.txt", spec)

    def _describe_page(self, int page):
        """[(normalised str, classes, flags)] for the 256 code points of a page, from python_ref."""
        rows = []
        f = self._flags
        for cp in range(page << 8, (page + 1) << 8):
            ch, flags = chr(cp), 0
            if 0xD800 <= cp <= 0xDFFF or (f["clean_text"] and (ch in "\0\ufffd" or ref.is_control(ch))):
                out = ""
            elif ch in ref.WHITESPACE:   # cleaned to ' ', or kept: either way the pre-tokenizer splits here
                out = " "
            else:
                kept = [ch]
                if f["strip_accents"]:
                    kept = [x for x in ref.nfd(ch) if not ref.is_nonspacing_mark(x)]
                    if any(unicodedata.combining(x) for x in kept):
                        flags |= F_FALLBACK
                out = "".join(ref.lower(x) for x in kept) if f["lowercase"] else "".join(kept)
                out = f" {out} " if f["handle_chinese_chars"] and ref.is_cjk(ch) else out
            if len(out) > 3:  # never with today's tables; stays exact if that changes
                out, flags = "", flags | F_FALLBACK
            rows.append((out, [C_SPACE if x == " " else C_PUNCT if ref.is_punctuation(x) else C_WORD
                               for x in out], flags))
        return rows

    def encode(self, str text):
        """One text -> [CLS] ids [SEP] as a list (for tests and single calls)."""
        b = self.encode_batch([text])
        return b.ids[0, :int(b.attention_mask[0].sum())].tolist()

    def encode_batch(self, texts):
        """Sequence[str] -> Batch(ids (N, T) int64, attention_mask (N, T) int64), T = longest row.

        Bad input as contract.api.check_texts: TypeError / ValueError naming the first bad index."""
        if not self.ready:
            raise RuntimeError("Tokenizer.__init__ was not called")
        if isinstance(texts, (str, bytes)):
            raise TypeError("texts must be a sequence of str, not a single " + type(texts).__name__)
        cdef list items = list(texts)  # our own references: the strs stay alive without the GIL
        cdef Py_ssize_t n = len(items), i, j, t_max = 0, bad_type = n, bad_text = -1, bad_pos = -1
        cdef int budget = self.core.budget, r
        cdef int *kinds = <int *>malloc((n + 1) * sizeof(int))
        cdef const void **datas = <const void **>malloc((n + 1) * sizeof(void *))
        cdef Py_ssize_t *lens = <Py_ssize_t *>malloc((n + 1) * sizeof(Py_ssize_t))
        cdef Py_ssize_t cap = 16 * n + budget, used = 0          # pieces of all rows, back to back
        cdef int32_t *pieces = <int32_t *>malloc(cap * sizeof(int32_t))
        cdef int32_t *grown
        cdef Py_ssize_t *offs = <Py_ssize_t *>malloc((n + 1) * sizeof(Py_ssize_t))  # row starts
        cdef int *n_out = <int *>malloc((n + 1) * sizeof(int))       # pieces per row, -1: python_ref
        cdef bint oom = False
        cdef State st
        cdef int64_t[:, ::1] ids, mask
        try:
            if not (kinds and datas and lens and pieces and offs and n_out):
                raise MemoryError()
            for i in range(n):
                t = items[i]
                if not isinstance(t, str):
                    bad_type = i
                    break
                kinds[i], datas[i], lens[i] = PyUnicode_KIND(t), PyUnicode_DATA(t), PyUnicode_GET_LENGTH(t)
            with nogil:
                for i in range(bad_type):
                    bad_pos = find_surrogate(kinds[i], datas[i], lens[i])
                    if bad_pos >= 0:
                        bad_text = i
                        break
                if bad_text < 0 and bad_type == n:
                    for i in range(n):
                        if cap - used < budget:
                            cap = max(2 * cap, used + budget)
                            grown = <int32_t *>realloc(pieces, cap * sizeof(int32_t))
                            if grown == NULL:
                                oom = True
                                break
                            pieces = grown
                        st.row = pieces + used
                        r = encode_one(&self.core, kinds[i], datas[i], lens[i], &st)
                        offs[i], n_out[i] = used, (-1 if r else st.n_out)
                        used += budget if r else st.n_out   # python_ref's row goes there later
            if oom:
                raise MemoryError()
            if bad_text >= 0:
                raise ValueError(f"texts[{bad_text}] is not valid Unicode (lone surrogate at {bad_pos})")
            if bad_type < n:
                raise TypeError(f"texts[{bad_type}] is {type(items[bad_type]).__name__}, not str")
            for i in range(n):
                if n_out[i] < 0:  # a kept mark with nonzero combining class: python_ref is exact
                    row = self._ref.encode(items[i])
                    row = row[1:len(row) - 1]
                    for j in range(len(row)):
                        pieces[offs[i] + j] = row[j]
                    n_out[i] = len(row)
                t_max = max(t_max, n_out[i] + 2)
            ids_a = np.empty((n, t_max), np.int64)    # (N, T)
            mask_a = np.empty((n, t_max), np.int64)   # (N, T)
            if n:
                ids, mask = ids_a, mask_a
                with nogil:
                    pad_rows(&self.core, pieces, offs, n_out, n, &ids[0, 0], &mask[0, 0], t_max)
            return Batch(ids_a, mask_a)
        finally:
            free(kinds)
            free(datas)
            free(lens)
            free(pieces)
            free(offs)
            free(n_out)


cdef void pad_rows(const Core *c, const int32_t *pieces, const Py_ssize_t *offs, const int *n_out, Py_ssize_t n,
                   int64_t *ids, int64_t *mask, Py_ssize_t t) noexcept nogil:
    """Row i: [CLS] pieces[offs[i]:offs[i] + n_out[i]] [SEP] then [PAD]; mask 1 then 0. ids, mask: (n, t)."""
    cdef Py_ssize_t i, j, k
    for i in range(n):
        k = n_out[i]
        ids[0] = c.cls
        for j in range(k):
            ids[j + 1] = pieces[offs[i] + j]
        ids[k + 1] = c.sep
        for j in range(k + 2):
            mask[j] = 1
        for j in range(k + 2, t):
            ids[j] = c.pad
            mask[j] = 0
        ids += t
        mask += t


cdef size_t _ptr(arr):
    return arr.ctypes.data
