// The element loops of the CUDA kernels: which thread handles which elements, their
// channels and their noise. Plain C++ with CUDA annotations, so that the host test suite
// (tests/cpp/test_kernels.cpp) runs them over an emulated grid and checks that every element
// is visited once, with the right channel and the CPU's k, without a GPU.
#pragma once

#include <cstdint>

#include "ops/eelu_math.h"

// Device functions in the CUDA build; host functions where the tests compile this header.
#if defined(__CUDACC__)
#define EELU_LOOP __device__ __forceinline__
#define EELU_UNROLL _Pragma("unroll")
#else
#define EELU_LOOP inline
#define EELU_UNROLL
#endif

namespace eelu::cuda {

constexpr int kThreads = 256;  // threads per block
constexpr int kPerThread = 4;  // elements per thread and step in the plain loops

enum class Layout { Uniform, ChannelOuter, ChannelInner };

// The logical shape (numel, C, S) in the index type: 32 bits when the tensor allows (64-bit
// division is slow on GPUs).
template <typename index_t>
struct Shape {
  index_t numel, C, S;
  // channel of memory index m
  template <Layout L>
  EELU_LOOP index_t channel_of_memory(index_t m) const {
    if constexpr (L == Layout::Uniform) {
      return 0;
    } else if constexpr (L == Layout::ChannelInner) {
      return m % C;
    } else {
      return (m / S) % C;
    }
  }
  // memory index of logical index l (channels last with S > 1 moves it)
  EELU_LOOP index_t memory_of_logical(index_t l, bool inner) const {
    if (!inner || S == 1) return l;
    const index_t s = l % S, oc = l / S, c = oc % C, o = oc / C;
    return (o * S + s) * C + c;
  }
};

// Where a thread is in its launch (what blockIdx.x, threadIdx.x and gridDim.x say on a GPU).
struct GridPosition {
  uint64_t block = 0, thread = 0, blocks = 1;
#if defined(__CUDACC__)  // both nvcc passes parse the kernels that call it
  static __device__ __forceinline__ GridPosition here() {
    return {blockIdx.x, threadIdx.x, gridDim.x};
  }
#endif
};

// Without noise: memory order, kPerThread elements per thread and step, spaced by the block
// size (coalesced); f(m, c) for memory index m of channel c.
template <Layout L, typename index_t, typename F>
EELU_LOOP void for_each_plain(const Shape<index_t>& sh, GridPosition at, F&& f) {
  const index_t stride = index_t(at.blocks) * kThreads * kPerThread;
  for (index_t base = index_t(at.block) * kThreads * kPerThread + index_t(at.thread);
       base < sh.numel; base += stride) {
    EELU_UNROLL
    for (int j = 0; j < kPerThread; ++j) {
      const index_t m = base + index_t(j) * kThreads;
      if (m < sh.numel) f(m, sh.template channel_of_memory<L>(m));
    }
  }
}

// With noise: one Philox counter per thread and step, and the four elements it gives
// (logical indices 32*(counter/8) + counter%8 + {0, 8, 16, 24}, Note [EELU noise stream]);
// f(m, c, k) for the element at memory index m, of channel c (0 when `uniform`), noise k
// (1 when sigma == 0).
template <typename index_t, typename F>
EELU_LOOP void for_each_noisy(const Shape<index_t>& sh, GridPosition at, bool uniform, bool inner,
                              float sigma, uint64_t seed, uint64_t offset, F&& f) {
  const index_t counters = (sh.numel + 31) / 32 * 8;
  for (index_t ctr = index_t(at.block) * kThreads + index_t(at.thread); ctr < counters;
       ctr += index_t(at.blocks) * kThreads) {
    float k[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    if (sigma > 0.0f) math::noise_quad(seed, offset, sigma, static_cast<uint64_t>(ctr), k);
    const index_t first = 32 * (ctr / 8) + ctr % 8;
    EELU_UNROLL
    for (int w = 0; w < 4; ++w) {
      const index_t l = first + 8 * index_t(w);
      if (l < sh.numel)
        f(sh.memory_of_logical(l, inner), uniform ? index_t(0) : (l / sh.S) % sh.C, k[w]);
    }
  }
}

// Element j of channel c in the logical order (o, s) = (j / S, j % S): its memory index (what
// the parameter-gradient reduction reads).
EELU_LOOP int64_t channel_element(int64_t j, int64_t c, int64_t C, int64_t S, bool inner) {
  const int64_t o = j / S, s = j % S;
  return inner ? (o * S + s) * C + c : (o * C + c) * S + s;
}

}  // namespace eelu::cuda
