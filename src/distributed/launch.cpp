#include "eelu/distributed/launch.h"

#include <c10/util/Exception.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>

extern char** environ;

namespace eelu::distributed {

std::string current_executable() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("eelu") : p.string();
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  TORCH_CHECK(fd >= 0, "free_port: socket: ", std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int err = errno;
  ::close(fd);
  TORCH_CHECK(ok, "free_port: no free port on 127.0.0.1: ", std::strerror(err));
  return ntohs(addr.sin_port);
}

std::vector<pid_t> spawn_ranks(const std::vector<std::string>& argv_in, int world_size,
                               int first_rank, int port) {
  TORCH_CHECK(!argv_in.empty(), "spawn_ranks: no program");
  TORCH_CHECK(world_size >= 1 && first_rank >= 0 && first_rank <= world_size,
              "spawn_ranks: ranks [", first_rank, ", ", world_size, ") make no sense");
  // This process's environment without the job's variables, which each rank gets anew.
  static const char* kJob[] = {"RANK",        "WORLD_SIZE",  "LOCAL_RANK",       "LOCAL_WORLD_SIZE",
                               "MASTER_ADDR", "MASTER_PORT", "EELU_LAUNCHER_PID"};
  std::vector<std::string> base;
  for (char** e = environ; *e; ++e) {
    bool job = false;
    for (const char* k : kJob) {
      const size_t n = std::strlen(k);
      job = job || (std::strncmp(*e, k, n) == 0 && (*e)[n] == '=');
    }
    if (!job) base.emplace_back(*e);
  }
  std::vector<std::string> args = argv_in;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<pid_t> pids;
  for (int r = first_rank; r < world_size; ++r) {
    std::vector<std::string> env = base;
    env.push_back("RANK=" + std::to_string(r));
    env.push_back("WORLD_SIZE=" + std::to_string(world_size));
    env.push_back("LOCAL_RANK=" + std::to_string(r));
    env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(world_size));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back("MASTER_PORT=" + std::to_string(port));
    env.push_back("EELU_LAUNCHER_PID=" + std::to_string(::getpid()));
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data());
    if (rc != 0) {
      for (pid_t p : pids) ::kill(p, SIGKILL);
      for (pid_t p : pids) ::waitpid(p, nullptr, 0);
      TORCH_CHECK(false, "could not start rank ", r, " (", argv_in[0], "): ", std::strerror(rc));
    }
    pids.push_back(pid);
  }
  return pids;
}

int wait_ranks(const std::vector<pid_t>& ranks, const std::atomic<bool>* stop,
               std::chrono::seconds grace) {
  using Clock = std::chrono::steady_clock;
  std::map<pid_t, int> rank_of;
  for (size_t i = 0; i < ranks.size(); ++i) rank_of[ranks[i]] = static_cast<int>(i);
  size_t alive = ranks.size();
  int status = 0;
  bool forwarded = false, killed = false;
  Clock::time_point failed_at{};
  while (alive > 0) {
    int wstatus = 0;
    const pid_t done = ::waitpid(-1, &wstatus, WNOHANG);
    if (done > 0 && rank_of.count(done)) {
      --alive;
      const int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
      if (code != 0 && status == 0) {
        status = code;
        failed_at = Clock::now();
        if (!(stop && stop->load()) && code != 130) {
          std::fprintf(stderr, "eelu: rank %d (pid %d) %s %d; stopping the other ranks\n",
                       rank_of[done], static_cast<int>(done),
                       WIFEXITED(wstatus) ? "exited with code" : "was killed by signal",
                       WIFEXITED(wstatus) ? code : WTERMSIG(wstatus));
        }
      }
      continue;
    }
    if (done < 0 && errno == ECHILD) break;
    if (stop && stop->load() && !forwarded) {
      for (pid_t p : ranks) ::kill(p, SIGTERM);
      forwarded = true;
    }
    if (status != 0 && !killed && Clock::now() - failed_at > grace) {
      for (pid_t p : ranks) ::kill(p, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return status;
}

void die_with_launcher() {
  const char* pid = std::getenv("EELU_LAUNCHER_PID");
  if (!pid || !*pid) return;
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != static_cast<pid_t>(std::atoll(pid))) ::raise(SIGTERM);
}

}  // namespace eelu::distributed
