// wasm_port kernels: see kernels.h. Ports python_ref/model.py stage by stage. This file holds the
// stages (one body for both builds), the model's tensor table and the wasm build's primitives: the
// blocked SIMD matmul over packed panels, written once against a 4-float vector type `f4` that is
// wasm_simd128's v128_t (its multiply-add relaxed_madd in the relaxed builds), the FFN activations 4 lanes
// at a time,
// the scalar elementwise loops, each split over detail::parallel_for (serial in minilm.wasm, the worker
// pool of kernels_wasm_pool.cpp in minilm_mt.wasm). The native build's primitives are
// kernels_native.cpp (threads, elementwise), kernels_gemm.cpp (packed weights, FMA) and
// kernels_attention.cpp (tiled attention), behind the same names.
// Leaves out: fp16.
#include "kernels.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>
#include <utility>

namespace portbench_wasm {

Buf::~Buf() { std::free(p); }
bool Buf::alloc(size_t count) {
  std::free(p);
  p = static_cast<float*>(std::calloc(count ? count : 1, sizeof(float)));
  n = p ? count : 0;
  return p != nullptr;
}
void Buf::reset() {
  std::free(p);
  p = nullptr;
  n = 0;
}
Model::~Model() {
  delete[] layers;
  delete[] store;
}

void pack_rows(const float* w, int ldw, int rows, int col0, Panels p) {
  for (int r = 0; r < rows; ++r) {
    int c = col0 + r;
    float* dst = p.w + size_t(c / 8) * p.k * 8 + c % 8;
    const float* src = w + size_t(r) * ldw;
    for (int k = 0; k < p.k; ++k) dst[size_t(k) * 8] = src[k];
  }
}

void pack_cols(const float* b, int ldb, Panels p) {
  int full = p.n / 8, rem = p.n % 8;
  for (int k = 0; k < p.k; ++k) {
    const float* src = b + size_t(k) * ldb;
    for (int j = 0; j < full; ++j) std::memcpy(p.w + (size_t(j) * p.k + k) * 8, src + j * 8, 8 * sizeof(float));
    if (rem) {
      float* dst = p.w + (size_t(full) * p.k + k) * 8;
      for (int c = 0; c < 8; ++c) dst[c] = c < rem ? src[full * 8 + c] : 0.f;
    }
  }
}

#if defined(__wasm__)
// ---- wasm primitives: panel matmul, serial loops ------------------------------------------------
}  // namespace portbench_wasm
#include <wasm_simd128.h>
namespace portbench_wasm {
using f4 = v128_t;
static inline f4 ld(const float* p) { return wasm_v128_load(p); }
static inline void st(float* p, f4 v) { wasm_v128_store(p, v); }
static inline f4 splat(float x) { return wasm_f32x4_splat(x); }
#if PB_WASM_RELAXED   // minilm_relaxed*.wasm: clang-14's f32x4.fma (a, b, c), rewritten after the link to the
// final f32x4.relaxed_madd = a * b + c, fused where the CPU has FMA (js/relaxed_opcodes.mjs)
static inline f4 madd(f4 acc, f4 a, f4 b) { return __builtin_wasm_fma_f32x4(a, b, acc); }
#else
static inline f4 madd(f4 acc, f4 a, f4 b) { return wasm_f32x4_add(acc, wasm_f32x4_mul(a, b)); }
#endif

constexpr int KC = 256;   // k-block: an 8-column panel slice of KC floats x 8 = 8 KiB stays in L1

// MR rows x 8 columns of C over k in [0, kc): 2*MR vector accumulators, 2 vector loads of W and
// MR splats of A per k. `first`: start from bias (or 0); otherwise accumulate onto C.
template <int MR>
static inline void micro(const float* a, int lda, const float* bp, int kc, const float* bias8, bool first,
                         float* c, int ldc, int ncols) {
  f4 acc0[MR], acc1[MR];
  float tmp[8];
  for (int r = 0; r < MR; ++r) {
    const float* src = first ? bias8 : c + size_t(r) * ldc;
    if (!first && ncols < 8) { std::memcpy(tmp, src, ncols * sizeof(float)); src = tmp; }
    acc0[r] = ld(src);
    acc1[r] = ld(src + 4);
  }
  // One pointer per row, stepped with k: emcc compiles with -disable-lsr, so indexing a[r * lda + k]
  // cost 2-3 integer ops per splat (about 10% of the batch forward, dev/NOTES-wasm.md).
  const float* ar[MR];
  for (int r = 0; r < MR; ++r) ar[r] = a + size_t(r) * lda;
  for (const float* const end = bp + size_t(kc) * 8; bp != end; bp += 8) {
    f4 b0 = ld(bp), b1 = ld(bp + 4);
    for (int r = 0; r < MR; ++r) {
      f4 av = splat(*ar[r]++);
      acc0[r] = madd(acc0[r], av, b0);
      acc1[r] = madd(acc1[r], av, b1);
    }
  }
  for (int r = 0; r < MR; ++r) {
    float* dst = c + size_t(r) * ldc;
    if (ncols == 8) { st(dst, acc0[r]); st(dst + 4, acc1[r]); continue; }
    st(tmp, acc0[r]); st(tmp + 4, acc1[r]);
    std::memcpy(dst, tmp, ncols * sizeof(float));
  }
}

// C rows [i0, i1) x panels [j0, j1) of A . W^T (+ bias): k-blocks outer, so a panel's slice stays in L1
// across the rows. Every element sums k in order whatever the tiling: any split gives the same bits.
// noinline: inlined into the forward's one large function, V8's register allocation spills the
// accumulators (1.5x slower at batch 32, dev/NOTES-wasm.md).
__attribute__((noinline)) static void matmul_tile(const float* a, int lda, int i0, int i1, Panels w, int j0, int j1,
                                                  const float* bias, float* c, int ldc) {
  for (int k0 = 0; k0 < w.k; k0 += KC) {
    const int kc = w.k - k0 < KC ? w.k - k0 : KC;
    for (int j = j0; j < j1; ++j) {
      const int ncols = w.n - j * 8 < 8 ? w.n - j * 8 : 8;
      float bias8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      if (bias) std::memcpy(bias8, bias + j * 8, ncols * sizeof(float));
      const float* bp = w.w + (size_t(j) * w.k + k0) * 8;
      const float* ap = a + k0;
      float* cp = c + j * 8;
      int i = i0;
      for (; i + 4 <= i1; i += 4)
        micro<4>(ap + size_t(i) * lda, lda, bp, kc, bias8, k0 == 0, cp + size_t(i) * ldc, ldc, ncols);
      for (; i < i1; ++i)
        micro<1>(ap + size_t(i) * lda, lda, bp, kc, bias8, k0 == 0, cp + size_t(i) * ldc, ldc, ncols);
    }
  }
}

static bool degenerate(int m, Panels w, const float* bias, float* c, int ldc) {   // K = 0: C = bias
  if (w.k != 0) return false;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < w.n; ++j) c[size_t(i) * ldc + j] = bias ? bias[j] : 0.f;
  return true;
}

// Serial: one head's products, inside a part of attention_heads.
static void matmul_panels(const float* a, int lda, int m, Panels w, const float* bias, float* c, int ldc) {
  if (!degenerate(m, w, bias, c, ldc)) matmul_tile(a, lda, 0, m, w, 0, (w.n + 7) / 8, bias, c, ldc);
}

constexpr int MB = 64, NB = 4;   // a tile, the threads' unit of work: up to 64 rows x 4 panels (32 columns)

void matmul(const float* a, int lda, int m, Lin lin, const float* bias, float* c, int ldc) {
  const Panels w{const_cast<float*>(lin.w), lin.n, lin.k};
  if (degenerate(m, w, bias, c, ldc)) return;
  const int panels = (w.n + 7) / 8, groups = (panels + NB - 1) / NB, blocks = (m + MB - 1) / MB;
  detail::parallel_for(blocks * groups, [&](int, int t0, int t1) {   // row block major: a part reuses its A rows
    for (int t = t0; t < t1; ++t) {
      const int i0 = t / groups * MB, j0 = t % groups * NB;
      matmul_tile(a, lda, i0, i0 + MB < m ? i0 + MB : m, w, j0, j0 + NB < panels ? j0 + NB : panels, bias, c, ldc);
    }
  });
}

#if !PB_WASM_THREADS   // minilm_mt.wasm: the worker pool of kernels_wasm_pool.cpp
int set_threads(int) { return 1; }
#endif

const char* pack_weights(Model&) { return nullptr; }   // the loader packed them into panels already

namespace detail {

#if !PB_WASM_THREADS
int threads() { return 1; }
void parallel_for(int n, void (*fn)(void*, int, int, int), void* ctx) {
  if (n > 0) fn(ctx, 0, 0, n);
}
#endif

void add_layer_norm(float* x, const float* y, int rows, int d, const float* w, const float* b, float eps) {
  auto rows_fn = [&](int, int r0, int r1) {
    for (int r = r0; r < r1; ++r) {   // statistics in double: D is small
      float* v = x + size_t(r) * d;
      if (y)
        for (int i = 0; i < d; ++i) v[i] += y[size_t(r) * d + i];
      double mean = 0, var = 0;
      for (int i = 0; i < d; ++i) mean += v[i];
      mean /= d;
      for (int i = 0; i < d; ++i) var += (v[i] - mean) * (v[i] - mean);
      const float inv = float(1.0 / std::sqrt(var / d + eps)), mu = float(mean);
      for (int i = 0; i < d; ++i) v[i] = (v[i] - mu) * inv * w[i] + b[i];
    }
  };
  if (size_t(rows) * d < 16384) rows_fn(0, 0, rows);   // a few rows: not worth waking the workers
  else parallel_for(rows, rows_fn);
}

// GELU's erf, 4 lanes at a time: Abramowitz-Stegun 7.1.26 (|err| < 1.5e-7) over Cephes expf, the
// native build's (kernels_simd.h) written for SIMD128; a scalar erf was 10% of the batch forward.
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
static inline v4f vexp4(v4f x) {
  x = x > 88.f ? v4f{} + 88.f : x;
  x = x < -88.f ? v4f{} - 88.f : x;
  const v4f big = x * 1.44269504088896341f + 12582912.f, n = big - 12582912.f;
  x = x - n * 0.693359375f + n * 2.12194440e-4f;
  v4f y = ((((1.9875691500e-4f * x + 1.3981999507e-3f) * x + 8.3334519073e-3f) * x + 4.1665795894e-2f) * x +
           1.6666665459e-1f) * x + 5.0000001201e-1f;
  y = y * (x * x) + x + 1.f;
  v4i bits;
  std::memcpy(&bits, &big, sizeof bits);
  bits = (bits - 0x4B400000 + 127) << 23;
  v4f scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}
static inline v4f verf4(v4f x) {
  const v4f ax = x < 0.f ? -x : x, t = 1.f / (1.f + 0.3275911f * ax);
  const v4f p = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
  const v4f r = 1.f - p * vexp4(-ax * ax);
  return x < 0.f ? -r : r;
}

// f(v4f) 4 lanes at a time over x, in chunks split over the threads (a scalar tail through the same f).
template <class F>
static void elementwise(float* x, size_t n, F f) {
  constexpr size_t kChunk = 4096;
  parallel_for(int((n + kChunk - 1) / kChunk), [&](int, int c0, int c1) {
    const size_t e = size_t(c1) * kChunk < n ? size_t(c1) * kChunk : n;
    size_t i = size_t(c0) * kChunk;
    for (; i + 4 <= e; i += 4) {
      v4f v;
      std::memcpy(&v, x + i, sizeof v);
      v = f(v);
      std::memcpy(x + i, &v, sizeof v);
    }
    for (; i < e; ++i) x[i] = f(v4f{} + x[i])[0];
  });
}

void gelu(float* x, size_t n) {
  elementwise(x, n, [](v4f v) { return 0.5f * v * (1.f + verf4(v * 0.70710678118654752f)); });
}

// 0.5 v (1 + tanh(u)) = v / (1 + exp(-2u)): the same function, no cancellation where tanh(u) nears -1.
void gelu_tanh(float* x, size_t n, bool fast) {
  if (fast)
    elementwise(x, n, [](v4f v) { return v / (1.f + vexp4(-2.f * (v * 0.7978845608f * (1.f + 0.044715f * v * v)))); });
  else
    elementwise(x, n, [](v4f v) { return v / (1.f + vexp4(-2.f * (0.7978845608028654f * (v + 0.044715f * v * v * v)))); });
}

void relu(float* x, size_t n) {
  elementwise(x, n, [](v4f v) { return v > 0.f ? v : v4f{}; });
}

// One row of scores (L,) -> softmax over the keys whose mask is 1; masked keys get exactly 0.
static void masked_softmax(float* s, int len, const int32_t* mask, float scale) {
  float mx = -INFINITY;
  for (int j = 0; j < len; ++j)
    if (mask[j]) mx = s[j] * scale > mx ? s[j] * scale : mx;
  if (mx == -INFINITY) { std::memset(s, 0, len * sizeof(float)); return; }
  double sum = 0;
  for (int j = 0; j < len; ++j) {
    s[j] = mask[j] ? std::exp(s[j] * scale - mx) : 0.f;
    sum += s[j];
  }
  const float inv = float(1.0 / sum);
  for (int j = 0; j < len; ++j) s[j] *= inv;
}

size_t head_scratch_floats(int max_len, int dh) {
  return size_t(max_len) * max_len + panel_floats(max_len, dh) + panel_floats(dh, max_len);
}

void head_attention(const float* q, const float* k, const float* v, int ld, int len, int dh,
                    const int32_t* mask, float scale, float* scratch, float* ctx, int ldo) {
  float* s = scratch;                                                             // (L, L)
  Panels kp{s + size_t(len) * len, len, dh}, vp{kp.w + panel_floats(len, dh), dh, len};
  std::memset(kp.w, 0, panel_floats(len, dh) * sizeof(float));
  pack_rows(k, ld, len, 0, kp);                                                   // K
  pack_cols(v, ld, vp);                                                           // V
  matmul_panels(q, ld, len, kp, nullptr, s, len);                                 // Q K^T (L, L)
  for (int i = 0; i < len; ++i) masked_softmax(s + size_t(i) * len, len, mask, scale);
  matmul_panels(s, len, len, vp, nullptr, ctx, ldo);                              // P V (L, dh)
}

size_t attention_scratch_floats(int max_len, int dh) { return head_scratch_floats(max_len, dh); }

void attention_heads(const float* qkv, const Rows& r, int d, int heads, float* scratch, float* ctx) {
  const int dh = d / heads;
  const float scale = 1.f / std::sqrt(float(dh));
  const size_t per = head_scratch_floats(r.max_len, dh);   // att_floats() gave each thread one
  parallel_for(r.n * heads, [&](int part, int b, int e) {                        // (row, head) pairs
    for (int i = b; i < e; ++i) {
      const int row = i / heads, h = i % heads;
      const float* q = qkv + size_t(r.offs[row]) * 3 * d + h * dh;               // (L, dh) [3D]
      head_attention(q, q + d, q + 2 * d, 3 * d, r.lens[row], dh, r.mask[row], scale, scratch + part * per,
                     ctx + size_t(r.offs[row]) * d + h * dh, d);
    }
  });
}

}  // namespace detail
#endif  // __wasm__

// ---- the model stages (python_ref/model.py names) -----------------------------------------------

void embeddings_forward(const Model& m, const Rows& r, float* x) {
  const int d = m.cfg.hidden;
  for (int row = 0; row < r.n; ++row)
    for (int t = 0; t < r.lens[row]; ++t) {
      float* v = x + size_t(r.offs[row] + t) * d;
      const float* we = m.word + size_t(r.ids[row][t]) * d;
      const float* pe = m.pos + size_t(t) * d;
      if (m.type)
        for (int i = 0; i < d; ++i) v[i] = we[i] + pe[i] + m.type[i];   // token type 0
      else
        for (int i = 0; i < d; ++i) v[i] = we[i] + pe[i];   // no token types (DistilBERT)
    }
  detail::add_layer_norm(x, nullptr, r.tokens, d, m.ln_w, m.ln_b, m.cfg.eps);
}

// att: scratch of att_floats(); out (tokens, D) = attention output projection.
static size_t att_floats(int max_len, int dh) {
  return size_t(detail::threads()) * detail::attention_scratch_floats(max_len, dh);
}

void attention_forward(const Model& m, const LayerW& p, const Rows& r, const float* x, float* qkv,
                       float* att, float* ctx, float* out) {
  const int d = m.cfg.hidden, heads = m.cfg.heads;
  matmul(x, d, r.tokens, p.q, p.q_b, qkv, 3 * d);                                // (tokens, 3D): Q | K | V
  matmul(x, d, r.tokens, p.k, p.k_b, qkv + d, 3 * d);
  matmul(x, d, r.tokens, p.v, p.v_b, qkv + 2 * d, 3 * d);
  detail::attention_heads(qkv, r, d, heads, att, ctx);                            // (tokens, D)
  matmul(ctx, d, r.tokens, p.ao, p.ao_b, out, d);                                 // (tokens, D)
}

constexpr int FFN_ROWS = 256;   // tokens per FFN step: the (rows, F) hidden activations stay small

void ffn_forward(const Model& m, const LayerW& p, const float* x, int tokens, float* h, float* out) {
  const int d = m.cfg.hidden, f = m.cfg.intermediate;
  for (int t0 = 0; t0 < tokens; t0 += FFN_ROWS) {
    const int rows = tokens - t0 < FFN_ROWS ? tokens - t0 : FFN_ROWS;
    matmul(x + size_t(t0) * d, d, rows, p.ff1, p.ff1_b, h, f);                   // (rows, F)
    const size_t n = size_t(rows) * f;
    switch (m.cfg.act) {   // config.json's hidden_act, each as transformers.activations defines it
      case ACT_GELU: detail::gelu(h, n); break;                              // exact erf GELU
      case ACT_GELU_NEW: case ACT_GELU_PYTORCH_TANH: detail::gelu_tanh(h, n, false); break;   // tanh form
      case ACT_GELU_FAST: detail::gelu_tanh(h, n, true); break;             // its gelu_fast spelling
      default: detail::relu(h, n); break;                                    // ACT_RELU
    }
    matmul(h, f, rows, p.ff2, p.ff2_b, out + size_t(t0) * d, d);                 // (rows, D)
  }
}

static size_t work_floats(const Config& c, int tokens, int max_len) {
  const size_t d = c.hidden, f = c.intermediate, ffn = size_t(tokens < FFN_ROWS ? tokens : FFN_ROWS) * f;
  return tokens * (3 * d + d + d) + (ffn > tokens * d ? ffn : tokens * d) + att_floats(max_len, c.hidden / c.heads);
}

void layer_forward(const Model& m, const LayerW& p, const Rows& r, float* x, float* work) {
  const int d = m.cfg.hidden;
  const size_t t = r.tokens, ffn = size_t(t < FFN_ROWS ? t : FFN_ROWS) * m.cfg.intermediate;
  float *qkv = work, *ctx = qkv + t * 3 * d, *out = ctx + t * d, *tmp = out + t * d;
  float* att = tmp + (ffn > t * d ? ffn : t * d);
  attention_forward(m, p, r, x, qkv, att, ctx, out);
  detail::add_layer_norm(x, out, r.tokens, d, p.ln1_w, p.ln1_b, m.cfg.eps);
  ffn_forward(m, p, x, r.tokens, tmp, out);
  detail::add_layer_norm(x, out, r.tokens, d, p.ln2_w, p.ln2_b, m.cfg.eps);
}

void mean_pool(const float* x, int len, int dim, const int32_t* mask, float* out) {
  std::memset(out, 0, dim * sizeof(float));
  double count = 0;
  for (int t = 0; t < len; ++t) {
    if (!mask[t]) continue;
    count += 1;
    for (int i = 0; i < dim; ++i) out[i] += x[size_t(t) * dim + i];
  }
  const float inv = float(1.0 / (count > 1e-9 ? count : 1e-9));
  for (int i = 0; i < dim; ++i) out[i] *= inv;
}

void mean_sqrt_len_pool(const float* x, int len, int dim, const int32_t* mask, float* out) {
  mean_pool(x, len, dim, mask, out);
  double count = 0;
  for (int t = 0; t < len; ++t) count += mask[t] != 0;
  const float f = float(std::sqrt(count > 1e-9 ? count : 1e-9));   // sum / sqrt(n) = mean * sqrt(n)
  for (int i = 0; i < dim; ++i) out[i] *= f;
}

void cls_pool(const float* x, int len, int dim, const int32_t* mask, float* out) {
  int first = 0;   // the first real position (argmax of the mask, as sentence-transformers)
  while (first < len && !mask[first]) ++first;
  std::memcpy(out, x + size_t(first < len ? first : 0) * dim, dim * sizeof(float));
}

void max_pool(const float* x, int len, int dim, const int32_t* mask, float* out) {
  for (int i = 0; i < dim; ++i) out[i] = -INFINITY;
  for (int t = 0; t < len; ++t)
    if (mask[t])
      for (int i = 0; i < dim; ++i) out[i] = x[size_t(t) * dim + i] > out[i] ? x[size_t(t) * dim + i] : out[i];
}

void dense_forward(const DenseW& w, const DenseCfg& c, const float* x, float* out) {
  matmul(x, c.in, 1, w.w, c.bias ? w.b : nullptr, out, c.out);                   // (1, E)
  if (c.tanh)
    for (int i = 0; i < c.out; ++i) out[i] = std::tanh(out[i]);
}

void l2_normalize(float* v, int dim) {   // F.normalize: v / max(||v||, 1e-12)
  double ss = 0;
  for (int i = 0; i < dim; ++i) ss += double(v[i]) * v[i];
  const double nrm = std::sqrt(ss);
  const float inv = float(1.0 / (nrm > 1e-12 ? nrm : 1e-12));
  for (int i = 0; i < dim; ++i) v[i] *= inv;
}

// ---- whole forward ------------------------------------------------------------------------------

constexpr int TOKEN_BUDGET = 2048;   // tokens per chunk of rows: bounds scratch memory for any N

const char* model_forward(const Model& m, const int32_t* ids, const int32_t* mask, int n, int t, float* out,
                          int prompt_length) {
  static thread_local char err[160];
  const Config& c = m.cfg;
  if (!m.layers || !m.word) return "model not loaded (set config and tensors first)";
  if (n < 0 || t < 0 || prompt_length < 0) return "negative batch shape or prompt length";
  const int skip = c.include_prompt ? 0 : prompt_length;   // positions left out of pooling
  // Each row's span ends at its last unmasked position: trailing padding is never computed, which
  // is exact because masked keys get probability 0 and pooling ignores masked positions.
  int* lens = static_cast<int*>(std::calloc(size_t(n) + 1, sizeof(int)));
  if (!lens) return "out of memory (row lengths)";
  int max_len = 1;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < t; ++j)
      if (mask[size_t(i) * t + j]) lens[i] = j + 1;
    for (int j = 0; j < lens[i]; ++j) {
      const int32_t id = ids[size_t(i) * t + j];
      if (id < 0 || id >= c.vocab) {
        std::snprintf(err, sizeof err, "ids[%d][%d] = %d is outside the vocabulary (0..%d)", i, j, int(id), c.vocab - 1);
        std::free(lens);
        return err;
      }
    }
    if (lens[i] > c.max_pos) {
      std::snprintf(err, sizeof err, "row %d has %d positions, more than max_position_embeddings %d", i, lens[i], c.max_pos);
      std::free(lens);
      return err;
    }
    max_len = lens[i] > max_len ? lens[i] : max_len;
  }
  const int cap = max_len > TOKEN_BUDGET ? max_len : TOKEN_BUDGET;
  int widest = c.hidden;
  for (int k = 0; k < c.n_dense; ++k) widest = c.dense[k].out > widest ? c.dense[k].out : widest;
  Buf x, work, head;
  int32_t* pool_mask = static_cast<int32_t*>(std::calloc(size_t(max_len) + 1, sizeof(int32_t)));   // one row's
  int* offs = static_cast<int*>(std::calloc(size_t(n) + 1, sizeof(int)));
  const int32_t** rid = static_cast<const int32_t**>(std::calloc(size_t(n) + 1, sizeof(void*)));
  const int32_t** rmask = static_cast<const int32_t**>(std::calloc(size_t(n) + 1, sizeof(void*)));
  const char* result = nullptr;
  int total = 0;   // tokens of the whole batch: the scratch is sized for the largest chunk, not for cap
  for (int i = 0; i < n; ++i) total += lens[i];
  const int tokens_max = total < cap ? (total > 0 ? total : 1) : cap;
  if (!pool_mask || !offs || !rid || !rmask || !x.alloc(size_t(tokens_max) * c.hidden) ||
      !work.alloc(work_floats(c, tokens_max, max_len)) || !head.alloc(2 * size_t(widest))) {
    result = "out of memory (activations)";
  } else {
    for (int i = 0; i < n; ++i) { rid[i] = ids + size_t(i) * t; rmask[i] = mask + size_t(i) * t; }
    for (int i0 = 0; i0 < n;) {   // a chunk: consecutive rows while their tokens fit the budget
      int i1 = i0, tokens = 0;
      while (i1 < n && (i1 == i0 || tokens + lens[i1] <= cap)) { offs[i1] = tokens; tokens += lens[i1]; ++i1; }
      int chunk_max = 0;
      for (int i = i0; i < i1; ++i) chunk_max = lens[i] > chunk_max ? lens[i] : chunk_max;
      Rows r{rid + i0, rmask + i0, offs + i0, lens + i0, i1 - i0, tokens, chunk_max};
      embeddings_forward(m, r, x.p);
      for (int l = 0; l < c.layers; ++l) layer_forward(m, m.layers[l], r, x.p, work.p);
      for (int i = i0; i < i1; ++i) {   // the head, one row at a time: pool, Dense layers, normalise
        const float* xi = x.p + size_t(offs[i]) * c.hidden;
        float *y = head.p, *z = head.p + widest;
        const int32_t* pm = rmask[i];
        if (skip > 0) {   // the prompt's positions masked for pooling only, as sentence-transformers' Pooling
          for (int j = 0; j < lens[i]; ++j) pool_mask[j] = j < skip ? 0 : rmask[i][j];
          pm = pool_mask;
        }
        if (c.pooling == POOL_CLS) cls_pool(xi, lens[i], c.hidden, pm, y);
        else if (c.pooling == POOL_MAX) max_pool(xi, lens[i], c.hidden, pm, y);
        else if (c.pooling == POOL_MEAN_SQRT_LEN) mean_sqrt_len_pool(xi, lens[i], c.hidden, pm, y);
        else mean_pool(xi, lens[i], c.hidden, pm, y);
        for (int k = 0; k < c.n_dense; ++k, std::swap(y, z)) dense_forward(m.dense[k], c.dense[k], y, z);
        if (c.normalize) l2_normalize(y, c.out_dim());
        std::memcpy(out + size_t(i) * c.out_dim(), y, c.out_dim() * sizeof(float));
      }
      i0 = i1;
    }
  }
  std::free(lens); std::free(offs); std::free(rid); std::free(rmask); std::free(pool_mask);
  return result;
}

// ---- model storage and the tensor-name table (python_ref BertModel.__init__) --------------------

const char* check_config(const Config& c) {
  const int lim = 1 << 20;
  if (c.hidden <= 0 || c.heads <= 0 || c.layers <= 0 || c.intermediate <= 0 || c.vocab <= 0 || c.max_pos <= 0 ||
      c.type_vocab < 0 || c.hidden > lim || c.intermediate > lim || c.layers > 4096 || c.max_pos > 65536 ||
      c.hidden % c.heads != 0 || !(c.eps > 0))
    return "invalid config (sizes must be positive, hidden divisible by heads)";
  if (c.pooling < POOL_MEAN || c.pooling > POOL_MEAN_SQRT_LEN || c.n_dense < 0 || c.n_dense > kMaxDense)
    return "invalid config (pooling mode or number of Dense layers)";
  if (c.act < ACT_GELU || c.act > ACT_RELU) return "invalid config (hidden_act)";
  for (int k = 0, w = c.hidden; k < c.n_dense; w = c.dense[k++].out)
    if (c.dense[k].in != w || c.dense[k].out <= 0 || c.dense[k].out > lim)
      return "invalid config (a Dense layer's in_features does not match the width before it)";
  if (kPacked && (uint64_t(c.vocab) * c.hidden * 4 > (uint64_t(1) << 31) ||
                  uint64_t(c.intermediate) * c.hidden * 4 > (uint64_t(1) << 30)))
    return "config too large for a 32-bit address space";
  return nullptr;
}

const char* model_init(Model& m, const Config& c, Slot** slots, int* n_slots, bool storage) {
  if (const char* e = check_config(c)) return e;
  delete[] m.layers;   // a new config: sizes may differ
  delete[] m.store;
  m.layers = nullptr;
  m.store = nullptr;
  m.word = m.pos = m.type = m.ln_w = m.ln_b = nullptr;
  for (DenseW& dw : m.dense) dw = DenseW{};
  m.cfg = c;
  const int per_layer = 16, n = 5 + per_layer * c.layers + 2 * c.n_dense;
  m.layers = new (std::nothrow) LayerW[c.layers];
  Slot* s = new (std::nothrow) Slot[n];
  if (storage) m.store = new (std::nothrow) Buf[n];
  if (!m.layers || !s || (storage && !m.store)) {
    delete[] s;
    return "out of memory (model tables)";
  }
  const int d = c.hidden, f = c.intermediate;
  bool ok = true;
  int k = 0;
  auto add = [&](const char* name, const float** view, int rows, int cols, Lin* lin, int ndim) {
    Slot& e = s[k];
    e.ndim = ndim;
    std::snprintf(e.name, sizeof e.name, "%s", name);
    e.numel = size_t(rows) * cols;
    e.rows = rows; e.cols = cols; e.col0 = 0; e.set = false;
    e.view = view;
    e.dest = nullptr;
    e.panels = Panels{};
    if (lin) { lin->n = rows; lin->k = cols; }
    if (storage) {
      Buf& b = m.store[k];
      ok = ok && b.alloc(lin ? lin_floats(rows, cols) : e.numel);
      *view = b.p;
      if (lin && kPacked) e.panels = Panels{b.p, rows, cols};
      else e.dest = b.p;
    }
    ++k;
  };
  auto plain = [&](const char* name, const float** view, int rows, int cols, int ndim = 1) {
    add(name, view, rows, cols, nullptr, ndim);
  };
  auto linear = [&](const char* name, Lin& lin, int rows, int cols) { add(name, &lin.w, rows, cols, &lin, 2); };
  plain("embeddings.word_embeddings.weight", &m.word, c.vocab, d, 2);
  plain("embeddings.position_embeddings.weight", &m.pos, c.max_pos, d, 2);
  if (c.type_vocab) plain("embeddings.token_type_embeddings.weight", &m.type, c.type_vocab, d, 2);
  plain("embeddings.LayerNorm.weight", &m.ln_w, 1, d);
  plain("embeddings.LayerNorm.bias", &m.ln_b, 1, d);
  char nm[96];
  for (int l = 0; l < c.layers && ok; ++l) {
    LayerW& p = m.layers[l];
    auto N = [&](const char* suffix) { std::snprintf(nm, sizeof nm, "encoder.layer.%d.%s", l, suffix); return nm; };
    linear(N("attention.self.query.weight"), p.q, d, d);
    plain(N("attention.self.query.bias"), &p.q_b, 1, d);
    linear(N("attention.self.key.weight"), p.k, d, d);
    plain(N("attention.self.key.bias"), &p.k_b, 1, d);
    linear(N("attention.self.value.weight"), p.v, d, d);
    plain(N("attention.self.value.bias"), &p.v_b, 1, d);
    linear(N("attention.output.dense.weight"), p.ao, d, d);
    plain(N("attention.output.dense.bias"), &p.ao_b, 1, d);
    plain(N("attention.output.LayerNorm.weight"), &p.ln1_w, 1, d);
    plain(N("attention.output.LayerNorm.bias"), &p.ln1_b, 1, d);
    linear(N("intermediate.dense.weight"), p.ff1, f, d);
    plain(N("intermediate.dense.bias"), &p.ff1_b, 1, f);
    linear(N("output.dense.weight"), p.ff2, d, f);
    plain(N("output.dense.bias"), &p.ff2_b, 1, d);
    plain(N("output.LayerNorm.weight"), &p.ln2_w, 1, d);
    plain(N("output.LayerNorm.bias"), &p.ln2_b, 1, d);
  }
  for (int j = 0; j < c.n_dense && ok; ++j) {   // "dense.J." + the names in the Dense folder's safetensors
    const DenseCfg& dc = c.dense[j];
    std::snprintf(nm, sizeof nm, "dense.%d.linear.weight", j);
    linear(nm, m.dense[j].w, dc.out, dc.in);
    if (dc.bias) {
      std::snprintf(nm, sizeof nm, "dense.%d.linear.bias", j);
      plain(nm, &m.dense[j].b, 1, dc.out);
    }
  }
  if (!ok) {
    delete[] s;
    delete[] m.layers;
    delete[] m.store;
    m.layers = nullptr;
    m.store = nullptr;
    return "out of memory allocating the model's tensors";
  }
  *slots = s;
  *n_slots = k;
  return nullptr;
}

}  // namespace portbench_wasm
