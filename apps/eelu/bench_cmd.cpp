// `eelu bench ops` and `eelu bench step`: the benchmarks of bench/ops_bench.h from the tool
// (docs/performance.md).
#include "commands.h"

#include <memory>

#include "ops_bench.h"

namespace eelu::app {

CommandRunner add_bench_commands(CLI::App& app) {
  auto* bench_cmd = app.add_subcommand(
      "bench", "benchmarks against LibTorch's activations (docs/performance.md)");
  bench_cmd->require_subcommand(1);

  auto ops = std::make_shared<bench::OpsBenchOptions>();
  auto* ops_cmd = bench_cmd->add_subcommand(
      "ops", "EELU's kernels against copy, ELU, PReLU, RReLU, normal_ and the composite");
  ops_cmd
      ->add_option("--sizes", ops->sizes,
                   "elements per tensor, each a multiple of 64 (shape N x 64 x H x W)")
      ->expected(1, -1);
  ops_cmd->add_option("--dtypes", ops->dtypes, "float32, bfloat16, float64")->expected(1, -1);
  ops_cmd->add_option("--threads", ops->threads, "intra-op thread counts to run")
      ->expected(1, -1)
      ->check(CLI::PositiveNumber);
  ops_cmd->add_option("--repeats", ops->repeats, "timed runs per measurement (median)")
      ->check(CLI::Range(1, 1000));
  ops_cmd->add_option("--warmup", ops->warmup, "untimed runs first")->check(CLI::Range(0, 1000));
  ops_cmd->add_option("--capability", ops->capability,
                      "CPU kernels: default or avx2 (empty: the best the CPU has)");

  auto step = std::make_shared<bench::StepBenchOptions>();
  auto* step_cmd =
      bench_cmd->add_subcommand("step", "a network's training step with each activation");
  step_cmd->add_option("--model", step->model, "network (see docs/models.md)");
  step_cmd->add_option("--act", step->activations, "activation specs; give it once per activation")
      ->expected(1, -1);
  step_cmd->add_option("--batch", step->batch, "images per step")->check(CLI::PositiveNumber);
  step_cmd->add_option("--threads", step->threads, "intra-op threads")->check(CLI::PositiveNumber);
  step_cmd->add_option("--steps", step->steps, "timed steps per round (even)")
      ->check(CLI::PositiveNumber);
  step_cmd->add_option("--rounds", step->rounds, "rounds (median)")->check(CLI::PositiveNumber);
  step_cmd->add_option("--warmup", step->warmup, "untimed steps first")
      ->check(CLI::NonNegativeNumber);

  return [=] {
    if (ops_cmd->parsed()) return bench::run_ops_benchmark(*ops);
    if (step_cmd->parsed()) return bench::run_step_benchmark(*step);
    return -1;
  };
}

}  // namespace eelu::app
