// The portable spans of the CPU kernels (all dtypes; float64 always runs on them): the
// element loops behind the "default" capability, the AVX2 spans' twin (eelu_kernel_avx2.cpp,
// Note [CPU kernel structure] in eelu_spans.h).
#include <c10/util/BFloat16.h>

#include <algorithm>
#include <cstdint>

#include "ops/cpu/eelu_spans.h"
#include "ops/eelu_math.h"

namespace eelu::cpu {
namespace {

template <typename scalar_t, typename T>
void forward_span_scalar(const scalar_t* x, scalar_t* y, int64_t n, SpanParams<T> p,
                         const float* k) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = p.per_element ? i : 0;
    const T v = static_cast<T>(x[i]);
    const T kk = k ? static_cast<T>(k[i]) : T(1);
    y[i] = static_cast<scalar_t>(v >= T(0) ? kk * v : p.a[c] * math::expm1_of(p.b[c] * v));
  }
}

template <typename scalar_t, typename T>
void backward_span_scalar(const scalar_t* g, const scalar_t* x, scalar_t* gx, int64_t n,
                          SpanParams<T> p, const float* k, SpanSums s) {
  // Uniform span: per-lane sums in T over the span, then added to the double lane sums
  // (the AVX2 spans' order exactly).
  T fa[8] = {0, 0, 0, 0, 0, 0, 0, 0}, fb[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = p.per_element ? i : 0;
    const T v = static_cast<T>(x[i]);
    const T gv = static_cast<T>(g[i]);
    if (v >= T(0)) {
      if (gx) gx[i] = static_cast<scalar_t>(k ? gv * static_cast<T>(k[i]) : gv);
      continue;
    }
    T em1, e;  // exp(beta*x) - 1 and exp(beta*x) (Note [The gradient takes exp, not expm1 + 1])
    math::expm1_exp_of(p.b[c] * v, em1, e);
    const T ga = gv * p.a[c];
    if (gx) gx[i] = static_cast<scalar_t>(ga * p.b[c] * e);
    if (!s.sa) continue;
    if (s.per_element) {
      s.sa[i] += static_cast<double>(gv * em1);
      s.sb[i] += static_cast<double>(ga * v * e);
    } else {
      fa[i % 8] += gv * em1;
      fb[i % 8] += ga * v * e;
    }
  }
  if (s.sa && !s.per_element) {
    for (int j = 0; j < 8; ++j) {
      s.sa[j] += static_cast<double>(fa[j]);
      s.sb[j] += static_cast<double>(fb[j]);
    }
  }
}

void noise_span_scalar(const NoiseKey& key, int64_t l0, int64_t n, float* out) {
  int64_t l = l0;
  const int64_t end = l0 + n;
  while (l < end) {
    const uint64_t block = static_cast<uint64_t>(l) / 32;
    const int64_t first = static_cast<int64_t>(block * 32);
    float k[32];
    math::noise_block(key.seed, key.offset, key.sigma, block, k);
    const int64_t stop = std::min<int64_t>(end, first + 32);
    for (; l < stop; ++l) out[l - l0] = k[l - first];
  }
}

const SpanTable kScalarTable = {
    "default",
    &forward_span_scalar<float, float>,
    &forward_span_scalar<c10::BFloat16, float>,
    &backward_span_scalar<float, float>,
    &backward_span_scalar<c10::BFloat16, float>,
    &noise_span_scalar,
};

}  // namespace

const SpanTable* scalar_span_table() { return &kScalarTable; }

void forward_span_f64(const double* x, double* y, int64_t n, SpanParams<double> p, const float* k) {
  forward_span_scalar<double, double>(x, y, n, p, k);
}

void backward_span_f64(const double* g, const double* x, double* gx, int64_t n,
                       SpanParams<double> p, const float* k, SpanSums s) {
  backward_span_scalar<double, double>(g, x, gx, n, p, k, s);
}

}  // namespace eelu::cpu
