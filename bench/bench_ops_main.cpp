// build/bench/eelu_bench_ops: `eelu bench ops` then `eelu bench step` with their defaults
// (docs/performance.md). Options: --quick (4M elements, float32 only, 5 repeats; 4 steps).
#include <cstdio>
#include <cstring>
#include <exception>

#include "ops_bench.h"

int main(int argc, char** argv) {
  eelu::bench::OpsBenchOptions ops;
  eelu::bench::StepBenchOptions step;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      ops.sizes = {4 << 20};
      ops.dtypes = {"float32"};
      ops.repeats = 5;
      step.steps = 4;
      step.rounds = 2;
    } else {
      std::fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
      return 2;
    }
  }
  try {
    eelu::bench::run_ops_benchmark(ops);
    std::printf("\n");
    return eelu::bench::run_step_benchmark(step);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
