// Throw-away measurement for dev/NOTES-lite.md (issue 28): minilm-embed-lite's forward alone
// (backend_lite.cpp + the kernels, no serve loop) on ids written by dev/lite_peak2.py --dump, timed
// two ways per call: wall clock and the process's CPU time (getrusage). On a machine others share,
// a 1-thread call's CPU time leaves out the time slices the OS gave to other processes (not what
// the SMT sibling takes from the core); a 2-thread call's is the sum over both threads.
// Build: g++ -std=c++17 -O3 -march=native -ffp-contract=fast -pthread -Icpp_port -Iwasm_port
//   dev/lite_forward_bench.cpp cpp_port/backend_lite.cpp cpp_port/model_spec.cpp cpp_port/safetensors.cpp
//   cpp_port/tokenizer.cpp wasm_port/kernels*.cpp [wasm_port/peak.cpp] -o build/k/fwd_bench
// Before each call, ~20 ms of the FMA peak probe (kernels_simd.h's width, 12 register-only chains,
// one thread): the call's GFLOP/s (GFLOP given on the command line) over the peak measured next to
// it, so a busy SMT sibling slows both sides of the ratio alike.
// Usage: build/k/fwd_bench MODEL_DIR IDS_FILE THREADS REPS [GFLOP]  (IDS_FILE: int32 n, t, ids (n*t), mask (n*t))
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "embed_backend.h"
#include "kernels_simd.h"

static double fma_peak() {   // GFLOP/s, best of 20 bursts of ~1 ms
  using namespace portbench_wasm::simd;
  double best = 0;
  for (int burst = 0; burst < 20; ++burst) {
    fv acc[12], a = vsplat(0.999999f), b = vsplat(1e-7f);
    for (int i = 0; i < 12; ++i) acc[i] = vsplat(1.f + i * 1e-3f);
    const long iters = 200000 / VW;
    const auto t0 = std::chrono::steady_clock::now();
    for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 12
      for (int i = 0; i < 12; ++i) acc[i] = acc[i] * a + b;
      asm volatile("" : "+x"(a), "+x"(b));
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    float sink = 0;
    for (int i = 0; i < 12; ++i) sink += acc[i][0];
    if (sink == 42) std::puts("");
    best = std::max(best, 2.0 * 12 * VW * iters / s / 1e9);
  }
  return best;
}

static double cpu_s() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

int main(int argc, char** argv) {
  if (argc < 5) return 2;
  FILE* f = std::fopen(argv[2], "rb");
  int32_t nt[2];
  if (!f || std::fread(nt, 4, 2, f) != 2) return 2;
  std::vector<int32_t> ids(size_t(nt[0]) * nt[1]), mask(ids.size());
  if (std::fread(ids.data(), 4, ids.size(), f) != ids.size() || std::fread(mask.data(), 4, mask.size(), f) != mask.size())
    return 2;
  std::fclose(f);
  auto be = portbench::load_backend(portbench::read_spec(argv[1]), "cpu", atoi(argv[3]));
  std::vector<float> out(size_t(nt[0]) * be->dim());
  const int reps = atoi(argv[4]);
  const double gflop = argc > 5 ? atof(argv[5]) : 0;
  std::vector<double> wall, cpu, frac;
  be->forward(ids.data(), mask.data(), nt[0], nt[1], 0, out.data());
  for (int r = 0; r < reps; ++r) {
    const double peak = fma_peak();
    const double c0 = cpu_s();
    const auto t0 = std::chrono::steady_clock::now();
    be->forward(ids.data(), mask.data(), nt[0], nt[1], 0, out.data());
    wall.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    cpu.push_back((cpu_s() - c0) * 1e3);
    frac.push_back(gflop / wall.back() * 1e3 / peak);
  }
  std::sort(frac.begin(), frac.end());
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  std::printf("wall min %.2f med %.2f ms  cpu min %.2f med %.2f ms  of the peak beside it: med %.3f max %.3f\n", wall[0],
              wall[reps / 2], cpu[0], cpu[reps / 2], frac[reps / 2], frac[reps - 1]);
}
