// Experiment grids: a TOML file names fixed training settings and the axes to cross; every
// combination is one run of the trainer, recorded in an SQLite database (experiment.db in
// the experiment directory). See docs/experiments.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "eelu/train/trainer.h"

namespace eelu::experiment {

/// One run of a grid: its key (unique, also its directory name under runs/), the value of
/// each axis (as text, in axis order) and the full training configuration.
struct RunSpec {
  std::string key;
  std::vector<std::pair<std::string, std::string>> axes;
  train::TrainConfig config;
};

/// How a grid runs on a Slurm cluster (`eelu grid --slurm`): the [slurm] table of the config,
/// each field overridden by the option of the same name. Empty or 0: Slurm's default.
struct SlurmOptions {
  std::string partition, account, qos;
  std::string time;                // --time, e.g. "4:00:00"
  std::string mem;                 // --mem per node, e.g. "16G"
  std::string gres;                // --gres per node, e.g. "gpu:1"
  int cpus_per_task = 0;           // --cpus-per-task; each rank's intra-op threads
  int nodes = 0;                   // --nodes of a run with nproc > 1 (0: as Slurm places its ranks)
  int max_parallel = 0;            // --array=...%N: at most N runs at once
  std::vector<std::string> extra;  // further #SBATCH lines' options, e.g. "--constraint=a100"
};

struct GridConfig {
  std::string path;         // the file it came from
  std::string name;         // [experiment] name
  std::string description;  // [experiment] description
  std::string dir;          // [experiment] dir ("" : experiments/<name>)
  train::TrainConfig base;  // [train]
  std::vector<std::pair<std::string, std::vector<std::string>>> axes;  // [grid], run order
  std::vector<RunSpec> runs;                                           // the product
  std::string digest;  // identifies the grid: its runs and their settings
  SlurmOptions slurm;  // [slurm] (not part of the digest: where runs train, not what)
};

/// Reads and checks a grid config. Unknown tables, keys, activations or values are errors
/// naming the file and line, raised before anything runs.
GridConfig load_grid_config(const std::string& path);
/// The same from text (`path` only names it in messages).
GridConfig parse_grid_config(const std::string& text, const std::string& path);

/// The settings a config may name in [train] or as a [grid] axis.
std::vector<std::string> setting_names();

struct GridOptions {
  std::string dir;              // "" : the config's
  int workers = 1;              // processes taking runs from the database
  int threads = 0;              // intra-op threads per worker; 0: cores / workers
  bool quiet = false;           // no per-epoch lines from the trainer
  bool retry_failed = false;    // failed runs are run again
  std::string device = "auto";  // where every run trains (not a setting of the runs)
  SlurmOptions slurm;           // --slurm: the command line's, over the config's [slurm]
};

/// A grid on a cluster: each run a task of its own that records only in its run folder, the
/// database brought up to date from the folders on one machine (Note [Run folders] in
/// src/experiment/run_folders.cpp; docs/experiments.md, "On a cluster").

/// `eelu grid CONFIG --run INDEX`: trains run INDEX (0-based, the order of --check) in
/// DIR/runs/<key>, resuming from its checkpoint; a finished run is not trained again, a
/// failed one only with --retry-failed given to --slurm or --status first. Under srun with
/// several tasks each task is a rank of the run. Returns 0 (done, or requeued after SIGUSR1),
/// 1 (failed), 130 (stopped by a signal).
int run_grid_task(const GridConfig& grid, const GridOptions& options, int64_t index);

/// `eelu grid CONFIG --status`: the database brought up to date from the run folders, then
/// the runs done, running, failed and pending, with Slurm's queue where squeue is there.
int print_grid_status(const GridConfig& grid, const GridOptions& options);

/// `eelu grid CONFIG --slurm [--submit]`: a Slurm batch script of one array task per run not
/// yet done (one script per value of nproc), in DIR/slurm/; with `submit`, sbatch submits it.
int write_slurm_array(const GridConfig& grid, const GridOptions& options, bool submit);

/// The experiment directory of a grid: `options_dir`, else the config's dir, else
/// experiments/<name>.
std::string experiment_dir(const GridConfig& grid, const std::string& options_dir);

/// Creates or reopens the experiment's database and runs every run not yet done, `workers`
/// at a time (worker processes started from `self_exe`, or in this process for 1). Runs a
/// killed grid left unfinished resume from their checkpoints. Returns the number of runs
/// that failed.
int run_grid(const GridConfig& grid, const GridOptions& options, const std::string& self_exe);

/// One worker: takes runs from the database in `dir` until none is left. What
/// `eelu grid-worker` runs in each worker process.
int run_grid_worker(const std::string& dir, int threads, bool quiet, int worker_id,
                    const std::string& device = "auto");

/// For worker processes: receive SIGTERM when the process `parent_pid` ends.
void die_with_parent(int64_t parent_pid);

/// Rank 1.. of a distributed grid run (`eelu grid-rank`, started by the worker that is its
/// rank 0, with the job's environment set): trains `config_json` quietly, writing nothing.
int run_grid_rank(const std::string& config_json, const std::string& out_dir, int threads,
                  bool resume, const std::string& device = "auto");

}  // namespace eelu::experiment
