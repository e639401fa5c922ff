// The device code shared by the CUDA kernels (ops/eelu_math.h, ops/cuda/eelu_loops.h),
// compiled without the CUDA SDK: clang's CUDA front end with its own headers for the
// built-in variables and device math, both passes (device: to PTX for sm_80; host: syntax).
// The kernels below have the shape of ops/cuda/eelu_kernel.cu's, instantiated for float32 and
// float64 arithmetic, 32- and 64-bit indices and each layout. (The kernel file itself needs
// ATen's CUDA headers, which only a GPU machine has: bench/gpu/run.sh.)
#define CUDA_VERSION 11000
#define __CUDACC__
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#define __host__ __attribute__((host))
#define __device__ __attribute__((device))
#define __global__ __attribute__((global))
#define __shared__ __attribute__((shared))
#define __forceinline__ __inline__ __attribute__((always_inline))
#include <__clang_cuda_builtin_vars.h>
#define __CUDACC_EXTRA__
#include <__clang_cuda_device_functions.h>
#include <__clang_cuda_libdevice_declares.h>
#include <__clang_cuda_math.h>
#include "ops/cuda/eelu_loops.h"
#include "ops/eelu_math.h"
using namespace eelu;
using namespace eelu::cuda;
template <typename T, typename index_t, Layout L>
__global__ void fwd_plain(const float* x, float* y, const T* a, const T* b, Shape<index_t> sh) {
  for_each_plain<L>(sh, GridPosition::here(), [&](index_t m, index_t c) {
    y[m] = static_cast<float>(math::forward(static_cast<T>(x[m]), T(1), a[c], b[c]));
  });
}
template <typename T, typename index_t>
__global__ void fwd_noisy(const float* x, float* y, const T* a, const T* b, bool u, bool inner,
                          Shape<index_t> sh, float sigma, uint64_t seed, uint64_t offset) {
  for_each_noisy(
      sh, GridPosition::here(), u, inner, sigma, seed, offset, [&](index_t m, index_t c, float k) {
        y[m] =
            static_cast<float>(math::forward(static_cast<T>(x[m]), static_cast<T>(k), a[c], b[c]));
      });
}
template __global__ void fwd_plain<float, uint32_t, Layout::ChannelOuter>(const float*, float*,
                                                                          const float*,
                                                                          const float*,
                                                                          Shape<uint32_t>);
template __global__ void fwd_plain<double, uint64_t, Layout::ChannelInner>(const float*, float*,
                                                                           const double*,
                                                                           const double*,
                                                                           Shape<uint64_t>);
template __global__ void fwd_noisy<float, uint32_t>(const float*, float*, const float*,
                                                    const float*, bool, bool, Shape<uint32_t>,
                                                    float, uint64_t, uint64_t);
template __global__ void fwd_noisy<double, uint64_t>(const float*, float*, const double*,
                                                     const double*, bool, bool, Shape<uint64_t>,
                                                     float, uint64_t, uint64_t);
