// The operator and training-step benchmarks behind `eelu bench ops`, `eelu bench step` and
// build/bench/eelu_bench_ops. Every competitor runs in the same process on the same
// tensors; the output is medians and ratios. Results and the method: docs/performance.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace eelu::bench {

struct OpsBenchOptions {
  std::vector<int64_t> sizes{4 << 20, 16 << 20};  // elements, shaped (N, 64, H, W)
  std::vector<std::string> dtypes{"float32", "bfloat16"};
  std::vector<int> threads{1, 2};
  int repeats = 9;  // timed runs per measurement (median)
  int warmup = 2;
  std::string capability;  // "" automatic, "default", "avx2"
};

struct StepBenchOptions {
  std::string model = "resnet20";
  std::vector<std::string> activations{"relu", "elu", "prelu", "eelu"};
  int64_t batch = 128;
  int threads = 2;
  int steps = 10;  // timed steps per activation (an even number: EELU alternates)
  int warmup = 2;
  int rounds = 3;  // the activations are measured in turn, `rounds` times (median)
};

int run_ops_benchmark(const OpsBenchOptions& options);
int run_step_benchmark(const StepBenchOptions& options);

}  // namespace eelu::bench
