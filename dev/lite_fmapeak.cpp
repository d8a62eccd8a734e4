// Throw-away measurement for dev/NOTES-lite.md: this machine's FMA peak, 12 independent chains of
// VB-byte vectors (FMA latency x 2 pipes needs >= 8), register operands only, on 1..N threads. Built and run by
// dev/lite_peak.py: g++ -O3 -march=native -ffp-contract=fast -DVB=64 -pthread.
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>
#include <cstdlib>
typedef float fv __attribute__((vector_size(VB)));
static double run(long iters) {
  fv acc[12]; fv a, b;
  for (int i = 0; i < 12; ++i) for (int l = 0; l < VB/4; ++l) acc[i][l] = 1.f + i*1e-3f;
  for (int l = 0; l < VB/4; ++l) { a[l] = 0.999999f; b[l] = 1e-7f; }
  auto t0 = std::chrono::steady_clock::now();
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = acc[i] * a + b;
    asm volatile("" : "+x"(a), "+x"(b));   // both in registers: with b alone in memory GCC made
                                            // every FMA load it, and this Xeon then gave 145, not 220
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  float sink = 0; for (int i = 0; i < 12; ++i) sink += acc[i][0];
  if (sink == 42) puts("");
  return 2.0 * 12 * (VB/4) * iters / s / 1e9;
}
int main(int argc, char** argv) {
  int th = argc > 1 ? atoi(argv[1]) : 1; long iters = 200000000 / (VB/4);
  std::vector<double> r(th); std::vector<std::thread> ts;
  for (int t = 0; t < th; ++t) ts.emplace_back([&, t] { r[t] = run(iters); });
  for (auto& t : ts) t.join();
  double tot = 0; for (double x : r) tot += x;
  printf("VB=%d threads=%d GFLOP/s=%.1f\n", VB, th, tot);
}
