// What the ways of running a grid share: on this machine over its database (grid.cpp), as
// one task per run on a cluster (grid_task.cpp), as a Slurm array (slurm_array.cpp).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "eelu/experiment/grid.h"
#include "eelu/experiment/store.h"

namespace eelu::experiment {

/// How often a run's worker or task says it is alive.
constexpr int kHeartbeatSeconds = 30;

/// Calls `beat` every `every` on a thread of its own until stopped (or destroyed); an
/// exception from it skips that beat.
class Heartbeat {
 public:
  Heartbeat(std::function<void()> beat, std::chrono::seconds every);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;
  void stop();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: it starts once the others exist
};

/// The machine's cores shared among `workers`.
int default_threads(int workers);

/// Opens (creating) the grid's database in its directory and checks it belongs to `grid`,
/// keeps a copy of the config there (DIR/grid.toml), brings the database up to date from the
/// run folders (Note [Run folders]) and applies --retry-failed.
Store prepare_experiment(const GridConfig& grid, const GridOptions& options);

/// The Slurm job name of the grid's arrays: "eelu-NAME-" and a hash of the directory, so
/// that squeue tells this experiment's tasks from any other's.
std::string slurm_job_name(const GridConfig& grid, const std::string& dir);

/// The message of an exception, without c10's backtrace.
std::string error_text(const std::exception& e);

/// Trains one run in c.out_dir. With nproc > 1 in a process that is not a rank of a job
/// already, this process is rank 0 and ranks 1.. are `eelu grid-rank` processes (which die
/// with it); under srun every task is a rank of its own and this trains that rank.
train::TrainResult train_grid_run(const train::TrainConfig& c, const std::string& config_json,
                                  const std::atomic<bool>* stop,
                                  const std::function<void(const train::EpochMetrics&)>& on_epoch);

}  // namespace eelu::experiment
