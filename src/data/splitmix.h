// SplitMix64 (Steele, Lea and Flood 2014): tiny, fully specified, good enough to shuffle, so
// that a seed selects the same images on every platform and LibTorch version.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace eelu::data::detail {

struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) without modulo bias (Lemire's multiply-and-reject).
  uint64_t below(uint64_t n) {
    while (true) {
      const unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
      const uint64_t low = static_cast<uint64_t>(m);
      if (low >= n || low >= (0 - n) % n) return static_cast<uint64_t>(m >> 64);
    }
  }
  // Fisher-Yates.
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }
};

// A seed for a stream identified by (seed, a, b), well mixed.
inline uint64_t stream_seed(uint64_t seed, uint64_t a, uint64_t b = 0) {
  SplitMix64 m{seed ^ (a * 0xD6E8FEB86659FD93ull) ^ (b * 0xA0761D6478BD642Full)};
  return m.next();
}

}  // namespace eelu::data::detail
