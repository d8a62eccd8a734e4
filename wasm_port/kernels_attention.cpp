// wasm_port kernels, native build: kernels.h's attention_heads, softmax(Q K^T / sqrt(dh) + mask) V
// for every (row, head), in tiles with an online softmax in the manner of FlashAttention (Dao et
// al. 2022; on CPUs, oneDNN's and PyTorch's flash-attention kernels): no L x L scores buffer. A task
// is one (row, head, query tile of BQ queries): Q^T for the tile (scaled; VW x VW vector
// transposes), then per key tile of BK keys the scores transposed, S^T (keys, queries), so the
// running max and sum per query are plain vector lanes; O (BQ, dh) is rescaled by exp(m_old -
// m_new) and P V added, V read in place (copied, zero-padded, only when dh is not whole vectors).
// The tiles (Q^T, S^T, O: 16 KiB with AVX-512 and dh 32) stay in L1. Keys whose mask is 0 get
// probability exactly 0 (they never enter the max), a query whose keys are all masked a zero
// output, as the L x L version did; trailing padding is not in the row at all (kernels.cpp drops
// it). Deterministic: a task's sums run in one order whatever the thread count.
// Leaves out: causal masks, dropout, fp16/bf16, the backward pass.
#if !defined(__wasm__)
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels.h"
#include "kernels_simd.h"

namespace portbench_wasm {
namespace {
using namespace simd;

constexpr int BQ = 2 * VW;              // queries per tile: two vectors of lanes
constexpr int BK = 64;                  // keys per tile
constexpr int JB = VW >= 16 ? 8 : 4;    // keys per register block of S^T: JB x 2 accumulators
constexpr int IB = VW >= 16 ? 8 : 4;    // queries per register block of O: IB x 2 accumulators

// p (J, BQ) = K rows (J, dh) [ld] . qt (dh, BQ): the scores of J keys against the tile's queries.
template <int J>
inline void scores(const float* k, size_t ld, int dh, const float* qt, float* p) {
  fv acc[J][2] = {};
  for (int d = 0; d < dh; ++d) {
    const fv q0 = vload(qt + d * BQ), q1 = vload(qt + d * BQ + VW);
    for (int j = 0; j < J; ++j) {
      const float x = k[j * ld + d];
      acc[j][0] += x * q0;
      acc[j][1] += x * q1;
    }
  }
  for (int j = 0; j < J; ++j) {
    vstore(p + j * BQ, acc[j][0]);
    vstore(p + j * BQ + VW, acc[j][1]);
  }
}

// o rows (I, NVD vectors) [ldo] = o * alpha + P^T[:, rows] . V tile (kb, NVD vectors) [ldv].
template <int I, int NVD>
inline void pv(const float* p, int kb, const float* vt, int ldv, const float* alpha, float* o, int ldo) {
  fv acc[I][NVD];
  for (int i = 0; i < I; ++i)
    for (int v = 0; v < NVD; ++v) acc[i][v] = vload(o + i * ldo + v * VW) * alpha[i];
  for (int j = 0; j < kb; ++j, p += BQ, vt += ldv) {
    fv b[NVD];
    for (int v = 0; v < NVD; ++v) b[v] = vload(vt + v * VW);
    for (int i = 0; i < I; ++i) {
      const float x = p[i];
      for (int v = 0; v < NVD; ++v) acc[i][v] += x * b[v];
    }
  }
  for (int i = 0; i < I; ++i)
    for (int v = 0; v < NVD; ++v) vstore(o + i * ldo + v * VW, acc[i][v]);
}

// Floats of one thread's scratch: Q^T (dh, BQ) | P^T (BK, BQ) | O (BQ, dhp) | V tile (BK, dhp) |
// alpha (BQ), dhp = dh rounded up to the vector width.
size_t tile_floats(int dh) {
  const size_t dhp = size_t(round_up(dh, VW));
  return size_t(dh) * BQ + size_t(BK) * BQ + BQ * dhp + BK * dhp + BQ;
}

// x[0..VW) = the VW x VW block they hold, transposed: log2(VW) rounds of swapping off-diagonal
// blocks of half the size, two-source shuffles (vpermt2ps with AVX-512).
template <int S>
inline void swap_blocks(fv* x) {
  iv lo, hi;
  for (int l = 0; l < VW; ++l) {
    lo[l] = (l & S) ? VW + l - S : l;
    hi[l] = (l & S) ? VW + l : l + S;
  }
  for (int i = 0; i < VW; ++i)
    if (!(i & S)) {
      const fv a = x[i], b = x[i + S];
      x[i] = __builtin_shuffle(a, b, lo);
      x[i + S] = __builtin_shuffle(a, b, hi);
    }
}
inline void transpose(fv* x) {
  if constexpr (VW >= 16) swap_blocks<8>(x);
  if constexpr (VW >= 8) swap_blocks<4>(x);
  swap_blocks<2>(x);
  swap_blocks<1>(x);
}

// qt (dh, BQ) = scale * Q rows [0, nq) (dh floats each, [ld]) transposed; queries past nq zero.
void load_qt(const float* q, size_t ld, int nq, int dh, float scale, float* qt) {
  if (nq == BQ && dh % VW == 0) {   // whole VW x VW blocks
    for (int i = 0; i < BQ; i += VW)
      for (int d = 0; d < dh; d += VW) {
        fv x[VW];
        for (int r = 0; r < VW; ++r) x[r] = vload(q + (i + r) * ld + d) * scale;
        transpose(x);
        for (int r = 0; r < VW; ++r) vstore(qt + (d + r) * BQ + i, x[r]);
      }
    return;
  }
  for (int i = 0; i < BQ; ++i) {   // row by row: contiguous reads
    const float* qi = q + i * ld;
    for (int d = 0; d < dh; ++d) qt[d * BQ + i] = i < nq ? qi[d] * scale : 0.f;
  }
}

// Queries [i0, i0 + BQ) of one head of one row (Q, K, V (len, dh) [ld]) -> ctx rows [ldo].
void query_tile(const float* q, const float* k, const float* v, int ld, int len, int dh, const int32_t* mask,
                float scale, int i0, float* s, float* ctx, int ldo) {
  const int nq = len - i0 < BQ ? len - i0 : BQ, dhp = round_up(dh, VW), nqb = round_up(nq, IB);
  float *qt = s, *p = qt + size_t(dh) * BQ, *o = p + BK * BQ, *vbuf = o + size_t(BQ) * dhp, *alpha = vbuf + size_t(BK) * dhp;
  load_qt(q + size_t(i0) * ld, size_t(ld), nq, dh, scale, qt);
  std::memset(o, 0, sizeof(float) * BQ * dhp);
  const fv ninf = vsplat(-INFINITY);
  fv m[2] = {ninf, ninf}, l[2] = {};
  for (int j0 = 0; j0 < len; j0 += BK) {
    const int kb = len - j0 < BK ? len - j0 : BK;
    const float* kj = k + size_t(j0) * ld;
    int j = 0;
    for (; j + JB <= kb; j += JB) scores<JB>(kj + size_t(j) * ld, size_t(ld), dh, qt, p + j * BQ);
    for (; j < kb; ++j) scores<1>(kj + size_t(j) * ld, size_t(ld), dh, qt, p + j * BQ);
    fv mt[2] = {ninf, ninf};   // the tile's max over its unmasked keys, per query
    for (j = 0; j < kb; ++j)
      if (mask[j0 + j])
        for (int h = 0; h < 2; ++h) {
          const fv x = vload(p + j * BQ + h * VW);
          mt[h] = x > mt[h] ? x : mt[h];
        }
    fv sum[2] = {}, ms[2];
    for (int h = 0; h < 2; ++h) {
      const fv mn = mt[h] > m[h] ? mt[h] : m[h];
      ms[h] = mn == ninf ? vsplat(0.f) : mn;   // no key seen yet: keep exp's argument finite
      vstore(alpha + h * VW, vexp(m[h] - ms[h]));   // exactly 0 while m is -inf (and O, l are 0)
      m[h] = mn;
    }
    for (j = 0; j < kb; ++j) {
      if (!mask[j0 + j]) {   // a masked key: probability exactly 0
        std::memset(p + j * BQ, 0, sizeof(float) * BQ);
        continue;
      }
      for (int h = 0; h < 2; ++h) {
        const fv e = vexp(vload(p + j * BQ + h * VW) - ms[h]);
        vstore(p + j * BQ + h * VW, e);
        sum[h] += e;
      }
    }
    for (int h = 0; h < 2; ++h) l[h] = l[h] * vload(alpha + h * VW) + sum[h];
    const float* vt = v + size_t(j0) * ld;   // V's rows in place when they are whole vectors ...
    int ldv = ld;
    if (dh != dhp) {                         // ... else the tile, padded to whole vectors
      for (j = 0; j < kb; ++j) {
        std::memcpy(vbuf + size_t(j) * dhp, vt + size_t(j) * ld, sizeof(float) * dh);
        for (int d = dh; d < dhp; ++d) vbuf[size_t(j) * dhp + d] = 0.f;
      }
      vt = vbuf, ldv = dhp;
    }
    for (int i = 0; i < nqb; i += IB) {
      int c = 0;
      for (; c + 2 * VW <= dhp; c += 2 * VW) pv<IB, 2>(p + i, kb, vt + c, ldv, alpha + i, o + size_t(i) * dhp + c, dhp);
      if (c < dhp) pv<IB, 1>(p + i, kb, vt + c, ldv, alpha + i, o + size_t(i) * dhp + c, dhp);
    }
  }
  alignas(64) float lsum[BQ];
  vstore(lsum, l[0]);
  vstore(lsum + VW, l[1]);
  for (int i = 0; i < nq; ++i) {
    const float inv = lsum[i] > 0.f ? 1.f / lsum[i] : 0.f;   // all keys masked: a zero row, as before
    const float* oi = o + size_t(i) * dhp;
    float* dst = ctx + size_t(i0 + i) * ldo;
    int d = 0;
    for (; d + VW <= dh; d += VW) vstore(dst + d, vload(oi + d) * inv);
    for (; d < dh; ++d) dst[d] = oi[d] * inv;
  }
}

}  // namespace

namespace detail {

size_t attention_scratch_floats(int, int dh) { return tile_floats(dh) + 16; }

void attention_heads(const float* qkv, const Rows& r, int d, int heads, float* scratch, float* ctx) {
  const int dh = d / heads, tiles = (r.max_len + BQ - 1) / BQ;
  const float scale = 1.f / std::sqrt(float(dh));
  const size_t per = attention_scratch_floats(r.max_len, dh);
  // Tasks (row, head, query tile), tiles per row counted at the chunk's longest row: a shorter
  // row's extra tiles are empty and skipped.
  auto tasks = [&](int part, int b, int e) {
    float* s = scratch + size_t(part) * per;
    s += (64 - reinterpret_cast<uintptr_t>(s) % 64) % 64 / sizeof(float);
    for (int t = b; t < e; ++t) {
      const int row = t / (heads * tiles), h = t / tiles % heads, i0 = t % tiles * BQ;
      if (i0 >= r.lens[row]) continue;
      const float* q = qkv + size_t(r.offs[row]) * 3 * d + h * dh;   // (L, dh) [3D]
      query_tile(q, q + d, q + 2 * d, 3 * d, r.lens[row], dh, r.mask[row], scale, i0, s,
                 ctx + size_t(r.offs[row]) * d + h * dh, d);
    }
  };
  double flop = 0;   // a few short rows (one text): not worth waking the pool
  for (int i = 0; i < r.n; ++i) flop += 4.0 * d * double(r.lens[i]) * r.lens[i];
  if (flop < 2e6) tasks(0, 0, r.n * heads * tiles);
  else parallel_for(r.n * heads * tiles, tasks);
}

}  // namespace detail
}  // namespace portbench_wasm
#endif  // !__wasm__
