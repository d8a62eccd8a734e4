// wasm_port kernels, native build only: the vector type and the vector maths the native files
// (kernels_native.cpp, kernels_gemm.cpp, kernels_attention.cpp) share. GCC/Clang vector extensions
// as wide as the -march the build targets: 16 floats with avx512f, 8 with avx, else 4 (SSE2's, no
// FMA: -ffp-contract=fast contracts a * b + c to one FMA only where the target has one).
// exp is Cephes expf (2^n * p(r)), erf Abramowitz-Stegun 7.1.26 (|err| < 1.5e-7, as ATen's own
// vectorised erf). The tanh GELU forms need no tanh of their own: 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)),
// as accurate as exp, also where tanh(u) nears -1. Leaves out: fp16/bf16 vectors, wasm (kernels.cpp has its own f4).
#pragma once
#if !defined(__wasm__)
#include <cstdint>
#include <cstring>

namespace portbench_wasm {
namespace simd {

#if defined(__AVX512F__)
constexpr int VW = 16;
#elif defined(__AVX__)
constexpr int VW = 8;
#else
constexpr int VW = 4;
#endif
typedef float fv __attribute__((vector_size(VW * 4)));
typedef int32_t iv __attribute__((vector_size(VW * 4)));

inline fv vload(const float* p) { fv v; std::memcpy(&v, p, sizeof v); return v; }
inline void vstore(float* p, fv v) { std::memcpy(p, &v, sizeof v); }
inline fv vsplat(float x) {
  fv v;
  for (int i = 0; i < VW; ++i) v[i] = x;
  return v;
}
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
inline float hmax(fv v) {
  float m = v[0];
  for (int i = 1; i < VW; ++i) m = v[i] > m ? v[i] : m;
  return m;
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

inline int round_up(int x, int to) { return (x + to - 1) / to * to; }

}  // namespace simd
}  // namespace portbench_wasm
#endif  // !__wasm__
