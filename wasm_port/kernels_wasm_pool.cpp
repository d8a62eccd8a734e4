// wasm_port kernels, threaded wasm build (dist/minilm_mt.wasm, PB_WASM_THREADS=1): the pool behind
// set_threads / detail::threads / detail::parallel_for of kernels.h, and its C ABI for js/loader.mjs.
// emscripten 3.1.6 refuses -pthread with STANDALONE_WASM, so there are no pthreads here: the module
// imports one shared memory, and each worker (js/worker.mjs: a Node worker_thread or a Web Worker)
// instantiates the same module over it, sets its own stack (stackRestore to a stack pb_malloc'd by
// the main thread) and parks in pb_worker_run, never calling _initialize, malloc or anything else.
// The main thread publishes a job (function, context, count) and claims chunks from one atomic
// counter like the workers (as kernels_native.cpp's pool), so a worker the engine has not scheduled
// yet costs nothing; then it spins until the chunks a worker took are done (a browser's main thread may
// not block: memory.atomic.wait traps there; on Node's main thread a timed wait here never returned,
// dev/NOTES-wasm.md). Workers spin a little, then memory.atomic.wait.
// Parts split output rows, columns, heads or elements, never a sum: the vectors equal the
// single-threaded module's bits. Leaves out: nested parallelism (a part's parallel_for runs serially).
#if defined(__wasm__) && PB_WASM_THREADS
#include <atomic>
#include <cstdint>

#include "kernels.h"

namespace portbench_wasm {
namespace {

constexpr int kMaxThreads = 64;
constexpr int kSpin = 1 << 15;   // polls of the job number before a worker sleeps (tens of microseconds)
// Chunks per thread: a chunk a descheduled worker holds is what the main thread then spins for, so
// small ones (batch 32, 2 threads on a busy 2-core machine: best round 1.7x faster than with 4 per thread).
constexpr int kChunks = 16;

// In linear memory, so every instance (every thread) sees the one pool; all fields but the job's are
// atomics (wasm's are sequentially consistent: the job's plain fields are published by `gen`).
struct Pool {
  std::atomic<int> n{1};                  // threads taking part, the main thread included
  std::atomic<int> gen{0};                // job number; the address workers wait on
  std::atomic<uint64_t> claim{0};         // gen << 32 | chunks << 16 | next chunk
  std::atomic<int> done{0};               // chunks finished in this job
  std::atomic<int> busy{0};               // a job is running: a nested parallel_for runs serially
  std::atomic<int> stop{0};               // workers return from pb_worker_run
  std::atomic<int> alive{0};              // workers inside pb_worker_run
  void (*fn)(void*, int, int, int) = nullptr;
  void* ctx = nullptr;
  int total = 0;
};
Pool g_pool;

int* wait_addr(std::atomic<int>& a) { return reinterpret_cast<int*>(&a); }

void run_chunks(Pool& p, uint32_t g, int self) {
  for (;;) {
    uint64_t c = p.claim.load();
    const int chunks = int(c >> 16 & 0xFFFF), k = int(c & 0xFFFF);
    if (uint32_t(c >> 32) != g || k >= chunks) return;   // another job, or every chunk taken
    if (!p.claim.compare_exchange_weak(c, c + 1)) continue;
    const int b = int(int64_t(p.total) * k / chunks), e = int(int64_t(p.total) * (k + 1) / chunks);
    if (b < e) p.fn(p.ctx, self, b, e);
    p.done.fetch_add(1);
  }
}

}  // namespace

int set_threads(int n) {
  Pool& p = g_pool;
  n = n < 1 ? 1 : n > kMaxThreads ? kMaxThreads : n;
  const int workers = p.alive.load();
  p.n.store(n <= workers + 1 ? n : workers + 1);   // only workers already parked can take part
  return p.n.load();
}

namespace detail {

int threads() { return g_pool.n.load(); }

void parallel_for(int n, void (*fn)(void*, int, int, int), void* ctx) {
  if (n <= 0) return;
  Pool& p = g_pool;
  int idle = 0;
  if (p.n.load() == 1 || n == 1 || !p.busy.compare_exchange_strong(idle, 1)) {   // one thread, or nested
    fn(ctx, 0, 0, n);
    return;
  }
  const int nt = p.n.load(), chunks = n < kChunks * nt ? n : kChunks * nt;   // <= 1024: fits the claim word's 16 bits
  p.fn = fn, p.ctx = ctx, p.total = n;
  p.done.store(0);
  const uint32_t g = uint32_t(p.gen.load()) + 1;
  p.claim.store(uint64_t(g) << 32 | uint64_t(chunks) << 16);
  p.gen.store(int(g));
  __builtin_wasm_memory_atomic_notify(wait_addr(p.gen), uint32_t(nt - 1));
  run_chunks(p, g, 0);
  while (p.done.load() != chunks) {}   // the chunks workers took
  p.busy.store(0);
}

}  // namespace detail
}  // namespace portbench_wasm

using namespace portbench_wasm;

extern "C" {

// A worker's loop (its instance's stack already set): claims chunks of each job as it is published,
// with `self` (1..) as its part index, until pb_set_threads(0) stops the pool.
void pb_worker_run(int self) {
  auto& p = g_pool;
  p.alive.fetch_add(1);
  int seen = p.gen.load();
  while (!p.stop.load()) {
    int g = seen;
    for (int i = 0; i < kSpin && (g = p.gen.load()) == seen && !p.stop.load(); ++i) {}
    while (g == seen && !p.stop.load()) {
      __builtin_wasm_memory_atomic_wait32(wait_addr(p.gen), seen, 50'000'000);   // 50 ms, then look again
      g = p.gen.load();
    }
    if (p.stop.load()) break;
    seen = g;
    if (self < p.n.load()) run_chunks(p, uint32_t(g), self);   // its scratch is part `self`
  }
  p.alive.fetch_sub(1);
}

// Threads the kernels use (1..64; more than 1 + the workers parked in pb_worker_run are not used);
// 0 stops the workers (they return from pb_worker_run; the caller then ends them). Returns the count.
int pb_set_threads(int n) {
  auto& p = g_pool;
  if (n > 0) {
    p.stop.store(0);
    return set_threads(n);
  }
  p.n.store(1);
  p.stop.store(1);
  __builtin_wasm_memory_atomic_notify(wait_addr(p.gen), 0xFFFFFFFFu);
  return 1;
}

// Workers parked in pb_worker_run now.
int pb_workers_alive() { return g_pool.alive.load(); }

}  // extern "C"
#endif  // __wasm__ && PB_WASM_THREADS
