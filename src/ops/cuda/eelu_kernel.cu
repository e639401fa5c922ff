// Fused CUDA kernels of EELU (built with EELU_WITH_CUDA): the semantics of the CPU kernels
// (ops/cpu/eelu_kernel.cpp), the same element math (ops/eelu_math.h), the same noise stream
// (Note [EELU noise stream]): for the same (sigma, seed, offset) the CUDA kernels give the
// CPU kernels' k bit for bit, and float32 outputs and input gradients bit for bit too.
//
// Note [CUDA kernel structure]
// - Forward and backward without noise (evaluation, sigma == 0) walk memory in order, four
//   elements per thread, the channel of an element from its memory index.
// - With noise, a thread takes one Philox counter and the four elements it gives (logical
//   indices 32*(counter/8) + counter%8 + {0, 8, 16, 24}): each Philox call is used whole, and
//   a warp's four words touch four 32-byte sectors each.
// - The gradients of alpha and beta (Note [Deterministic CUDA parameter gradients]): the
//   element kernel writes each element's two contributions into scratch (memory order); a
//   second kernel sums them per channel over a partition of the channel's elements fixed by
//   the shape alone, each part in a fixed tree order in double; a third adds the parts in
//   order. No atomics: the result is bitwise the same on every run.
// - Everything is launched on the current stream of the input's device and checked.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#if __has_include(<ATen/cuda/CUDAGeneratorImpl.h>)
#include <ATen/cuda/CUDAGeneratorImpl.h>  // LibTorch 2.x
#else
#include <ATen/CUDAGeneratorImpl.h>  // LibTorch 1.x
#endif

#include <mutex>

#include "eelu/ops.h"
#include "ops/cuda/eelu_loops.h"
#include "ops/cuda_info.h"
#include "ops/eelu_checks.h"
#include "ops/eelu_geometry.h"
#include "ops/eelu_math.h"
#include "ops/noise.h"
#include "ops/noise_key.h"

namespace eelu::cuda {
namespace {

// Parameter-gradient reduction: elements of one channel per part (the partition depends on
// the shape only), and at most this many parts per channel.
constexpr int64_t kReducePart = 16384;
constexpr int64_t kMaxParts = 1024;

using detail::Geometry;  // ops/eelu_geometry.h, as on the CPU
using detail::geometry_of;

int blocks_for(int64_t work) {
  const int64_t per_block = int64_t(kThreads) * kPerThread;
  const int64_t want = (work + per_block - 1) / per_block;
  const int64_t cap = int64_t(at::cuda::getCurrentDeviceProperties()->multiProcessorCount) * 32;
  return static_cast<int>(std::max<int64_t>(1, std::min(want, cap)));
}

// ---- forward ---------------------------------------------------------------------------

template <typename scalar_t, typename T, typename index_t, Layout L>
__global__ void forward_plain(const scalar_t* __restrict__ x, scalar_t* __restrict__ y,
                              const T* __restrict__ a, const T* __restrict__ b, Shape<index_t> sh) {
  for_each_plain<L>(sh, GridPosition::here(), [&](index_t m, index_t c) {
    y[m] = static_cast<scalar_t>(math::forward(static_cast<T>(x[m]), T(1), a[c], b[c]));
  });
}

template <typename scalar_t, typename T, typename index_t>
__global__ void forward_noisy(const scalar_t* __restrict__ x, scalar_t* __restrict__ y,
                              const T* __restrict__ a, const T* __restrict__ b, bool uniform,
                              bool inner, Shape<index_t> sh, float sigma, uint64_t seed,
                              uint64_t offset) {
  for_each_noisy(sh, GridPosition::here(), uniform, inner, sigma, seed, offset,
                 [&](index_t m, index_t c, float k) {
                   y[m] = static_cast<scalar_t>(
                       math::forward(static_cast<T>(x[m]), static_cast<T>(k), a[c], b[c]));
                 });
}

// ---- backward --------------------------------------------------------------------------

// One element: the input gradient, and the contributions to the gradients of alpha and beta
// (the CPU span's arithmetic exactly).
template <typename scalar_t, typename T>
__device__ __forceinline__ void backward_element(const scalar_t* g, const scalar_t* x, scalar_t* gx,
                                                 T* ca, T* cb, int64_t m, T a, T b, float k,
                                                 bool noisy) {
  const T v = static_cast<T>(x[m]);
  const T gv = static_cast<T>(g[m]);
  if (v >= T(0)) {
    if (gx) gx[m] = static_cast<scalar_t>(noisy ? gv * static_cast<T>(k) : gv);
    if (ca) {
      ca[m] = T(0);
      cb[m] = T(0);
    }
    return;
  }
  T em1, e;  // Note [The gradient takes exp, not expm1 + 1]
  math::expm1_exp_of(b * v, em1, e);
  const T ga = gv * a;
  if (gx) gx[m] = static_cast<scalar_t>(ga * b * e);
  if (ca) {
    ca[m] = gv * em1;
    cb[m] = ga * v * e;
  }
}

template <typename scalar_t, typename T, typename index_t, Layout L>
__global__ void backward_plain(const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
                               scalar_t* gx, T* ca, T* cb, const T* __restrict__ a,
                               const T* __restrict__ b, Shape<index_t> sh) {
  for_each_plain<L>(sh, GridPosition::here(), [&](index_t m, index_t c) {
    backward_element<scalar_t, T>(g, x, gx, ca, cb, m, a[c], b[c], 1.0f, false);
  });
}

template <typename scalar_t, typename T, typename index_t>
__global__ void backward_noisy(const scalar_t* __restrict__ g, const scalar_t* __restrict__ x,
                               scalar_t* gx, T* ca, T* cb, const T* __restrict__ a,
                               const T* __restrict__ b, bool uniform, bool inner, Shape<index_t> sh,
                               float sigma, uint64_t seed, uint64_t offset) {
  for_each_noisy(sh, GridPosition::here(), uniform, inner, sigma, seed, offset,
                 [&](index_t m, index_t c, float k) {
                   backward_element<scalar_t, T>(g, x, gx, ca, cb, m, a[c], b[c], k, true);
                 });
}

// Note [Deterministic CUDA parameter gradients]
// Channel c's elements, in the logical order (o, s), are cut into `parts` runs of equal
// length (the last shorter); block (c, p) sums run p: thread t takes elements t, t + 256, ...
// of the run in order, in double, then the block's 256 sums are added in a fixed tree. The
// parts are then added in order by reduce_parts. The partition and both orders depend on
// the shape alone.
template <typename T>
__global__ void reduce_channel_parts(const T* __restrict__ ca, const T* __restrict__ cb,
                                     double* __restrict__ parts_a, double* __restrict__ parts_b,
                                     int64_t O, int64_t C, int64_t S, bool inner, int64_t parts,
                                     int64_t part_len) {
  __shared__ double sa[kThreads], sb[kThreads];
  const int64_t c = blockIdx.x, p = blockIdx.y;
  const int64_t n = O * S;
  const int64_t begin = p * part_len;
  const int64_t end = begin + part_len < n ? begin + part_len : n;
  double la = 0, lb = 0;
  for (int64_t j = begin + threadIdx.x; j < end; j += kThreads) {
    const int64_t m = channel_element(j, c, C, S, inner);
    la += static_cast<double>(ca[m]);
    lb += static_cast<double>(cb[m]);
  }
  sa[threadIdx.x] = la;
  sb[threadIdx.x] = lb;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      sa[threadIdx.x] += sa[threadIdx.x + half];
      sb[threadIdx.x] += sb[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    parts_a[c * parts + p] = sa[0];
    parts_b[c * parts + p] = sb[0];
  }
}

// Per channel: the parts in order. shared: one total over the channels in order (thread 0).
__global__ void reduce_parts(const double* __restrict__ parts_a, const double* __restrict__ parts_b,
                             double* __restrict__ out_a, double* __restrict__ out_b, int64_t C,
                             int64_t parts, bool shared) {
  if (shared) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
      double ta = 0, tb = 0;
      for (int64_t c = 0; c < C; ++c) {
        double ca = 0, cb = 0;
        for (int64_t p = 0; p < parts; ++p) {
          ca += parts_a[c * parts + p];
          cb += parts_b[c * parts + p];
        }
        ta += ca;
        tb += cb;
      }
      out_a[0] = ta;
      out_b[0] = tb;
    }
    return;
  }
  for (int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < C;
       c += int64_t(gridDim.x) * blockDim.x) {
    double ca = 0, cb = 0;
    for (int64_t p = 0; p < parts; ++p) {
      ca += parts_a[c * parts + p];
      cb += parts_b[c * parts + p];
    }
    out_a[c] = ca;
    out_b[c] = cb;
  }
}

// ---- noise -----------------------------------------------------------------------------

template <typename out_t, typename index_t>
__global__ void noise_kernel(out_t* __restrict__ out, bool inner, Shape<index_t> sh, float sigma,
                             uint64_t seed, uint64_t offset) {
  for_each_noisy(sh, GridPosition::here(), true, inner, sigma, seed, offset,
                 [&](index_t m, index_t, float k) { out[m] = static_cast<out_t>(k); });
}

// ---- host side -------------------------------------------------------------------------

// alpha = max(a, 0), beta = max(b, 0) in the arithmetic type, on the device (NaN stays NaN):
// one entry, or (channels != 1) one per channel, a shared parameter repeated.
at::Tensor clamped(const at::Tensor& p, at::ScalarType opmath, int64_t channels) {
  at::Tensor q = p.to(opmath).contiguous();
  if (q.numel() != channels) q = q.expand({channels}).contiguous();
  return at::where(q < 0, at::zeros_like(q), q);
}

template <typename F>
void with_index_type(int64_t numel, F&& f) {
  // logical and memory indices, counters and their products stay below numel + 32
  if (numel + 64 < (int64_t(1) << 31)) {
    f(uint32_t{});
  } else {
    f(uint64_t{});
  }
}

using detail::key_of;  // ops/noise_key.h, as on the CPU
using detail::NoiseKey;

void forward_into(const at::Tensor& x, at::Tensor& y, const Geometry& geo, const at::Tensor& alpha,
                  const at::Tensor& beta, const NoiseKey& key) {
  if (x.numel() == 0) return;
  const bool uniform = alpha.numel() == 1 && beta.numel() == 1;
  const auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, x.scalar_type(), "eelu_forward_cuda", [&] {
        using T = at::opmath_type<scalar_t>;
        const int64_t channels = uniform ? 1 : geo.C;
        const at::Tensor a = clamped(alpha, c10::CppTypeToScalarType<T>::value, channels);
        const at::Tensor b = clamped(beta, c10::CppTypeToScalarType<T>::value, channels);
        with_index_type(geo.numel(), [&](auto zero) {
          using index_t = decltype(zero);
          const Shape<index_t> sh{index_t(geo.numel()), index_t(geo.C), index_t(geo.S)};
          const scalar_t* xp = x.data_ptr<scalar_t>();
          scalar_t* yp = y.data_ptr<scalar_t>();
          const T* ap = a.data_ptr<T>();
          const T* bp = b.data_ptr<T>();
          if (key.sigma > 0) {
            const int64_t counters = (geo.numel() + 31) / 32 * 8;
            forward_noisy<scalar_t, T, index_t>
                <<<blocks_for(counters * kPerThread), kThreads, 0, stream>>>(
                    xp, yp, ap, bp, uniform, geo.channels_inner, sh, key.sigma, key.seed,
                    key.offset);
          } else if (uniform) {
            forward_plain<scalar_t, T, index_t, Layout::Uniform>
                <<<blocks_for(geo.numel()), kThreads, 0, stream>>>(xp, yp, ap, bp, sh);
          } else if (geo.channels_inner) {
            forward_plain<scalar_t, T, index_t, Layout::ChannelInner>
                <<<blocks_for(geo.numel()), kThreads, 0, stream>>>(xp, yp, ap, bp, sh);
          } else {
            forward_plain<scalar_t, T, index_t, Layout::ChannelOuter>
                <<<blocks_for(geo.numel()), kThreads, 0, stream>>>(xp, yp, ap, bp, sh);
          }
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        });
      });
}

// The backward into grad_x (undefined: not wanted); the parameter gradients asked for by
// mask[1], mask[2], in the parameters' dtype and shape.
std::pair<at::Tensor, at::Tensor> backward_into(const at::Tensor& g, const at::Tensor& x,
                                                at::Tensor& grad_x, const Geometry& geo,
                                                const at::Tensor& alpha, const at::Tensor& beta,
                                                const NoiseKey& key, std::array<bool, 3> mask) {
  const bool want_params = mask[1] || mask[2];
  const bool uniform = alpha.numel() == 1 && beta.numel() == 1;
  const auto stream = at::cuda::getCurrentCUDAStream();
  const auto dopts = x.options().dtype(at::kDouble);
  // Per channel (one entry when both parameters are shared: the reduction adds the channels).
  const int64_t sums = uniform ? 1 : geo.C;
  at::Tensor sum_a = at::zeros({sums}, dopts), sum_b = at::zeros({sums}, dopts);
  if (x.numel() > 0 && (grad_x.defined() || want_params)) {
    AT_DISPATCH_FLOATING_TYPES_AND2(
        at::kHalf, at::kBFloat16, x.scalar_type(), "eelu_backward_cuda", [&] {
          using T = at::opmath_type<scalar_t>;
          const auto opmath = c10::CppTypeToScalarType<T>::value;
          const at::Tensor a = clamped(alpha, opmath, uniform ? 1 : geo.C);
          const at::Tensor b = clamped(beta, opmath, uniform ? 1 : geo.C);
          at::Tensor ca, cb;
          if (want_params) {
            ca = at::empty({geo.numel()}, x.options().dtype(opmath));
            cb = at::empty({geo.numel()}, x.options().dtype(opmath));
          }
          with_index_type(geo.numel(), [&](auto zero) {
            using index_t = decltype(zero);
            const Shape<index_t> sh{index_t(geo.numel()), index_t(geo.C), index_t(geo.S)};
            const scalar_t* gp = g.data_ptr<scalar_t>();
            const scalar_t* xp = x.data_ptr<scalar_t>();
            scalar_t* gxp = grad_x.defined() ? grad_x.data_ptr<scalar_t>() : nullptr;
            T* cap = want_params ? ca.data_ptr<T>() : nullptr;
            T* cbp = want_params ? cb.data_ptr<T>() : nullptr;
            const T* ap = a.data_ptr<T>();
            const T* bp = b.data_ptr<T>();
            if (key.sigma > 0) {
              const int64_t counters = (geo.numel() + 31) / 32 * 8;
              backward_noisy<scalar_t, T, index_t>
                  <<<blocks_for(counters * kPerThread), kThreads, 0, stream>>>(
                      gp, xp, gxp, cap, cbp, ap, bp, uniform, geo.channels_inner, sh, key.sigma,
                      key.seed, key.offset);
            } else if (uniform) {
              backward_plain<scalar_t, T, index_t, Layout::Uniform>
                  <<<blocks_for(geo.numel()), kThreads, 0, stream>>>(gp, xp, gxp, cap, cbp, ap, bp,
                                                                     sh);
            } else if (geo.channels_inner) {
              backward_plain<scalar_t, T, index_t, Layout::ChannelInner>
                  <<<blocks_for(geo.numel()), kThreads, 0, stream>>>(gp, xp, gxp, cap, cbp, ap, bp,
                                                                     sh);
            } else {
              backward_plain<scalar_t, T, index_t, Layout::ChannelOuter>
                  <<<blocks_for(geo.numel()), kThreads, 0, stream>>>(gp, xp, gxp, cap, cbp, ap, bp,
                                                                     sh);
            }
            C10_CUDA_KERNEL_LAUNCH_CHECK();
          });
          if (want_params) {
            const int64_t n = geo.O * geo.S;
            const int64_t parts = std::min<int64_t>(
                kMaxParts, std::max<int64_t>(1, (n + kReducePart - 1) / kReducePart));
            const int64_t part_len = (n + parts - 1) / parts;
            TORCH_CHECK(geo.C < (int64_t(1) << 31), "eelu (CUDA): too many channels: ", geo.C);
            at::Tensor pa = at::empty({geo.C * parts}, dopts),
                       pb = at::empty({geo.C * parts}, dopts);
            const dim3 grid(static_cast<unsigned>(geo.C), static_cast<unsigned>(parts));
            reduce_channel_parts<T><<<grid, kThreads, 0, stream>>>(
                ca.data_ptr<T>(), cb.data_ptr<T>(), pa.data_ptr<double>(), pb.data_ptr<double>(),
                geo.O, geo.C, geo.S, geo.channels_inner, parts, part_len);
            C10_CUDA_KERNEL_LAUNCH_CHECK();
            const int rblocks =
                static_cast<int>(std::min<int64_t>(1024, (geo.C + kThreads - 1) / kThreads));
            reduce_parts<<<uniform ? 1 : rblocks, kThreads, 0, stream>>>(
                pa.data_ptr<double>(), pb.data_ptr<double>(), sum_a.data_ptr<double>(),
                sum_b.data_ptr<double>(), geo.C, parts, uniform);
            C10_CUDA_KERNEL_LAUNCH_CHECK();
          }
        });
  }
  // A shared parameter next to a channel-wise one: its gradient is the sum over channels
  // (a small tensor; ATen's reductions use no atomics).
  auto finish = [&](const at::Tensor& per, const at::Tensor& p) {
    const at::Tensor s = per.numel() == p.numel() ? per : per.sum().reshape({1});
    return s.to(p.scalar_type());
  };
  return {mask[1] ? finish(sum_a, alpha) : at::Tensor(),
          mask[2] ? finish(sum_b, beta) : at::Tensor()};
}

at::Tensor eelu_forward_cuda(const at::Tensor& input, const at::Tensor& alpha,
                             const at::Tensor& beta, double sigma, int64_t seed, int64_t offset,
                             bool /*param_grad*/) {
  detail::check_inputs(input, alpha, beta);
  detail::check_sigma(sigma);
  const c10::cuda::CUDAGuard guard(input.device());
  const Geometry geo = geometry_of(input);
  const at::Tensor x = input.contiguous(geo.format);
  at::Tensor y = at::empty_like(x);
  forward_into(x, y, geo, alpha, beta, key_of(sigma, seed, offset));
  return y;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> eelu_backward_cuda(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& alpha,
    const at::Tensor& beta, double sigma, int64_t seed, int64_t offset, std::array<bool, 3> mask) {
  detail::check_inputs(input, alpha, beta);
  detail::check_sigma(sigma);
  TORCH_CHECK(grad_output.defined() && grad_output.sizes() == input.sizes(),
              "eelu_backward: grad_output must have the input's shape ", input.sizes());
  TORCH_CHECK(grad_output.scalar_type() == input.scalar_type(),
              "eelu_backward: grad_output has dtype ", grad_output.scalar_type(),
              " but the input has dtype ", input.scalar_type());
  TORCH_CHECK(grad_output.device() == input.device(), "eelu_backward: grad_output is on ",
              grad_output.device(), " but the input is on ", input.device());
  const c10::cuda::CUDAGuard guard(input.device());
  const Geometry geo = geometry_of(input);
  const at::Tensor x = input.contiguous(geo.format);
  const at::Tensor g = grad_output.contiguous(geo.format);
  at::Tensor grad_x = mask[0] ? at::empty_like(x) : at::Tensor();
  auto [grad_a, grad_b] =
      backward_into(g, x, grad_x, geo, alpha, beta, key_of(sigma, seed, offset), mask);
  return {grad_x, grad_a, grad_b};
}

at::Tensor eelu_noise_cuda(const at::Tensor& input, double sigma, int64_t seed, int64_t offset) {
  detail::check_input(input);
  detail::check_sigma(sigma);
  const c10::cuda::CUDAGuard guard(input.device());
  const Geometry geo = geometry_of(input);
  const at::Tensor x = input.contiguous(geo.format);
  const auto dtype = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor k = at::empty_like(x, x.options().dtype(dtype));
  if (x.numel() == 0) return k;
  const NoiseKey key = key_of(sigma, seed, offset);
  const auto stream = at::cuda::getCurrentCUDAStream();
  const int64_t counters = (geo.numel() + 31) / 32 * 8;
  with_index_type(geo.numel(), [&](auto zero) {
    using index_t = decltype(zero);
    const Shape<index_t> sh{index_t(geo.numel()), index_t(geo.C), index_t(geo.S)};
    if (dtype == at::kDouble) {
      noise_kernel<double, index_t><<<blocks_for(counters * kPerThread), kThreads, 0, stream>>>(
          k.data_ptr<double>(), geo.channels_inner, sh, key.sigma, key.seed, key.offset);
    } else {
      noise_kernel<float, index_t><<<blocks_for(counters * kPerThread), kThreads, 0, stream>>>(
          k.data_ptr<float>(), geo.channels_inner, sh, key.sigma, key.seed, key.offset);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return k;
}

// Note [Drawing the noise of one CUDA call]
// Under the CUDA generator's lock, philox_engine_inputs reserves a fresh offset (PyTorch's
// own way of handing out Philox streams); the key is the generator's seed. The offset is
// the high half of every counter of the call, so calls never share counters. sigma =
// epsilon * U[0, 1) comes from the same stream on the host: the Philox block at counter
// (2^64 - 1, offset), which no element uses.
NoiseState draw_noise_cuda(double epsilon, c10::optional<at::Generator> generator,
                           c10::Device device) {
  detail::check_epsilon(epsilon);
  const c10::DeviceIndex index = device.has_index() ? device.index() : c10::cuda::current_device();
  auto* gen = at::get_generator_or_default<at::CUDAGeneratorImpl>(
      generator, at::cuda::detail::getDefaultCUDAGenerator(index));
  uint64_t seed = 0, offset = 0;
  {
    std::lock_guard<std::mutex> lock(gen->mutex_);
    std::tie(seed, offset) = gen->philox_engine_inputs(4);
  }
  const math::Philox4 r = math::philox4x32_10(~uint64_t{0}, offset, seed);
  const uint64_t u = (uint64_t(r.v[1]) << 32) | r.v[0];
  NoiseState s;
  s.sigma = epsilon * static_cast<double>(u >> 11) * 0x1.0p-53;
  s.seed = seed;
  s.offset = offset;
  return s;
}

std::string device_name(int index) {
  cudaDeviceProp prop{};
  C10_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return prop.name;
}

const bool kRegistered = [] {
  detail::register_noise_drawer(c10::DeviceType::CUDA, &draw_noise_cuda);
  detail::register_cuda_device_name(&device_name);
  return true;
}();

TORCH_LIBRARY_IMPL(eelu, CUDA, m) {
  m.impl("eelu_with_noise", &eelu_forward_cuda);
  m.impl("eelu_backward", &eelu_backward_cuda);
  m.impl("eelu_noise", &eelu_noise_cuda);
}

}  // namespace
}  // namespace eelu::cuda
