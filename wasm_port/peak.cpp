// wasm_port peak probe: this machine's multiply-add peak at the vector width the kernels are built
// for, the denominator of the bench's peak_fraction (bench/latency/peak.py). Independent chains of
// acc = acc * a + b over vectors of that width: natively (minilm-embed-lite, -march of the kernels)
// the compiler fuses each into one FMA instruction (-ffp-contract=fast); in WebAssembly SIMD128 each
// is f32x4.mul then f32x4.add, the most minilm.wasm's kernels can issue, and in the relaxed-SIMD builds
// one f32x4.relaxed_madd, as theirs. On `threads` threads at once (their sum): natively std::threads,
// in wasm the kernels' pool (minilm_mt.wasm's workers; minilm.wasm has one), timed around each burst.
// Leaves out: memory bandwidth (the kernels are compute bound at the model's shapes), AMX.
#include "peak.h"

#include "kernels.h"

#include <algorithm>
#include <chrono>
#if !defined(__wasm__)
#include <atomic>
#include <thread>
#include <vector>
#endif

namespace portbench_wasm {
namespace {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;   // SSE, NEON, wasm SIMD128
#endif
// Enough chains in flight to cover two FMA pipes of latency 4, and no more than the registers hold with
// the two constants: AVX-512 has 32; AVX2, SSE and V8's wasm on x86-64 16, where 16 chains spilled and
// the wasm probe read 36 GFLOP/s a thread against the kernels' 40 (12: 59, dev/NOTES-lite.md).
#if defined(__AVX512F__) || defined(__aarch64__)
constexpr int kChains = 16;
#else
constexpr int kChains = 12;
#endif
typedef float vec __attribute__((vector_size(kLanes * 4)));

// Seconds for `iters` rounds of kChains multiply-adds; the result is kept so nothing is optimised away.
__attribute__((noinline)) double chains(long iters, float* sink) {   // a call per burst: a wasm engine swaps in its optimised code between calls
  vec acc[kChains], a = vec{} + 0.999999f, b = vec{} + 1e-7f;
  for (int c = 0; c < kChains; ++c) acc[c] = vec{} + float(c + 1);
  const auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 16   // kChains at most
#if PB_WASM_RELAXED   // minilm_relaxed*.wasm: f32x4.relaxed_madd, as its kernels (kernels.cpp)
    for (int c = 0; c < kChains; ++c) acc[c] = __builtin_wasm_fma_f32x4(acc[c], a, b);
#else
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * a + b;
#endif
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  vec sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum += acc[c];
  *sink = sum[0];
  return s;
}

}  // namespace

int peak_lanes() { return kLanes; }

double fma_peak_gflops(int threads, int ms) {
  const long iters = 1L << 21;   // a burst: ~5 ms natively at AVX-512 width (~25 ms in wasm), long beside a thread's start
  const double flop = 2.0 * kLanes * kChains * double(iters);
  float sink = 0;
  double best = 0;
  using clock = std::chrono::steady_clock;
  const auto since = [](clock::time_point t) { return std::chrono::duration<double, std::milli>(clock::now() - t).count(); };
  const auto start = clock::now();
  auto better = start;
  // Best of repeated bursts, until none has improved on it for `ms` milliseconds (at most 20 x ms): the
  // machine's pace, not a stall's, and in a wasm engine the optimised code's, not its first tier's.
  do {
#if defined(__wasm__)
    // Every part's flops over the wall of the whole burst: a part a worker was late for counts as serial.
    threads = threads < 1 ? 1 : threads > detail::threads() ? detail::threads() : threads;
    float sinks[64] = {};
    const auto t0 = clock::now();
    detail::parallel_for(threads, [&](int, int b, int e) {
      for (int t = b; t < e; ++t) chains(iters, &sinks[t % 64]);
    });
    const double now = threads * flop / std::chrono::duration<double>(clock::now() - t0).count() / 1e9;
    sink += sinks[0];
#else
    // Every thread's flops over the wall from their common start to the last one's end: threads that
    // cannot run at once (two SMT siblings of one FMA unit) then show it, as the kernels would see it.
    if (threads < 1) threads = 1;
    std::vector<float> sinks(threads);
    std::vector<std::thread> pool;
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    for (int t = 1; t < threads; ++t)
      pool.emplace_back([&, t] { ready++; while (!go.load()) {} chains(iters, &sinks[t]); });
    while (ready.load() < threads - 1) {}
    const auto t0 = clock::now();
    go = true;
    chains(iters, &sinks[0]);
    for (auto& th : pool) th.join();
    const double now = threads * flop / std::chrono::duration<double>(clock::now() - t0).count() / 1e9;
#endif
    if (now > best * 1.01) better = clock::now();
    best = std::max(best, now);
  } while (since(better) < ms && since(start) < 20.0 * ms);
  static volatile float kept;   // the chains' result, so the compiler cannot drop them
  kept = sink;
  return best;
}

}  // namespace portbench_wasm
