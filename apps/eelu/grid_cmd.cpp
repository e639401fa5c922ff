// `eelu grid`, `eelu grid-worker` and `eelu grid-rank` (started by grid), `eelu report`,
// `eelu visualize`.
#include "commands.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "eelu/distributed/launch.h"
#include "eelu/experiment/grid.h"
#include "eelu/experiment/latent.h"
#include "eelu/experiment/report.h"

namespace eelu::app {
namespace {

struct GridArgs {
  std::string config;
  experiment::GridOptions options;
  bool check_only = false;
  bool status = false;
  bool slurm = false, submit = false;
  int64_t run = -1;
};
struct WorkerArgs {
  std::string dir, device = "auto";
  int threads = 0, worker = 0;
  int64_t parent = 0;
  bool quiet = false;
};

}  // namespace

CommandRunner add_grid_commands(CLI::App& app) {
  auto grid = std::make_shared<GridArgs>();
  auto worker = std::make_shared<WorkerArgs>();
  auto report = std::make_shared<experiment::ReportOptions>();

  auto* grid_cmd = app.add_subcommand("grid",
                                      "run every combination of a grid config (TOML), recorded in "
                                      "DIR/experiment.db; rerun to continue");
  grid_cmd
      ->add_option("config", grid->config, "the grid config (see configs/ and docs/experiments.md)")
      ->required();
  grid_cmd->add_option("--dir", grid->options.dir,
                       "experiment directory (default: the config's dir, else experiments/NAME)");
  grid_cmd
      ->add_option("--workers", grid->options.workers,
                   "runs trained at the same time, one process each")
      ->check(CLI::Range(1, 256));
  grid_cmd
      ->add_option("--threads", grid->options.threads,
                   "intra-op threads per worker (default: cores / workers)")
      ->check(CLI::NonNegativeNumber);
  grid_cmd->add_flag("--quiet", grid->options.quiet, "no per-epoch lines, only a line per run");
  grid_cmd->add_flag("--retry-failed", grid->options.retry_failed, "run failed runs again");
  grid_cmd->add_option("--device", grid->options.device,
                       "where the runs train: auto (default: a GPU if there is one), cpu, cuda, "
                       "cuda:N");
  auto* check_opt = grid_cmd->add_flag("--check", grid->check_only,
                                       "check the config and list its runs; train nothing");
  // A cluster (docs/experiments.md, "On a cluster").
  auto* status_opt = grid_cmd->add_flag(
      "--status", grid->status,
      "bring DIR/experiment.db up to date from the run folders and show what is done, "
      "running, failed and pending (with Slurm's queue where squeue is there)");
  auto* run_opt =
      grid_cmd
          ->add_option("--run", grid->run,
                       "train only run INDEX (0-based, the order of --check), recording only in "
                       "its run folder: what each task of a cluster runs")
          ->check(CLI::NonNegativeNumber);
  auto* slurm_opt = grid_cmd->add_flag(
      "--slurm", grid->slurm,
      "write DIR/slurm/array.sbatch: a Slurm job array of one task per run not yet done");
  auto& so = grid->options.slurm;
  grid_cmd->add_flag("--submit", grid->submit, "with --slurm: submit it with sbatch")
      ->needs(slurm_opt);
  // The batch script's resources: each an sbatch option of the same name, counts checked.
  const std::vector<std::tuple<const char*, std::string*, const char*>> texts = {
      {"--partition", &so.partition, "sbatch --partition"},
      {"--account", &so.account, "sbatch --account"},
      {"--qos", &so.qos, "sbatch --qos"},
      {"--time", &so.time, "each task's time limit (sbatch --time)"},
      {"--mem", &so.mem, "memory per node (sbatch --mem)"},
      {"--gres", &so.gres, "e.g. gpu:1 (sbatch --gres)"}};
  for (const auto& [name, field, help] : texts)
    grid_cmd->add_option(name, *field, std::string("with --slurm: ") + help)->needs(slurm_opt);
  const std::vector<std::tuple<const char*, int*, const char*>> counts = {
      {"--cpus-per-task", &so.cpus_per_task,
       "cores per rank, its intra-op threads (sbatch --cpus-per-task)"},
      {"--nodes", &so.nodes, "nodes of a run with nproc > 1 (sbatch --nodes)"},
      {"--max-parallel", &so.max_parallel, "at most N runs at once (sbatch --array=...%N)"}};
  for (const auto& [name, field, help] : counts)
    grid_cmd->add_option(name, *field, std::string("with --slurm: ") + help)
        ->check(CLI::Range(1, 100000))
        ->needs(slurm_opt);
  grid_cmd
      ->add_option("--sbatch", so.extra,
                   "with --slurm: a further sbatch option, e.g. --sbatch=--constraint=a100 "
                   "(repeatable)")
      ->needs(slurm_opt);
  for (auto* a : {check_opt, status_opt, run_opt, slurm_opt})
    for (auto* b : {check_opt, status_opt, run_opt, slurm_opt})
      if (a != b) a->excludes(b);

  auto* worker_cmd = app.add_subcommand("grid-worker", "");  // empty description: hidden
  worker_cmd->group("");
  worker_cmd->add_option("--dir", worker->dir)->required();
  worker_cmd->add_option("--threads", worker->threads);
  worker_cmd->add_option("--worker", worker->worker);
  worker_cmd->add_option("--parent", worker->parent);
  worker_cmd->add_flag("--quiet", worker->quiet);
  worker_cmd->add_option("--device", worker->device);

  auto rank_args = std::make_shared<std::tuple<std::string, std::string, int, bool, std::string>>();
  std::get<4>(*rank_args) = "auto";
  auto* rank_cmd =
      app.add_subcommand("grid-rank", "");  // hidden: rank 1.. of a distributed grid run
  rank_cmd->group("");
  rank_cmd->add_option("--config-json", std::get<0>(*rank_args))->required();
  rank_cmd->add_option("--out", std::get<1>(*rank_args))->required();
  rank_cmd->add_option("--threads", std::get<2>(*rank_args));
  rank_cmd->add_flag("--resume", std::get<3>(*rank_args));
  rank_cmd->add_option("--device", std::get<4>(*rank_args));

  auto* report_cmd = app.add_subcommand(
      "report", "Markdown report, CSV and figures from one or more experiment directories");
  report_cmd
      ->add_option("dir", report->dirs,
                   "the experiment directory (holds experiment.db); several grids with the same "
                   "axes but the training-set size are reported as one (e.g. a 2% and a 10% grid)")
      ->required();
  report_cmd->add_option("--out", report->out_dir,
                         "output directory (default DIR/report; required with several DIRs)");
  report_cmd->add_flag("--no-plots{false}", report->plots, "skip the gnuplot figures");
  report_cmd->add_option("--only", report->only,
                         "only the runs whose activation matches this regular expression "
                         "(e.g. '^relu$|^eelu': an ablation and its anchors)");

  auto latent = std::make_shared<experiment::LatentOptions>();
  auto* vis_cmd = app.add_subcommand("visualize",
                                     "latent features of trained networks: t-SNE, feature maps, "
                                     "effective rank, active units, linear probe");
  auto grid_dirs = std::make_shared<std::vector<std::string>>();
  auto where = std::make_shared<std::vector<std::string>>();
  auto only = std::make_shared<std::string>();
  auto skip_unmeasured = std::make_shared<bool>(false);
  auto* checkpoint_opt = vis_cmd
                             ->add_option("--checkpoint", latent->checkpoints,
                                          "a checkpoint.pt; give it once per network")
                             ->expected(1, -1);
  auto* grid_opt = vis_cmd->add_option(
      "--grid", *grid_dirs,
      "every finished run of the grid in DIR (repeatable), labelled by its activation (and its "
      "other axes but the seed), instead of --checkpoint; each network's measures are kept in "
      "latent.json in its run folder, and used when its checkpoint is gone");
  grid_opt->excludes(checkpoint_opt);
  checkpoint_opt->excludes(grid_opt);
  vis_cmd->add_option("--where", *where, "with --grid: only the runs whose AXIS=VALUE (repeatable)")
      ->needs(grid_opt);
  vis_cmd
      ->add_option("--only", *only,
                   "with --grid: only the runs whose activation matches this regular expression "
                   "(e.g. '^eelu': an ablation and its anchor)")
      ->needs(grid_opt);
  vis_cmd
      ->add_flag("--skip-unmeasured", *skip_unmeasured,
                 "with --grid: leave out (and name) the runs whose checkpoint is gone and whose "
                 "measures were not kept, instead of refusing")
      ->needs(grid_opt);
  vis_cmd->add_option("--reference", latent->reference,
                      "the label the others are compared with over seeds (default: the first)");
  vis_cmd->add_option("--label", latent->labels, "a name per checkpoint (default: its activation)")
      ->expected(1, -1);
  vis_cmd->add_option("--out", latent->out_dir, "output directory")->required();
  vis_cmd->add_option("--data-dir", latent->data_dir,
                      "where the dataset is, if not where it was in training");
  vis_cmd->add_option("--samples", latent->tsne_samples, "test images in the t-SNE")
      ->check(CLI::Range(int64_t(10), int64_t(20000)));
  vis_cmd->add_option("--perplexity", latent->perplexity, "t-SNE perplexity")
      ->check(CLI::Range(2.0, 1000.0));
  vis_cmd->add_option("--iterations", latent->iterations, "t-SNE iterations")
      ->check(CLI::Range(int64_t(1), int64_t(100000)));
  vis_cmd->add_option("--probe-train", latent->probe_train, "training images for the linear probe")
      ->check(CLI::PositiveNumber);
  vis_cmd
      ->add_option("--layers", latent->map_layers, "activation layers whose feature maps are drawn")
      ->check(CLI::Range(int64_t(1), int64_t(8)));
  vis_cmd->add_option("--image", latent->image, "test image whose feature maps are drawn")
      ->check(CLI::NonNegativeNumber);
  vis_cmd->add_option("--seed", latent->seed, "t-SNE initialisation seed");
  vis_cmd->add_flag("--no-plots{false}", latent->plots,
                    "no t-SNE or feature maps (the pictures of each network): the measures, "
                    "and with --grid their figure over seeds");
  vis_cmd->add_option("--device", latent->device,
                      "where the networks run: auto, cpu (default), cuda, cuda:N");

  return [=]() -> int {
    if (vis_cmd->parsed()) {
      if (!grid_dirs->empty()) {
        TORCH_CHECK(latent->labels.empty(), "visualize: --grid labels its runs; no --label");
        latent->keep = true;  // a grid's runs keep their measures (src/experiment/latent_cache.h)
        experiment::GridNetworks nets =
            experiment::grid_networks(*grid_dirs, *where, *only, *skip_unmeasured);
        for (const std::string& run : nets.left_out) {
          std::printf("%s: left out, its checkpoint is gone and its measures were not kept\n",
                      run.c_str());
        }
        latent->labels = std::move(nets.labels);
        latent->checkpoints = std::move(nets.checkpoints);
        latent->left_out = std::move(nets.left_out);
      }
      TORCH_CHECK(!latent->checkpoints.empty(), "visualize: give --checkpoint or --grid");
      experiment::visualize(*latent);
      std::printf("written to %s (latent.md, latent.csv%s)\n", latent->out_dir.c_str(),
                  latent->plots ? ", tsne.png, feature_maps_*.png" : "");
      return 0;
    }
    if (grid_cmd->parsed()) {
      const experiment::GridConfig g = experiment::load_grid_config(grid->config);
      if (grid->check_only) {
        std::printf("%s: grid '%s', %zu runs, digest %s, directory %s\n", g.path.c_str(),
                    g.name.c_str(), g.runs.size(), g.digest.c_str(),
                    experiment::experiment_dir(g, grid->options.dir).c_str());
        for (const auto& r : g.runs) std::printf("  %s\n", r.key.c_str());
        return 0;
      }
      if (grid->status) return experiment::print_grid_status(g, grid->options);
      if (grid->run >= 0) return experiment::run_grid_task(g, grid->options, grid->run);
      if (grid->slurm) return experiment::write_slurm_array(g, grid->options, grid->submit);
      return experiment::run_grid(g, grid->options, distributed::current_executable());
    }
    if (worker_cmd->parsed()) {
      experiment::die_with_parent(worker->parent);
      return experiment::run_grid_worker(worker->dir, worker->threads, worker->quiet,
                                         worker->worker, worker->device);
    }
    if (rank_cmd->parsed()) {
      const auto& [config_json, out, threads, resume, device] = *rank_args;
      return experiment::run_grid_rank(config_json, out, threads, resume, device);
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
