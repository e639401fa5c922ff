// Element math of EELU, shared by every kernel (the scalar CPU kernels, the AVX2 kernels in
// ops/cpu/eelu_kernel_avx2.cpp, the CUDA kernels in ops/cuda/eelu_kernel.cu): the
// counter-based noise generator, the normal transform and the two branches of the function.
//
// Note [EELU noise stream]
// k at logical element index i (row-major index of the element in the (N, C, ...) shape,
// whatever the memory layout) is defined block-wise, 32 elements per block:
//     block = i / 32, j = i % 32
//     counter = 8 * block + j % 8,   word = j / 8
//     (u0, u1, u2, u3) = Philox4x32-10(counter = (lo(counter), hi(counter), lo(offset),
//                                      hi(offset)), key = (lo(seed), hi(seed)))
//     Box-Muller on (u0, u1) gives the normals z0 (cos) and z1 (sin), on (u2, u3) z2 and z3
//     k = clamp(fma(sigma, z_word, 1), 0, 2)                     (float32 arithmetic)
// One Philox call thus gives the elements counter%8 + {0, 8, 16, 24} of its block: eight
// consecutive counters fill a block of 32 consecutive elements, one 8-lane vector per word,
// with no shuffling. k depends on nothing but (seed, offset, sigma, i): not on the thread
// count, the chunking, the layout, or which kernel computes it. That is what lets backward
// regenerate k instead of storing it, and makes results bitwise identical for any number
// of threads and any instruction set.
//
// Bitwise agreement between the scalar and the vector kernels holds because the transform
// uses only operations IEEE 754 rounds exactly (+, *, fma, sqrt, integer conversions, exact
// integer range reduction) in the same order in both: the logarithm and the sine/cosine are
// our own polynomials (below), not libm's, whose results differ between implementations.
// Never let the compiler contract a*b+c on its own in these files (-ffp-contract=off; nvcc:
// -fmad=false). On the GPU the same functions use the intrinsics that round exactly as the
// host does (__fmaf_rn, __fsqrt_rn, rintf), so the CUDA kernels give the CPU's bits too.
//
// The uniform feeding the logarithm is ((u >> 8) + 1) / 2^24 in (0, 1], so |z| <= 5.77:
// the normal is truncated at 5.77 standard deviations (probability 8e-9), which moves
// nothing measurable once k is clipped to [0, 2]. The angle is 2*pi*(u >> 8) / 2^24.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define EELU_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define EELU_HOST_DEVICE inline
#endif

namespace eelu::math {

struct Philox4 {
  uint32_t v[4];
};

// Philox constants (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;
constexpr int kPhiloxRounds = 10;

EELU_HOST_DEVICE void mulhilo32(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// Philox4x32 with 10 rounds, the generator behind curand's and PyTorch's CUDA Philox streams.
EELU_HOST_DEVICE Philox4 philox4x32_10(uint64_t counter_lo, uint64_t counter_hi, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < kPhiloxRounds; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo32(kPhiloxM0, c0, hi0, lo0);
    mulhilo32(kPhiloxM1, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0;
    const uint32_t n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

EELU_HOST_DEVICE float bits_to_float(uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(b);
#else
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
#endif
}
EELU_HOST_DEVICE uint32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
#endif
}

// a*b+c rounded once, sqrt rounded correctly, round-half-even: on the host and on the GPU.
EELU_HOST_DEVICE float fmaf_(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}
EELU_HOST_DEVICE float sqrtf_(float x) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(x);
#else
  return std::sqrt(x);
#endif
}
EELU_HOST_DEVICE float rintf_(float x) {
#if defined(__CUDA_ARCH__)
  return rintf(x);
#else
  return std::nearbyint(x);
#endif
}

// Coefficients shared with the vector kernels (Cephes' logf, sinf and cosf minimax
// polynomials; a degree-7 Taylor polynomial for expm1 on |r| <= ln2/2).
// The scalars are what the element functions use (CUDA device code may read namespace-scope
// constexpr scalars, not arrays); the arrays, for the vector kernels' loops, hold the same.
namespace coef {
constexpr float kLog0 = 7.0376836292E-2f, kLog1 = -1.1514610310E-1f, kLog2 = 1.1676998740E-1f,
                kLog3 = -1.2420140846E-1f, kLog4 = 1.4249322787E-1f, kLog5 = -1.6668057665E-1f,
                kLog6 = 2.0000714765E-1f, kLog7 = -2.4999993993E-1f, kLog8 = 3.3333331174E-1f;
constexpr float kLog[9] = {kLog0, kLog1, kLog2, kLog3, kLog4, kLog5, kLog6, kLog7, kLog8};
constexpr float kLn2Hi = 0.693359375f;
constexpr float kLn2Lo = -2.12194440e-4f;
constexpr float kSqrtHalf = 0.707106781186547524f;
constexpr float kSin0 = -1.9515295891E-4f, kSin1 = 8.3321608736E-3f, kSin2 = -1.6666654611E-1f;
constexpr float kCos0 = 2.443315711809948E-5f, kCos1 = -1.388731625493765E-3f,
                kCos2 = 4.166664568298827E-2f;
constexpr float kSin[3] = {kSin0, kSin1, kSin2};
constexpr float kCos[3] = {kCos0, kCos1, kCos2};
constexpr float kTwoPiOver2p24 = 3.74507028e-7f;  // 2*pi / 2^24
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kExpLn2Hi = 0.693145751953125f;  // ln2 split so that n * hi is exact
constexpr float kExpLn2Lo = 1.428606765330187e-06f;
constexpr float kExpm10 = 1.0f / 5040, kExpm11 = 1.0f / 720, kExpm12 = 1.0f / 120,
                kExpm13 = 1.0f / 24, kExpm14 = 1.0f / 6, kExpm15 = 0.5f;
constexpr float kExpm1[6] = {kExpm10, kExpm11, kExpm12, kExpm13, kExpm14, kExpm15};
constexpr float kExpMin = -88.0f;  // n = -127 below about -87.7: exp is 0, expm1 -1
}  // namespace coef

// log(((w >> 8) + 1) / 2^24) for a 32-bit word w: a value in [-16.64, 0].
EELU_HOST_DEVICE float log_unit(uint32_t w) {
  const float f = static_cast<float>((w >> 8) + 1u);  // exact: an integer in [1, 2^24]
  const uint32_t bits = float_to_bits(f);
  int32_t e = static_cast<int32_t>(bits >> 23) - 127 - 24;  // f = 2^(e+24) * m, m in [1, 2)
  float m = bits_to_float((bits & 0x007FFFFFu) | 0x3F800000u);
  if (m > 2.0f * coef::kSqrtHalf) {  // m in (sqrt 2, 2): use m / 2 in (sqrt 1/2, 1)
    m = m * 0.5f;
    e = e + 1;
  }
  const float x = m - 1.0f;
  const float fe = static_cast<float>(e);
  const float z = x * x;
  float p = coef::kLog0;
  p = fmaf_(p, x, coef::kLog1);
  p = fmaf_(p, x, coef::kLog2);
  p = fmaf_(p, x, coef::kLog3);
  p = fmaf_(p, x, coef::kLog4);
  p = fmaf_(p, x, coef::kLog5);
  p = fmaf_(p, x, coef::kLog6);
  p = fmaf_(p, x, coef::kLog7);
  p = fmaf_(p, x, coef::kLog8);
  float y = x * z * p;
  y = fmaf_(fe, coef::kLn2Lo, y);
  y = fmaf_(-0.5f, z, y);
  const float r = x + y;
  return fmaf_(fe, coef::kLn2Hi, r);
}

// cos and sin of 2*pi*(w >> 8) / 2^24, the quadrant found exactly in integers.
EELU_HOST_DEVICE void sincos_unit(uint32_t w, float& c, float& s) {
  const uint32_t n = (w >> 8) + (1u << 21);  // shifted by an eighth of a turn
  const uint32_t q = (n >> 22) & 3u;         // nearest quarter turn
  const int32_t r = static_cast<int32_t>(n & ((1u << 22) - 1u)) - (1 << 21);
  const float t = static_cast<float>(r) * coef::kTwoPiOver2p24;  // in [-pi/4, pi/4)
  const float z = t * t;
  float ps = fmaf_(coef::kSin0, z, coef::kSin1);
  ps = fmaf_(ps, z, coef::kSin2);
  const float sn = fmaf_(ps * z, t, t);
  float pc = fmaf_(coef::kCos0, z, coef::kCos1);
  pc = fmaf_(pc, z, coef::kCos2);
  const float cs = fmaf_(pc * z, z, fmaf_(-0.5f, z, 1.0f));
  // angle = t + q * pi/2
  const float c0 = (q & 1u) ? sn : cs;
  const float s0 = (q & 1u) ? cs : sn;
  c = ((q + 1u) & 2u) ? -c0 : c0;  // negative cosine in quadrants 1 and 2
  s = (q & 2u) ? -s0 : s0;         // negative sine in quadrants 2 and 3
}

EELU_HOST_DEVICE float clamp_k(float k) { return k < 0.0f ? 0.0f : (k > 2.0f ? 2.0f : k); }

// Two standard normals from two 32-bit words (Box-Muller), in float32.
EELU_HOST_DEVICE void box_muller(uint32_t a, uint32_t b, float& z_cos, float& z_sin) {
  const float l = log_unit(a);
  const float r = sqrtf_(-2.0f * l);
  float c, s;
  sincos_unit(b, c, s);
  z_cos = r * c;
  z_sin = r * s;
}

// The four k that Philox counter `counter` gives: those of logical indices
// 32 * (counter / 8) + counter % 8 + 8 * word, word = 0..3 (Note [EELU noise stream]).
EELU_HOST_DEVICE void noise_quad(uint64_t seed, uint64_t offset, float sigma, uint64_t counter,
                                 float k[4]) {
  const Philox4 r = philox4x32_10(counter, offset, seed);
  float z[4];
  box_muller(r.v[0], r.v[1], z[0], z[1]);
  box_muller(r.v[2], r.v[3], z[2], z[3]);
  for (int j = 0; j < 4; ++j) k[j] = clamp_k(fmaf_(sigma, z[j], 1.0f));
}

// The 32 k of block `block` (logical indices 32 * block .. 32 * block + 31), in order.
EELU_HOST_DEVICE void noise_block(uint64_t seed, uint64_t offset, float sigma, uint64_t block,
                                  float k[32]) {
  for (int lane = 0; lane < 8; ++lane) {
    float q[4];
    noise_quad(seed, offset, sigma, 8 * block + static_cast<uint64_t>(lane), q);
    for (int word = 0; word < 4; ++word) k[8 * word + lane] = q[word];
  }
}

// exp(t) - 1 and exp(t) for t <= 0 in float32, from one range reduction (t > 0 is clamped to
// 0: the kernels call them only on the negative branch): t = n ln2 + r, |r| <= ln2/2,
// expm1(t) = 2^n expm1(r) + (2^n - 1) and exp(t) = 2^n expm1(r) + 2^n, with expm1(r) from
// its Taylor polynomial. Each is accurate to a few ulp of itself; NaN stays NaN.
// Note [The gradient takes exp, not expm1 + 1]
// The forward needs expm1 (accurate near 0); the gradients need exp(beta x) itself. Taken as
// expm1 + 1 it keeps only the digits above 2^-24 (float): a relative error of 2e-5 at
// beta x = -8, 2.6% at -15, and exactly 0 from -17.3, where exp is still 4e-8. So every
// kernel takes both from here. t is clamped at kExpMin = -88; from about -87.7 on n is -127
// and 2^n is built as +0, so exp is 0 and expm1 -1; between -87.3 and -87.7 exp comes out
// subnormal, rounded once (fma).
EELU_HOST_DEVICE void expm1_exp_neg(float t, float& em1, float& e) {
  if (t != t) {
    em1 = e = t;
    return;
  }
  const float tc = t < coef::kExpMin ? coef::kExpMin : (t > 0.0f ? 0.0f : t);
  const float n = rintf_(tc * coef::kLog2e);
  float r = fmaf_(-n, coef::kExpLn2Hi, tc);
  r = fmaf_(-n, coef::kExpLn2Lo, r);
  float p = coef::kExpm10;
  p = fmaf_(p, r, coef::kExpm11);
  p = fmaf_(p, r, coef::kExpm12);
  p = fmaf_(p, r, coef::kExpm13);
  p = fmaf_(p, r, coef::kExpm14);
  p = fmaf_(p, r, coef::kExpm15);
  p = fmaf_(p * r, r, r);  // r + r^2 (1/2 + r/6 + ...)
  const float two_n = bits_to_float(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23);
  em1 = fmaf_(two_n, p, two_n - 1.0f);
  e = fmaf_(two_n, p, two_n);
}
EELU_HOST_DEVICE float expm1_neg(float t) {
  float em1, e;
  expm1_exp_neg(t, em1, e);
  return em1;
}

// expm1 in the arithmetic type: libm's in double, ours in float (the vector kernels' twin).
EELU_HOST_DEVICE double expm1_of(double t) {
#if defined(__CUDA_ARCH__)
  return ::expm1(t);
#else
  return std::expm1(t);
#endif
}
EELU_HOST_DEVICE float expm1_of(float t) { return expm1_neg(t); }

// expm1(t) and exp(t) in the arithmetic type, for the gradients (Note [The gradient takes
// exp, not expm1 + 1]): libm's in double, ours in float.
EELU_HOST_DEVICE void expm1_exp_of(double t, double& em1, double& e) {
#if defined(__CUDA_ARCH__)
  em1 = ::expm1(t);
  e = ::exp(t);
#else
  em1 = std::expm1(t);
  e = std::exp(t);
#endif
}
EELU_HOST_DEVICE void expm1_exp_of(float t, float& em1, float& e) { expm1_exp_neg(t, em1, e); }

// Forward value; T is the arithmetic type (float for float32 and bfloat16, double for
// float64). `x >= 0` is false for NaN, so NaN goes to the exponential branch and stays NaN.
EELU_HOST_DEVICE double forward(double x, double k, double alpha, double beta) {
  return x >= 0.0 ? k * x : alpha * expm1_of(beta * x);
}
EELU_HOST_DEVICE float forward(float x, float k, float alpha, float beta) {
  return x >= 0.0f ? k * x : alpha * expm1_neg(beta * x);
}

}  // namespace eelu::math
