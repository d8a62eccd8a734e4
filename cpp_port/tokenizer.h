// cpp_port tokenizer: BERT WordPiece in C++17, no torch, throws no exceptions, no allocation per character.
// Ports python_ref/tokenizer.py stage by stage (normalize -> pre_tokenize -> wordpiece ->
// encode_batch, then pad_rows), fused into one left-to-right pass over the UTF-8 bytes that stops
// reading once max_len - 2 pieces exist (linear time and O(1) extra memory for any input size).
// Every setting comes from TokenizerOptions, filled from the model spec (model_spec.h): the
// BertNormalizer flags (clean_text, handle_chinese_chars, strip_accents, lowercase), max_len and
// the [CLS]/[SEP]/[UNK]/[PAD] ids. Like HF tokenizers, added tokens found in the raw text map to
// their ids (default: the five BERT specials in vocab.txt; set_added_tokens: the model's own), found
// as upstream finds them: Aho-Corasick, leftmost-longest, linear in the text (python_ref/added_tokens.py).
// Leaves out: offsets, pairs, normalizers other than BertNormalizer. Also compiled by emscripten
// (-fno-exceptions) for wasm_port. A vocabulary without [CLS]/[SEP]/[UNK] is reported by error(); callers
// refuse the model with it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portbench {

struct EncodeError {
  size_t byte_offset = 0;     // start of the offending byte sequence
  const char* what = nullptr;  // static string, e.g. "invalid UTF-8 (overlong encoding)"
};

// The settings a model gives its tokenizer (contract/spec.py). The defaults are
// all-MiniLM-L6-v2's; an id of -1 means "that token's line in vocab.txt".
struct TokenizerOptions {
  int max_len = 256;                       // ids per text, [CLS] and [SEP] included (>= 2)
  bool clean_text = true, handle_chinese_chars = true, strip_accents = true, lowercase = true;
  int32_t cls_id = -1, sep_id = -1, unk_id = -1, pad_id = -1;
};

class Tokenizer {
 public:
  // vocab_txt: contents of vocab.txt, id = line number ("\n" or "\r\n" line ends).
  explicit Tokenizer(std::string_view vocab_txt, const TokenizerOptions& opt = TokenizerOptions());
  // Empty if usable; else one line saying why not (e.g. "vocab.txt: has no [UNK] token"). Callers
  // refuse the model with it: a tokenizer without [CLS]/[SEP]/[UNK] would give wrong ids.
  const std::string& error() const { return error_; }

  // One UTF-8 text -> [CLS] ids [SEP] (<= max_len). Returns false and fills *err (if non-null)
  // on invalid UTF-8 anywhere in the text (out is then empty). Never UB, thread-safe (const).
  bool encode(std::string_view utf8, std::vector<int32_t>& out, EncodeError* err) const;
  // Same; check_tail=false skips validating the bytes after the truncation point (for input
  // already known to be valid, e.g. from a Python str). The bytes it reads are always checked.
  bool encode(std::string_view utf8, std::vector<int32_t>& out, EncodeError* err, bool check_tail) const;
  // Core: writes at most max_len ids into out[], returns their count, or -1 on invalid UTF-8.
  int encode_into(std::string_view utf8, int32_t* out, EncodeError* err, bool check_tail) const;

  // N texts -> ids[N * max_len] (row i at i * max_len), lens[N]; on num_threads threads, clamped to
  // [1, min(N, max_threads())]; if the system refuses a thread, the calling thread does its share.
  // Returns false on the first (lowest-index) invalid text: *bad_index, *err say which and where.
  bool encode_batch(const std::string_view* texts, size_t n, int32_t* ids, int32_t* lens,
                    int num_threads, bool check_tail, EncodeError* err, size_t* bad_index) const;

  static bool validate_utf8(std::string_view s, EncodeError* err);
  // The most threads encode_batch uses: 4 per hardware thread, at most 256 (1 without threads).
  static size_t max_threads();

  // Replace the added tokens matched verbatim in raw text (default: the five BERT specials found in
  // vocab.txt) with a model's own list, e.g. tokenizer.json's added_tokens with normalized=false.
  void set_added_tokens(const std::vector<std::pair<std::string, int32_t>>& tokens);

  int cls_id() const { return cls_; }
  int sep_id() const { return sep_; }
  int unk_id() const { return unk_; }
  int pad_id() const { return pad_ < 0 ? 0 : pad_; }
  int max_len() const { return max_len_; }
  size_t vocab_size() const { return vocab_size_; }

 private:
  friend struct Encoder;
  // Vocabulary as a byte trie. Node 0 is the root; cont_ is the node for "##" (continuations).
  int32_t child(int32_t node, uint8_t b) const;
  std::vector<int32_t> tok_;      // per node: token id or -1
  std::vector<uint32_t> first_;   // per node: first edge
  std::vector<uint16_t> nkids_;   // per node: number of edges
  std::vector<int32_t> dense_;    // per node: offset into dense256_ or -1
  std::vector<uint8_t> label_;    // per edge, sorted within a node
  std::vector<int32_t> target_;   // per edge
  std::vector<int32_t> dense256_;  // 256 children per dense node (0 = none)
  int32_t cont_ = -1;
  // Added tokens: an Aho-Corasick automaton over UTF-8 bytes. State 0 is the root; per state its
  // sorted edges (ac_label_/ac_to_ from ac_first_, ac_count_ of them), its failure link, its depth
  // and the longest token ending there (length in bytes, id; 0, -1 if none).
  std::vector<std::pair<std::string, int32_t>> added_tokens_;
  std::vector<uint32_t> ac_first_;
  std::vector<uint16_t> ac_count_;
  std::vector<uint8_t> ac_label_;
  std::vector<int32_t> ac_to_, ac_fail_, ac_depth_, ac_len_, ac_id_;
  bool added_first_[256] = {};            // the root's edges: where a match can start
  void index_added_tokens();
  int32_t ac_next(int32_t state, uint8_t b) const;
 public:
  // The leftmost-longest added token in s[pos, n): *start, *end (bytes), *id; *start = n if none.
  void find_added(const uint8_t* s, size_t n, size_t pos, size_t* start, size_t* end, int32_t* id) const;
 private:
  TokenizerOptions opt_;
  uint8_t ascii_cls_[128], ascii_lower_[128];  // ASCII fast path: normalize + pre_tokenize class, lowercase
  int cls_ = -1, sep_ = -1, unk_ = -1, pad_ = -1, max_len_ = 256;
  size_t vocab_size_ = 0;
  std::string error_;
};

// The padding step of every C++ caller (bindings, minilm-embed, the wasm ABI): encode_batch's rows
// (row i at rows + i * stride, lens[i] ids) -> ids, mask (n, t), t = padded_len(); [PAD] after each
// row, mask 1 then 0.
inline size_t padded_len(const int32_t* lens, size_t n) {
  size_t t = 0;
  for (size_t i = 0; i < n; ++i) t = (size_t)lens[i] > t ? (size_t)lens[i] : t;
  return t;
}
template <class T>
void pad_rows(const int32_t* rows, size_t stride, const int32_t* lens, size_t n, size_t t, int32_t pad_id,
              T* ids, T* mask) {
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < t; ++j) {
      bool in = j < (size_t)lens[i];
      ids[i * t + j] = (T)(in ? rows[i * stride + j] : pad_id);
      mask[i * t + j] = (T)in;
    }
}

}  // namespace portbench
