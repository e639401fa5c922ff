// `eelu selfcheck`: the operator against its composite reference, and a small timing.
#pragma once

#include <cstdint>
#include <vector>

namespace eelu::app {

struct SelfcheckOptions {
  std::vector<int64_t> shape{32, 16, 32, 32};
  uint64_t seed = 0;
  int threads = 0;  // 0: LibTorch's default
  int repeats = 7;
};

int run_selfcheck(const SelfcheckOptions& options);

}  // namespace eelu::app
