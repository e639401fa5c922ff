// The noise of one call as the kernels take it (CPU and CUDA): the Philox key, the offset,
// and sigma in float32; sigma == 0 means k = 1 (no noise drawn, no buffer).
#pragma once

#include <cstdint>

namespace eelu::detail {

struct NoiseKey {
  uint64_t seed = 0, offset = 0;
  float sigma = 0.f;
};

// The operators' (sigma, seed, offset) arguments as a key; without noise the key is all zero.
inline NoiseKey key_of(double sigma, int64_t seed, int64_t offset) {
  NoiseKey key;
  key.sigma = static_cast<float>(sigma);
  if (key.sigma > 0) {
    key.seed = static_cast<uint64_t>(seed);
    key.offset = static_cast<uint64_t>(offset);
  }
  return key;
}

}  // namespace eelu::detail
