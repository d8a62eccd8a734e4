// wasm_port kernels, native build: kernels.h's matmul, C = A . W^T (+ bias), as a cache-blocked,
// register-blocked GEMM in the manner of BLIS (Van Zee & van de Geijn, "BLIS: A Framework for
// Rapidly Instantiating BLAS Functionality") and oneDNN's sgemm. Written out here rather than
// linked: minilm-embed-lite's point is a binary that needs nothing beyond libstdc++.
// - W (n, k), torch's row-major linear weight, is constant: pack_weights copies it once, at load,
//   into panels of NR output columns, (ceil(n/NR), k, NR), zero-padded, so the micro-kernel reads
//   one k's NR weights as NV contiguous vectors (4 bytes per weight beside the mapped file: ~42 MB
//   for all-MiniLM-L6-v2). A Lin without its panels (the C ABI's loader) is packed per call.
// - micro-kernel: MR x NR accumulators in vector registers, NV vector loads of W and MR broadcasts
//   of A per k. AVX-512 8 x 48 (24 of 32 zmm), AVX/AVX2 6 x 16 (12 of 16 ymm), otherwise SSE 4 x 8:
//   chosen by the -march the build targets (kernels_simd.h's VW). GCC vector extensions; the FMA is
//   -ffp-contract=fast's contraction of acc += a * b (plain multiply and add where the target has
//   no FMA).
// - A is read in place, not packed: its MR rows are MR streams (see micro()).
// - blocking: KC over K (W's KC x NR micro-panel stays in L1 while MC rows of A pass it), MC over
//   the rows, NCP panels over N (the MC x NCP*NR block of C stays in L2 across the KC blocks).
// - threads: (M block, N block) tiles over the pool. Each element of C is reduced over all of K by
//   one task, in one order, starting from its bias: the bits do not depend on the thread count nor
//   on the tiling (an edge tile runs the same kernel through buffers).
// Leaves out: fp16/bf16 weights, AMX, software prefetch (measured no gain), a fused QKV projection
// (measured slower: one 2935 x 384 x 1152 GEMM against three of 384 columns).
#if !defined(__wasm__)
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "kernels.h"
#include "kernels_simd.h"

namespace portbench_wasm {
namespace {
using namespace simd;

#if defined(__AVX512F__)
constexpr int MR = 8, NV = 3;
#elif defined(__AVX__)
constexpr int MR = 6, NV = 2;
#else
constexpr int MR = 4, NV = 2;
#endif
constexpr int NR = NV * VW;
constexpr int KC = 128;    // k per block: W's micro-panel, KC x NR floats (24 KiB with AVX-512), stays in L1
constexpr int MC = 128;    // rows of A per block: their MR-row micro-panels pass W's micro-panel
constexpr int NCP = 8;     // panels of W per group: the C block MC x NCP*NR stays in L2 across the KC blocks
constexpr int kAlign = 16; // floats: 64 bytes
constexpr double kSerialFlop = 2e6;   // a GEMM smaller than this runs on the calling thread alone

inline int panels_of(int n) { return (n + NR - 1) / NR; }
inline size_t packed_w_floats(int n, int k) { return size_t(panels_of(n)) * NR * size_t(k); }

// W (n, k) row-major -> panels (ceil(n/NR), k, NR), zero-padded.
void pack_w(const float* w, int n, int k, float* dst) {
  for (int p = 0; p < panels_of(n); ++p) {
    float* d = dst + size_t(p) * k * NR;
    for (int j = 0; j < NR; ++j) {
      const int row = p * NR + j;
      if (row < n)
        for (int t = 0; t < k; ++t) d[size_t(t) * NR + j] = w[size_t(row) * k + t];
      else
        for (int t = 0; t < k; ++t) d[size_t(t) * NR + j] = 0.f;
    }
  }
}

// The micro-kernel: C (MR x NR) [ldc] = init + A (MR rows, kc) [lda] . Bp (kc, NR), where init is the
// row `init` (NR floats: the bias or zeros) on every row, or C itself when init is null. A is read in
// place: its MR rows are MR streams the prefetchers follow. Packing them per MC x KC block, as BLIS
// does, measured ~10% slower on the model's shapes (138 against 148-167 GFLOP/s): the packing pass
// costs about a cycle per element, K = 384 gives it few columns to pay off over.
inline void micro(const float* a, size_t lda, const float* bp, int kc, float* c, size_t ldc, const float* init) {
  fv acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = vload((init ? init : c + r * ldc) + v * VW);
  for (int t = 0; t < kc; ++t, ++a, bp += NR) {
    fv b[NV];
    for (int v = 0; v < NV; ++v) b[v] = vload(bp + v * VW);
    for (int r = 0; r < MR; ++r) {
      const float x = a[r * lda];
      for (int v = 0; v < NV; ++v) acc[r][v] += x * b[v];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) vstore(c + r * ldc + v * VW, acc[r][v]);
}

// One tile of C: `rows` x `cols` at c (rows <= MR, cols <= NR) from the A rows at a. Full tiles run
// in place; edge tiles through buffers (A's rows zero-padded to MR, C's to NR), with the same
// arithmetic per element.
inline void tile(const float* a, size_t lda, const float* bp, int kc, float* c, size_t ldc, const float* bias,
                 bool first, int rows, int cols) {
  alignas(64) static const float zero[NR] = {};
  if (rows == MR && cols == NR) {
    micro(a, lda, bp, kc, c, ldc, first ? (bias ? bias : zero) : nullptr);
    return;
  }
  alignas(64) float abuf[MR * KC], buf[MR * NR], init[NR];
  if (rows < MR) {
    for (int r = 0; r < MR; ++r)
      for (int t = 0; t < kc; ++t) abuf[r * KC + t] = r < rows ? a[r * lda + t] : 0.f;
    a = abuf, lda = KC;
  }
  if (first) {
    for (int j = 0; j < NR; ++j) init[j] = bias && j < cols ? bias[j] : 0.f;
  } else {
    for (int r = 0; r < rows; ++r) std::memcpy(buf + r * NR, c + r * ldc, cols * sizeof(float));
  }
  micro(a, lda, bp, kc, buf, NR, first ? init : nullptr);
  for (int r = 0; r < rows; ++r) std::memcpy(c + r * ldc, buf + r * NR, cols * sizeof(float));
}

// Rows [i0, i1) of C against panels [p0, p1) of W, all of K. Loop order: MC rows of A, NCP panels
// of W, KC blocks of k, W micro-panels, A micro-panels: the C block (MC x NCP*NR) stays in L2 across
// the KC blocks and the A block (MC x K) across the panel groups; W streams in the order it is
// packed. (BLIS's order, KC outside MC, sends all of C through L3 once per KC block; here the two
// measured alike, within this machine's noise.)
void gemm_task(const float* a, int lda, int i0, int i1, const float* wp, int n, int k, int p0, int p1,
               const float* bias, float* c, int ldc) {
  for (int ib = i0; ib < i1; ib += MC) {
    const int mc = i1 - ib < MC ? i1 - ib : MC;
    for (int pb = p0; pb < p1; pb += NCP) {
      const int pe = p1 - pb < NCP ? p1 : pb + NCP;
      for (int k0 = 0; k0 < k; k0 += KC) {
        const int kc = k - k0 < KC ? k - k0 : KC;
        const bool first = k0 == 0;
        for (int p = pb; p < pe; ++p) {        // W's micro-panel in L1 ...
          const int j = p * NR, cols = n - j < NR ? n - j : NR;
          const float* bp = wp + (size_t(p) * k + k0) * NR;
          for (int q = 0; q < mc; q += MR) {   // ... against the block's A micro-panels
            const float* aq = a + size_t(ib + q) * lda + k0;
            tile(aq, size_t(lda), bp, kc, c + size_t(ib + q) * ldc + j, size_t(ldc),
                 bias && first ? bias + j : nullptr, first, mc - q < MR ? mc - q : MR, cols);
          }
        }
      }
    }
  }
}

void gemm(const float* a, int lda, int m, const float* wp, int n, int k, const float* bias, float* c, int ldc) {
  const int panels = panels_of(n), th = detail::threads();
  if (k == 0) {   // degenerate: C = bias
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) c[size_t(i) * ldc + j] = bias ? bias[j] : 0.f;
    return;
  }
  if (th == 1 || 2.0 * m * n * k < kSerialFlop) {
    gemm_task(a, lda, 0, m, wp, n, k, 0, panels, bias, c, ldc);
    return;
  }
  // Tiles: M blocks of MC rows (all of M when it is smaller) x N blocks of panels, enough N blocks
  // for about four tiles per thread, so a slow thread costs a quarter of its share.
  const int rows = m < MC ? m : MC, mb = (m + rows - 1) / rows, want = 4 * th;
  int nb = (want + mb - 1) / mb;
  nb = nb > panels ? panels : nb;
  detail::parallel_for(mb * nb, [&](int, int b, int e) {
    for (int t = b; t < e; ++t) {
      const int im = t / nb, in = t % nb;
      const int i0 = im * rows, i1 = i0 + rows < m ? i0 + rows : m;
      const int p0 = int(int64_t(panels) * in / nb), p1 = int(int64_t(panels) * (in + 1) / nb);
      gemm_task(a, lda, i0, i1, wp, n, k, p0, p1, bias, c, ldc);
    }
  });
}

float* align_up(float* p) { return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63)); }

}  // namespace

void matmul(const float* a, int lda, int m, Lin w, const float* bias, float* c, int ldc) {
  if (m <= 0 || w.n <= 0) return;
  if (w.packed) {
    gemm(a, lda, m, w.packed, w.n, w.k, bias, c, ldc);
    return;
  }
  // Not packed at load (the C ABI's loader): pack for this call.
  float* raw = static_cast<float*>(std::malloc((packed_w_floats(w.n, w.k) + kAlign) * sizeof(float)));
  if (raw) {
    float* wp = align_up(raw);
    pack_w(w.w, w.n, w.k, wp);
    gemm(a, lda, m, wp, w.n, w.k, bias, c, ldc);
    std::free(raw);
    return;
  }
  for (int i = 0; i < m; ++i)   // no memory for the panels: plain dot products, slow but exact
    for (int j = 0; j < w.n; ++j) {
      float s = bias ? bias[j] : 0.f;
      for (int t = 0; t < w.k; ++t) s += a[size_t(i) * lda + t] * w.w[size_t(j) * w.k + t];
      c[size_t(i) * ldc + j] = s;
    }
}

const char* pack_weights(Model& m) {
  auto each = [&m](auto&& fn) {   // every linear weight: the layers', then the Dense layers'
    for (int l = 0; l < m.cfg.layers && m.layers; ++l)
      for (Lin* x : {&m.layers[l].q, &m.layers[l].k, &m.layers[l].v, &m.layers[l].ao, &m.layers[l].ff1,
                     &m.layers[l].ff2})
        fn(*x);
    for (int j = 0; j < m.cfg.n_dense; ++j) fn(m.dense[j].w);
  };
  auto span = [](const Lin& x) { return (packed_w_floats(x.n, x.k) + kAlign - 1) / kAlign * kAlign; };
  size_t total = kAlign;
  each([&](Lin& x) { total += span(x); });
  if (!m.packed.alloc(total)) return "out of memory (packing the linear weights)";
  float* dst = align_up(m.packed.p);
  each([&](Lin& x) {
    if (!x.w) return;
    pack_w(x.w, x.n, x.k, dst);
    x.packed = dst;
    dst += span(x);
  });
  return nullptr;
}

}  // namespace portbench_wasm
#endif  // !__wasm__
