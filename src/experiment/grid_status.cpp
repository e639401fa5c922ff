// `eelu grid CONFIG --status`: where every run of a grid stands, from the database brought
// up to date with the run folders, and from Slurm's queue where there is one.
#include <c10/util/Exception.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "eelu/experiment/grid.h"
#include "eelu/util/command.h"
#include "experiment/grid_parts.h"
#include "experiment/run_folders.h"

namespace eelu::experiment {
namespace {

namespace fs = std::filesystem;

struct Queued {
  std::string state;  // PENDING, RUNNING, ...
  std::string job;    // 1234_5
};

// The grid's array tasks in Slurm's queue, by run index (the array index); nullopt when
// there is no squeue, or it fails (no cluster here).
std::optional<std::map<int64_t, Queued>> slurm_queue(const std::string& job_name) {
  const auto r = util::run_command(
      {"squeue", "--noheader", "--array", "--name=" + job_name, "--format=%K|%T|%i"});
  if (!r || r->status != 0) return std::nullopt;
  std::map<int64_t, Queued> out;
  std::istringstream lines(r->out);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t a = line.find('|'), b = line.rfind('|');
    if (a == std::string::npos || a == b) continue;
    try {
      out[std::stoll(line.substr(0, a))] = {line.substr(a + 1, b - a - 1), line.substr(b + 1)};
    } catch (const std::exception&) {
      // "N/A": not an array task
    }
  }
  return out;
}

std::string age(double seconds) {
  if (seconds < 120) return std::to_string(static_cast<int64_t>(seconds)) + " s";
  if (seconds < 7200) return std::to_string(static_cast<int64_t>(seconds / 60)) + " min";
  return std::to_string(static_cast<int64_t>(seconds / 3600)) + " h";
}

}  // namespace

int print_grid_status(const GridConfig& grid, const GridOptions& options) {
  const std::string dir = experiment_dir(grid, options.dir);
  Store store = prepare_experiment(grid, options);
  const auto queue =
      slurm_queue(slurm_job_name(grid, fs::absolute(dir).lexically_normal().string()));
  const std::vector<RunRecord> runs = store.runs();
  std::map<std::string, int64_t> counts;
  std::vector<std::string> running, failed, lost;
  int64_t queued = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunRecord& r = runs[i];
    ++counts[r.status];
    const std::string run_dir = (fs::path(dir) / "runs" / r.key).string();
    const Queued* in_queue = nullptr;
    if (queue) {
      const auto it = queue->find(static_cast<int64_t>(i));
      if (it != queue->end()) in_queue = &it->second;
    }
    const bool listed = in_queue != nullptr;
    if (listed && in_queue->state == "PENDING") ++queued;
    if (r.status == "failed") failed.push_back(r.key + ": " + r.error);
    if (r.status != "running") continue;
    const auto task = read_task(run_dir);
    std::string where = r.owner;
    double beat = -1;
    if (task) {
      where = task->job.empty() ? task->host + " pid " + std::to_string(task->pid)
                                : "job " + task->job + " on " + task->host;
      beat = wall_seconds() - task->heartbeat;
    }
    const int64_t epochs = store.epoch_count(r.id);
    std::string text = r.key + " (" + where + "), epoch " + std::to_string(epochs) + "/" +
                       std::to_string(grid.runs[i].config.epochs);
    if (beat >= 0) text += ", heartbeat " + age(beat) + " ago";
    const bool gone =
        (beat > kTaskStaleSeconds) || (queue && task && !task->job.empty() && !listed);
    (gone ? lost : running).push_back(text);
  }
  std::printf("grid '%s' in %s: %zu runs: %lld done, %lld running, %lld failed, %lld pending\n",
              grid.name.c_str(), dir.c_str(), runs.size(), static_cast<long long>(counts["done"]),
              static_cast<long long>(running.size()), static_cast<long long>(counts["failed"]),
              static_cast<long long>(counts["pending"] + static_cast<int64_t>(lost.size())));
  if (queue) {
    std::printf("Slurm (squeue): %zu of the grid's array tasks queued or running, %lld pending\n",
                queue->size(), static_cast<long long>(queued));
  } else {
    std::printf("Slurm: no squeue here (or it failed); the states are the run folders' own\n");
  }
  for (const auto& t : running) std::printf("  running  %s\n", t.c_str());
  for (const auto& t : lost)
    std::printf("  lost     %s: its task is gone; submit the grid again to resume it\n", t.c_str());
  for (const auto& t : failed) std::printf("  failed   %s\n", t.c_str());
  return 0;
}

}  // namespace eelu::experiment
