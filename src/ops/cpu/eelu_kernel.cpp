// Fused CPU kernels of EELU: one pass over the data for the forward, one for the backward
// (input gradient and the per-channel gradients of alpha and beta together), the noise
// regenerated from its Philox key in both (Note [EELU noise stream] in ops/eelu_math.h).
#include "ops/cpu/eelu_kernel.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "ops/eelu_checks.h"
#include "ops/eelu_math.h"

namespace eelu::cpu {
namespace {

// Elements per task of at::parallel_for in the element-wise loops.
constexpr int64_t kGrain = 32768;

// Note [Deterministic parameter gradients]
// The gradients of alpha and beta are sums over every element of a channel. They are summed
// in double, over "units" whose boundaries depend only on the shape (never on the number of
// threads), each unit sequentially, and the unit sums are then added in unit order. So the
// result is bitwise the same for any thread count, with no atomics.
constexpr int64_t kUnitElements = 8192;   // channel-outer layout: one unit = a row segment
constexpr int64_t kUnitTarget = 65536;    // channel-inner layout: rows per unit ~ this / C

// How the kernels see a tensor: logically (O, C, S) = (N, C, prod(spatial)), with the
// logical index l = (o*C + c)*S + s, stored either channel-outer (memory index = l, the
// standard contiguous layout) or channel-inner (memory index = (o*S + s)*C + c: channels
// last, and any input with S == 1, for which both orders coincide).
struct Geometry {
  int64_t O = 1, C = 1, S = 1;
  bool channels_inner = false;
  at::MemoryFormat format = at::MemoryFormat::Contiguous;
  int64_t numel() const { return O * C * S; }
};

Geometry geometry_of(const at::Tensor& x) {
  Geometry g;
  if (x.dim() >= 2) {
    g.O = x.size(0);
    g.C = x.size(1);
    g.S = 1;
    for (int64_t d = 2; d < x.dim(); ++d) g.S *= x.size(d);
  } else {
    g.S = x.numel();
  }
  if (!x.is_contiguous()) {
    if (x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast)) {
      g.format = at::MemoryFormat::ChannelsLast;
    } else if (x.dim() == 5 && x.is_contiguous(at::MemoryFormat::ChannelsLast3d)) {
      g.format = at::MemoryFormat::ChannelsLast3d;
    }
  }
  g.channels_inner = g.format != at::MemoryFormat::Contiguous || (x.dim() >= 2 && g.S == 1);
  return g;
}

// Visits memory positions m in [begin, end) in order, with the element's logical index and
// channel: f(m, l, c).
template <typename F>
inline void walk(const Geometry& geo, int64_t begin, int64_t end, F&& f) {
  const int64_t C = geo.C, S = geo.S;
  if (!geo.channels_inner) {
    int64_t m = begin;
    while (m < end) {
      const int64_t row = m / S;
      const int64_t c = row % C;
      const int64_t stop = std::min(end, (row + 1) * S);
      for (; m < stop; ++m) f(m, m, c);
    }
  } else {
    const int64_t row = begin / C;
    int64_t c = begin % C, o = row / S, s = row % S;
    for (int64_t m = begin; m < end; ++m) {
      f(m, (o * C + c) * S + s, c);
      if (++c == C) {
        c = 0;
        if (++s == S) {
          s = 0;
          ++o;
        }
      }
    }
  }
}

// k at a logical index, regenerating one Philox group of four at a time.
class NoiseCursor {
 public:
  NoiseCursor(uint64_t seed, uint64_t offset, float sigma)
      : seed_(seed), offset_(offset), sigma_(sigma) {}
  float operator()(int64_t l) {
    const uint64_t g = static_cast<uint64_t>(l) >> 2;
    if (g != group_) {
      math::noise_group(seed_, offset_, sigma_, g, k_);
      group_ = g;
    }
    return k_[l & 3];
  }

 private:
  uint64_t seed_, offset_;
  float sigma_;
  uint64_t group_ = std::numeric_limits<uint64_t>::max();
  float k_[4] = {1.f, 1.f, 1.f, 1.f};
};

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

template <typename scalar_t, bool kNoisy>
void forward_loop(const at::Tensor& x, at::Tensor& y, const Geometry& geo,
                  const at::Tensor& alpha, const at::Tensor& beta, uint64_t seed,
                  uint64_t offset, float sigma) {
  using T = at::opmath_type<scalar_t>;
  const auto a = clamped_per_channel<scalar_t, T>(alpha, geo.C);
  const auto b = clamped_per_channel<scalar_t, T>(beta, geo.C);
  const scalar_t* xp = x.data_ptr<scalar_t>();
  scalar_t* yp = y.data_ptr<scalar_t>();
  at::parallel_for(0, geo.numel(), kGrain, [&](int64_t begin, int64_t end) {
    NoiseCursor noise(seed, offset, sigma);
    walk(geo, begin, end, [&](int64_t m, int64_t l, int64_t c) {
      const T v = static_cast<T>(xp[m]);
      const T k = kNoisy && v >= T(0) ? static_cast<T>(noise(l)) : T(1);
      yp[m] = static_cast<scalar_t>(math::forward<T>(v, k, a[c], b[c]));
    });
  });
}

// One element of the backward: returns the input gradient and adds the parameter gradient
// terms of this element to (sa, sb) when kParams.
template <typename T, bool kParams>
inline T backward_element(T g, T v, T k, T alpha, T beta, double& sa, double& sb) {
  if (v >= T(0)) return g * k;
  const T em1 = std::expm1(beta * v);  // exp(beta*x) - 1
  const T e = em1 + T(1);
  if (kParams) {
    sa += static_cast<double>(g * em1);
    sb += static_cast<double>(g * alpha * v * e);
  }
  return g * alpha * beta * e;
}

template <typename scalar_t, bool kNoisy, bool kParams>
void backward_loop(const at::Tensor& grad, const at::Tensor& x, scalar_t* gxp,
                   const Geometry& geo, const at::Tensor& alpha, const at::Tensor& beta,
                   uint64_t seed, uint64_t offset, float sigma, std::vector<double>& sum_a,
                   std::vector<double>& sum_b) {
  using T = at::opmath_type<scalar_t>;
  const auto a = clamped_per_channel<scalar_t, T>(alpha, geo.C);
  const auto b = clamped_per_channel<scalar_t, T>(beta, geo.C);
  const scalar_t* gp = grad.data_ptr<scalar_t>();
  const scalar_t* xp = x.data_ptr<scalar_t>();
  const int64_t C = geo.C, numel = geo.numel();

  if (!kParams) {
    at::parallel_for(0, numel, kGrain, [&](int64_t begin, int64_t end) {
      NoiseCursor noise(seed, offset, sigma);
      double unused_a = 0, unused_b = 0;
      walk(geo, begin, end, [&](int64_t m, int64_t l, int64_t c) {
        const T v = static_cast<T>(xp[m]);
        const T k = kNoisy && v >= T(0) ? static_cast<T>(noise(l)) : T(1);
        gxp[m] = static_cast<scalar_t>(
            backward_element<T, false>(static_cast<T>(gp[m]), v, k, a[c], b[c], unused_a, unused_b));
      });
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
      NoiseCursor noise(seed, offset, sigma);
      for (int64_t u = ubegin; u < uend; ++u) {
        const int64_t row = u / nseg, seg = u % nseg;
        const int64_t c = row % C;
        const int64_t mb = row * S + seg * kUnitElements;
        const int64_t me = row * S + std::min(S, (seg + 1) * kUnitElements);
        double sa = 0, sb = 0;
        for (int64_t m = mb; m < me; ++m) {
          const T v = static_cast<T>(xp[m]);
          const T k = kNoisy && v >= T(0) ? static_cast<T>(noise(m)) : T(1);
          const T gx = backward_element<T, true>(static_cast<T>(gp[m]), v, k, a[c], b[c], sa, sb);
          if (gxp) gxp[m] = static_cast<scalar_t>(gx);
        }
        part[2 * u] = sa;
        part[2 * u + 1] = sb;
      }
    });
    at::parallel_for(0, C, 1, [&](int64_t cb, int64_t ce) {
      for (int64_t c = cb; c < ce; ++c) {
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
    });
  } else {
    const int64_t rows = geo.O * geo.S;
    const int64_t rows_per_unit = std::max<int64_t>(1, (kUnitTarget + C - 1) / C);
    const int64_t units = (rows + rows_per_unit - 1) / rows_per_unit;
    std::vector<double> part(static_cast<size_t>(2 * units * C), 0.0);
    at::parallel_for(0, units, 1, [&](int64_t ubegin, int64_t uend) {
      NoiseCursor noise(seed, offset, sigma);
      for (int64_t u = ubegin; u < uend; ++u) {
        double* pa = part.data() + 2 * u * C;
        double* pb = pa + C;
        const int64_t mb = u * rows_per_unit * C;
        const int64_t me = std::min(rows, (u + 1) * rows_per_unit) * C;
        walk(geo, mb, me, [&](int64_t m, int64_t l, int64_t c) {
          const T v = static_cast<T>(xp[m]);
          const T k = kNoisy && v >= T(0) ? static_cast<T>(noise(l)) : T(1);
          const T gx =
              backward_element<T, true>(static_cast<T>(gp[m]), v, k, a[c], b[c], pa[c], pb[c]);
          if (gxp) gxp[m] = static_cast<scalar_t>(gx);
        });
      }
    });
    at::parallel_for(0, C, 1, [&](int64_t cb, int64_t ce) {
      for (int64_t c = cb; c < ce; ++c) {
        double sa = 0, sb = 0;
        for (int64_t u = 0; u < units; ++u) {
          sa += part[2 * u * C + c];
          sb += part[2 * u * C + C + c];
        }
        sum_a[c] = sa;
        sum_b[c] = sb;
      }
    });
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

uint64_t as_u64(int64_t v) { return static_cast<uint64_t>(v); }

}  // namespace

at::Tensor eelu_forward_cpu(const at::Tensor& input, const at::Tensor& alpha,
                            const at::Tensor& beta, double sigma, int64_t seed, int64_t offset,
                            bool /*param_grad*/) {
  detail::check_inputs(input, alpha, beta);
  detail::check_sigma(sigma);
  const Geometry geo = geometry_of(input);
  const at::Tensor x = input.contiguous(geo.format);
  at::Tensor y = at::empty_like(x);
  if (x.numel() == 0) return y;
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "eelu_forward_cpu", [&] {
    if (sigma > 0) {
      forward_loop<scalar_t, true>(x, y, geo, alpha, beta, as_u64(seed), as_u64(offset),
                                   static_cast<float>(sigma));
    } else {
      forward_loop<scalar_t, false>(x, y, geo, alpha, beta, 0, 0, 0.f);
    }
  });
  return y;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> eelu_backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& alpha,
    const at::Tensor& beta, double sigma, int64_t seed, int64_t offset,
    std::array<bool, 3> output_mask) {
  detail::check_inputs(input, alpha, beta);
  detail::check_sigma(sigma);
  TORCH_CHECK(grad_output.defined() && grad_output.sizes() == input.sizes(),
              "eelu_backward: grad_output must have the input's shape ", input.sizes());
  TORCH_CHECK(grad_output.scalar_type() == input.scalar_type(),
              "eelu_backward: grad_output has dtype ", grad_output.scalar_type(),
              " but the input has dtype ", input.scalar_type());
  TORCH_CHECK(grad_output.device() == input.device(), "eelu_backward: grad_output is on ",
              grad_output.device(), " but the input is on ", input.device());
  const Geometry geo = geometry_of(input);
  const at::Tensor x = input.contiguous(geo.format);
  const at::Tensor g = grad_output.contiguous(geo.format);
  const bool want_x = output_mask[0];
  const bool want_params = output_mask[1] || output_mask[2];

  at::Tensor grad_x = want_x ? at::empty_like(x) : at::Tensor();
  std::vector<double> sum_a(static_cast<size_t>(geo.C), 0.0), sum_b(sum_a);
  if (x.numel() > 0 && (want_x || want_params)) {
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "eelu_backward_cpu", [&] {
      scalar_t* gxp = want_x ? grad_x.data_ptr<scalar_t>() : nullptr;
      const uint64_t s = as_u64(seed), o = as_u64(offset);
      const float sg = static_cast<float>(sigma);
      if (sigma > 0) {
        if (want_params) {
          backward_loop<scalar_t, true, true>(g, x, gxp, geo, alpha, beta, s, o, sg, sum_a, sum_b);
        } else {
          backward_loop<scalar_t, true, false>(g, x, gxp, geo, alpha, beta, s, o, sg, sum_a, sum_b);
        }
      } else {
        if (want_params) {
          backward_loop<scalar_t, false, true>(g, x, gxp, geo, alpha, beta, 0, 0, 0.f, sum_a, sum_b);
        } else {
          backward_loop<scalar_t, false, false>(g, x, gxp, geo, alpha, beta, 0, 0, 0.f, sum_a, sum_b);
        }
      }
    });
  }
  at::Tensor grad_a = output_mask[1] ? parameter_grad(sum_a, alpha) : at::Tensor();
  at::Tensor grad_b = output_mask[2] ? parameter_grad(sum_b, beta) : at::Tensor();
  return {grad_x, grad_a, grad_b};
}

at::Tensor eelu_noise_cpu(const at::Tensor& input, double sigma, int64_t seed, int64_t offset) {
  detail::check_input(input);
  detail::check_sigma(sigma);
  const Geometry geo = geometry_of(input);
  const at::Tensor x = input.contiguous(geo.format);
  const auto k_type = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor k = at::empty_like(x, x.options().dtype(k_type));
  if (x.numel() == 0) return k;
  const float sg = static_cast<float>(sigma);
  AT_DISPATCH_FLOATING_TYPES(k_type, "eelu_noise_cpu", [&] {
    scalar_t* kp = k.data_ptr<scalar_t>();
    at::parallel_for(0, geo.numel(), kGrain, [&](int64_t begin, int64_t end) {
      NoiseCursor noise(as_u64(seed), as_u64(offset), sg);
      walk(geo, begin, end, [&](int64_t m, int64_t l, int64_t) {
        kp[m] = sigma > 0 ? static_cast<scalar_t>(noise(l)) : scalar_t(1);
      });
    });
  });
  return k;
}

TORCH_LIBRARY_IMPL(eelu, CPU, m) {
  m.impl("eelu_with_noise", &eelu_forward_cpu);
  m.impl("eelu_backward", &eelu_backward_cpu);
  m.impl("eelu_noise", &eelu_noise_cpu);
}

}  // namespace eelu::cpu
