// wasm_port kernels: the BERT encoder of python_ref/model.py and the sentence-transformers head the
// model spec asks for (mean / cls / max / mean_sqrt_len pooling, Dense layers with tanh or
// identity, L2 normalise), in plain C++17 with no LibTorch (which has no WASM build). Two builds of
// the same stages, chosen at compile time:
// - wasm (-msimd128): linear weights repacked into 8-column panels, wasm_simd128 (multiply-adds as
//   relaxed_madd in the relaxed builds); one thread, or (minilm_mt.wasm) matmul tiles, (row, head)
//   pairs and rows split over the worker pool of kernels_wasm_pool.cpp.
// - native (minilm-embed-lite, the host-side tests): torch's row-major weights bound in place
//   (memory-mapped by the caller); pack_weights copies the linear ones once into the GEMM's panels
//   (kernels_gemm.cpp: cache-blocked, register-blocked FMA vectors as wide as the -march the build
//   chose), attention in tiles with an online softmax (kernels_attention.cpp), GEMM tiles and
//   (row, head, query tile) triples split over a thread pool (set_threads, kernels_native.cpp).
// The FFN activation is config.json's (Config::act: transformers.activations' erf GELU, its tanh forms,
// ReLU); a model without token types (DistilBERT: type_vocab 0) adds none; include_prompt false (Config)
// leaves the prompt's first positions out of pooling (model_forward's prompt_length).
// Leaves out: dropout, the pooler, token types other than 0, fp16 weights (the caller converts).
// Sizes and head come from Config (filled from the model spec by the loader); nothing is hard-coded.
// No exceptions: every allocation is checked and failures come back as an error string.
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace portbench_wasm {

enum Pooling { POOL_MEAN = 0, POOL_CLS = 1, POOL_MAX = 2, POOL_MEAN_SQRT_LEN = 3 };
// config.json hidden_act: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu (the spec's names, in order)
enum Act { ACT_GELU = 0, ACT_GELU_NEW = 1, ACT_GELU_PYTORCH_TANH = 2, ACT_GELU_FAST = 3, ACT_RELU = 4 };
constexpr int kMaxDense = 8;
struct DenseCfg {
  int in = 0, out = 0;
  bool bias = true, tanh = false;   // tanh, else identity
};

struct Config {
  int hidden = 0, heads = 0, layers = 0, intermediate = 0;   // D, H, L, F
  int vocab = 0, max_pos = 0, type_vocab = 0;                 // type_vocab 0: no token-type embeddings
  float eps = 1e-12f;
  int act = ACT_GELU;
  int pooling = POOL_MEAN;
  bool include_prompt = true;   // false: the prompt's tokens are left out of pooling
  bool normalize = true;
  int n_dense = 0;
  DenseCfg dense[kMaxDense];
  int out_dim() const { return n_dense ? dense[n_dense - 1].out : hidden; }   // E
};
// nullptr if the sizes are usable, else why not (one line).
const char* check_config(const Config& c);

// An owned float buffer (calloc/free, so a failed allocation is a null pointer, not an abort).
struct Buf {
  float* p = nullptr;
  size_t n = 0;
  Buf() = default;
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  ~Buf();
  bool alloc(size_t count);   // zero-filled; false when out of memory
  void reset();               // free: back to empty
};

// The wasm matmul's right-hand side: W (N, K) as torch stores a linear weight, repacked into panels
// of 8 output columns: (ceil(N/8), K, 8), zero-padded, so the inner loop reads the 8 columns of one k
// as two contiguous SIMD vectors.
struct Panels {
  float* w = nullptr;
  int n = 0, k = 0;
};
inline size_t panel_floats(int n, int k) { return size_t((n + 7) / 8) * 8 * size_t(k); }
// W rows (rows, K) [stride ldw] -> output columns col0.. of p.
void pack_rows(const float* w, int ldw, int rows, int col0, Panels p);
// B (K, N) [stride ldb], i.e. W^T -> all of p.
void pack_cols(const float* b, int ldb, Panels p);

// A linear weight W (n, k): wasm: its panels; native: torch's row-major (n, k), read in place, and
// `packed`, its copy in the native GEMM's panels once pack_weights ran (null: matmul packs per call).
struct Lin {
  const float* w = nullptr;
  int n = 0, k = 0;
  const float* packed = nullptr;
};
#if defined(__wasm__)
constexpr bool kPacked = true;
#else
constexpr bool kPacked = false;
#endif
inline size_t lin_floats(int n, int k) { return kPacked ? panel_floats(n, k) : size_t(n) * size_t(k); }

// Views of the weights (into the caller's mapping, or into Model::store).
struct LayerW {
  Lin q, k, v, ao, ff1, ff2;             // (D, D) x4, (F, D), (D, F)
  const float *q_b = nullptr, *k_b = nullptr, *v_b = nullptr, *ao_b = nullptr;   // (D,)
  const float *ff1_b = nullptr, *ff2_b = nullptr;                                // (F,) (D,)
  const float *ln1_w = nullptr, *ln1_b = nullptr, *ln2_w = nullptr, *ln2_b = nullptr;   // (D,)
};

struct DenseW {
  Lin w;                                 // (E, D_in)
  const float* b = nullptr;              // (E,) or null
};

struct Model {
  Config cfg;
  const float *word = nullptr, *pos = nullptr, *type = nullptr;   // (V, D) (P, D) (TV, D) or null (TV 0)
  const float *ln_w = nullptr, *ln_b = nullptr;                   // (D,)
  LayerW* layers = nullptr;              // cfg.layers of them
  DenseW dense[kMaxDense];               // cfg.n_dense of them
  Buf* store = nullptr;                  // storage of the tensors copied in through slots (one per slot)
  Buf packed;                            // native: every Lin's panels (pack_weights), 64-byte aligned inside
  Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model();
};

// One named tensor the loader must supply: BERT's names (the loader finds each in the file through the
// spec's tensor_names), "dense.K." + the name in the K-th Dense folder's file.
struct Slot {
  char name[96];
  size_t numel;        // rows * cols
  int rows, cols;
  int ndim;            // in the file: 1 (biases, LayerNorm: (cols,)) or 2 ((rows, cols))
  const float** view;  // where the model reads it: set *view to bind the tensor in place
  float* dest;         // with storage: write the raw (rows, cols) floats here; null: pack from staging
  Panels panels;       // wasm linear weights: the panels pack_rows fills (col0 = 0)
  int col0;
  bool set;
};

// Lists the slots of `cfg` (new[]'d, caller deletes). storage=true: allocates every tensor (the C
// ABI's loaders copy into dest, or pack into panels); storage=false: nothing is allocated and the
// caller binds each slot with *view = pointer to (rows, cols) row-major floats (the native build,
// straight into the mapped file). nullptr or an error.
const char* model_init(Model& m, const Config& cfg, Slot** slots, int* n_slots, bool storage = true);

// Native builds: copies every linear weight (layers and Dense) into the GEMM's panels, in
// Model::packed (4 bytes per weight, ~42 MB for all-MiniLM-L6-v2, beside the mapped file), and sets
// each Lin::packed; call once all views are bound. wasm: nothing (its weights are panels already).
// nullptr or an error (out of memory).
const char* pack_weights(Model& m);

// C (M, N) [stride ldc] = A (M, K) [stride lda] . W^T (+ bias (N,), may be null).
void matmul(const float* a, int lda, int m, Lin w, const float* bias, float* c, int ldc);

// Native builds: the kernels' threads (1 = none; the calling thread is one of them). Returns how
// many it has: fewer than asked when the system refuses more (never an abort). minilm.wasm: always 1;
// minilm_mt.wasm: at most 1 + the workers parked in its pool.
int set_threads(int n);

// The rows of one chunk, padding dropped, laid end to end: row r is x[offs[r] .. offs[r]+lens[r]).
struct Rows {
  const int32_t* const* ids;   // per row, lens[r] ids
  const int32_t* const* mask;  // per row, lens[r] of 1/0
  const int* offs;
  const int* lens;
  int n, tokens, max_len;
};

// The stages, named as in python_ref/model.py. x: (tokens, D).
void embeddings_forward(const Model& m, const Rows& r, float* x);
void attention_forward(const Model& m, const LayerW& p, const Rows& r, const float* x, float* qkv,
                       float* att, float* ctx, float* out);
void ffn_forward(const Model& m, const LayerW& p, const float* x, int tokens, float* h, float* out);   // act: m.cfg.act
void layer_forward(const Model& m, const LayerW& p, const Rows& r, float* x, float* work);
// Pooling of one row: x (len, D), mask (len,) -> out (D,).
void mean_pool(const float* x, int len, int dim, const int32_t* mask, float* out);
void mean_sqrt_len_pool(const float* x, int len, int dim, const int32_t* mask, float* out);
void cls_pool(const float* x, int len, int dim, const int32_t* mask, float* out);
void max_pool(const float* x, int len, int dim, const int32_t* mask, float* out);
void dense_forward(const DenseW& w, const DenseCfg& c, const float* x, float* out);   // (D_in,) -> (E,)
void l2_normalize(float* v, int dim);

// ids, mask: int32 (N, T); out: float32 (N, E). prompt_length: the prompt's tokens at the start of each
// row, left out of pooling where the config says include_prompt false. nullptr on success, else an error.
const char* model_forward(const Model& m, const int32_t* ids, const int32_t* mask, int n, int t, float* out,
                          int prompt_length = 0);

// ---- the primitives the stages share; each has a wasm body (kernels.cpp) and a native one
// (kernels_native.cpp). Internal to the kernels, declared here so both files see one signature.
namespace detail {
// Runs fn(ctx, part, begin, end) over [0, n) split into contiguous parts, at most one per thread
// (part < threads()); serial in minilm.wasm.
int threads();
void parallel_for(int n, void (*fn)(void* ctx, int part, int begin, int end), void* ctx);
template <class F>
void parallel_for(int n, F&& f) {
  using G = std::remove_reference_t<F>;
  parallel_for(n, [](void* c, int part, int b, int e) { (*static_cast<G*>(c))(part, b, e); }, &f);
}
// Every head of every row of r: ctx (tokens, D) [D] = softmax(Q K^T / sqrt(dh) + mask) V per (row,
// head), from qkv (tokens, 3D) = Q | K | V. scratch: attention_scratch_floats(max_len, dh) floats per
// thread. wasm: one head_attention per (row, head); native: tiles (kernels_attention.cpp).
void attention_heads(const float* qkv, const Rows& r, int d, int heads, float* scratch, float* ctx);
size_t attention_scratch_floats(int max_len, int dh);
// wasm only: one head of one row: ctx (len, dh) [ldo] = softmax(scale Q K^T + mask) V, with Q, K, V
// (len, dh) [stride ld]. scratch: head_scratch_floats(len, dh) floats.
void head_attention(const float* q, const float* k, const float* v, int ld, int len, int dh,
                    const int32_t* mask, float scale, float* scratch, float* ctx, int ldo);
size_t head_scratch_floats(int max_len, int dh);
// x (rows, D) = LayerNorm(x + y) in place (y may be null).
void add_layer_norm(float* x, const float* y, int rows, int d, const float* w, const float* b, float eps);
// The FFN activations in place, each as transformers.activations defines it: exact erf GELU (torch's
// F.gelu default); the tanh form 0.5 x (1 + tanh(u)), computed as x / (1 + exp(-2u)) (equal, and exact
// where tanh saturates), with u = sqrt(2/pi) (x + 0.044715 x^3) (gelu_new, gelu_pytorch_tanh) or
// x * 0.7978845608 * (1 + 0.044715 x^2) (gelu_fast); ReLU.
void gelu(float* x, size_t n);
void gelu_tanh(float* x, size_t n, bool fast);
void relu(float* x, size_t n);
}  // namespace detail

}  // namespace portbench_wasm
