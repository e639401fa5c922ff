// A grid as Slurm job arrays (`eelu grid CONFIG --slurm [--submit]`): one array task per run
// not yet done, each `eelu grid DIR/grid.toml --run INDEX` (grid_task.cpp).
#include <c10/util/Exception.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <sstream>

#include "eelu/distributed/launch.h"
#include "eelu/experiment/grid.h"
#include "eelu/util/command.h"
#include "eelu/util/files.h"
#include "experiment/grid_parts.h"
#include "experiment/run_folders.h"

namespace eelu::experiment {
namespace {

namespace fs = std::filesystem;

// Seconds before the time limit at which Slurm sends SIGUSR1: time for the current batch,
// the checkpoint and the requeue.
constexpr int kSignalSeconds = 180;

SlurmOptions merged(const SlurmOptions& config, const SlurmOptions& command_line) {
  SlurmOptions s = config;
  auto text = [](std::string& to, const std::string& from) {
    if (!from.empty()) to = from;
  };
  auto count = [](int& to, int from) {
    if (from > 0) to = from;
  };
  text(s.partition, command_line.partition);
  text(s.account, command_line.account);
  text(s.qos, command_line.qos);
  text(s.time, command_line.time);
  text(s.mem, command_line.mem);
  text(s.gres, command_line.gres);
  count(s.cpus_per_task, command_line.cpus_per_task);
  count(s.nodes, command_line.nodes);
  count(s.max_parallel, command_line.max_parallel);
  s.extra.insert(s.extra.end(), command_line.extra.begin(), command_line.extra.end());
  // Each becomes one #SBATCH line: a line break would smuggle in another.
  for (const std::string* v : {&s.partition, &s.account, &s.qos, &s.time, &s.mem, &s.gres})
    TORCH_CHECK(v->find_first_of("\r\n") == std::string::npos, "--slurm: '", *v,
                "' holds a line break; an sbatch option is one line");
  for (const auto& e : s.extra)
    TORCH_CHECK(e.rfind("--", 0) == 0 && e.find_first_of("\r\n") == std::string::npos, "--sbatch '",
                e, "': give one sbatch option of one line, as --sbatch=--constraint=a100");
  return s;
}

// 0,1,2,5,7,8 -> "0-2,5,7-8"
std::string index_ranges(const std::vector<int64_t>& indices) {
  std::string out;
  for (size_t i = 0; i < indices.size();) {
    size_t j = i;
    while (j + 1 < indices.size() && indices[j + 1] == indices[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + std::to_string(indices[i]);
    if (j > i) out += "-" + std::to_string(indices[j]);
    i = j + 1;
  }
  return out;
}

// A word for bash: single quotes, each ' as '\''.
std::string quoted(const std::string& word) {
  std::string out = "'";
  for (char ch : word) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

std::string batch_script(const GridConfig& grid, const GridOptions& options, const SlurmOptions& s,
                         const std::string& dir, const std::vector<int64_t>& indices,
                         int64_t nproc) {
  std::ostringstream o;
  const std::time_t now = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  o << "#!/bin/bash\n"
    << "# Written by `eelu grid " << grid.path << " --slurm` on " << when << ": grid '" << grid.name
    << "', " << indices.size() << " of its " << grid.runs.size()
    << " runs (those not done), one array task each.\n"
    << "# Each task trains run $SLURM_ARRAY_TASK_ID in " << dir << "/runs/<key> and records only\n"
    << "# there; `eelu grid " << grid.path << " --status` (or `eelu report " << dir << "`)\n"
    << "# brings " << dir << "/experiment.db up to date. A task stopped by its time limit\n"
    << "# (SIGUSR1 " << kSignalSeconds << " s before it) requeues itself, a preempted or\n"
    << "# requeued one resumes from its checkpoint, a finished run is not trained again.\n";
  auto line = [&](const std::string& option) { o << "#SBATCH " << option << "\n"; };
  line("--job-name=" + slurm_job_name(grid, dir));
  line("--array=" + index_ranges(indices) +
       (s.max_parallel > 0 ? "%" + std::to_string(s.max_parallel) : ""));
  line("--output=" + dir + "/slurm/%A_%a.out");
  line("--open-mode=append");
  line("--requeue");
  line("--signal=USR1@" + std::to_string(kSignalSeconds));
  line("--ntasks=" + std::to_string(nproc));
  if (s.nodes > 0) line("--nodes=" + std::to_string(s.nodes));
  if (s.cpus_per_task > 0) line("--cpus-per-task=" + std::to_string(s.cpus_per_task));
  if (!s.gres.empty()) line("--gres=" + s.gres);
  if (!s.mem.empty()) line("--mem=" + s.mem);
  if (!s.time.empty()) line("--time=" + s.time);
  if (!s.partition.empty()) line("--partition=" + s.partition);
  if (!s.account.empty()) line("--account=" + s.account);
  if (!s.qos.empty()) line("--qos=" + s.qos);
  for (const auto& e : s.extra) line(e);
  o << "\n# srun starts the run's ranks (one task per rank; eelu takes its rank from srun).\n"
    << "exec srun --kill-on-bad-exit=1 " << quoted(distributed::current_executable()) << " grid "
    << quoted(dir + "/grid.toml") << " --dir " << quoted(dir)
    << " --run \"$SLURM_ARRAY_TASK_ID\" --device " << quoted(options.device);
  if (options.threads > 0) o << " --threads " << options.threads;
  if (options.quiet) o << " --quiet";
  o << "\n";
  return o.str();
}

}  // namespace

std::string slurm_job_name(const GridConfig& grid, const std::string& dir) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a of the directory: one name per experiment
  for (unsigned char ch : fs::absolute(dir).lexically_normal().string())
    h = (h ^ ch) * 0x100000001b3ull;
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08llx", static_cast<unsigned long long>(h & 0xffffffffull));
  return "eelu-" + grid.name + "-" + hex;
}

int write_slurm_array(const GridConfig& grid, const GridOptions& options, bool submit) {
  GridOptions absolute = options;
  absolute.dir = fs::absolute(experiment_dir(grid, options.dir)).lexically_normal().string();
  const std::string& dir = absolute.dir;
  const SlurmOptions s = merged(grid.slurm, options.slurm);  // refused before anything is made
  Store store = prepare_experiment(grid, absolute);

  // The runs to submit: not done, not failed (--retry-failed made them pending), not held by
  // a live task; grouped by their number of ranks (an array has one shape).
  std::map<int64_t, std::vector<int64_t>> by_nproc;
  int64_t held = 0, failed = 0;
  const std::vector<RunRecord> runs = store.runs();
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunRecord& r = runs[i];
    if (r.status == "done") continue;
    if (r.status == "failed") {
      ++failed;
      continue;
    }
    if (r.status == "running") {
      const auto task = read_task((fs::path(dir) / "runs" / r.key).string());
      const bool live = !task || wall_seconds() - task->heartbeat < kTaskStaleSeconds;
      if (live) {
        ++held;
        continue;
      }
    }
    by_nproc[grid.runs[i].config.nproc].push_back(static_cast<int64_t>(i));
  }
  std::printf("grid '%s' in %s: %zu runs (%lld done, %lld failed, %lld running)\n",
              grid.name.c_str(), dir.c_str(), grid.runs.size(),
              static_cast<long long>(store.count("done")), static_cast<long long>(failed),
              static_cast<long long>(held));
  if (failed > 0) std::printf("  failed runs are left out; --retry-failed includes them\n");
  if (by_nproc.empty()) {
    std::printf("nothing to submit\n");
    return 0;
  }
  fs::create_directories(fs::path(dir) / "slurm");
  for (const auto& [nproc, indices] : by_nproc) {
    const std::string name =
        by_nproc.size() == 1 ? "array.sbatch" : "array-nproc" + std::to_string(nproc) + ".sbatch";
    const std::string path = (fs::path(dir) / "slurm" / name).string();
    util::write_file_atomically(path, batch_script(grid, absolute, s, dir, indices, nproc));
    fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add);
    if (!submit) {
      std::printf("%s: %zu array tasks; submit with: sbatch %s\n", path.c_str(), indices.size(),
                  path.c_str());
      continue;
    }
    const auto r = util::run_command({"sbatch", "--parsable", path});
    TORCH_CHECK(r, "--submit: sbatch is not on PATH (is this a Slurm login node?); the script is ",
                path);
    TORCH_CHECK(r->status == 0, "--submit: sbatch refused ", path, " (exit ", r->status,
                "): ", r->err);
    const std::string job = r->out.substr(0, r->out.find_first_of(";\n"));
    const std::string jobs = (fs::path(dir) / "slurm" / "jobs.txt").string();
    const std::string before = fs::exists(jobs) ? util::read_text_file(jobs, "job list") : "";
    util::write_file_atomically(jobs, before + job + " " + index_ranges(indices) + "\n");
    std::printf("submitted job %s: %zu array tasks (%s); `eelu grid %s --status` follows it\n",
                job.c_str(), indices.size(), path.c_str(), grid.path.c_str());
  }
  return 0;
}

}  // namespace eelu::experiment
