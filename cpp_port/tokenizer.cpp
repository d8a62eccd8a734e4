// cpp_port tokenizer: see tokenizer.h. One pass per text, stage functions named as in
// python_ref/tokenizer.py: normalize (clean, CJK spacing, NFD + canonical reordering, drop Mn,
// lowercase: each as the options say) feeds pre_tokenize (split on whitespace, isolate
// punctuation), which feeds wordpiece (greedy longest match on a byte trie). Per-code-point
// properties come from the generated unicode_tables.h. Leaves out: offsets, pairs.
#include "tokenizer.h"

#include <algorithm>
#include <cstring>
#if !defined(__EMSCRIPTEN__) && defined(__cpp_exceptions)
#define PB_THREADS 1  // the wasm build is single-threaded; without exceptions a failed thread start would abort
#include <system_error>
#include <thread>
#endif

#include "unicode_tables.h"

namespace portbench {
namespace {

constexpr int kMaxWordChars = 100;               // longer words become [UNK] (upstream's limit)
constexpr int kWordBytes = kMaxWordChars * 4;    // UTF-8 bytes of the longest word we spell out
constexpr int kMaxPending = 128;                 // > kMaxWordChars: a longer run is [UNK] anyway

const char* const kErrTruncated = "invalid UTF-8 (truncated sequence)";
const char* const kErrLead = "invalid UTF-8 (unexpected byte)";
const char* const kErrOverlong = "invalid UTF-8 (overlong encoding)";
const char* const kErrSurrogate = "invalid UTF-8 (encoded surrogate)";
const char* const kErrRange = "invalid UTF-8 (code point above U+10FFFF)";
const char* const kErrCont = "invalid UTF-8 (bad continuation byte)";

// Strict UTF-8 decoding (RFC 3629). Returns the code point and advances i, or returns -1 with
// *why set and i unchanged. Hand-written: the standard library has no non-throwing decoder.
inline int32_t decode(const uint8_t* s, size_t n, size_t& i, const char** why) {
  uint8_t b0 = s[i];
  if (b0 < 0x80) { ++i; return b0; }
  int len; uint32_t cp; uint8_t lo = 0x80, hi = 0xBF;
  if (b0 < 0xC2) { *why = b0 < 0xC0 ? kErrLead : kErrOverlong; return -1; }
  if (b0 < 0xE0) { len = 2; cp = b0 & 0x1F; }
  else if (b0 < 0xF0) { len = 3; cp = b0 & 0x0F; if (b0 == 0xE0) lo = 0xA0; if (b0 == 0xED) hi = 0x9F; }
  else if (b0 < 0xF5) { len = 4; cp = b0 & 0x07; if (b0 == 0xF0) lo = 0x90; if (b0 == 0xF4) hi = 0x8F; }
  else { *why = kErrRange; return -1; }
  if (n - i < (size_t)len) {
    // Say "truncated" only if the bytes that are there could start a valid sequence.
    for (size_t k = 1; k < n - i; ++k) if ((s[i + k] & 0xC0) != 0x80) { *why = kErrCont; return -1; }
    *why = kErrTruncated; return -1;
  }
  uint8_t b1 = s[i + 1];
  if (b1 < lo || b1 > hi) {
    *why = (b1 & 0xC0) != 0x80 ? kErrCont : b0 == 0xE0 || b0 == 0xF0 ? kErrOverlong
         : b0 == 0xED ? kErrSurrogate : kErrRange;
    return -1;
  }
  cp = cp << 6 | (b1 & 0x3F);
  for (int k = 2; k < len; ++k) {
    uint8_t b = s[i + k];
    if ((b & 0xC0) != 0x80) { *why = kErrCont; return -1; }
    cp = cp << 6 | (b & 0x3F);
  }
  i += len;
  return (int32_t)cp;
}

inline int put_utf8(uint32_t cp, uint8_t* o) {
  if (cp < 0x80) { o[0] = (uint8_t)cp; return 1; }
  if (cp < 0x800) { o[0] = 0xC0 | cp >> 6; o[1] = 0x80 | (cp & 0x3F); return 2; }
  if (cp < 0x10000) { o[0] = 0xE0 | cp >> 12; o[1] = 0x80 | (cp >> 6 & 0x3F); o[2] = 0x80 | (cp & 0x3F); return 3; }
  o[0] = 0xF0 | cp >> 18; o[1] = 0x80 | (cp >> 12 & 0x3F); o[2] = 0x80 | (cp >> 6 & 0x3F); o[3] = 0x80 | (cp & 0x3F);
  return 4;
}

// ASCII fast path: the table's props under the model's flags, folded into one byte per character.
enum : uint8_t { A_DROP, A_SPACE, A_PUNCT, A_WORD };

}  // namespace

// ---------------------------------------------------------------------------------------------
// Tokenizer construction: vocab.txt -> byte trie.

Tokenizer::Tokenizer(std::string_view vocab, const TokenizerOptions& opt)
    : opt_(opt), max_len_(opt.max_len < 2 ? 2 : opt.max_len) {
  for (uint32_t c = 0; c < 128; ++c) {
    const uni::Props& p = uni::props(c);
    ascii_cls_[c] = opt.clean_text && (p.flags & uni::F_DROP) ? A_DROP : p.flags & uni::F_SPACE ? A_SPACE
                  : p.flags & uni::F_PUNCT ? A_PUNCT : A_WORD;
    ascii_lower_[c] = opt.lowercase && p.lower ? (uint8_t)uni::kPool[p.lower + 1] : (uint8_t)c;
  }
  // Build with per-node sorted child lists, then flatten. Duplicate lines: the last id wins.
  std::vector<std::vector<std::pair<uint8_t, int32_t>>> kids(1);
  tok_.assign(1, -1);
  size_t pos = 0;
  int32_t id = 0;
  while (pos < vocab.size()) {
    size_t end = vocab.find('\n', pos);
    if (end == std::string_view::npos) end = vocab.size();
    std::string_view t = vocab.substr(pos, end - pos);
    if (!t.empty() && t.back() == '\r') t.remove_suffix(1);  // CRLF line ends: the token is the same
    int32_t node = 0;
    for (uint8_t b : t) {
      auto& k = kids[node];
      auto it = std::lower_bound(k.begin(), k.end(), std::make_pair(b, (int32_t)-1));
      if (it != k.end() && it->first == b) { node = it->second; continue; }
      int32_t nn = (int32_t)tok_.size();
      k.insert(it, {b, nn});
      tok_.push_back(-1);
      kids.emplace_back();
      node = nn;
    }
    if (!t.empty()) tok_[node] = id;
    for (const char* s : {"[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]"}) {
      if (t != s) continue;
      if (t == "[CLS]") cls_ = id; else if (t == "[SEP]") sep_ = id;
      else if (t == "[UNK]") unk_ = id; else if (t == "[PAD]") pad_ = id;
      added_tokens_.emplace_back(std::string(t), id);
    }
    ++id;
    pos = end + 1;
  }
  vocab_size_ = (size_t)id;
  if (opt.cls_id >= 0) cls_ = opt.cls_id;
  if (opt.sep_id >= 0) sep_ = opt.sep_id;
  if (opt.unk_id >= 0) unk_ = opt.unk_id;
  if (opt.pad_id >= 0) pad_ = opt.pad_id;
  // A model needs [CLS], [SEP] and [UNK] (the spec names them; else vocab.txt's own lines).
  const std::pair<const char*, int> need[] = {{"[CLS]", cls_}, {"[SEP]", sep_}, {"[UNK]", unk_}};
  for (const auto& [name, tid] : need)
    if (tid < 0 || (size_t)tid >= vocab_size_) {
      error_ = std::string("vocab.txt: ") + (tid < 0 ? std::string("has no ") + name + " token"
                                                      : name + std::string(" id ") + std::to_string(tid) +
                                                            " is not one of its " + std::to_string(vocab_size_) + " lines");
      break;
    }
  index_added_tokens();
  size_t nodes = tok_.size();
  first_.resize(nodes); nkids_.resize(nodes); dense_.assign(nodes, -1);
  for (size_t v = 0; v < nodes; ++v) {
    first_[v] = (uint32_t)label_.size();
    nkids_[v] = (uint16_t)kids[v].size();
    for (auto& e : kids[v]) { label_.push_back(e.first); target_.push_back(e.second); }
    if (kids[v].size() >= 12) {  // wide nodes (root, short prefixes): one load instead of a scan
      dense_[v] = (int32_t)dense256_.size();
      dense256_.resize(dense256_.size() + 256, 0);
      for (auto& e : kids[v]) dense256_[dense_[v] + e.first] = e.second;
    }
  }
  int32_t h = child(0, '#');
  cont_ = h > 0 ? child(h, '#') : -1;
  if (cont_ == 0) cont_ = -1;
}

inline int32_t Tokenizer::child(int32_t node, uint8_t b) const {
  if (dense_[node] >= 0) return dense256_[dense_[node] + b];  // 0 = none (the root is no child)
  const uint8_t* l = label_.data() + first_[node];
  for (int k = 0, n = nkids_[node]; k < n; ++k) {
    if (l[k] == b) return target_[first_[node] + k];
    if (l[k] > b) break;
  }
  return 0;
}

bool Tokenizer::validate_utf8(std::string_view sv, EncodeError* err) {
  const uint8_t* s = (const uint8_t*)sv.data();
  size_t n = sv.size(), i = 0;
  const char* why = nullptr;
  while (i < n) {
    if (n - i >= 8) {  // skip 8 ASCII bytes at a time
      uint64_t w; std::memcpy(&w, s + i, 8);
      if (!(w & 0x8080808080808080ull)) { i += 8; continue; }
    }
    if (decode(s, n, i, &why) < 0) {
      if (err) { err->byte_offset = i; err->what = why; }
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// One text's state while it streams through normalize -> pre_tokenize -> wordpiece.

struct Encoder {
  const Tokenizer& tk;
  int32_t* out;
  int count = 0, budget;
  bool done = false;
  uint8_t word[kWordBytes];
  int wbytes = 0, wchars = 0;
  struct Pend { uint32_t cp; uint8_t ccc; } pend[kMaxPending];
  int npend = 0;

  Encoder(const Tokenizer& t, int32_t* o) : tk(t), out(o), budget(t.max_len_ - 2) {}

  void emit(int32_t id) {
    if (id < 0 || done) return;
    out[count++] = id;
    if (count >= budget) done = true;
  }

  // wordpiece: greedy longest-match-first; any unmatched remainder makes the whole word [UNK].
  void wordpiece() {
    int32_t pieces[kMaxWordChars];
    int np = 0, start = 0;
    if (wchars > kMaxWordChars) { emit(tk.unk_); return; }
    while (start < wbytes) {
      int32_t node = start == 0 ? 0 : tk.cont_, best_id = -1;
      int best_end = start;
      for (int j = start; j < wbytes && node >= 0; ++j) {
        node = tk.child(node, word[j]);
        if (node <= 0) break;
        if (tk.tok_[node] >= 0) { best_id = tk.tok_[node]; best_end = j + 1; }
      }
      if (best_id < 0 || np == kMaxWordChars) { emit(tk.unk_); return; }
      pieces[np++] = best_id;
      start = best_end;
    }
    for (int k = 0; k < np; ++k) emit(pieces[k]);
  }

  void end_word() {
    if (wchars) { wordpiece(); wbytes = wchars = 0; }
  }

  // pre_tokenize, one normalized code point at a time (whitespace arrives as ' ').
  void pre_tokenize(uint32_t cp) {
    if (cp == ' ') { end_word(); return; }
    bool punct = cp < 128 ? tk.ascii_cls_[cp] == A_PUNCT : (uni::props(cp).flags & uni::F_PUNCT) != 0;
    if (punct) end_word();
    if (++wchars <= kMaxWordChars) wbytes += put_utf8(cp, word + wbytes);
    if (punct) end_word();
  }

  // Canonical reordering: surviving non-starters wait here until the next starter, then go out
  // stably sorted by combining class (dropped marks cannot change the survivors' order).
  void flush_pending() {
    for (int a = 1; a < npend; ++a)  // insertion sort: stable, runs are short
      for (int b = a; b > 0 && pend[b - 1].ccc > pend[b].ccc; --b) std::swap(pend[b - 1], pend[b]);
    for (int k = 0; k < npend; ++k) pre_tokenize(pend[k].cp);  // these have no case, no punct
    npend = 0;
  }

  // normalize, second half: one code point of the NFD stream -> reorder, drop Mn, lowercase.
  void decomposed(uint32_t cp, const uni::Props& p) {
    if (p.ccc == 0) {
      if (npend) flush_pending();
      if (p.flags & uni::F_MN) return;
      lowercase(cp, p);
      return;
    }
    if (p.flags & uni::F_MN) return;
    if (npend == kMaxPending) flush_pending();  // the word is > 100 chars: [UNK] whatever the order
    pend[npend++] = {cp, p.ccc};
  }

  // normalize, last step: lowercase (per code point, no final-sigma rule) if the model does.
  void lowercase(uint32_t cp, const uni::Props& p) {
    if (!tk.opt_.lowercase || !p.lower) { pre_tokenize(cp); return; }
    const uint32_t* s = uni::kPool + p.lower;
    for (uint32_t k = 1; k <= s[0]; ++k) pre_tokenize(s[k]);
  }

  // normalize, first half: one raw code point -> clean, CJK spacing, canonical decomposition.
  // Whitespace becomes ' ' even when not cleaned: the pre-tokenizer splits there either way.
  void normalize(uint32_t cp) {
    const uni::Props& p = uni::props(cp);
    if ((p.flags & uni::F_DROP) && tk.opt_.clean_text) return;
    if (p.flags & uni::F_SPACE) { decomposed(' ', uni::props(' ')); return; }
    const bool cjk = (p.flags & uni::F_CJK) && tk.opt_.handle_chinese_chars;
    if (cjk) decomposed(' ', uni::props(' '));
    if (!tk.opt_.strip_accents) {  // no NFD at all: nothing decomposes, nothing reorders
      lowercase(cp, p);
    } else if (cp - uni::kHangulBase < uni::kHangulCount) {  // Unicode's algorithmic Hangul decomposition
      uint32_t s = cp - uni::kHangulBase;
      decomposed(0x1100 + s / 588, uni::props(0x1100 + s / 588));
      decomposed(0x1161 + s % 588 / 28, uni::props(0x1161 + s % 588 / 28));
      if (s % 28) decomposed(0x11A7 + s % 28, uni::props(0x11A7 + s % 28));
    } else if (p.decomp) {
      const uint32_t* d = uni::kPool + p.decomp;
      for (uint32_t k = 1; k <= d[0]; ++k) decomposed(d[k], uni::props(d[k]));
    } else {
      decomposed(cp, p);
    }
    if (cjk) decomposed(' ', uni::props(' '));
  }

  // Returns the number of bytes consumed (all of them unless truncated), or -1 on bad UTF-8.
  long run(const uint8_t* s, size_t n, EncodeError* err) {
    size_t i = 0, a_start = n, a_end = n;  // the next added token: [a_start, a_end), id a_id
    int32_t a_id = -1;
    const char* why = nullptr;
    if (!tk.ac_to_.empty()) tk.find_added(s, n, 0, &a_start, &a_end, &a_id);  // empty: no added tokens
    while (i < n && !done) {
      if (i == a_start) {  // an added token: a word boundary and its own id
        if (npend) flush_pending();
        end_word();
        emit(a_id);
        i = a_end;
        if (!done) tk.find_added(s, n, i, &a_start, &a_end, &a_id);
        continue;
      }
      uint8_t b = s[i];
      if (b < 0x80) {
        uint8_t c = tk.ascii_cls_[b];
        if (c == A_DROP) { ++i; continue; }  // removed before NFD: does not end a combining run
        if (npend) flush_pending();
        if (c == A_WORD) {
          // Tight loop over a run of ASCII word characters, up to the next added token.
          do {
            if (++wchars <= kMaxWordChars) word[wbytes++] = tk.ascii_lower_[b];
            b = ++i < a_start ? s[i] : 0x80;  // at the end or a token: a non-ASCII sentinel ends the run
          } while (b < 0x80 && tk.ascii_cls_[b] == A_WORD);
          continue;
        }
        if (c == A_SPACE) end_word();
        else if (c == A_PUNCT) pre_tokenize(b);
        ++i;
        continue;
      }
      int32_t cp = decode(s, n, i, &why);
      if (cp < 0) {
        if (err) { err->byte_offset = i; err->what = why; }
        return -1;
      }
      normalize((uint32_t)cp);
    }
    if (!done) { flush_pending(); end_word(); }
    return (long)i;
  }
};

// ---------------------------------------------------------------------------------------------
// encode / encode_batch

int Tokenizer::encode_into(std::string_view text, int32_t* out, EncodeError* err, bool check_tail) const {
  EncodeError local;
  if (!err) err = &local;
  Encoder e(*this, out + 1);
  long used = e.run((const uint8_t*)text.data(), text.size(), err);
  if (used < 0) return -1;
  if (check_tail && (size_t)used < text.size() && !validate_utf8(text.substr((size_t)used), err)) {
    err->byte_offset += (size_t)used;
    return -1;
  }
  int n = 0;
  if (cls_ >= 0) out[n++] = cls_;
  if (n == 0) std::memmove(out, out + 1, sizeof(int32_t) * e.count);
  n += e.count;
  if (sep_ >= 0) out[n++] = sep_;
  return n;
}

bool Tokenizer::encode(std::string_view utf8, std::vector<int32_t>& out, EncodeError* err, bool check_tail) const {
  out.resize((size_t)max_len_);
  int n = encode_into(utf8, out.data(), err, check_tail);
  out.resize(n < 0 ? 0 : (size_t)n);
  return n >= 0;
}

bool Tokenizer::encode(std::string_view utf8, std::vector<int32_t>& out, EncodeError* err) const {
  return encode(utf8, out, err, true);
}

bool Tokenizer::encode_batch(const std::string_view* texts, size_t n, int32_t* ids, int32_t* lens,
                             int num_threads, bool check_tail, EncodeError* err, size_t* bad_index) const {
  // Each text owns row i, so threads share nothing but the read-only vocabulary.
  auto work = [&](size_t lo, size_t hi) {
    EncodeError e;
    for (size_t i = lo; i < hi; ++i) lens[i] = encode_into(texts[i], ids + i * (size_t)max_len_, &e, check_tail);
  };
#ifndef PB_THREADS
  (void)num_threads;
  work(0, n);
#else
  // At most max_threads(), and never more threads than texts. A thread that cannot start (the
  // system's limit) is not an error: this thread encodes what no thread took.
  size_t t = std::min<size_t>(num_threads < 1 ? 1 : (size_t)num_threads, std::min<size_t>(max_threads(), n));
  std::vector<std::thread> pool;
  size_t taken = 0, per = t ? (n + t - 1) / t : n;
  if (t > 1) {
    pool.reserve(t - 1);
    try {
      for (size_t lo = 0; lo + per < n && pool.size() + 1 < t; lo += per) {
        pool.emplace_back(work, lo, lo + per);
        taken = lo + per;
      }
    } catch (const std::system_error&) {
    }
  }
  work(taken, n);
  for (auto& th : pool) th.join();
#endif
  for (size_t i = 0; i < n; ++i) {
    if (lens[i] >= 0) continue;
    // Re-run the failing text alone to recover the message (rare path, keeps threads simple).
    EncodeError e;
    encode_into(texts[i], ids + i * (size_t)max_len_, &e, check_tail);
    if (err) *err = e;
    if (bad_index) *bad_index = i;
    return false;
  }
  return true;
}

size_t Tokenizer::max_threads() {
#ifdef PB_THREADS
  size_t hw = std::thread::hardware_concurrency();
  return std::min<size_t>(256, 4 * (hw ? hw : 1));
#else
  return 1;
#endif
}

// Aho-Corasick over the added tokens' bytes (python_ref/added_tokens.py over code points; the same
// walk). Hand-written: no library in the toolchain (LibTorch-free, emscripten) has a leftmost-longest one.
void Tokenizer::index_added_tokens() {
  std::vector<std::vector<std::pair<uint8_t, int32_t>>> kids(1);
  std::vector<int32_t> depth(1, 0), len(1, 0), id(1, -1);
  for (const auto& [text, tid] : added_tokens_) {
    int32_t v = 0;
    for (uint8_t b : text) {
      auto it = std::lower_bound(kids[v].begin(), kids[v].end(), std::make_pair(b, (int32_t)-1));
      if (it != kids[v].end() && it->first == b) { v = it->second; continue; }
      const int32_t t = (int32_t)kids.size();
      kids[v].insert(it, {b, t});
      kids.emplace_back();  // after the insert: growing kids may move kids[v]
      depth.push_back(depth[v] + 1), len.push_back(0), id.push_back(-1);
      v = t;
    }
    if (len[v] == 0) len[v] = (int32_t)text.size(), id[v] = tid;   // the first of duplicates, as the spec keeps it
  }
  const size_t nodes = kids.size();
  ac_first_.assign(nodes, 0), ac_count_.assign(nodes, 0), ac_fail_.assign(nodes, 0);
  ac_label_.clear(), ac_to_.clear();
  for (size_t v = 0; v < nodes; ++v) {
    ac_first_[v] = (uint32_t)ac_label_.size(), ac_count_[v] = (uint16_t)kids[v].size();
    for (const auto& [b, t] : kids[v]) ac_label_.push_back(b), ac_to_.push_back(t);
  }
  std::vector<int32_t> order;  // breadth first: a state's failure link before its children's
  for (const auto& [b, t] : kids[0]) order.push_back(t);
  for (size_t q = 0; q < order.size(); ++q) {
    const int32_t v = order[q];
    for (const auto& [b, t] : kids[v]) {
      ac_fail_[t] = ac_next(ac_fail_[v], b);
      if (!len[t]) len[t] = len[ac_fail_[t]], id[t] = id[ac_fail_[t]];  // the longest token that is a suffix
      order.push_back(t);
    }
  }
  ac_depth_ = std::move(depth), ac_len_ = std::move(len), ac_id_ = std::move(id);
  for (bool& f : added_first_) f = false;
  for (const auto& [b, t] : kids[0]) added_first_[b] = true;
}

inline int32_t Tokenizer::ac_next(int32_t v, uint8_t b) const {
  for (;;) {
    const uint8_t* l = ac_label_.data() + ac_first_[v];
    const uint8_t* at = std::lower_bound(l, l + ac_count_[v], b);
    if (at != l + ac_count_[v] && *at == b) return ac_to_[ac_first_[v] + (at - l)];
    if (v == 0) return 0;
    v = ac_fail_[v];
  }
}

void Tokenizer::find_added(const uint8_t* s, size_t n, size_t pos, size_t* start, size_t* end, int32_t* id) const {
  *start = *end = n, *id = -1;
  int32_t v = 0;
  for (size_t i = pos; i < n;) {
    if (v == 0) {
      if (*start < n) return;
      while (i < n && !added_first_[s[i]]) ++i;  // at the root: skip to where a token can start
      if (i == n) return;
    }
    v = ac_next(v, s[i++]);
    if (ac_len_[v]) {
      const size_t st = i - (size_t)ac_len_[v];
      if (st < *start || (st == *start && i > *end)) *start = st, *end = i, *id = ac_id_[v];
    }
    if (*start < n && i - (size_t)ac_depth_[v] > *start) return;  // every match still open starts after it
  }
}

void Tokenizer::set_added_tokens(const std::vector<std::pair<std::string, int32_t>>& tokens) {
  added_tokens_.clear();
  for (const auto& [text, id] : tokens)
    if (!text.empty() && id >= 0) added_tokens_.emplace_back(text, id);
  index_added_tokens();
}

}  // namespace portbench
