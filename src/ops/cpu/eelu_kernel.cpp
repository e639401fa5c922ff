// Fused CPU kernels of EELU: one pass over the data for the forward, one for the backward
// (input gradient and the per-channel gradients of alpha and beta together), the noise
// regenerated from its Philox key in both (Note [EELU noise stream] in ops/eelu_math.h).
// This file holds the shape-dependent driver and the CPU kernels' registration; the spans are
// in eelu_kernel_scalar.cpp and eelu_kernel_avx2.cpp, chosen by capability.cpp (Note [CPU
// kernel structure] in eelu_spans.h).
#include "ops/cpu/eelu_kernel.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <vector>

#include "eelu/ops.h"
#include "ops/cpu/eelu_spans.h"
#include "ops/eelu_checks.h"
#include "ops/eelu_geometry.h"
#include "ops/eelu_math.h"

namespace eelu::cpu {

namespace {

// ---- which spans run (capability.cpp chooses the table) ---------------------------------

template <typename scalar_t, typename T>
struct Spans {
  ForwardSpan<scalar_t, T> forward;
  BackwardSpan<scalar_t, T> backward;
  NoiseSpan noise;
};

template <typename scalar_t>
Spans<scalar_t, at::opmath_type<scalar_t>> spans_for() {
  const SpanTable* t = current_span_table();
  if constexpr (std::is_same_v<scalar_t, float>) {
    return {t->forward_f32, t->backward_f32, t->noise};
  } else if constexpr (std::is_same_v<scalar_t, c10::BFloat16>) {
    return {t->forward_bf16, t->backward_bf16, t->noise};
  } else {
    return {&forward_span_f64, &backward_span_f64, t->noise};
  }
}

// ---- shapes and layouts ----------------------------------------------------------------

// Elements per task of at::parallel_for in the element-wise loops.
constexpr int64_t kGrain = 32768;
// Channels-inner tensors with noise: k is made for up to this many elements at a time
// (channel by channel, then transposed into memory order).
constexpr int64_t kTileElements = 4096;

// Note [Deterministic parameter gradients]
// The gradients of alpha and beta are sums over every element of a channel. They are summed
// in double, over "units" whose boundaries depend only on the shape (never on the number of
// threads), each unit sequentially, and the unit sums are then added in unit order. So the
// result is bitwise the same for any thread count, with no atomics.
// Channel-outer layout: a unit is a segment of a row (one channel) of at most kUnitElements,
// summed in eight lanes (element i of the unit in lane i % 8; Note [CPU kernel structure]):
// in the arithmetic type over each span of at most kSpanMax elements, then in double; the
// lanes are then added in order. Channel-inner layout: a unit is a run of rows with one
// accumulator per channel.
constexpr int64_t kUnitElements = 8192;
constexpr int64_t kUnitTarget = 65536;  // channel-inner layout: rows per unit ~ this / C

using detail::Geometry;  // ops/eelu_geometry.h
using detail::geometry_of;

// Channel-outer tensor, memory [mb, me): f(m, n, c, k) for consecutive pieces of at most
// kSpanMax elements in one row (channel c), k their noise (nullptr without). With
// `from_start` the pieces are cut at kSpanMax from mb (what the lanes of a reduction unit
// need); otherwise at multiples of kSpanMax of the memory index, so that they start on
// noise blocks. `uniform`: one alpha and beta for every channel, rows need no cuts.
template <typename F>
void outer_pieces(const Geometry& geo, const NoiseKey& key, NoiseSpan noise, int64_t mb, int64_t me,
                  bool uniform, bool from_start, F&& f) {
  alignas(64) float kbuf[kSpanMax];
  int64_t m = mb;
  while (m < me) {
    int64_t stop = std::min(me, from_start ? m + kSpanMax : (m / kSpanMax + 1) * kSpanMax);
    int64_t c = 0;
    if (!uniform) {
      const int64_t row = m / geo.S;
      c = row % geo.C;
      stop = std::min(stop, (row + 1) * geo.S);
    }
    const float* k = nullptr;
    if (key.sigma > 0) {
      noise(key, m, stop - m, kbuf);
      k = kbuf;
    }
    f(m, stop - m, c, k);
    m = stop;
  }
}

// Channel-inner tensor, rows [rb, re) in order: f(r, c0, n, k) for the channels
// [c0, c0 + n) of row r, n <= kSpanMax, k their noise (nullptr without).
template <typename F>
void inner_pieces(const Geometry& geo, const NoiseKey& key, NoiseSpan noise, int64_t rb, int64_t re,
                  F&& f) {
  const int64_t C = geo.C, S = geo.S;
  if (S == 1 || key.sigma == 0) {
    // S == 1: the logical index of (r, c) is r*C + c, the memory index.
    alignas(64) float kbuf[kSpanMax];
    for (int64_t r = rb; r < re; ++r) {
      for (int64_t c0 = 0; c0 < C; c0 += kSpanMax) {
        const int64_t n = std::min(kSpanMax, C - c0);
        const float* k = nullptr;
        if (key.sigma > 0) {
          noise(key, r * C + c0, n, kbuf);
          k = kbuf;
        }
        f(r, c0, n, k);
      }
    }
    return;
  }
  // Channels last: k is contiguous along s for one channel; make it channel by channel for
  // a tile of rows, then transpose it into memory order.
  const int64_t tile = std::clamp<int64_t>(kTileElements / C, 1, kSpanMax);
  std::vector<float> by_channel(static_cast<size_t>(C * tile)), by_row(by_channel.size());
  int64_t r = rb;
  while (r < re) {
    const int64_t o = r / S, s0 = r % S;
    const int64_t t_n = std::min({tile, re - r, S - s0});
    for (int64_t c = 0; c < C; ++c) {
      noise(key, (o * C + c) * S + s0, t_n, by_channel.data() + c * t_n);
    }
    for (int64_t t = 0; t < t_n; ++t) {
      for (int64_t c = 0; c < C; ++c) by_row[t * C + c] = by_channel[c * t_n + t];
    }
    for (int64_t t = 0; t < t_n; ++t) {
      for (int64_t c0 = 0; c0 < C; c0 += kSpanMax) {
        f(r + t, c0, std::min(kSpanMax, C - c0), by_row.data() + t * C + c0);
      }
    }
    r += t_n;
  }
}

// Every element once, in parallel tasks: f(m, n, c, per_element, k) for the memory run
// [m, m + n), whose parameters are those of channel c (channels c .. c + n - 1 when
// per_element) and whose noise is k (nullptr without).
template <typename F>
void for_each_piece(const Geometry& geo, const NoiseKey& key, NoiseSpan noise, bool uniform,
                    F&& f) {
  const int64_t C = geo.C;
  if (!geo.channels_inner) {
    at::parallel_for(0, geo.numel(), kGrain, [&](int64_t begin, int64_t end) {
      outer_pieces(geo, key, noise, begin, end, uniform, false,
                   [&](int64_t m, int64_t n, int64_t c, const float* k) { f(m, n, c, false, k); });
    });
  } else {
    at::parallel_for(0, geo.O * geo.S, std::max<int64_t>(1, kGrain / C),
                     [&](int64_t rb, int64_t re) {
                       inner_pieces(geo, key, noise, rb, re,
                                    [&](int64_t r, int64_t c0, int64_t n, const float* k) {
                                      f(r * C + c0, n, c0, true, k);
                                    });
                     });
  }
}

// alpha = max(a, 0), beta = max(b, 0), one entry per channel (a shared parameter repeated),
// in the arithmetic type. A NaN parameter stays NaN.
template <typename scalar_t, typename T>
std::vector<T> clamped_per_channel(const at::Tensor& p, int64_t C) {
  const at::Tensor pc = p.contiguous();
  const scalar_t* d = pc.data_ptr<scalar_t>();
  std::vector<T> out(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const T v = static_cast<T>(d[p.numel() == 1 ? 0 : c]);
    out[static_cast<size_t>(c)] = v < T(0) ? T(0) : v;
  }
  return out;
}

using detail::key_of;  // ops/noise_key.h

template <typename scalar_t>
void forward_impl(const at::Tensor& x, at::Tensor& y, const Geometry& geo, const at::Tensor& alpha,
                  const at::Tensor& beta, const NoiseKey& key) {
  using T = at::opmath_type<scalar_t>;
  const auto sp = spans_for<scalar_t>();
  const auto a = clamped_per_channel<scalar_t, T>(alpha, geo.C);
  const auto b = clamped_per_channel<scalar_t, T>(beta, geo.C);
  const bool uniform = alpha.numel() == 1 && beta.numel() == 1;
  const scalar_t* xp = x.data_ptr<scalar_t>();
  scalar_t* yp = y.data_ptr<scalar_t>();
  for_each_piece(geo, key, sp.noise, uniform,
                 [&](int64_t m, int64_t n, int64_t c, bool per_element, const float* k) {
                   sp.forward(xp + m, yp + m, n, SpanParams<T>{&a[c], &b[c], per_element}, k);
                 });
}

template <typename scalar_t>
void backward_impl(const at::Tensor& grad, const at::Tensor& x, scalar_t* gxp, const Geometry& geo,
                   const at::Tensor& alpha, const at::Tensor& beta, const NoiseKey& key,
                   bool want_params, std::vector<double>& sum_a, std::vector<double>& sum_b) {
  using T = at::opmath_type<scalar_t>;
  const auto sp = spans_for<scalar_t>();
  const auto a = clamped_per_channel<scalar_t, T>(alpha, geo.C);
  const auto b = clamped_per_channel<scalar_t, T>(beta, geo.C);
  const scalar_t* gp = grad.data_ptr<scalar_t>();
  const scalar_t* xp = x.data_ptr<scalar_t>();
  const int64_t C = geo.C;
  auto gx_at = [&](int64_t m) { return gxp ? gxp + m : nullptr; };

  if (!want_params) {
    const bool uniform = alpha.numel() == 1 && beta.numel() == 1;
    for_each_piece(geo, key, sp.noise, uniform,
                   [&](int64_t m, int64_t n, int64_t c, bool per_element, const float* k) {
                     sp.backward(gp + m, xp + m, gx_at(m), n,
                                 SpanParams<T>{&a[c], &b[c], per_element}, k, SpanSums{});
                   });
    return;
  }

  // See Note [Deterministic parameter gradients].
  if (!geo.channels_inner) {
    const int64_t S = geo.S;
    const int64_t nseg = (S + kUnitElements - 1) / kUnitElements;
    const int64_t units = geo.O * C * nseg;
    std::vector<double> part(static_cast<size_t>(2 * units), 0.0);
    const int64_t grain = std::max<int64_t>(1, kGrain / std::min(S, kUnitElements));
    at::parallel_for(0, units, grain, [&](int64_t ubegin, int64_t uend) {
      for (int64_t u = ubegin; u < uend; ++u) {
        const int64_t row = u / nseg, seg = u % nseg;
        const int64_t mb = row * S + seg * kUnitElements;
        const int64_t me = row * S + std::min(S, (seg + 1) * kUnitElements);
        double la[8] = {0, 0, 0, 0, 0, 0, 0, 0}, lb[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        outer_pieces(geo, key, sp.noise, mb, me, false, true,
                     [&](int64_t m, int64_t n, int64_t c, const float* k) {
                       sp.backward(gp + m, xp + m, gx_at(m), n, SpanParams<T>{&a[c], &b[c], false},
                                   k, SpanSums{la, lb, false});
                     });
        double sa = 0, sb = 0;
        for (int j = 0; j < 8; ++j) {
          sa += la[j];
          sb += lb[j];
        }
        part[2 * u] = sa;
        part[2 * u + 1] = sb;
      }
    });
    for (int64_t c = 0; c < C; ++c) {
      double sa = 0, sb = 0;
      for (int64_t o = 0; o < geo.O; ++o) {
        for (int64_t seg = 0; seg < nseg; ++seg) {
          const int64_t u = (o * C + c) * nseg + seg;
          sa += part[2 * u];
          sb += part[2 * u + 1];
        }
      }
      sum_a[c] = sa;
      sum_b[c] = sb;
    }
  } else {
    const int64_t rows = geo.O * geo.S;
    const int64_t rows_per_unit = std::max<int64_t>(1, (kUnitTarget + C - 1) / C);
    const int64_t units = (rows + rows_per_unit - 1) / rows_per_unit;
    std::vector<double> part(static_cast<size_t>(2 * units * C), 0.0);
    at::parallel_for(0, units, 1, [&](int64_t ubegin, int64_t uend) {
      for (int64_t u = ubegin; u < uend; ++u) {
        double* pa = part.data() + 2 * u * C;
        double* pb = pa + C;
        const int64_t rb = u * rows_per_unit, re = std::min(rows, (u + 1) * rows_per_unit);
        inner_pieces(geo, key, sp.noise, rb, re,
                     [&](int64_t r, int64_t c0, int64_t n, const float* k) {
                       const int64_t m = r * C + c0;
                       sp.backward(gp + m, xp + m, gx_at(m), n, SpanParams<T>{&a[c0], &b[c0], true},
                                   k, SpanSums{pa + c0, pb + c0, true});
                     });
      }
    });
    for (int64_t c = 0; c < C; ++c) {
      double sa = 0, sb = 0;
      for (int64_t u = 0; u < units; ++u) {
        sa += part[2 * u * C + c];
        sb += part[2 * u * C + C + c];
      }
      sum_a[c] = sa;
      sum_b[c] = sb;
    }
  }
}

// The gradient of a parameter from its per-channel sums: [C] as they are, or [1] as their
// sum in channel order for a shared parameter.
at::Tensor parameter_grad(const std::vector<double>& per_channel, const at::Tensor& p) {
  double total = 0;
  at::Tensor out = at::empty({p.numel()}, p.options().dtype(at::kDouble));
  double* d = out.data_ptr<double>();
  if (p.numel() == 1) {
    for (double v : per_channel) total += v;
    d[0] = total;
  } else {
    std::copy(per_channel.begin(), per_channel.end(), d);
  }
  return out.to(p.scalar_type());
}

// An out= tensor must already be what the kernel would allocate: the input's shape and
// dtype, on the CPU, dense in the input's memory format.
void check_out(const char* op, const char* name, const at::Tensor& out, const at::Tensor& x,
               at::ScalarType dtype, at::MemoryFormat format) {
  TORCH_CHECK(out.defined(), op, ": ", name, " is an undefined tensor");
  TORCH_CHECK(out.device() == x.device(), op, ": ", name, " is on ", out.device(),
              " but the input is on ", x.device());
  TORCH_CHECK(out.scalar_type() == dtype, op, ": ", name, " has dtype ", out.scalar_type(),
              ", expected ", dtype);
  TORCH_CHECK(out.sizes() == x.sizes(), op, ": ", name, " has shape ", out.sizes(),
              ", expected the input's ", x.sizes());
  TORCH_CHECK(out.is_contiguous(format), op, ": ", name,
              " must be dense in the input's memory format (", format, ")");
  TORCH_CHECK(!out.is_same(x), op, ": ", name, " must not be the input itself");
}

void forward_into(const at::Tensor& x, at::Tensor& y, const Geometry& geo, const at::Tensor& alpha,
                  const at::Tensor& beta, const NoiseKey& key) {
  if (x.numel() == 0) return;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "eelu_forward_cpu",
                                 [&] { forward_impl<scalar_t>(x, y, geo, alpha, beta, key); });
}

void noise_into(const at::Tensor& x, at::Tensor& k, const Geometry& geo, const NoiseKey& key) {
  if (x.numel() == 0) return;
  const NoiseSpan noise = current_span_table()->noise;
  AT_DISPATCH_FLOATING_TYPES(k.scalar_type(), "eelu_noise_cpu", [&] {
    scalar_t* kp = k.data_ptr<scalar_t>();
    auto write = [&](int64_t m, int64_t n, const float* kk) {
      for (int64_t i = 0; i < n; ++i) kp[m + i] = kk ? static_cast<scalar_t>(kk[i]) : scalar_t(1);
    };
    for_each_piece(geo, key, noise, true,
                   [&](int64_t m, int64_t n, int64_t, bool, const float* kk) { write(m, n, kk); });
  });
}

std::vector<double> zeros(int64_t n) { return std::vector<double>(static_cast<size_t>(n), 0.0); }

// The backward into grad_x (undefined: not wanted); returns the parameter gradients asked
// for by mask[1], mask[2].
std::pair<at::Tensor, at::Tensor> backward_into(const at::Tensor& g, const at::Tensor& x,
                                                at::Tensor& grad_x, const Geometry& geo,
                                                const at::Tensor& alpha, const at::Tensor& beta,
                                                const NoiseKey& key, std::array<bool, 3> mask) {
  const bool want_params = mask[1] || mask[2];
  std::vector<double> sum_a = zeros(geo.C), sum_b = zeros(geo.C);
  if (x.numel() > 0 && (grad_x.defined() || want_params)) {
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "eelu_backward_cpu", [&] {
      scalar_t* gxp = grad_x.defined() ? grad_x.data_ptr<scalar_t>() : nullptr;
      backward_impl<scalar_t>(g, x, gxp, geo, alpha, beta, key, want_params, sum_a, sum_b);
    });
  }
  return {mask[1] ? parameter_grad(sum_a, alpha) : at::Tensor(),
          mask[2] ? parameter_grad(sum_b, beta) : at::Tensor()};
}

void check_grad_output(const at::Tensor& grad_output, const at::Tensor& input) {
  TORCH_CHECK(grad_output.defined() && grad_output.sizes() == input.sizes(),
              "eelu_backward: grad_output must have the input's shape ", input.sizes());
  TORCH_CHECK(grad_output.scalar_type() == input.scalar_type(),
              "eelu_backward: grad_output has dtype ", grad_output.scalar_type(),
              " but the input has dtype ", input.scalar_type());
  TORCH_CHECK(grad_output.device() == input.device(), "eelu_backward: grad_output is on ",
              grad_output.device(), " but the input is on ", input.device());
}

at::ScalarType noise_dtype(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

}  // namespace

at::Tensor eelu_forward_cpu(const at::Tensor& input, const at::Tensor& alpha,
                            const at::Tensor& beta, double sigma, int64_t seed, int64_t offset,
                            bool /*param_grad*/) {
  detail::check_inputs(input, alpha, beta);
  detail::check_sigma(sigma);
  const Geometry geo = geometry_of(input);
  const at::Tensor x = input.contiguous(geo.format);
  at::Tensor y = at::empty_like(x);
  forward_into(x, y, geo, alpha, beta, key_of(sigma, seed, offset));
  return y;
}

at::Tensor& eelu_forward_out_cpu(const at::Tensor& input, const at::Tensor& alpha,
                                 const at::Tensor& beta, double sigma, int64_t seed, int64_t offset,
                                 at::Tensor& out) {
  detail::check_inputs(input, alpha, beta);
  detail::check_sigma(sigma);
  const Geometry geo = geometry_of(input);
  check_out("eelu_with_noise_out", "out", out, input, input.scalar_type(), geo.format);
  const at::Tensor x = input.contiguous(geo.format);
  forward_into(x, out, geo, alpha, beta, key_of(sigma, seed, offset));
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> eelu_backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& alpha,
    const at::Tensor& beta, double sigma, int64_t seed, int64_t offset,
    std::array<bool, 3> output_mask) {
  detail::check_inputs(input, alpha, beta);
  detail::check_sigma(sigma);
  check_grad_output(grad_output, input);
  const Geometry geo = geometry_of(input);
  const at::Tensor x = input.contiguous(geo.format);
  const at::Tensor g = grad_output.contiguous(geo.format);
  at::Tensor grad_x = output_mask[0] ? at::empty_like(x) : at::Tensor();
  auto [grad_a, grad_b] =
      backward_into(g, x, grad_x, geo, alpha, beta, key_of(sigma, seed, offset), output_mask);
  return {grad_x, grad_a, grad_b};
}

std::tuple<at::Tensor, at::Tensor> eelu_backward_out_cpu(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& alpha,
    const at::Tensor& beta, double sigma, int64_t seed, int64_t offset,
    std::array<bool, 2> param_mask, at::Tensor& grad_input) {
  detail::check_inputs(input, alpha, beta);
  detail::check_sigma(sigma);
  check_grad_output(grad_output, input);
  const Geometry geo = geometry_of(input);
  check_out("eelu_backward_out", "grad_input", grad_input, input, input.scalar_type(), geo.format);
  TORCH_CHECK(!grad_input.is_same(grad_output),
              "eelu_backward_out: grad_input must not be grad_output itself");
  const at::Tensor x = input.contiguous(geo.format);
  const at::Tensor g = grad_output.contiguous(geo.format);
  auto [grad_a, grad_b] =
      backward_into(g, x, grad_input, geo, alpha, beta, key_of(sigma, seed, offset),
                    {true, param_mask[0], param_mask[1]});
  return {grad_a, grad_b};
}

at::Tensor eelu_noise_cpu(const at::Tensor& input, double sigma, int64_t seed, int64_t offset) {
  detail::check_input(input);
  detail::check_sigma(sigma);
  const Geometry geo = geometry_of(input);
  const at::Tensor x = input.contiguous(geo.format);
  at::Tensor k = at::empty_like(x, x.options().dtype(noise_dtype(x)));
  noise_into(x, k, geo, key_of(sigma, seed, offset));
  return k;
}

at::Tensor& eelu_noise_out_cpu(const at::Tensor& input, double sigma, int64_t seed, int64_t offset,
                               at::Tensor& out) {
  detail::check_input(input);
  detail::check_sigma(sigma);
  const Geometry geo = geometry_of(input);
  check_out("eelu_noise_out", "out", out, input, noise_dtype(input), geo.format);
  noise_into(input, out, geo, key_of(sigma, seed, offset));
  return out;
}

TORCH_LIBRARY_IMPL(eelu, CPU, m) {
  m.impl("eelu_with_noise", &eelu_forward_cpu);
  m.impl("eelu_backward", &eelu_backward_cpu);
  m.impl("eelu_noise", &eelu_noise_cpu);
  m.impl("eelu_with_noise.out", &eelu_forward_out_cpu);
  m.impl("eelu_backward.grad_input", &eelu_backward_out_cpu);
  m.impl("eelu_noise.out", &eelu_noise_out_cpu);
}

}  // namespace eelu::cpu
