// The eelu command-line tool.
#include <CLI/CLI.hpp>

#include <c10/util/Exception.h>
#include <torch/version.h>

#include <cstdio>
#include <exception>

#include "eelu/distributed/distributed.h"
#include "eelu/ops.h"
#include "activations_cmd.h"
#include "data_cmd.h"
#include "grid_cmd.h"
#include "ops_bench.h"
#include "selfcheck.h"
#include "train_cmd.h"

int main(int argc, char** argv) {
  CLI::App app{"eelu: the Elastic Exponential Linear Unit for LibTorch, and the tools to "
               "test it against other activations"};
  // The build's features on one line (the tests read "distributed training: no" to skip).
  app.set_version_flag("--version", std::string("eelu ") + eelu::version() + " (LibTorch " +
                                        TORCH_VERSION + "; distributed training: " +
                                        (eelu::distributed::Group::available() ? "yes" : "no") +
                                        ")");
  app.require_subcommand(0, 1);

  eelu::app::SelfcheckOptions check;
  auto* selfcheck = app.add_subcommand(
      "selfcheck", "check the EELU operator against its composite reference and time it");
  selfcheck->add_option("--shape", check.shape, "input shape N C [spatial...]")
      ->expected(2, 5)
      ->check(CLI::PositiveNumber);
  selfcheck->add_option("--seed", check.seed, "random seed");
  selfcheck->add_option("--threads", check.threads, "intra-op threads (0: LibTorch default)")
      ->check(CLI::NonNegativeNumber);
  selfcheck->add_option("--repeats", check.repeats, "timed runs per measurement")
      ->check(CLI::Range(1, 1000));

  auto* activations = app.add_subcommand(
      "activations", "list the activations, their aliases and settings");

  eelu::app::PlotOptions plot;
  auto* plot_cmd = app.add_subcommand(
      "plot-activations", "draw every activation and its derivative as PNG (gnuplot)");
  plot_cmd->add_option("--out", plot.out_dir, "output directory")->required();
  plot_cmd->add_option("--only", plot.only, "one activation spec instead of all");
  plot_cmd->add_option("--samples", plot.samples, "training calls behind the noise band")
      ->check(CLI::Range(2, 100000));
  plot_cmd->add_option("--range", plot.range, "x runs over [-range, range]")
      ->check(CLI::Range(0.01, 1e6));
  plot_cmd->add_option("--width", plot.width, "image width in pixels")->check(CLI::Range(100, 10000));
  plot_cmd->add_option("--height", plot.height, "image height in pixels")->check(CLI::Range(100, 10000));

  auto* data_cmd = app.add_subcommand("data", "datasets");
  data_cmd->require_subcommand(1);
  eelu::app::DataInfoOptions info;
  auto* info_cmd = data_cmd->add_subcommand(
      "info", "read a dataset and print its splits, image size and images per class");
  info_cmd->add_option("--dataset", info.dataset,
                       "fashion-mnist (default), mnist, cifar10, cifar100, tiny-imagenet, imagenet");
  info_cmd->add_option("--data-dir", info.data_dir,
                       "where the files are (default for fashion-mnist: the Debian package's)");
  info_cmd->add_flag("--coarse", info.coarse, "cifar100: the 20 coarse labels");
  info_cmd->add_flag("--skip-corrupt", info.skip_corrupt,
                     "leave corrupt JPEGs out (counted) instead of failing");
  info_cmd->add_option("--train-fraction", info.train_fraction,
                       "show the stratified subset of this fraction of the training set")
      ->check(CLI::Range(1e-9, 1.0));
  info_cmd->add_option("--train-per-class", info.train_per_class,
                       "show the stratified subset of this many images per class")
      ->check(CLI::PositiveNumber);
  info_cmd->add_option("--val-fraction", info.val_fraction,
                       "show a stratified validation split of this fraction")
      ->check(CLI::Range(0.0, 0.99));
  info_cmd->add_option("--seed", info.seed, "seed of the subsets");

  eelu::train::TrainConfig train_config;
  auto* train_cmd = app.add_subcommand("train", "train a network with an activation and write its records");
  eelu::app::add_train_options(train_cmd, train_config);
  train_cmd->add_option("--act", train_config.activation, "activation spec (see `eelu activations`), default relu");
  train_cmd->add_option("--out", train_config.out_dir, "directory for config.json, metrics.jsonl, summary.json, checkpoint.pt")->required();
  train_cmd->add_flag("--resume", train_config.resume, "continue the run in --out from its checkpoint");
  train_cmd->add_option("--nproc", train_config.nproc, "start this many ranks on this machine (data parallel over c10d/Gloo; --batch-size is per rank)")
      ->check(CLI::Range(int64_t(1), int64_t(1024)));

  eelu::train::TrainConfig compare_config;
  std::vector<std::string> compare_acts;
  auto* compare_cmd = app.add_subcommand("compare", "train one run per activation and print their accuracies side by side");
  eelu::app::add_train_options(compare_cmd, compare_config);
  compare_cmd->add_option("--act", compare_acts, "an activation spec; give it once per activation")->required();
  compare_cmd->add_option("--out", compare_config.out_dir, "directory; each run goes into a subdirectory")->required();

  std::string eval_checkpoint, eval_data_dir;
  auto* eval_cmd = app.add_subcommand("eval", "test accuracy, per-class accuracy and confusion matrix of a checkpoint");
  eval_cmd->add_option("--checkpoint", eval_checkpoint, "a checkpoint.pt written by eelu train")->required();
  eval_cmd->add_option("--data-dir", eval_data_dir, "where the dataset is, if not where it was in training");

  auto* bench_cmd = app.add_subcommand("bench", "benchmarks against LibTorch's activations (docs/performance.md)");
  bench_cmd->require_subcommand(1);
  eelu::bench::OpsBenchOptions ops_bench;
  auto* bench_ops = bench_cmd->add_subcommand("ops", "EELU's kernels against copy, ELU, PReLU, RReLU, normal_ and the composite");
  bench_ops->add_option("--sizes", ops_bench.sizes, "elements per tensor, each a multiple of 64 (shape N x 64 x H x W)")->expected(1, -1);
  bench_ops->add_option("--dtypes", ops_bench.dtypes, "float32, bfloat16, float64")->expected(1, -1);
  bench_ops->add_option("--threads", ops_bench.threads, "intra-op thread counts to run")->expected(1, -1)->check(CLI::PositiveNumber);
  bench_ops->add_option("--repeats", ops_bench.repeats, "timed runs per measurement (median)")->check(CLI::Range(1, 1000));
  bench_ops->add_option("--warmup", ops_bench.warmup, "untimed runs first")->check(CLI::Range(0, 1000));
  bench_ops->add_option("--capability", ops_bench.capability, "CPU kernels: default or avx2 (empty: the best the CPU has)");
  eelu::bench::StepBenchOptions step_bench;
  auto* bench_step = bench_cmd->add_subcommand("step", "a network's training step with each activation");
  bench_step->add_option("--model", step_bench.model, "network (see docs/models.md)");
  bench_step->add_option("--act", step_bench.activations, "activation specs; give it once per activation")->expected(1, -1);
  bench_step->add_option("--batch", step_bench.batch, "images per step")->check(CLI::PositiveNumber);
  bench_step->add_option("--threads", step_bench.threads, "intra-op threads")->check(CLI::PositiveNumber);
  bench_step->add_option("--steps", step_bench.steps, "timed steps per round (even)")->check(CLI::PositiveNumber);
  bench_step->add_option("--rounds", step_bench.rounds, "rounds (median)")->check(CLI::PositiveNumber);
  bench_step->add_option("--warmup", step_bench.warmup, "untimed steps first")->check(CLI::NonNegativeNumber);

  const auto run_grid_commands = eelu::app::add_grid_commands(app);

  CLI11_PARSE(app, argc, argv);
  if (app.get_subcommands().empty()) {
    std::fprintf(stderr, "%s\neelu: a subcommand is required\n", app.help().c_str());
    return 2;
  }
  try {
    if (selfcheck->parsed()) return eelu::app::run_selfcheck(check);
    if (activations->parsed()) return eelu::app::list_activations();
    if (plot_cmd->parsed()) return eelu::app::plot_activations(plot);
    if (info_cmd->parsed()) return eelu::app::data_info(info);
    if (train_cmd->parsed()) return eelu::app::run_train(train_config, argc, argv);
    if (compare_cmd->parsed()) return eelu::app::run_compare(compare_config, compare_acts);
    if (bench_ops->parsed()) return eelu::bench::run_ops_benchmark(ops_bench);
    if (bench_step->parsed()) return eelu::bench::run_step_benchmark(step_bench);
    if (const int rc = run_grid_commands(); rc >= 0) return rc;
    if (eval_cmd->parsed()) return eelu::app::run_eval(eval_checkpoint, eval_data_dir);
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "eelu: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eelu: %s\n", e.what());
    return 1;
  }
  return 0;
}
