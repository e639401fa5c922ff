// The experiment database (SQLite, WAL mode): the grid it belongs to, one row per run with
// its configuration, status and results, one row per run and epoch with its metrics.
// Workers in several processes share it; claiming a run is one IMMEDIATE transaction, so
// two workers never take the same run. Schema: docs/experiments.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eelu/experiment/grid.h"
#include "eelu/train/trainer.h"

struct sqlite3;

namespace eelu::experiment {

struct RunRecord {
  int64_t id = 0;
  std::string key;
  std::string axes_json;    // {"activation": "...", "seed": "0", ...}
  std::string config_json;  // every training setting
  std::string status;       // pending, running, done, failed
  std::string error;
  int64_t attempts = 0;
  double final_test_acc = -1, best_test_acc = -1, seconds = -1;
  int64_t best_epoch = 0;
  std::string owner;  // the worker that holds it; "task:..." for a task seen in its run folder
};

struct EpochRecord {
  int64_t run_id = 0;
  train::EpochMetrics m;
};

class Store {
 public:
  /// Opens DIR/experiment.db. With `grid`: creates it for this grid, or checks that an
  /// existing one belongs to the same grid (same runs, same settings) and adds nothing.
  /// Without: opens an existing database (for workers and reports).
  static Store open(const std::string& dir, const GridConfig* grid);
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  std::string meta(const std::string& key) const;

  /// Takes the next run to do (pending, or running but abandoned: its process is gone or
  /// its heartbeat is older than `stale_seconds`) for worker `owner` of process `pid`.
  std::optional<RunRecord> claim(const std::string& owner, double stale_seconds = 600);
  void heartbeat(int64_t run_id);
  void record_epoch(int64_t run_id, const train::EpochMetrics& m);
  void finish(int64_t run_id, const train::TrainResult& result);
  void fail(int64_t run_id, const std::string& error);
  /// Back to pending (interrupted by a signal: the next claim resumes it).
  void release(int64_t run_id);
  /// Every failed run back to pending (`eelu grid --retry-failed`).
  void retry_failed();
  /// What a task that records only in its run folder reported (Note [Run folders]): status
  /// pending, running or failed, who runs it, its last heartbeat, its attempts and error.
  void set_task_state(int64_t run_id, const std::string& status, const std::string& owner,
                      const std::string& host, double heartbeat, int64_t attempts,
                      const std::string& error);

  std::vector<RunRecord> runs() const;
  std::vector<EpochRecord> epochs() const;
  /// The epochs recorded for a run.
  int64_t epoch_count(int64_t run_id) const;
  /// Counts by status.
  int64_t count(const std::string& status) const;

 private:
  explicit Store(sqlite3* db);
  void exec(const std::string& sql) const;
  sqlite3* db_ = nullptr;
};

}  // namespace eelu::experiment
