// Throw-away measurement for dev/NOTES-lite.md (issue 28): the native GEMM (wasm_port/kernels_gemm.cpp)
// alone on the model's shapes, against this machine's FMA peak measured in the same process, in
// alternation (a busy machine slows both alike): best of R repetitions of each (1 thread: the
// thread's CPU time, so the OS's time slices for other processes are left out; else wall time),
// GFLOP/s and the fraction of the peak. COLD=1: 64 MB written before each repetition. Also the attention stage alone (kernels_attention.cpp) on `batch`-like rows.
// Build: g++ -std=c++17 -O3 -march=native -ffp-contract=fast -pthread -Iwasm_port dev/lite_gemm_bench.cpp
//   wasm_port/kernels.cpp wasm_port/kernels_native.cpp wasm_port/kernels_gemm.cpp
//   wasm_port/kernels_attention.cpp -o build/k/gemm_bench
// Usage: build/k/gemm_bench [threads] [reps] [only: a shape's index 0..6, or "att"]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "kernels.h"
#include "kernels_simd.h"

using namespace portbench_wasm;
using clk = std::chrono::steady_clock;
static double tcpu() {   // this thread's CPU time, s: a busy machine's preemptions left out
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static double tcpu();
static double fma_peak_once() {   // 12 chains of VW-wide FMAs, as dev/lite_fmapeak.cpp, one thread (CPU time)
  using simd::fv;
  fv acc[12], a = simd::vsplat(0.999999f), b = simd::vsplat(1e-7f);
  for (int i = 0; i < 12; ++i) acc[i] = simd::vsplat(1.f + i * 1e-3f);
  const long iters = 4000000;
  const double t0 = tcpu();
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = acc[i] * a + b;
    asm volatile("" : "+x"(a), "+x"(b));
  }
  double s = tcpu() - t0;
  float sink = 0;
  for (int i = 0; i < 12; ++i) sink += acc[i][0];
  if (sink == 42) puts("");
  return 2.0 * 12 * simd::VW * iters / s / 1e9;
}

int main(int argc, char** argv) {
  const int th = argc > 1 ? atoi(argv[1]) : 1, reps = argc > 2 ? atoi(argv[2]) : 15;
  const char* only = argc > 3 ? argv[3] : nullptr;
  int index = -1;
  set_threads(th);
  struct Shape { int m, k, n; const char* what; };
  const Shape shapes[] = {{2935, 384, 384, "batch QKV/AO"}, {256, 384, 1536, "FFN1 chunk"}, {256, 1536, 384, "FFN2 chunk"},
                          {2048, 384, 384, "long QKV/AO"}, {16, 384, 384, "single QKV/AO"}, {16, 384, 1536, "single FFN1"},
                          {16, 1536, 384, "single FFN2"}, {2935, 384, 1152, "batch QKV fused"}};
  double peak = 0;
  for (const Shape& s : shapes) {
    if (++index, only && (only[0] == 'a' || atoi(only) != index)) continue;
    std::vector<float> a(size_t(s.m) * s.k), w(size_t(s.n) * s.k), bias(s.n), c(size_t(s.m) * s.n);
    for (size_t i = 0; i < a.size(); ++i) a[i] = float(i % 97) * 0.01f - 0.3f;
    for (size_t i = 0; i < w.size(); ++i) w[i] = float(i % 89) * 0.01f - 0.4f;
    Model m;
    Config cfg;
    cfg.hidden = s.k, cfg.heads = 1, cfg.layers = 1, cfg.intermediate = s.n, cfg.vocab = 1, cfg.max_pos = 1, cfg.type_vocab = 1;
    m.cfg = cfg;
    LayerW lw;
    m.layers = &lw;
    lw.q = Lin{w.data(), s.n, s.k};
    if (pack_weights(m)) return 1;
    m.layers = nullptr;
    const int inner = s.m < 64 ? 50 : 1;
    double best = 1e30, bestp = 0;
    static std::vector<float> flush(size_t(64) << 20 >> 2);   // cold: 64 MB written between repetitions
    for (int r = 0; r < reps; ++r) {
      bestp = std::max(bestp, fma_peak_once());
      if (getenv("COLD"))
        for (size_t i = 0; i < flush.size(); i += 16) flush[i] += 1.f;
      const double t0 = th == 1 ? tcpu() : 0;
      const auto w0 = clk::now();
      for (int i = 0; i < inner; ++i) matmul(a.data(), s.k, s.m, lw.q, bias.data(), c.data(), s.n);
      const double t = th == 1 ? tcpu() - t0 : std::chrono::duration<double>(clk::now() - w0).count();
      best = std::min(best, t / inner);
    }
    peak = std::max(peak, bestp);
    const double g = 2.0 * s.m * s.k * s.n / best / 1e9;
    printf("%-14s %5d x %4d x %4d  %7.3f ms  %6.1f GFLOP/s  %5.1f%% of the 1-thread FMA peak %.1f\n", s.what, s.m, s.k, s.n,
           best * 1e3, g, 100 * g / bestp, bestp);
  }
  // Attention alone: 32 rows of 48..128 tokens (batch-like), 12 heads of 32.
  if (!only || only[0] == 'a') {
    if (peak == 0)
      for (int rep = 0; rep < 5; ++rep) peak = std::max(peak, fma_peak_once());
    const int d = 384, heads = 12, n = 32;
    std::vector<int> lens(n), offs(n);
    int tokens = 0, mx = 0;
    for (int i = 0; i < n; ++i) { lens[i] = 48 + (i * 37) % 81; offs[i] = tokens; tokens += lens[i]; mx = std::max(mx, lens[i]); }
    std::vector<int32_t> mask(size_t(mx), 1);
    std::vector<const int32_t*> masks(n, mask.data());
    std::vector<float> qkv(size_t(tokens) * 3 * d), ctx(size_t(tokens) * d);
    for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = float(i % 101) * 0.02f - 1.f;
    std::vector<float> scratch(size_t(th) * detail::attention_scratch_floats(mx, d / heads));
    Rows r{masks.data(), masks.data(), offs.data(), lens.data(), n, tokens, mx};
    double flop = 0;
    for (int l : lens) flop += 4.0 * l * l * d;
    double best = 1e30;
    for (int rep = 0; rep < reps; ++rep) {
      const double t0 = th == 1 ? tcpu() : 0;
      const auto w0 = clk::now();
      detail::attention_heads(qkv.data(), r, d, heads, scratch.data(), ctx.data());
      best = std::min(best, th == 1 ? tcpu() - t0 : std::chrono::duration<double>(clk::now() - w0).count());
    }
    printf("attention      %d rows, %d tokens: %7.3f ms  %6.1f GFLOP/s  %5.1f%% of %.1f\n", n, tokens, best * 1e3,
           flop / best / 1e9, 100 * flop / best / 1e9 / peak, peak);
  }
}
