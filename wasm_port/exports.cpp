// wasm_port C ABI: glue only. The JS loader (js/loader.mjs) and the native test (ctypes) call these,
// with the settings of the model spec (contract/spec.py, or its JS translation js/spec.mjs).
// Buffers are malloc'd by the caller through pb_malloc/pb_free. Every call returns 0 (or a count)
// on success and a negative PB_E* code on failure, with pb_last_error() saying why in one line.
// pb_set_config only lists the tensors the config implies (no weight memory), so a loader can check
// every one against its file (pb_tensor_check) before the first pb_tensor_dest allocates them all:
// a config.json that outgrows its weights is refused naming a tensor, never by sizing memory for it.
// Every tensor's values are checked for NaN/infinity as they arrive.
// Leaves out: JSON and safetensors parsing (done in JS), the threaded build's pool (its exports are
// kernels_wasm_pool.cpp's; one model per module, shared by its threads).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kernels.h"
#include "peak.h"
#if PB_HAVE_TOKENIZER
#include "tokenizer.h"
#endif

using namespace portbench_wasm;

enum { PB_OK = 0, PB_EARG = -1, PB_EUTF8 = -2, PB_ENOMEM = -3, PB_ESTATE = -4, PB_ENAME = -5 };

static char g_err[256];
static Model g_model;
static Slot* g_slots = nullptr;
static int g_nslots = 0;
static bool g_stored = false;   // the slots' storage is allocated (first pb_tensor_dest)
static Buf g_stage;   // raw (rows, K) linear weight on its way to being packed
#if PB_HAVE_TOKENIZER
static portbench::Tokenizer* g_tok = nullptr;
#endif

static int fail(int code, const char* msg) {
  std::snprintf(g_err, sizeof g_err, "%.250s", msg);
  return code;
}
static Slot* find_slot(const char* name) {
  for (int i = 0; i < g_nslots; ++i)
    if (std::strcmp(g_slots[i].name, name) == 0) return &g_slots[i];
  return nullptr;
}

extern "C" {

const char* pb_last_error() { return g_err; }
void* pb_malloc(uint32_t n) { return std::malloc(n ? n : 1); }
void pb_free(void* p) { std::free(p); }
int pb_dim() { return g_model.cfg.out_dim(); }

// Sizes from config.json (type_vocab 0: no token types, DistilBERT); act: hidden_act 0 gelu, 1 gelu_new,
// 2 gelu_pytorch_tanh, 3 gelu_fast, 4 relu; pooling 0 mean, 1 cls, 2 max, 3 mean_sqrt_len_tokens;
// include_prompt 0/1 (0: pb_forward's prompt_length positions are left out of pooling); normalize 0/1;
// dense: n_dense records of int32 [in_features, out_features, bias 0/1, tanh 0/1] (identity if 0).
int pb_set_config(int hidden, int heads, int layers, int intermediate, int vocab, int max_pos, int type_vocab,
                  float eps, int act, int pooling, int include_prompt, int normalize, int n_dense, const int32_t* dense) {
  if (!std::isfinite(eps) || !(eps > 0)) return fail(PB_EARG, "layer_norm_eps must be a finite number > 0");
  Config c;
  c.hidden = hidden, c.heads = heads, c.layers = layers, c.intermediate = intermediate;
  c.vocab = vocab, c.max_pos = max_pos, c.type_vocab = type_vocab, c.eps = eps, c.act = act;
  c.pooling = pooling, c.include_prompt = include_prompt != 0, c.normalize = normalize != 0, c.n_dense = n_dense;
  if (n_dense < 0 || n_dense > kMaxDense || (n_dense && !dense)) return fail(PB_EARG, "bad Dense layer list");
  for (int k = 0; k < n_dense; ++k)
    c.dense[k] = DenseCfg{dense[4 * k], dense[4 * k + 1], dense[4 * k + 2] != 0, dense[4 * k + 3] != 0};
  delete[] g_slots;
  g_slots = nullptr;
  g_nslots = 0;
  g_stored = false;
  if (const char* e = model_init(g_model, c, &g_slots, &g_nslots, /*storage=*/false)) {   // sizes no kernel can run
    if (std::strncmp(e, "out of memory", 13) == 0) return fail(PB_ENOMEM, e);
    std::snprintf(g_err, sizeof g_err, "config.json: %.200s", e);
    return PB_EARG;
  }
  return PB_OK;
}

// Tensors by index (so a loader can list what it must supply) or by name.
int pb_tensor_count() { return g_nslots; }
const char* pb_tensor_name(int i) { return i >= 0 && i < g_nslots ? g_slots[i].name : nullptr; }

// 0 if tensor `name`, whose shape in the file is (d0) if ndim is 1 or (d0, d1) if 2, is one the
// config implies, with its shape: linear weights and embedding tables (rows, cols) as torch stores
// them, biases and LayerNorm parameters (cols,); else PB_ENAME or PB_EARG (a transposed weight has
// the right size but not the right shape). Allocates nothing.
int pb_tensor_check(const char* name, int ndim, uint32_t d0, uint32_t d1) {
  const Slot* s = find_slot(name);
  if (!s) return fail(PB_ENAME, "unknown tensor name (or config not set)");
  const int want = s->ndim;
  const bool same = ndim == want && (want == 1 ? s->rows == 1 && d0 == uint32_t(s->cols)
                                               : d0 == uint32_t(s->rows) && d1 == uint32_t(s->cols));
  if (!same) {
    char got[48], need[48];
    if (ndim == 1) std::snprintf(got, sizeof got, "[%u]", d0);
    else if (ndim == 2) std::snprintf(got, sizeof got, "[%u, %u]", d0, d1);
    else std::snprintf(got, sizeof got, "%d dimensions", ndim);
    if (want == 1) std::snprintf(need, sizeof need, "[%d]", s->cols);
    else std::snprintf(need, sizeof need, "[%d, %d]", s->rows, s->cols);
    std::snprintf(g_err, sizeof g_err, "tensor %s has shape %s; config.json says %s", name, got, need);
    return PB_EARG;
  }
  return PB_OK;
}

// The storage of every slot, allocated once, on the first pb_tensor_dest after pb_set_config.
static int store() {
  if (g_stored) return PB_OK;
  Slot* slots = nullptr;
  int n = 0;
  const Config c = g_model.cfg;
  const char* e = model_init(g_model, c, &slots, &n, /*storage=*/true);
  delete[] g_slots;   // the table without storage (its views point into the model model_init rebuilt)
  g_slots = e ? nullptr : slots;
  g_nslots = e ? 0 : n;
  if (e) return fail(PB_ENOMEM, e);
  g_stored = true;
  return PB_OK;
}

// Where to write the raw floats of tensor `name` (shape as pb_tensor_check; then call
// pb_tensor_done). 0 on error: pb_tensor_check's, or no memory for the model's tensors.
float* pb_tensor_dest(const char* name, int ndim, uint32_t d0, uint32_t d1) {
  if (pb_tensor_check(name, ndim, d0, d1) != PB_OK || store() != PB_OK) return nullptr;
  Slot* s = find_slot(name);
  if (s->dest) return s->dest;
  if (g_stage.n < s->numel && !g_stage.alloc(s->numel)) { fail(PB_ENOMEM, "out of memory (staging buffer)"); return nullptr; }
  return g_stage.p;
}

// The floats written at pb_tensor_dest are in: checked (NaN or infinity anywhere is refused, as it
// would make every vector NaN), then packed where the kernels want them.
int pb_tensor_done(const char* name) {
  Slot* s = find_slot(name);
  if (!s) return fail(PB_ENAME, "unknown tensor name");
  if (!g_stored) return fail(PB_ESTATE, "pb_tensor_done before pb_tensor_dest");
  const float* v = s->dest ? s->dest : g_stage.p;
  for (size_t i = 0; i < s->numel; ++i)
    if (!std::isfinite(v[i])) {
      std::snprintf(g_err, sizeof g_err, "tensor %s holds NaN or infinite values (index %zu)", name, i);
      return PB_EARG;
    }
  if (!s->dest) pack_rows(g_stage.p, s->cols, s->rows, s->col0, s->panels);
  s->set = true;
  return PB_OK;
}

// 0 when every tensor is set; else PB_ESTATE naming the first missing one.
int pb_ready() {
  if (!g_nslots) return fail(PB_ESTATE, "config not set");
  for (int i = 0; i < g_nslots; ++i)
    if (!g_slots[i].set) {
      std::snprintf(g_err, sizeof g_err, "tensor %s was not supplied", g_slots[i].name);
      return PB_ESTATE;
    }
  return PB_OK;
}

// ids, mask: int32 (n, t); out: float32 (n, dim). prompt_length: the prompt's tokens at the start of
// every row (0: none), left out of pooling where the config says include_prompt 0.
int pb_forward(const int32_t* ids, const int32_t* mask, int n, int t, int prompt_length, float* out) {
  if (int rc = pb_ready()) return rc;
  if (n < 0 || t < 0 || prompt_length < 0 || (n > 0 && t > 0 && (!ids || !mask)) || (n && !out))
    return fail(PB_EARG, "bad forward arguments");
  if (const char* e = model_forward(g_model, ids, mask, n, t, out, prompt_length))
    return fail(std::strncmp(e, "out of memory", 13) == 0 ? PB_ENOMEM : PB_EARG, e);
  return PB_OK;
}

// vocab.txt + the tokenizer settings of the model spec: max_len ([CLS] and [SEP] included); flags
// 1 clean_text, 2 handle_chinese_chars, 4 strip_accents, 8 lowercase; special ids (-1: vocab.txt's).
int pb_load_vocab(const char* txt, uint32_t len, int max_len, int flags, int cls_id, int sep_id, int unk_id,
                  int pad_id) {
#if PB_HAVE_TOKENIZER
  if (max_len < 2) return fail(PB_EARG, "max_len must be >= 2");
  portbench::TokenizerOptions o;
  o.max_len = max_len;
  o.clean_text = flags & 1, o.handle_chinese_chars = flags & 2, o.strip_accents = flags & 4, o.lowercase = flags & 8;
  o.cls_id = cls_id, o.sep_id = sep_id, o.unk_id = unk_id, o.pad_id = pad_id;
  delete g_tok;
  g_tok = new (std::nothrow) portbench::Tokenizer(std::string_view(txt, len), o);
  if (!g_tok) return fail(PB_ENOMEM, "out of memory (vocab)");
  if (!g_tok->error().empty()) {   // no [CLS]/[SEP]/[UNK]: refuse rather than give wrong ids
    fail(PB_EARG, g_tok->error().c_str());
    delete g_tok;
    g_tok = nullptr;
    return PB_EARG;
  }
  return PB_OK;
#else
  (void)txt; (void)len; (void)max_len; (void)flags; (void)cls_id; (void)sep_id; (void)unk_id; (void)pad_id;
  return fail(PB_ESTATE, "built without cpp_port/tokenizer.cpp");
#endif
}

// The model's added tokens, matched verbatim in raw text (tokenizer.json's, parsed by the JS loader),
// replacing the default five BERT specials: packed records of [int32 id][uint32 n][n bytes].
int pb_set_added_tokens(const char* buf, uint32_t len) {
#if PB_HAVE_TOKENIZER
  if (!g_tok) return fail(PB_ESTATE, "vocab not loaded");
  std::vector<std::pair<std::string, int32_t>> toks;
  for (uint32_t p = 0; p < len;) {
    int32_t id;
    uint32_t n;
    if (len - p < 8) return fail(PB_EARG, "truncated added-token record");
    std::memcpy(&id, buf + p, 4);
    std::memcpy(&n, buf + p + 4, 4);
    p += 8;
    if (n > len - p) return fail(PB_EARG, "truncated added-token record");
    toks.emplace_back(std::string(buf + p, n), id);
    p += n;
  }
  g_tok->set_added_tokens(toks);
  return PB_OK;
#else
  (void)buf; (void)len;
  return fail(PB_ESTATE, "built without cpp_port/tokenizer.cpp");
#endif
}

// One UTF-8 text -> ids ([CLS] .. [SEP], at most max_len) into out (cap ints). Returns the count.
int pb_tokenize(const char* utf8, uint32_t len, int32_t* out, int cap) {
#if PB_HAVE_TOKENIZER
  if (!g_tok) return fail(PB_ESTATE, "vocab not loaded");
  if (cap < g_tok->max_len()) return fail(PB_EARG, "output buffer smaller than max_len");
  portbench::EncodeError e;
  const int k = g_tok->encode_into(std::string_view(utf8, len), out, &e, true);
  if (k < 0) {
    std::snprintf(g_err, sizeof g_err, "invalid UTF-8 at byte %zu: %s", e.byte_offset, e.what ? e.what : "");
    return PB_EUTF8;
  }
  return k;
#else
  (void)utf8; (void)len; (void)out; (void)cap;
  return fail(PB_ESTATE, "built without cpp_port/tokenizer.cpp");
#endif
}

// The multiply-add peak at this build's vector width, GFLOP/s (peak.h), best over ~ms, on the kernels'
// threads at once (minilm_mt.wasm: pb_set_threads; minilm.wasm: one).
double pb_fma_peak(int ms) { return portbench_wasm::fma_peak_gflops(detail::threads(), ms); }

int pb_max_len() {
#if PB_HAVE_TOKENIZER
  return g_tok ? g_tok->max_len() : 0;
#else
  return 0;
#endif
}

// n texts concatenated in `utf8`, lens[i] bytes each -> out float32 (n, dim): tokenize, pad_rows, forward.
// A prompt is the caller's: in front of each text's bytes, and its token count as prompt_length (pb_forward's).
int pb_embed(const char* utf8, const uint32_t* lens, int n, int prompt_length, float* out) {
#if PB_HAVE_TOKENIZER
  const int cap = pb_max_len();
  if (cap <= 0) return fail(PB_ESTATE, "vocab not loaded");
  if (n < 0) return fail(PB_EARG, "negative text count");
  int32_t* rows = static_cast<int32_t*>(std::calloc(size_t(n) * cap + 1, sizeof(int32_t)));
  int32_t* counts = static_cast<int32_t*>(std::calloc(size_t(n) + 1, sizeof(int32_t)));
  int32_t *ids = nullptr, *mask = nullptr;
  int rc = PB_OK;
  if (!rows || !counts) rc = fail(PB_ENOMEM, "out of memory (token buffers)");
  for (int i = 0, pos = 0; rc == PB_OK && i < n; pos += lens[i], ++i) {
    int k = pb_tokenize(utf8 + pos, lens[i], rows + size_t(i) * cap, cap);
    if (k < 0) {
      char msg[sizeof g_err + 32];
      std::snprintf(msg, sizeof msg, "texts[%d]: %s", i, g_err);
      rc = fail(k, msg);
    }
    counts[i] = k;
  }
  const size_t t = rc == PB_OK ? portbench::padded_len(counts, size_t(n)) : 0;
  if (rc == PB_OK) {
    ids = static_cast<int32_t*>(std::calloc(size_t(n) * t + 1, sizeof(int32_t)));
    mask = static_cast<int32_t*>(std::calloc(size_t(n) * t + 1, sizeof(int32_t)));
    if (!ids || !mask) rc = fail(PB_ENOMEM, "out of memory (token buffers)");
  }
  if (rc == PB_OK) {
    portbench::pad_rows(rows, size_t(cap), counts, size_t(n), t, g_tok->pad_id(), ids, mask);
    rc = pb_forward(ids, mask, n, int(t), prompt_length, out);
  }
  std::free(rows); std::free(counts); std::free(ids); std::free(mask);
  return rc;
#else
  (void)utf8; (void)lens; (void)n; (void)prompt_length; (void)out;
  return fail(PB_ESTATE, "built without cpp_port/tokenizer.cpp");
#endif
}

}  // extern "C"
