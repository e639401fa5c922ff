// The AVX2+FMA spans of the EELU kernels (Note [CPU kernel structure] in eelu_spans.h).
// Compiled with -mavx2 -mfma -ffp-contract=off and CPU_CAPABILITY=AVX2, and called only
// after a run-time check that the CPU has both. Every function here is the lane-wise twin
// of the scalar code in ops/eelu_math.h and eelu_kernel.cpp: same operations, same order,
// so the results are bitwise the same (tested by forcing each implementation).
//
// Nothing here calls an inline function of another header that the rest of the library
// also uses (c10::BFloat16 conversions, for one, are written out on raw bits): an inline
// function compiled here with AVX2 could otherwise be the copy the linker keeps for every
// caller, and break the portable path on a CPU without AVX2.
#include "ops/cpu/eelu_spans.h"

#if !defined(CPU_CAPABILITY_AVX2)
#error "eelu_kernel_avx2.cpp must be compiled with CPU_CAPABILITY_AVX2"
#endif

#include <ATen/cpu/vec/vec.h>
#include <immintrin.h>

#include "ops/eelu_math.h"

namespace eelu::cpu {
namespace {

using Vec = at::vec::Vectorized<float>;
constexpr int kLanes = 8;
static_assert(Vec::size() == kLanes, "AVX2 float vectors have 8 lanes");

inline __m256i splat(uint32_t v) { return _mm256_set1_epi32(static_cast<int>(v)); }
inline Vec splat(float v) { return Vec(v); }

// ---- Philox4x32-10 on eight counters at once (structure of arrays) ----------------------

// hi and lo of the 32x32 -> 64-bit products a[i] * m, lane by lane.
inline void mulhilo(__m256i a, __m256i m, __m256i& hi, __m256i& lo) {
  const __m256i even = _mm256_mul_epu32(a, m);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

struct PhiloxKeys {
  __m256i k0[math::kPhiloxRounds], k1[math::kPhiloxRounds];
  __m256i c2, c3;  // the offset half of the counter, the same for every lane
  Vec sigma;
  explicit PhiloxKeys(const NoiseKey& key) : sigma(key.sigma) {
    uint32_t a = static_cast<uint32_t>(key.seed), b = static_cast<uint32_t>(key.seed >> 32);
    for (int r = 0; r < math::kPhiloxRounds; ++r) {
      k0[r] = splat(a);
      k1[r] = splat(b);
      a += math::kPhiloxW0;
      b += math::kPhiloxW1;
    }
    c2 = splat(static_cast<uint32_t>(key.offset));
    c3 = splat(static_cast<uint32_t>(key.offset >> 32));
  }
};

// Philox of counters 8*block + lane, lane = 0..7, for kBlocks consecutive blocks at once:
// out[4*j + w] holds word w of block `block + j`. The ten rounds are a chain of dependent
// multiplies; running independent blocks side by side gives the core work to overlap.
template <int kBlocks>
inline void philox8(const PhiloxKeys& K, uint64_t block, __m256i out[4 * kBlocks]) {
  __m256i c0[kBlocks], c1[kBlocks], c2[kBlocks], c3[kBlocks];
  for (int j = 0; j < kBlocks; ++j) {
    const uint64_t first = 8 * (block + j);  // a multiple of 8: the low word never wraps
    c0[j] = _mm256_add_epi32(splat(static_cast<uint32_t>(first)),
                             _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    c1[j] = splat(static_cast<uint32_t>(first >> 32));
    c2[j] = K.c2;
    c3[j] = K.c3;
  }
  const __m256i m0 = splat(math::kPhiloxM0), m1 = splat(math::kPhiloxM1);
  for (int r = 0; r < math::kPhiloxRounds; ++r) {
    for (int j = 0; j < kBlocks; ++j) {
      __m256i hi0, lo0, hi1, lo1;
      mulhilo(c0[j], m0, hi0, lo0);
      mulhilo(c2[j], m1, hi1, lo1);
      c0[j] = _mm256_xor_si256(_mm256_xor_si256(hi1, c1[j]), K.k0[r]);
      c2[j] = _mm256_xor_si256(_mm256_xor_si256(hi0, c3[j]), K.k1[r]);
      c1[j] = lo1;
      c3[j] = lo0;
    }
  }
  for (int j = 0; j < kBlocks; ++j) {
    out[4 * j] = c0[j];
    out[4 * j + 1] = c1[j];
    out[4 * j + 2] = c2[j];
    out[4 * j + 3] = c3[j];
  }
}

// ---- the normal transform: twins of math::log_unit and math::sincos_unit ------------------

inline Vec vfma(const Vec& a, const Vec& b, const Vec& c) { return _mm256_fmadd_ps(a, b, c); }

inline Vec log_unit(__m256i w) {
  using namespace math::coef;
  const __m256i wi = _mm256_add_epi32(_mm256_srli_epi32(w, 8), splat(1u));
  const __m256 f = _mm256_cvtepi32_ps(wi);  // exact: at most 2^24
  const __m256i bits = _mm256_castps_si256(f);
  __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(bits, 23), splat(127u + 24u));
  Vec m = _mm256_castsi256_ps(
      _mm256_or_si256(_mm256_and_si256(bits, splat(0x007FFFFFu)), splat(0x3F800000u)));
  const __m256 big = _mm256_cmp_ps(m, splat(2.0f * kSqrtHalf), _CMP_GT_OQ);
  m = _mm256_blendv_ps(m, m * splat(0.5f), big);
  e = _mm256_sub_epi32(e, _mm256_castps_si256(big));  // + 1 where big (the mask is -1)
  const Vec x = m - splat(1.0f);
  const Vec fe = _mm256_cvtepi32_ps(e);
  const Vec z = x * x;
  Vec p = splat(kLog[0]);
  for (int i = 1; i < 9; ++i) p = vfma(p, x, splat(kLog[i]));
  Vec y = x * z * p;
  y = vfma(fe, splat(kLn2Lo), y);
  y = vfma(splat(-0.5f), z, y);
  const Vec r = x + y;
  return vfma(fe, splat(kLn2Hi), r);
}

inline void sincos_unit(__m256i w, Vec& c, Vec& s) {
  using namespace math::coef;
  const __m256i n = _mm256_add_epi32(_mm256_srli_epi32(w, 8), splat(1u << 21));
  const __m256i q = _mm256_and_si256(_mm256_srli_epi32(n, 22), splat(3u));
  const __m256i r = _mm256_sub_epi32(_mm256_and_si256(n, splat((1u << 22) - 1u)), splat(1u << 21));
  const Vec t = Vec(_mm256_cvtepi32_ps(r)) * splat(kTwoPiOver2p24);
  const Vec z = t * t;
  Vec ps = vfma(splat(kSin[0]), z, splat(kSin[1]));
  ps = vfma(ps, z, splat(kSin[2]));
  const Vec sn = vfma(ps * z, t, t);
  Vec pc = vfma(splat(kCos[0]), z, splat(kCos[1]));
  pc = vfma(pc, z, splat(kCos[2]));
  const Vec cs = vfma(pc * z, z, vfma(splat(-0.5f), z, splat(1.0f)));
  // blendv looks at the top bit only: q << 31 selects where q is odd; the signs are moved
  // into bit 31 by shifts.
  const __m256 odd = _mm256_castsi256_ps(_mm256_slli_epi32(q, 31));
  const __m256 c0 = _mm256_blendv_ps(cs, sn, odd);
  const __m256 s0 = _mm256_blendv_ps(sn, cs, odd);
  const __m256i two = splat(2u);
  const __m256i neg_c =
      _mm256_slli_epi32(_mm256_and_si256(_mm256_add_epi32(q, splat(1u)), two), 30);
  const __m256i neg_s = _mm256_slli_epi32(_mm256_and_si256(q, two), 30);
  c = _mm256_xor_ps(c0, _mm256_castsi256_ps(neg_c));
  s = _mm256_xor_ps(s0, _mm256_castsi256_ps(neg_s));
}

inline Vec clamp_k(const Vec& z, const Vec& sigma) {
  const Vec k = vfma(sigma, z, splat(1.0f));
  return _mm256_min_ps(_mm256_max_ps(k, splat(0.0f)), splat(2.0f));
}

// The k of kBlocks consecutive blocks: out[4*j + w] holds logical indices
// 32*(block + j) + 8*w + lane.
template <int kBlocks>
inline void noise_blocks(const PhiloxKeys& K, uint64_t block, Vec out[4 * kBlocks]) {
  __m256i u[4 * kBlocks];
  philox8<kBlocks>(K, block, u);
  for (int pair = 0; pair < 2 * kBlocks; ++pair) {
    const Vec l = log_unit(u[2 * pair]);
    const Vec r = Vec(splat(-2.0f) * l).sqrt();
    Vec c, s;
    sincos_unit(u[2 * pair + 1], c, s);
    out[2 * pair] = clamp_k(r * c, K.sigma);
    out[2 * pair + 1] = clamp_k(r * s, K.sigma);
  }
}

void noise_span(const NoiseKey& key, int64_t l0, int64_t n, float* out) {
  const PhiloxKeys K(key);
  int64_t l = l0;
  const int64_t end = l0 + n;
  while (l < end) {
    const uint64_t block = static_cast<uint64_t>(l) / 32;
    const int64_t first = static_cast<int64_t>(block * 32);
    if (l == first && end - l >= 64) {  // two whole blocks
      Vec k[8];
      noise_blocks<2>(K, block, k);
      for (int w = 0; w < 8; ++w) k[w].store(out + (l - l0) + 8 * w);
      l += 64;
      continue;
    }
    Vec k[4];
    noise_blocks<1>(K, block, k);
    if (l == first && end - l >= 32) {
      for (int w = 0; w < 4; ++w) k[w].store(out + (l - l0) + 8 * w);
      l += 32;
    } else {
      alignas(32) float tmp[32];
      for (int w = 0; w < 4; ++w) k[w].store(tmp + 8 * w);
      const int64_t stop = std::min<int64_t>(end, first + 32);
      for (; l < stop; ++l) out[l - l0] = tmp[l - first];
    }
  }
}

// ---- element math: twins of math::expm1_exp_neg and the scalar spans -----------------------

inline void expm1_exp_neg(const Vec& t, Vec& em1, Vec& e) {
  using namespace math::coef;
  Vec tc = _mm256_max_ps(t, splat(kExpMin));  // max_ps(a, b) = a > b ? a : b
  tc = _mm256_min_ps(tc, splat(0.0f));        // min_ps(a, b) = a < b ? a : b
  const Vec n = _mm256_round_ps(tc * splat(kLog2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const Vec neg_n = n.neg();
  Vec r = vfma(neg_n, splat(kExpLn2Hi), tc);
  r = vfma(neg_n, splat(kExpLn2Lo), r);
  Vec p = splat(kExpm1[0]);
  for (int i = 1; i < 6; ++i) p = vfma(p, r, splat(kExpm1[i]));
  p = vfma(p * r, r, r);
  const __m256i ni = _mm256_cvtps_epi32(n);  // exact: n is an integer in [-127, 0]
  const Vec two_n = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ni, splat(127u)), 23));
  const Vec nan = _mm256_cmp_ps(t, t, _CMP_UNORD_Q);  // NaN stays NaN
  em1 = _mm256_blendv_ps(vfma(two_n, p, two_n - splat(1.0f)), t, nan);
  e = _mm256_blendv_ps(vfma(two_n, p, two_n), t, nan);
}
inline Vec expm1_neg(const Vec& t) {
  Vec em1, e;
  expm1_exp_neg(t, em1, e);
  return em1;
}

// Loads and stores of 8 elements (n < 8: the first n, the rest read as 0 / not written).
inline Vec load(const float* p, int64_t n) {
  return n >= kLanes ? Vec::loadu(p) : Vec::loadu(p, static_cast<int>(n));
}
inline void store(float* p, const Vec& v, int64_t n) {
  if (n >= kLanes) {
    v.store(p);
  } else {
    v.store(p, static_cast<int>(n));
  }
}
inline Vec load(const c10::BFloat16* p, int64_t n) {
  __m128i raw;
  if (n >= kLanes) {
    raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  } else {
    alignas(16) uint16_t tmp[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(tmp, p, static_cast<size_t>(n) * sizeof(uint16_t));
    raw = _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
  }
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(raw), 16));
}
// Round to nearest even, NaN to 0x7FC0: c10::BFloat16's conversion, on bits.
inline void store(c10::BFloat16* p, const Vec& v, int64_t n) {
  const __m256i bits = _mm256_castps_si256(v);
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), splat(1u));
  const __m256i rounded =
      _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(lsb, splat(0x7FFFu))), 16);
  const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  const __m256i r = _mm256_blendv_epi8(rounded, splat(0x7FC0u), nan);
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0xD8);
  const __m128i lo = _mm256_castsi256_si128(packed);
  if (n >= kLanes) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), lo);
  } else {
    alignas(16) uint16_t tmp[kLanes];
    _mm_store_si128(reinterpret_cast<__m128i*>(tmp), lo);
    std::memcpy(p, tmp, static_cast<size_t>(n) * sizeof(uint16_t));
  }
}

inline bool all_set(const Vec& mask) { return _mm256_movemask_ps(mask) == 0xFF; }

// alpha and beta of the 8 elements at i: the span's own, or one per element.
inline void load_params(const SpanParams<float>& p, int64_t i, int64_t m, Vec& a, Vec& b) {
  if (p.per_element) {
    a = load(p.a + i, m);
    b = load(p.b + i, m);
  }
}

template <typename scalar_t>
void forward_span(const scalar_t* x, scalar_t* y, int64_t n, SpanParams<float> p, const float* k) {
  Vec a = splat(p.a[0]), b = splat(p.b[0]);
  for (int64_t i = 0; i < n; i += kLanes) {
    const int64_t m = n - i;
    load_params(p, i, m, a, b);
    const Vec v = load(x + i, m);
    const Vec pos = _mm256_cmp_ps(v, splat(0.0f), _CMP_GE_OQ);  // false for NaN
    const Vec kx = k ? load(k + i, m) * v : v;
    Vec out = kx;
    if (!all_set(pos)) out = _mm256_blendv_ps(a * expm1_neg(b * v), kx, pos);
    store(y + i, out, m);
  }
}

template <typename scalar_t>
void backward_span(const scalar_t* g, const scalar_t* x, scalar_t* gx, int64_t n,
                   SpanParams<float> p, const float* k, SpanSums s) {
  Vec a = splat(p.a[0]), b = splat(p.b[0]);
  // Uniform span: the terms are summed per lane in float over the span (at most kSpanMax / 8
  // terms), then added to the double lane sums (the scalar spans do the same).
  Vec fa = splat(0.0f), fb = splat(0.0f);
  const bool lanes = s.sa && !s.per_element;
  for (int64_t i = 0; i < n; i += kLanes) {
    const int64_t m = n - i;
    load_params(p, i, m, a, b);
    const Vec v = load(x + i, m);
    const Vec gv = load(g + i, m);
    const Vec pos = _mm256_cmp_ps(v, splat(0.0f), _CMP_GE_OQ);
    const Vec gk = k ? gv * load(k + i, m) : gv;
    if (all_set(pos)) {
      if (gx) store(gx + i, gk, m);
      continue;
    }
    Vec em1, e;  // Note [The gradient takes exp, not expm1 + 1]
    expm1_exp_neg(b * v, em1, e);
    const Vec ga = gv * a;
    if (gx) store(gx + i, _mm256_blendv_ps(ga * b * e, gk, pos), m);
    if (!s.sa) continue;
    const Vec zero = splat(0.0f);
    const Vec ta = _mm256_blendv_ps(gv * em1, zero, pos);
    const Vec tb = _mm256_blendv_ps(ga * v * e, zero, pos);
    if (lanes) {
      fa = fa + ta;
      fb = fb + tb;
      continue;
    }
    // One accumulator per element (channel): lanes past n add 0 to entries that exist.
    const __m128 ta_lo = _mm256_castps256_ps128(ta), ta_hi = _mm256_extractf128_ps(ta, 1);
    const __m128 tb_lo = _mm256_castps256_ps128(tb), tb_hi = _mm256_extractf128_ps(tb, 1);
    if (m >= kLanes) {
      _mm256_storeu_pd(s.sa + i, _mm256_add_pd(_mm256_loadu_pd(s.sa + i), _mm256_cvtps_pd(ta_lo)));
      _mm256_storeu_pd(s.sa + i + 4,
                       _mm256_add_pd(_mm256_loadu_pd(s.sa + i + 4), _mm256_cvtps_pd(ta_hi)));
      _mm256_storeu_pd(s.sb + i, _mm256_add_pd(_mm256_loadu_pd(s.sb + i), _mm256_cvtps_pd(tb_lo)));
      _mm256_storeu_pd(s.sb + i + 4,
                       _mm256_add_pd(_mm256_loadu_pd(s.sb + i + 4), _mm256_cvtps_pd(tb_hi)));
    } else {
      alignas(32) float add_a[kLanes], add_b[kLanes];
      ta.store(add_a);
      tb.store(add_b);
      for (int64_t j = 0; j < m; ++j) {
        s.sa[i + j] += static_cast<double>(add_a[j]);
        s.sb[i + j] += static_cast<double>(add_b[j]);
      }
    }
  }
  if (lanes) {
    const __m128 fa_lo = _mm256_castps256_ps128(fa), fa_hi = _mm256_extractf128_ps(fa, 1);
    const __m128 fb_lo = _mm256_castps256_ps128(fb), fb_hi = _mm256_extractf128_ps(fb, 1);
    _mm256_storeu_pd(s.sa, _mm256_add_pd(_mm256_loadu_pd(s.sa), _mm256_cvtps_pd(fa_lo)));
    _mm256_storeu_pd(s.sa + 4, _mm256_add_pd(_mm256_loadu_pd(s.sa + 4), _mm256_cvtps_pd(fa_hi)));
    _mm256_storeu_pd(s.sb, _mm256_add_pd(_mm256_loadu_pd(s.sb), _mm256_cvtps_pd(fb_lo)));
    _mm256_storeu_pd(s.sb + 4, _mm256_add_pd(_mm256_loadu_pd(s.sb + 4), _mm256_cvtps_pd(fb_hi)));
  }
}

const SpanTable kTable = {
    "avx2",
    &forward_span<float>,
    &forward_span<c10::BFloat16>,
    &backward_span<float>,
    &backward_span<c10::BFloat16>,
    &noise_span,
};

}  // namespace

const SpanTable* avx2_span_table() { return &kTable; }

}  // namespace eelu::cpu
