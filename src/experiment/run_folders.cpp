#include "experiment/run_folders.h"

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>

#include "eelu/util/files.h"
#include "train/records.h"

namespace eelu::experiment {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Note [Run folders]
// SQLite over a network file system is not safe for writers on several machines, so a task
// of a Slurm array (`eelu grid CONFIG --run INDEX`) never opens the grid's database. It
// records only in its run folder, DIR/runs/<key>/, which only it writes while it runs (the
// trainer's lock on the folder, and the task's own refusal of a run another live task holds):
// the trainer's config.json, metrics.jsonl (every finished epoch, rewritten whole) and
// summary.json (the run finished), each replaced atomically by a rename, and the task's
// task.json (status, host, Slurm job, attempts, heartbeat, error). One process on one
// machine, `eelu grid --status`, `--slurm`, a local `eelu grid` or `eelu report`, then reads
// the folders and brings the database up to date (sync_run_folders): a folder with a summary
// is a finished run, with its epochs; a failed task is a failed run with its error; a running
// or interrupted one is running or pending, with the epochs it has finished. The database
// is thus a cache of the folders for these runs, rebuilt at any time; a run that a local
// worker holds (its owner is not "task:...") or that is done is not touched.

json to_json(const TaskRecord& t) {
  return json{{"status", t.status},
              {"host", t.host},
              {"job", t.job},
              {"pid", t.pid},
              {"attempts", t.attempts},
              {"started", t.started},
              {"heartbeat", t.heartbeat},
              {"finished", t.finished},
              {"error", t.error}};
}

std::vector<train::EpochMetrics> read_metrics(const fs::path& run_dir) {
  std::vector<train::EpochMetrics> out;
  const fs::path path = run_dir / "metrics.jsonl";
  if (!fs::exists(path)) return out;
  std::istringstream lines(util::read_text_file(path.string(), "the run's metrics"));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    try {
      out.push_back(train::metrics_from_json(json::parse(line)));
    } catch (const json::exception& e) {
      TORCH_CHECK(false, path.string(), " is malformed: ", e.what());
    }
  }
  return out;
}

std::string task_owner(const TaskRecord& t) {
  return "task:" + (t.job.empty() ? t.host + ":" + std::to_string(t.pid) : t.job);
}

}  // namespace

std::optional<TaskRecord> read_task(const std::string& run_dir) {
  const fs::path path = fs::path(run_dir) / "task.json";
  if (!fs::exists(path)) return std::nullopt;
  try {
    const json j = json::parse(util::read_text_file(path.string(), "the run's task record"));
    TaskRecord t;
    t.status = j.at("status").get<std::string>();
    t.host = j.value("host", "");
    t.job = j.value("job", "");
    t.error = j.value("error", "");
    t.pid = j.value("pid", int64_t{0});
    t.attempts = j.value("attempts", int64_t{0});
    t.started = j.value("started", 0.0);
    t.heartbeat = j.value("heartbeat", 0.0);
    t.finished = j.value("finished", 0.0);
    return t;
  } catch (const json::exception& e) {
    TORCH_CHECK(false, path.string(), " is malformed: ", e.what());
  }
}

void write_task(const std::string& run_dir, const TaskRecord& task) {
  util::write_file_atomically((fs::path(run_dir) / "task.json").string(),
                              to_json(task).dump(2) + "\n");
}

void sync_run_folders(Store& store, const std::string& dir) {
  for (const RunRecord& run : store.runs()) {
    const bool held_here = run.status == "running" && run.owner.rfind("task:", 0) != 0;
    if (run.status == "done" || held_here) continue;
    const fs::path run_dir = fs::path(dir) / "runs" / run.key;
    const std::optional<TaskRecord> task = read_task(run_dir.string());
    const bool finished = fs::exists(run_dir / "summary.json");
    if (!task && !finished) continue;  // never started by a task
    const TaskRecord t = task.value_or(TaskRecord{});
    if (finished) {
      train::TrainResult result = train::finished_result(run_dir.string());
      result.epochs = read_metrics(run_dir);
      store.set_task_state(run.id, "running", task_owner(t), t.host, t.heartbeat, t.attempts, "");
      store.finish(run.id, result);
      continue;
    }
    if (t.status == "failed") {
      store.set_task_state(run.id, "failed", task_owner(t), t.host, t.heartbeat, t.attempts,
                           t.error);
      continue;
    }
    const bool running = t.status == "running";
    for (const auto& m : read_metrics(run_dir)) store.record_epoch(run.id, m);
    store.set_task_state(run.id, running ? "running" : "pending", running ? task_owner(t) : "",
                         t.host, t.heartbeat, t.attempts, "");
  }
}

void retry_failed_folders(const Store& store, const std::string& dir) {
  for (const RunRecord& run : store.runs()) {
    if (run.status != "failed") continue;
    const std::string run_dir = (fs::path(dir) / "runs" / run.key).string();
    std::optional<TaskRecord> task = read_task(run_dir);
    if (!task || task->status != "failed") continue;
    task->status = "pending";
    write_task(run_dir, *task);
  }
}

}  // namespace eelu::experiment
