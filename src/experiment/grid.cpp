// Running a grid: the parent process creates or checks the database, then one or more
// workers take runs from it until none is left (Note [Grid workers]).
#include <c10/util/Exception.h>

#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "eelu/distributed/distributed.h"
#include "eelu/distributed/launch.h"
#include "eelu/experiment/grid.h"
#include "eelu/experiment/store.h"
#include "eelu/train/device.h"
#include "eelu/util/files.h"
#include "experiment/grid_parts.h"
#include "experiment/run_folders.h"
#include "experiment/this_host.h"

extern char** environ;

namespace eelu::experiment {
namespace {

namespace fs = std::filesystem;

// Note [Grid workers]
// Each worker claims a run in one IMMEDIATE transaction (Store::claim), trains it in
// DIR/runs/<key> with a heartbeat every kHeartbeatSeconds, records every epoch as it ends
// and the result at the end, then claims the next. A run whose worker died (its process is
// gone from this host, or its heartbeat stopped) is claimed again and resumes from its
// checkpoint; the epochs table is keyed by (run, epoch), so nothing is recorded twice.
// SIGINT/SIGTERM: the trainer stops after the current batch with a checkpoint, the run goes
// back to pending, and the worker exits 130. Worker processes die with their parent
// (PR_SET_PDEATHSIG), so killing `eelu grid` leaves no orphan training on.
// A run with nproc > 1 is a distributed job: the worker is its rank 0 (it records the run)
// and starts ranks 1.. as `eelu grid-rank` processes (which die with it); the worker's
// threads are shared among the ranks.
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

}  // namespace

std::string experiment_dir(const GridConfig& grid, const std::string& options_dir) {
  if (!options_dir.empty()) return options_dir;
  if (!grid.dir.empty()) return grid.dir;
  return (fs::path("experiments") / grid.name).string();
}

int default_threads(int workers) {
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  return std::max(1, static_cast<int>(hw) / std::max(1, workers));
}

train::TrainResult train_grid_run(const train::TrainConfig& c, const std::string& config_json,
                                  const std::atomic<bool>* stop,
                                  const std::function<void(const train::EpochMetrics&)>& on_epoch) {
  if (c.nproc <= 1 || distributed::environment_from_env().distributed())
    return train::train(c, stop, on_epoch);
  // A distributed run: ranks 1.. in processes of their own, this process is rank 0.
  std::vector<pid_t> helpers;
  auto finish_helpers = [&](bool failed) {
    for (const char* k :
         {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"})
      ::unsetenv(k);
    if (helpers.empty()) return 0;
    if (failed)
      for (pid_t h : helpers) ::kill(h, SIGTERM);
    const int rc = distributed::wait_ranks(helpers, nullptr, std::chrono::seconds(failed ? 5 : 60));
    helpers.clear();
    return rc;
  };
  try {
    const int port = distributed::free_port();
    std::vector<std::string> args = {distributed::current_executable(),
                                     "grid-rank",
                                     "--config-json",
                                     config_json,
                                     "--out",
                                     c.out_dir,
                                     "--threads",
                                     std::to_string(c.threads),
                                     "--device",
                                     c.device};
    if (c.resume) args.push_back("--resume");
    helpers = distributed::spawn_ranks(args, static_cast<int>(c.nproc), 1, port);
    const std::string n = std::to_string(c.nproc);
    ::setenv("RANK", "0", 1);
    ::setenv("LOCAL_RANK", "0", 1);
    ::setenv("WORLD_SIZE", n.c_str(), 1);
    ::setenv("LOCAL_WORLD_SIZE", n.c_str(), 1);
    ::setenv("MASTER_ADDR", "127.0.0.1", 1);
    ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
    const train::TrainResult r = train::train(c, stop, on_epoch);
    const int helpers_rc = finish_helpers(false);
    TORCH_CHECK(r.interrupted || helpers_rc == 0, "rank 1.. of the run exited with code ",
                helpers_rc);
    return r;
  } catch (...) {
    finish_helpers(true);
    throw;
  }
}

std::string error_text(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

Heartbeat::Heartbeat(std::function<void()> beat, std::chrono::seconds every)
    : thread_([this, beat = std::move(beat), every] {
        std::unique_lock<std::mutex> lock(mu_);
        while (!cv_.wait_for(lock, every, [&] { return done_; })) {
          try {
            beat();
          } catch (const std::exception&) {
            // one missed beat; the next one tries again
          }
        }
      }) {}

void Heartbeat::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Heartbeat::~Heartbeat() { stop(); }

Store prepare_experiment(const GridConfig& grid, const GridOptions& options) {
  const std::string dir = experiment_dir(grid, options.dir);
  Store store = Store::open(dir, &grid);
  // The config as it was, next to the database (the database holds every run's settings;
  // a task of a cluster reads its runs from this copy).
  util::write_file_atomically((fs::path(dir) / "grid.toml").string(),
                              util::read_text_file(grid.path, "grid config"));
  sync_run_folders(store, dir);
  if (options.retry_failed) {
    retry_failed_folders(store, dir);
    store.retry_failed();
  }
  return store;
}

int run_grid_worker(const std::string& dir, int threads, bool quiet, int worker_id,
                    const std::string& device) {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Store store = Store::open(dir, nullptr);
  const std::string owner =
      hostname() + ":" + std::to_string(::getpid()) + ":w" + std::to_string(worker_id);
  const std::string tag = "[worker " + std::to_string(worker_id) + "] ";
  int failed = 0;
  while (!g_stop.load()) {
    const auto run = store.claim(owner);
    if (!run) break;
    train::TrainConfig c = train::config_from_json(run->config_json);
    c.out_dir = (fs::path(dir) / "runs" / run->key).string();
    c.threads =
        std::max<int>(1, (threads > 0 ? threads : default_threads(1)) / static_cast<int>(c.nproc));
    c.quiet = quiet;
    c.device = device;
    c.resume = fs::exists(fs::path(c.out_dir) / "checkpoint.pt");
    c.overwrite = !c.resume;  // the grid owns its run folders: a run without a checkpoint restarts
    std::printf("%s%s %s (attempt %lld)\n", tag.c_str(), c.resume ? "resuming" : "starting",
                run->key.c_str(), static_cast<long long>(run->attempts));
    std::fflush(stdout);

    // Heartbeat on its own thread (SQLite connections are serialised across threads); a
    // busy database delays one heartbeat, the next one tries again.
    Heartbeat beat([&] { store.heartbeat(run->id); }, std::chrono::seconds(kHeartbeatSeconds));
    try {
      const train::TrainResult r =
          train_grid_run(c, run->config_json, &g_stop,
                         [&](const train::EpochMetrics& m) { store.record_epoch(run->id, m); });
      beat.stop();
      if (r.interrupted) {
        store.release(run->id);
        std::printf("%sinterrupted %s: it resumes from its checkpoint next time\n", tag.c_str(),
                    run->key.c_str());
        return 130;
      }
      store.finish(run->id, r);
      std::printf("%sdone %s: test accuracy %.2f%% (best %.2f%% at epoch %lld), %.0f s\n",
                  tag.c_str(), run->key.c_str(), 100 * r.final_test_acc, 100 * r.best_test_acc,
                  static_cast<long long>(r.best_epoch), r.seconds);
    } catch (const std::exception& e) {
      beat.stop();
      const std::string message = error_text(e);
      store.fail(run->id, message);
      ++failed;
      std::printf("%sFAILED %s: %s\n", tag.c_str(), run->key.c_str(), message.c_str());
    }
    std::fflush(stdout);
  }
  return g_stop.load() ? 130 : (failed ? 1 : 0);
}

int run_grid(const GridConfig& grid, const GridOptions& options, const std::string& self_exe) {
  TORCH_CHECK(options.workers >= 1 && options.workers <= 256, "--workers must be in [1, 256], got ",
              options.workers);
  const train::DeviceChoice device = train::choose_device(options.device);  // refused first
  const std::string dir = experiment_dir(grid, options.dir);
  Store store = prepare_experiment(grid, options);
  std::printf("grid '%s' in %s: %zu runs (%lld done, %lld failed, %lld to do); %d worker%s\n",
              grid.name.c_str(), dir.c_str(), grid.runs.size(),
              static_cast<long long>(store.count("done")),
              static_cast<long long>(store.count("failed")),
              static_cast<long long>(store.count("pending") + store.count("running")),
              options.workers, options.workers == 1 ? "" : "s");
  if (!device.note.empty()) std::printf("%s\n", device.note.c_str());
  std::fflush(stdout);
  const int threads = options.threads > 0 ? options.threads : default_threads(options.workers);

  int status = 0;
  if (options.workers == 1) {
    status = run_grid_worker(dir, threads, options.quiet, 0, options.device);
  } else {
    std::vector<pid_t> children;
    for (int w = 0; w < options.workers; ++w) {
      std::vector<std::string> args = {self_exe,    "grid-worker",
                                       "--dir",     dir,
                                       "--threads", std::to_string(threads),
                                       "--worker",  std::to_string(w),
                                       "--parent",  std::to_string(::getpid())};
      if (options.quiet) args.push_back("--quiet");
      args.insert(args.end(), {"--device", options.device});
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      pid_t pid = 0;
      const int rc = posix_spawn(&pid, self_exe.c_str(), nullptr, nullptr, argv.data(), environ);
      TORCH_CHECK(rc == 0, "could not start worker ", w, " (", self_exe, "): ", std::strerror(rc));
      children.push_back(pid);
    }
    // Ctrl-C reaches the workers directly (same process group); a SIGTERM to this process
    // is passed on. Wait for all of them either way.
    std::signal(SIGINT, SIG_IGN);
    std::signal(SIGTERM, on_signal);
    size_t alive = children.size();
    bool forwarded = false;
    while (alive > 0) {
      int wstatus = 0;
      const pid_t done = ::waitpid(-1, &wstatus, WNOHANG);
      if (done > 0) {
        --alive;
        const int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
        if (code != 0 && status == 0) status = code;
        continue;
      }
      if (g_stop.load() && !forwarded) {
        for (pid_t c : children) ::kill(c, SIGTERM);
        forwarded = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
  const int64_t failed = store.count("failed");
  const int64_t left = store.count("pending") + store.count("running");
  std::printf("grid '%s': %lld done, %lld failed, %lld left\n", grid.name.c_str(),
              static_cast<long long>(store.count("done")), static_cast<long long>(failed),
              static_cast<long long>(left));
  if (status == 130) return 130;
  return failed > 0 ? 1 : 0;
}

int run_grid_rank(const std::string& config_json, const std::string& out_dir, int threads,
                  bool resume, const std::string& device) {
  distributed::die_with_launcher();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  train::TrainConfig c = train::config_from_json(config_json);
  c.out_dir = out_dir;
  c.threads = threads;
  c.resume = resume;
  c.quiet = true;
  c.device = device;
  return train::train(c, &g_stop).interrupted ? 130 : 0;
}

void die_with_parent(int64_t parent_pid) {
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (parent_pid > 0 && ::getppid() != parent_pid) ::raise(SIGTERM);
}

}  // namespace eelu::experiment
