// wasm_port kernels, native build (minilm-embed-lite, the host-side ctypes test): the primitives
// of kernels.h for a CPU, behind the same names as the wasm ones in kernels.cpp.
// - matmul: C = A . W^T straight from torch's row-major W (n, k) as the caller maps it (no packing,
//   no copy): R x C blocks of dot products, vectors of VW floats (16 with -march=...avx512f, 8 with
//   avx2, 4 otherwise; GCC/Clang vector extensions, contracted to FMA by -ffp-contract=fast), W
//   blocked so ~128 KiB of it stays in L2 while A's rows pass over it.
// - a thread pool (pthreads: a refused thread leaves fewer, never an abort; chunks claimed from an
//   atomic counter, so a descheduled worker never stalls the caller): matmuls split over rows of A
//   (or over W's rows when A has few), attention over (row, head) pairs, elementwise stages over rows.
// - GELU and softmax with vector erf/exp (Abramowitz-Stegun 7.1.26, |err| < 1.5e-7, as ATen's own
//   vectorised erf; Cephes expf); LayerNorm with float vector sums.
// Leaves out: packing (the weights stay mapped), fp16 math, NUMA.
#if !defined(__wasm__)
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "kernels.h"

namespace portbench_wasm {
namespace {

#if defined(__AVX512F__)
constexpr int VW = 16, MR = 4, NR = 4;   // 16 accumulators of 32 zmm registers
#elif defined(__AVX__)
constexpr int VW = 8, MR = 2, NR = 4;    // 8 accumulators of 16 ymm registers
#else
constexpr int VW = 4, MR = 2, NR = 4;
#endif
typedef float fv __attribute__((vector_size(VW * 4)));
typedef int32_t iv __attribute__((vector_size(VW * 4)));

inline fv vload(const float* p) { fv v; std::memcpy(&v, p, sizeof v); return v; }
inline void vstore(float* p, fv v) { std::memcpy(p, &v, sizeof v); }
inline fv vsplat(float x) { return fv{} + x; }
// Horizontal sum as a butterfly (lane i += lane i^k, k = VW/2 .. 1): log2(VW) shuffles and adds,
// not a VW-long chain of dependent scalar adds.
template <int K>
inline fv fold(fv v) {
  iv m;
  for (int i = 0; i < VW; ++i) m[i] = i ^ K;
  return v + __builtin_shuffle(v, m);
}
inline float hsum(fv v) {
  if (VW >= 16) v = fold<8 % VW>(v);
  if (VW >= 8) v = fold<4 % VW>(v);
  return fold<1>(fold<2>(v))[0];
}

// exp(x) for a vector (Cephes expf: 2^n * p(r), n = round(x / ln2), r = x - n ln2), x clamped to
// [-88, 88]. n is rounded with the 1.5 * 2^23 trick, whose float bits then hold n.
inline fv vexp(fv x) {
  x = x > 88.f ? vsplat(88.f) : x;   // 2^n stays finite
  x = x < -88.f ? vsplat(-88.f) : x;
  const fv big = x * 1.44269504088896341f + 12582912.f;
  const fv n = big - 12582912.f;
  x = x - n * 0.693359375f + n * 2.12194440e-4f;
  fv y = ((((1.9875691500e-4f * x + 1.3981999507e-3f) * x + 8.3334519073e-3f) * x + 4.1665795894e-2f) * x +
          1.6666665459e-1f) * x + 5.0000001201e-1f;
  y = y * (x * x) + x + 1.f;
  iv bits;
  std::memcpy(&bits, &big, sizeof bits);
  bits = (bits - 0x4B400000 + 127) << 23;
  fv scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return y * scale;
}

inline fv verf(fv x) {   // Abramowitz-Stegun 7.1.26
  fv ax = x < 0.f ? -x : x;
  fv t = 1.f / (1.f + 0.3275911f * ax);
  fv p = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
  fv r = 1.f - p * vexp(-ax * ax);
  return x < 0.f ? -r : r;
}

// ---- thread pool ----------------------------------------------------------------------------------
// A parallel_for is cut into chunks (a few per thread) that the caller and the workers claim from
// one atomic counter, tagged with the job's generation. The caller claims chunks too and waits only
// for chunks a worker has started, so a worker the OS has not scheduled yet (a busy machine) costs
// nothing: it wakes, finds the job's chunks gone, and sleeps again.

struct Pool {
  int n = 1;                              // threads, the caller included
  pthread_t ids[256];
  std::atomic<uint64_t> gen{0};           // job number: workers wake when it changes
  std::atomic<uint64_t> claim{0};         // gen << 32 | chunks << 16 | next chunk
  std::atomic<int> done{0};               // chunks finished in this job
  std::mutex mu, busy;                    // busy: one parallel_for at a time (others run serially)
  std::condition_variable wake, finished;
  void (*fn)(void*, int, int, int) = nullptr;
  void* ctx = nullptr;
  int total = 0;
  uint64_t start_gen = 0;                 // gen when the workers were started (they may run later)
  std::atomic<bool> stop{false};
};
Pool& pool() {
  static Pool* p = new Pool;   // never destroyed: workers may still wait on it at exit
  return *p;
}
thread_local bool t_in_part = false;
constexpr int kSpin = 1 << 12;            // polls of the generation before sleeping on the condvar

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Claims and runs chunks of job `g` until none are left; `self` is this thread's index (its scratch).
// The claim word holds the job's tag, its chunk count and the next chunk, so a thread holding a stale
// word can never take a chunk of another job.
void run_chunks(Pool& p, uint64_t g, int self) {
  for (;;) {
    uint64_t c = p.claim.load(std::memory_order_acquire);
    const int chunks = int(c >> 16 & 0xFFFF), k = int(c & 0xFFFF);
    if ((c >> 32) != (g & 0xFFFFFFFFu) || k >= chunks) return;   // another job, or all taken
    if (!p.claim.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel)) continue;
    // Chunk k is ours: the job cannot finish (nor its fields change) until it is counted done.
    const int b = int(int64_t(p.total) * k / chunks), e = int(int64_t(p.total) * (k + 1) / chunks);
    t_in_part = true;
    if (b < e) p.fn(p.ctx, self, b, e);
    t_in_part = false;
    if (p.done.fetch_add(1, std::memory_order_acq_rel) + 1 == chunks) {
      std::lock_guard<std::mutex> lk(p.mu);
      p.finished.notify_one();
    }
  }
}

void* worker(void* arg) {
  Pool& p = pool();
  const int self = int(reinterpret_cast<intptr_t>(arg));
  uint64_t seen = p.start_gen;
  for (;;) {
    uint64_t g = seen;
    for (int i = 0; i < kSpin && (g = p.gen.load(std::memory_order_acquire)) == seen; ++i) cpu_relax();
    if (g == seen) {
      std::unique_lock<std::mutex> lk(p.mu);
      p.wake.wait(lk, [&] { return p.gen.load(std::memory_order_acquire) != seen || p.stop; });
      g = p.gen.load(std::memory_order_acquire);
    }
    if (p.stop) return nullptr;
    seen = g;
    run_chunks(p, g, self);
  }
}

}  // namespace

// Stops the pool's workers and starts up to n - 1 new ones; true when a start was refused.
static bool restart(Pool& p, int n) {
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.stop = true;
  }
  p.wake.notify_all();
  for (int i = 1; i < p.n; ++i) pthread_join(p.ids[i], nullptr);
  p.stop = false;
  p.n = 1;
  p.start_gen = p.gen.load();
  for (int i = 1; i < n; ++i) {   // a refused thread ends the list there: fewer threads, no abort
    if (pthread_create(&p.ids[i], nullptr, worker, reinterpret_cast<void*>(intptr_t(i))) != 0) return true;
    p.n = i + 1;
  }
  return false;
}

int set_threads(int n) {
  Pool& p = pool();
  std::lock_guard<std::mutex> busy(p.busy);
  n = n < 1 ? 1 : n > 256 ? 256 : n;
  if (n == p.n) return n;
  // A refused start means the address space (or the thread limit) ran out on stacks: keep two
  // stacks' worth free for the forward's own buffers, else the first batch fails for memory.
  if (restart(p, n) && p.n > 1) restart(p, p.n > 3 ? p.n - 2 : 1);
  return p.n;
}

namespace detail {

int threads() { return pool().n; }

void parallel_for(int n, void (*fn)(void*, int, int, int), void* ctx) {
  if (n <= 0) return;
  Pool& p = pool();
  std::unique_lock<std::mutex> busy(p.busy, std::try_to_lock);
  if (p.n == 1 || n == 1 || t_in_part || !busy.owns_lock()) {   // serial: one thread, nested, or pool taken
    fn(ctx, 0, 0, n);
    return;
  }
  p.fn = fn, p.ctx = ctx, p.total = n;
  const int chunks = n < 4 * p.n ? n : 4 * p.n;   // <= 1024: fits the claim word's 16 bits
  p.done.store(0, std::memory_order_relaxed);
  uint64_t g;
  {
    std::lock_guard<std::mutex> lk(p.mu);
    g = p.gen.load(std::memory_order_relaxed) + 1;
    p.claim.store((g & 0xFFFFFFFFu) << 32 | uint64_t(chunks) << 16, std::memory_order_release);
    p.gen.store(g, std::memory_order_release);
  }
  p.wake.notify_all();
  run_chunks(p, g, 0);
  for (int i = 0; i < kSpin && p.done.load(std::memory_order_acquire) != chunks; ++i) cpu_relax();
  if (p.done.load(std::memory_order_acquire) != chunks) {
    std::unique_lock<std::mutex> lk(p.mu);
    p.finished.wait(lk, [&] { return p.done.load(std::memory_order_acquire) == chunks; });
  }
}

}  // namespace detail

// ---- matmul: C = A . W^T, W row-major (n, k) in place ------------------------------------------

namespace {

// R rows of A x C rows of W: R*C vector accumulators over k, then one horizontal sum each.
template <int R, int C>
inline void dot_block(const float* a, size_t lda, const float* w, size_t ldw, int k, const float* bias, float* c,
                      size_t ldc) {
  fv acc[R][C] = {};
  int kk = 0;
  for (; kk + VW <= k; kk += VW) {
    fv wv[C];
    for (int j = 0; j < C; ++j) wv[j] = vload(w + j * ldw + kk);
    for (int i = 0; i < R; ++i) {
      const fv av = vload(a + i * lda + kk);
      for (int j = 0; j < C; ++j) acc[i][j] += av * wv[j];
    }
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) {
      float s = hsum(acc[i][j]);
      for (int t = kk; t < k; ++t) s += a[i * lda + t] * w[j * ldw + t];
      c[i * ldc + j] = s + (bias ? bias[j] : 0.f);
    }
}

// Rows [m0, m1) of A against rows [n0, n1) of W.
void matmul_tile(const float* a, int lda, int m0, int m1, Lin w, int n0, int n1, const float* bias, float* c,
                 int ldc) {
  int nb = (128 << 10) / (4 * (w.k > 0 ? w.k : 1)) / NR * NR;   // rows of W per ~128 KiB
  nb = nb > NR ? nb : NR;
  for (int b0 = n0; b0 < n1; b0 += nb) {
    const int b1 = n1 - b0 < nb ? n1 : b0 + nb;
    int i = m0;
    for (; i + MR <= m1; i += MR) {
      const float* ai = a + size_t(i) * lda;
      float* ci = c + size_t(i) * ldc;
      int j = b0;
      for (; j + NR <= b1; j += NR)
        dot_block<MR, NR>(ai, lda, w.w + size_t(j) * w.k, w.k, w.k, bias ? bias + j : nullptr, ci + j, ldc);
      for (; j < b1; ++j)
        dot_block<MR, 1>(ai, lda, w.w + size_t(j) * w.k, w.k, w.k, bias ? bias + j : nullptr, ci + j, ldc);
    }
    for (; i < m1; ++i) {
      const float* ai = a + size_t(i) * lda;
      float* ci = c + size_t(i) * ldc;
      int j = b0;
      for (; j + NR <= b1; j += NR)
        dot_block<1, NR>(ai, lda, w.w + size_t(j) * w.k, w.k, w.k, bias ? bias + j : nullptr, ci + j, ldc);
      for (; j < b1; ++j)
        dot_block<1, 1>(ai, lda, w.w + size_t(j) * w.k, w.k, w.k, bias ? bias + j : nullptr, ci + j, ldc);
    }
  }
}

// C (m, n) [ldc] = A (m, k) [lda] . B (k, n) [ldb], B row-major (attention: Q K^T with K transposed, P V).
template <int R>
inline void nn_rows(const float* a, int lda, const float* b, int ldb, int k, int n, float* c, int ldc) {
  const int nv = n / VW * VW;
  for (int j = 0; j < nv; j += VW) {
    fv acc[R] = {};
    for (int t = 0; t < k; ++t) {
      const fv bv = vload(b + size_t(t) * ldb + j);
      for (int i = 0; i < R; ++i) acc[i] += a[size_t(i) * lda + t] * bv;
    }
    for (int i = 0; i < R; ++i) vstore(c + size_t(i) * ldc + j, acc[i]);
  }
  for (int j = nv; j < n; ++j)
    for (int i = 0; i < R; ++i) {
      float s = 0;
      for (int t = 0; t < k; ++t) s += a[size_t(i) * lda + t] * b[size_t(t) * ldb + j];
      c[size_t(i) * ldc + j] = s;
    }
}
void matmul_nn(const float* a, int lda, int m, const float* b, int ldb, int k, int n, float* c, int ldc) {
  int i = 0;
  for (; i + 4 <= m; i += 4) nn_rows<4>(a + size_t(i) * lda, lda, b, ldb, k, n, c + size_t(i) * ldc, ldc);
  for (; i < m; ++i) nn_rows<1>(a + size_t(i) * lda, lda, b, ldb, k, n, c + size_t(i) * ldc, ldc);
}

inline int round_up(int x, int to) { return (x + to - 1) / to * to; }

}  // namespace

void matmul(const float* a, int lda, int m, Lin w, const float* bias, float* c, int ldc) {
  if (m <= 0 || w.n <= 0) return;
  const double flops = 2.0 * m * w.n * w.k;
  if (flops < 2e5 || detail::threads() == 1) {
    matmul_tile(a, lda, 0, m, w, 0, w.n, bias, c, ldc);
  } else if (m >= 16 * detail::threads()) {   // many rows: each thread takes a band of A's rows
    const int blocks = (m + MR - 1) / MR;
    detail::parallel_for(blocks, [&](int, int b, int e) {
      matmul_tile(a, lda, b * MR, e * MR < m ? e * MR : m, w, 0, w.n, bias, c, ldc);
    });
  } else {   // few rows (a single text): each thread reads its own share of W
    const int blocks = (w.n + NR - 1) / NR;
    detail::parallel_for(blocks, [&](int, int b, int e) {
      matmul_tile(a, lda, 0, m, w, b * NR, e * NR < w.n ? e * NR : w.n, bias, c, ldc);
    });
  }
}

namespace detail {

void add_layer_norm(float* x, const float* y, int rows, int d, const float* w, const float* b, float eps) {
  auto rows_fn = [&](int, int r0, int r1) {
    for (int r = r0; r < r1; ++r) {
      float* v = x + size_t(r) * d;
      const float* u = y ? y + size_t(r) * d : nullptr;
      fv s = {};
      int i = 0;
      for (; i + VW <= d; i += VW) {
        fv a = vload(v + i);
        if (u) a += vload(u + i);
        vstore(v + i, a);
        s += a;
      }
      float sum = hsum(s);
      for (; i < d; ++i) sum += (v[i] += u ? u[i] : 0.f);
      const float mu = sum / d;
      fv q = {};
      for (i = 0; i + VW <= d; i += VW) {
        const fv c = vload(v + i) - mu;
        q += c * c;
      }
      float var = hsum(q);
      for (; i < d; ++i) var += (v[i] - mu) * (v[i] - mu);
      const float inv = 1.f / std::sqrt(var / d + eps);
      for (i = 0; i + VW <= d; i += VW) vstore(v + i, (vload(v + i) - mu) * inv * vload(w + i) + vload(b + i));
      for (; i < d; ++i) v[i] = (v[i] - mu) * inv * w[i] + b[i];
    }
  };
  if (size_t(rows) * d < 16384) rows_fn(0, 0, rows);
  else parallel_for(rows, rows_fn);
}

void gelu(float* x, size_t n) {
  constexpr size_t kChunk = 4096;
  auto chunk_fn = [&](int, int c0, int c1) {
    const size_t e = size_t(c1) * kChunk < n ? size_t(c1) * kChunk : n;
    size_t i = size_t(c0) * kChunk;
    for (; i + VW <= e; i += VW) {
      const fv v = vload(x + i);
      vstore(x + i, 0.5f * v * (1.f + verf(v * 0.70710678118654752f)));
    }
    for (; i < e; ++i) x[i] = 0.5f * x[i] * (1.f + std::erf(x[i] * 0.70710678118654752f));
  };
  parallel_for(int((n + kChunk - 1) / kChunk), chunk_fn);
}

// Scratch: K^T (dh, Lp) | scores (L, Lp) | keep (Lp): Lp = L rounded up to the vector width.
size_t head_scratch_floats(int max_len, int dh) {
  const size_t lp = size_t(round_up(max_len, VW));
  return size_t(dh) * lp + size_t(max_len) * lp + lp;
}

void head_attention(const float* q, const float* k, const float* v, int ld, int len, int dh,
                    const int32_t* mask, float scale, float* scratch, float* ctx, int ldo) {
  const int lp = round_up(len, VW);
  float *kt = scratch, *s = kt + size_t(dh) * lp, *keep = s + size_t(len) * lp;
  for (int d = 0; d < dh; ++d) {
    for (int j = 0; j < len; ++j) kt[size_t(d) * lp + j] = k[size_t(j) * ld + d];
    for (int j = len; j < lp; ++j) kt[size_t(d) * lp + j] = 0.f;
  }
  for (int j = 0; j < lp; ++j) keep[j] = j < len && mask[j] ? 1.f : 0.f;
  matmul_nn(q, ld, len, kt, lp, dh, lp, s, lp);                                   // Q K^T (L, Lp)
  for (int i = 0; i < len; ++i) {   // masked softmax of row i: masked keys get exactly 0
    float* si = s + size_t(i) * lp;
    fv mx = vsplat(-INFINITY);
    for (int j = 0; j < lp; j += VW) {
      const fv z = vload(si + j) * scale;
      vstore(si + j, z);
      mx = vload(keep + j) > 0.f ? (z > mx ? z : mx) : mx;
    }
    float m = -INFINITY;
    for (int t = 0; t < VW; ++t) m = mx[t] > m ? mx[t] : m;
    if (m == -INFINITY) {
      std::memset(si, 0, size_t(lp) * sizeof(float));
      continue;
    }
    fv sum = {};
    for (int j = 0; j < lp; j += VW) {
      const fv e = vload(keep + j) > 0.f ? vexp(vload(si + j) - m) : vsplat(0.f);
      vstore(si + j, e);
      sum += e;
    }
    const float inv = 1.f / hsum(sum);
    for (int j = 0; j < lp; j += VW) vstore(si + j, vload(si + j) * inv);
  }
  matmul_nn(s, lp, len, v, ld, len, dh, ctx, ldo);                               // P V (L, dh)
}

}  // namespace detail
}  // namespace portbench_wasm
#endif  // !__wasm__
