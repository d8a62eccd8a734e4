// wasm_port peak probe (peak.cpp): the multiply-add peak at the kernels' vector width, for the
// bench's peak_fraction. Leaves out: memory bandwidth.
#pragma once

namespace portbench_wasm {
// GFLOP/s of independent multiply-add chains on `threads` threads at once (their sum; wasm: at most
// the kernels' threads, detail::threads()), the best burst over about `ms` milliseconds.
double fma_peak_gflops(int threads, int ms);
// Floats per vector the probe (and the kernels) use: 16 AVX-512, 8 AVX/AVX2, 4 SSE or wasm SIMD128.
int peak_lanes();
}  // namespace portbench_wasm
