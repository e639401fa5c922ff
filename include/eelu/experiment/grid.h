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

struct GridConfig {
  std::string path;         // the file it came from
  std::string name;         // [experiment] name
  std::string description;  // [experiment] description
  std::string dir;          // [experiment] dir ("" : experiments/<name>)
  train::TrainConfig base;  // [train]
  std::vector<std::pair<std::string, std::vector<std::string>>> axes;  // [grid], run order
  std::vector<RunSpec> runs;                                           // the product
  std::string digest;  // identifies the grid: its runs and their settings
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
};

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
