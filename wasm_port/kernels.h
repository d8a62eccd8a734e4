// wasm_port kernels: the BERT encoder of python_ref/model.py and the sentence-transformers head the
// model spec asks for (mean / cls / max / mean_sqrt_len pooling, Dense layers with tanh or
// identity, L2 normalise), in plain C++17 with no LibTorch (which has no WASM build). The matmul
// uses wasm_simd128 intrinsics when built with -msimd128 and GCC/Clang vector extensions natively,
// so the same source is tested on the host. Leaves out: dropout, the pooler, token types other than
// 0, threads, fp16 weights. Sizes and head come from Config (filled from the model spec by the JS
// loader); nothing is hard-coded.
// No exceptions: every allocation is checked and failures come back as an error string.
#pragma once
#include <cstddef>
#include <cstdint>

namespace portbench_wasm {

enum Pooling { POOL_MEAN = 0, POOL_CLS = 1, POOL_MAX = 2, POOL_MEAN_SQRT_LEN = 3 };
constexpr int kMaxDense = 8;
struct DenseCfg {
  int in = 0, out = 0;
  bool bias = true, tanh = false;   // tanh, else identity
};

struct Config {
  int hidden = 0, heads = 0, layers = 0, intermediate = 0;   // D, H, L, F
  int vocab = 0, max_pos = 0, type_vocab = 0;
  float eps = 1e-12f;
  int pooling = POOL_MEAN;
  bool normalize = true;
  int n_dense = 0;
  DenseCfg dense[kMaxDense];
  int out_dim() const { return n_dense ? dense[n_dense - 1].out : hidden; }   // E
};

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

// Right-hand side of a matmul, W (N, K) as torch stores a linear weight, repacked into panels of
// 8 output columns: (ceil(N/8), K, 8), zero-padded. The inner loop then reads the 8 columns of
// one k as two contiguous SIMD vectors.
struct Panels {
  float* w = nullptr;
  int n = 0, k = 0;
};
inline size_t panel_floats(int n, int k) { return size_t((n + 7) / 8) * 8 * size_t(k); }
// W rows (rows, K) [stride ldw] -> output columns col0.. of p.
void pack_rows(const float* w, int ldw, int rows, int col0, Panels p);
// B (K, N) [stride ldb], i.e. W^T -> all of p.
void pack_cols(const float* b, int ldb, Panels p);

struct LayerW {
  Buf qkv, ao, ff1, ff2;               // panels of (3D, D) (D, D) (F, D) (D, F)
  Buf qkv_b, ao_b, ff1_b, ff2_b;       // (3D,) (D,) (F,) (D,)
  Buf ln1_w, ln1_b, ln2_w, ln2_b;      // (D,)
};

struct DenseW {
  Buf w, b;                            // panels of (E, D_in), (E,)
};

struct Model {
  Config cfg;
  Buf word, pos, type, ln_w, ln_b;     // (V, D) (P, D) (TV, D) (D,) (D,)
  LayerW* layers = nullptr;            // cfg.layers of them
  DenseW dense[kMaxDense];             // cfg.n_dense of them
  Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model();
};

// One named tensor the loader must supply (names as in the safetensors file, "bert." stripped).
struct Slot {
  char name[96];
  size_t numel;      // rows * cols
  float* dest;       // plain tensors: final storage; linear weights: nullptr (packed from staging)
  Panels panels;     // linear weights: target, these rows land at output columns col0..
  int rows, cols, col0;
  bool set;
};

// Allocates every tensor of `cfg` and lists the slots (new[]'d, caller deletes). nullptr or error.
const char* model_init(Model& m, const Config& cfg, Slot** slots, int* n_slots);

// C (M, N) [stride ldc] = A (M, K) [stride lda] . W^T (+ bias (N,), may be null).
void matmul(const float* a, int lda, int m, Panels w, const float* bias, float* c, int ldc);

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
void ffn_forward(const Model& m, const LayerW& p, const float* x, int tokens, float* h, float* out);
void layer_forward(const Model& m, const LayerW& p, const Rows& r, float* x, float* work);
// Pooling of one row: x (len, D), mask (len,) -> out (D,).
void mean_pool(const float* x, int len, int dim, const int32_t* mask, float* out);
void mean_sqrt_len_pool(const float* x, int len, int dim, const int32_t* mask, float* out);
void cls_pool(const float* x, int len, int dim, const int32_t* mask, float* out);
void max_pool(const float* x, int len, int dim, const int32_t* mask, float* out);
void dense_forward(const DenseW& w, const DenseCfg& c, const float* x, float* out);   // (D_in,) -> (E,)
void l2_normalize(float* v, int dim);

// ids, mask: int32 (N, T); out: float32 (N, E). Returns nullptr on success, else an error string.
const char* model_forward(const Model& m, const int32_t* ids, const int32_t* mask, int n, int t, float* out);

}  // namespace portbench_wasm
