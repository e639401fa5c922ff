// One run of a grid as a task of its own (`eelu grid CONFIG --run INDEX`), what each task of
// a Slurm array runs: it records only in the run's folder (Note [Run folders]).
#include <c10/util/Exception.h>

#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "eelu/distributed/distributed.h"
#include "eelu/experiment/grid.h"
#include "eelu/util/command.h"
#include "experiment/grid_parts.h"
#include "experiment/run_folders.h"
#include "experiment/this_host.h"

namespace eelu::experiment {
namespace {

namespace fs = std::filesystem;

// SIGINT/SIGTERM (Ctrl-C, scancel, preemption): stop after the current batch with a
// checkpoint. SIGUSR1 (what `#SBATCH --signal=USR1@...` sends before the time limit): the
// same, then the task puts itself back into Slurm's queue.
std::atomic<bool> g_stop{false};
std::atomic<bool> g_requeue{false};
void on_stop(int) { g_stop.store(true); }
void on_requeue(int) {
  g_requeue.store(true);
  g_stop.store(true);
}

std::string env_text(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// "ARRAYJOB_TASK" for an array task, the job id for another job, "" outside Slurm.
std::string slurm_job() {
  const std::string array = env_text("SLURM_ARRAY_JOB_ID");
  if (!array.empty()) return array + "_" + env_text("SLURM_ARRAY_TASK_ID");
  return env_text("SLURM_JOB_ID");
}

// The cores this process may run on: Slurm's --cpus-per-task, else its CPU affinity.
int available_cores() {
  const std::string slurm = env_text("SLURM_CPUS_PER_TASK");
  if (!slurm.empty()) {
    try {
      return std::max(1, std::stoi(slurm));
    } catch (const std::exception&) {
    }
  }
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return default_threads(1);
}

// A task trains the runs of the grid the directory was made for: DIR/grid.toml, the copy
// `eelu grid` keeps, must describe the same runs.
void check_directory(const GridConfig& grid, const std::string& dir) {
  const fs::path copy = fs::path(dir) / "grid.toml";
  TORCH_CHECK(fs::exists(copy), dir,
              " is not an experiment directory yet (no grid.toml): run `eelu grid ", grid.path,
              " --slurm` or `--status` first, which create it");
  const GridConfig there = load_grid_config(copy.string());
  TORCH_CHECK(there.digest == grid.digest, dir, " belongs to another grid ('", there.name,
              "', digest ", there.digest, "); ", grid.path, " has digest ", grid.digest,
              ": other runs or settings");
}

// Another task holds the run if its record says running, its heartbeat is fresh, and it is
// not this job (a requeued task keeps its job id) nor a process gone from this host.
std::string held_elsewhere(const TaskRecord& t, const std::string& job) {
  if (t.status != "running") return "";
  if (!job.empty() && t.job == job) return "";
  const double age = wall_seconds() - t.heartbeat;
  if (age > kTaskStaleSeconds) return "";
  if (t.host == hostname() && process_gone(t.pid)) return "";
  return "it is running in " +
         (t.job.empty() ? "process " + std::to_string(t.pid) : "job " + t.job) + " on " + t.host +
         " (heartbeat " + std::to_string(static_cast<int64_t>(age)) + " s ago)";
}

void requeue_self(const std::string& tag) {
  const std::string job = env_text("SLURM_JOB_ID");
  if (job.empty()) {
    std::printf("%sSIGUSR1 outside Slurm: stopped with a checkpoint, not requeued\n", tag.c_str());
    return;
  }
  const auto r = util::run_command({"scontrol", "requeue", job});
  if (r && r->status == 0) {
    std::printf("%srequeued job %s: it resumes from its checkpoint\n", tag.c_str(), job.c_str());
  } else {
    std::printf("%scould not requeue job %s (%s): submit the grid again to resume it\n",
                tag.c_str(), job.c_str(), r ? r->err.c_str() : "scontrol is not there");
  }
}

// Ranks 1.. of a run under srun: they train and record nothing. Stopped for a requeue they
// exit 0, so that srun --kill-on-bad-exit leaves rank 0 its checkpoint and its requeue.
int run_other_rank(train::TrainConfig c) {
  c.quiet = true;
  return train::train(c, &g_stop).interrupted && !g_requeue.load() ? 130 : 0;
}

}  // namespace

int run_grid_task(const GridConfig& grid, const GridOptions& options, int64_t index) {
  std::signal(SIGINT, on_stop);
  std::signal(SIGTERM, on_stop);
  std::signal(SIGUSR1, on_requeue);
  const std::string dir = experiment_dir(grid, options.dir);
  TORCH_CHECK(index >= 0 && index < static_cast<int64_t>(grid.runs.size()), "--run ", index,
              ": the grid has runs 0 to ", grid.runs.size() - 1);
  check_directory(grid, dir);
  const RunSpec& run = grid.runs[static_cast<size_t>(index)];
  const std::string run_dir = (fs::path(dir) / "runs" / run.key).string();
  const std::string tag = "[run " + std::to_string(index) + " " + run.key + "] ";
  const distributed::Environment env = distributed::environment_from_env();
  TORCH_CHECK(!env.distributed() || env.world_size == run.config.nproc, "run ", run.key,
              " has nproc = ", run.config.nproc, ", but this is one of ", env.world_size,
              " ranks (srun --ntasks must be the run's nproc)");

  train::TrainConfig c = run.config;
  c.out_dir = run_dir;
  c.quiet = options.quiet;
  c.device = options.device;
  const int cores = options.threads > 0 ? options.threads : available_cores();
  c.threads = env.distributed() ? cores : std::max<int>(1, cores / static_cast<int>(c.nproc));
  // Rank 0 decides whether the run resumes; the trainer tells the other ranks.
  c.resume = fs::exists(fs::path(run_dir) / "checkpoint.pt");
  c.overwrite = !c.resume;
  if (env.rank != 0) return run_other_rank(c);

  fs::create_directories(run_dir);
  TaskRecord task = read_task(run_dir).value_or(TaskRecord{});
  if (fs::exists(fs::path(run_dir) / "summary.json")) {
    std::printf("%sdone already; nothing to train\n", tag.c_str());
    return 0;
  }
  if (task.status == "failed") {
    std::printf(
        "%sfailed before (%s); `eelu grid CONFIG --status --retry-failed` marks it to "
        "run again\n",
        tag.c_str(), task.error.c_str());
    return 1;
  }
  const std::string job = slurm_job();
  const std::string elsewhere = held_elsewhere(task, job);
  TORCH_CHECK(elsewhere.empty(), "run ", run.key, " is not trained twice: ", elsewhere);

  std::mutex mu;  // the record, shared with the heartbeat
  auto save = [&](const std::string& status) {
    std::lock_guard<std::mutex> lock(mu);
    task.status = status;
    task.heartbeat = wall_seconds();
    if (status != "running") task.finished = task.heartbeat;
    write_task(run_dir, task);
  };
  task.host = hostname();
  task.pid = ::getpid();
  task.job = job;
  task.error.clear();
  task.attempts += 1;
  if (task.started == 0) task.started = wall_seconds();
  save("running");
  std::printf("%s%s (attempt %lld)%s\n", tag.c_str(), c.resume ? "resuming" : "starting",
              static_cast<long long>(task.attempts), job.empty() ? "" : (" in job " + job).c_str());
  std::fflush(stdout);

  Heartbeat beat([&] { save("running"); }, std::chrono::seconds(kHeartbeatSeconds));
  try {
    const train::TrainResult r =
        train_grid_run(c, train::config_json(run.config), &g_stop,
                       [&](const train::EpochMetrics&) { save("running"); });
    beat.stop();
    if (r.interrupted) {
      save("interrupted");
      std::printf("%sinterrupted: it resumes from its checkpoint next time\n", tag.c_str());
      if (g_requeue.load()) {
        requeue_self(tag);
        return 0;
      }
      return 130;
    }
    save("done");
    std::printf("%sdone: test accuracy %.2f%% (best %.2f%% at epoch %lld), %.0f s\n", tag.c_str(),
                100 * r.final_test_acc, 100 * r.best_test_acc, static_cast<long long>(r.best_epoch),
                r.seconds);
    return 0;
  } catch (const std::exception& e) {
    beat.stop();
    task.error = error_text(e);
    save("failed");
    std::printf("%sFAILED: %s\n", tag.c_str(), task.error.c_str());
    return 1;
  }
}

}  // namespace eelu::experiment
