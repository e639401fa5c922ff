// A run's own records in its folder, for runs trained by tasks that do not touch the grid's
// database (Slurm array tasks on other machines), and the database brought up to date from
// them (Note [Run folders] in run_folders.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "eelu/experiment/store.h"
#include "experiment/this_host.h"

namespace eelu::experiment {

/// DIR/runs/<key>/task.json: where the run's task stands.
struct TaskRecord {
  std::string status;            // pending (to do again), running, interrupted, done, failed
  std::string host, job, error;  // job: Slurm's "ARRAYJOB_TASK" (or JOBID), "" outside Slurm
  int64_t pid = 0, attempts = 0;
  double started = 0, heartbeat = 0, finished = 0;
};

std::optional<TaskRecord> read_task(const std::string& run_dir);
void write_task(const std::string& run_dir, const TaskRecord& task);

/// A task whose heartbeat is older than this is taken as gone.
constexpr double kTaskStaleSeconds = 600;

/// Brings DIR/experiment.db up to date with the run folders under DIR/runs: runs finished,
/// failed, running or interrupted there, and their epochs. Runs the database holds as done,
/// or as running by a worker of `eelu grid` on this database, are left as they are.
void sync_run_folders(Store& store, const std::string& dir);

/// --retry-failed: the failed runs' folders say "pending", so that a task runs them again
/// and the next sync does not mark them failed again.
void retry_failed_folders(const Store& store, const std::string& dir);

}  // namespace eelu::experiment
