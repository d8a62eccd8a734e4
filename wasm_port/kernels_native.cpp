// wasm_port kernels, native build (minilm-embed-lite, the host-side ctypes test): the primitives
// of kernels.h for a CPU, behind the same names as the wasm ones in kernels.cpp. This file: the
// thread pool and the elementwise stages; the GEMM is kernels_gemm.cpp, attention
// kernels_attention.cpp, the vector type and maths kernels_simd.h.
// - a thread pool (pthreads: a refused thread leaves fewer, never an abort; chunks claimed from an
//   atomic counter, so a descheduled worker never stalls the caller): GEMM tiles, (row, head, query
//   tile) triples of attention and rows of the elementwise stages are its parts.
// - the FFN activations with the vector erf and exp of kernels_simd.h (erf GELU; the tanh forms as
//   x / (1 + exp(-2u)); ReLU); LayerNorm with float vector sums.
// Leaves out: fp16 math, NUMA, pinning threads to cores.
#if !defined(__wasm__)
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>

#include "kernels.h"
#include "kernels_simd.h"

namespace portbench_wasm {
namespace {

using namespace simd;

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

// f(fv) VW lanes at a time over x, in chunks split over the pool (a scalar tail through the same f).
template <class F>
static void elementwise(float* x, size_t n, F f) {
  constexpr size_t kChunk = 4096;
  auto chunk_fn = [&](int, int c0, int c1) {
    const size_t e = size_t(c1) * kChunk < n ? size_t(c1) * kChunk : n;
    size_t i = size_t(c0) * kChunk;
    for (; i + VW <= e; i += VW) vstore(x + i, f(vload(x + i)));
    for (; i < e; ++i) x[i] = f(vsplat(x[i]))[0];
  };
  if (n < 4 * kChunk) chunk_fn(0, 0, int((n + kChunk - 1) / kChunk));   // small: not worth waking the pool
  else parallel_for(int((n + kChunk - 1) / kChunk), chunk_fn);
}

void gelu(float* x, size_t n) {
  elementwise(x, n, [](fv v) { return 0.5f * v * (1.f + verf(v * 0.70710678118654752f)); });
}

// 0.5 v (1 + tanh(u)) = v / (1 + exp(-2u)): the same function, no cancellation where tanh(u) nears -1.
void gelu_tanh(float* x, size_t n, bool fast) {
  if (fast)
    elementwise(x, n, [](fv v) { return v / (1.f + vexp(-2.f * (v * 0.7978845608f * (1.f + 0.044715f * v * v)))); });
  else
    elementwise(x, n, [](fv v) { return v / (1.f + vexp(-2.f * (0.7978845608028654f * (v + 0.044715f * v * v * v)))); });
}

void relu(float* x, size_t n) {
  elementwise(x, n, [](fv v) { return v > 0.f ? v : fv{}; });
}

}  // namespace detail
}  // namespace portbench_wasm
#endif  // !__wasm__
