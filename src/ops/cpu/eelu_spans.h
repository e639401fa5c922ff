// The innermost loops of the CPU kernels ("spans"), one table per instruction set.
//
// Note [CPU kernel structure]
// eelu_kernel.cpp owns everything that depends on the tensor's shape and layout: the split
// into tasks for at::parallel_for, the reduction units of the parameter gradients (Note
// [Deterministic parameter gradients]) and the channel-last transposition of the noise. It
// hands the element loops short runs of memory-contiguous elements ("spans", at most
// kSpanMax long) whose k has already been written into a buffer. A span's alpha and beta are
// either uniform (one channel) or one per element (a row of a channels-inner tensor).
//
// Two implementations fill the table: the portable scalar one (eelu_kernel_scalar.cpp, all
// dtypes) and the AVX2+FMA one (eelu_kernel_avx2.cpp, float32 and bfloat16), chosen at
// run time (capability.cpp; cpu_capability()). They give bitwise the same results: the same element
// operations in the same order (ops/eelu_math.h), and the uniform-channel sums of the
// parameter gradients accumulated in eight lanes, element i of a span in lane i % 8 (in the
// arithmetic type within the span, then added to double lane sums), in both.
#pragma once

#include <c10/util/BFloat16.h>

#include <cstdint>

#include "ops/noise_key.h"

namespace eelu::cpu {

constexpr int64_t kSpanMax = 256;  // a multiple of 32 (a noise block) and of 8 (lanes)

using detail::NoiseKey;  // ops/noise_key.h

// Parameters of a span: alpha, beta (already clamped to >= 0) at a[0], b[0] for a uniform
// span, at a[i], b[i] for element i otherwise.
template <typename T>
struct SpanParams {
  const T* a;
  const T* b;
  bool per_element;
};

// Gradient sums of a span: when per_element, element i adds to sa[i], sb[i]; otherwise to
// lane i % 8 of sa[0..7], sb[0..7] (summed in the arithmetic type over the span first).
// sa == nullptr: no parameter gradients.
struct SpanSums {
  double* sa = nullptr;
  double* sb = nullptr;
  bool per_element = false;
};

template <typename scalar_t, typename T>
using ForwardSpan = void (*)(const scalar_t* x, scalar_t* y, int64_t n, SpanParams<T> p,
                             const float* k);
template <typename scalar_t, typename T>
using BackwardSpan = void (*)(const scalar_t* g, const scalar_t* x, scalar_t* gx, int64_t n,
                              SpanParams<T> p, const float* k, SpanSums s);
// k of logical indices [l0, l0 + n) into out (n <= kSpanMax).
using NoiseSpan = void (*)(const NoiseKey& key, int64_t l0, int64_t n, float* out);

struct SpanTable {
  const char* name;
  ForwardSpan<float, float> forward_f32;
  ForwardSpan<c10::BFloat16, float> forward_bf16;
  BackwardSpan<float, float> backward_f32;
  BackwardSpan<c10::BFloat16, float> backward_bf16;
  NoiseSpan noise;
};

// The portable spans (eelu_kernel_scalar.cpp), and those for float64, which every capability
// runs.
const SpanTable* scalar_span_table();
void forward_span_f64(const double* x, double* y, int64_t n, SpanParams<double> p, const float* k);
void backward_span_f64(const double* g, const double* x, double* gx, int64_t n,
                       SpanParams<double> p, const float* k, SpanSums s);
// nullptr when the library was built without the AVX2 kernels (eelu_kernel_avx2.cpp).
const SpanTable* avx2_span_table();
// The table the kernels run now (capability.cpp): eelu::cpu_capability() names it.
const SpanTable* current_span_table();

}  // namespace eelu::cpu
