#include "grid_cmd.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "eelu/experiment/grid.h"
#include "eelu/experiment/report.h"

namespace eelu::app {
namespace {

std::string self_exe() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("eelu") : p.string();
}

struct GridArgs {
  std::string config;
  experiment::GridOptions options;
  bool check_only = false;
};
struct WorkerArgs {
  std::string dir;
  int threads = 0, worker = 0;
  int64_t parent = 0;
  bool quiet = false;
};

}  // namespace

std::function<int()> add_grid_commands(CLI::App& app) {
  auto grid = std::make_shared<GridArgs>();
  auto worker = std::make_shared<WorkerArgs>();
  auto report = std::make_shared<experiment::ReportOptions>();

  auto* grid_cmd = app.add_subcommand("grid", "run every combination of a grid config (TOML), recorded in DIR/experiment.db; rerun to continue");
  grid_cmd->add_option("config", grid->config, "the grid config (see configs/ and docs/experiments.md)")->required();
  grid_cmd->add_option("--dir", grid->options.dir, "experiment directory (default: the config's dir, else experiments/NAME)");
  grid_cmd->add_option("--workers", grid->options.workers, "runs trained at the same time, one process each")->check(CLI::Range(1, 256));
  grid_cmd->add_option("--threads", grid->options.threads, "intra-op threads per worker (default: cores / workers)")->check(CLI::NonNegativeNumber);
  grid_cmd->add_flag("--quiet", grid->options.quiet, "no per-epoch lines, only a line per run");
  grid_cmd->add_flag("--retry-failed", grid->options.retry_failed, "run failed runs again");
  grid_cmd->add_flag("--check", grid->check_only, "check the config and list its runs; train nothing");

  auto* worker_cmd = app.add_subcommand("grid-worker", "");  // empty description: hidden
  worker_cmd->group("");
  worker_cmd->add_option("--dir", worker->dir)->required();
  worker_cmd->add_option("--threads", worker->threads);
  worker_cmd->add_option("--worker", worker->worker);
  worker_cmd->add_option("--parent", worker->parent);
  worker_cmd->add_flag("--quiet", worker->quiet);

  auto* report_cmd = app.add_subcommand("report", "Markdown report, CSV and figures from an experiment directory");
  report_cmd->add_option("dir", report->dir, "the experiment directory (holds experiment.db)")->required();
  report_cmd->add_option("--out", report->out_dir, "output directory (default DIR/report)");
  report_cmd->add_flag("--no-plots{false}", report->plots, "skip the gnuplot figures");

  return [=]() -> int {
    if (grid_cmd->parsed()) {
      const experiment::GridConfig g = experiment::load_grid_config(grid->config);
      if (grid->check_only) {
        std::printf("%s: grid '%s', %zu runs, digest %s, directory %s\n", g.path.c_str(),
                    g.name.c_str(), g.runs.size(), g.digest.c_str(),
                    experiment::experiment_dir(g, grid->options.dir).c_str());
        for (const auto& r : g.runs) std::printf("  %s\n", r.key.c_str());
        return 0;
      }
      return experiment::run_grid(g, grid->options, self_exe());
    }
    if (worker_cmd->parsed()) {
      experiment::die_with_parent(worker->parent);
      return experiment::run_grid_worker(worker->dir, worker->threads, worker->quiet,
                                         worker->worker);
    }
    if (report_cmd->parsed()) {
      const std::string path = experiment::write_report(*report);
      std::printf("report written to %s\n", path.c_str());
      return 0;
    }
    return -1;
  };
}

}  // namespace eelu::app
