// Starting the ranks of a job on this machine (what `eelu train --nproc N` and distributed
// grid runs do; torchrun's role for a single machine).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

namespace eelu::distributed {

/// The path of the running program (/proc/self/exe; "eelu" if it cannot be read).
std::string current_executable();

/// A TCP port on 127.0.0.1 that was free a moment ago (for MASTER_PORT).
int free_port();

/// Starts `argv` (argv[0] is the program) once for each rank in [first_rank, world_size),
/// with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1 and
/// MASTER_PORT=`port` set, and EELU_LAUNCHER_PID so that each rank dies with this process.
std::vector<pid_t> spawn_ranks(const std::vector<std::string>& argv, int world_size, int first_rank,
                               int port);

/// Waits for the ranks. When one fails, the others have `grace` to fail on their own (they
/// notice the lost peer), then get SIGKILL; a set `stop` is passed on as SIGTERM. Returns 0,
/// or the exit code of the first rank that failed (128 + signal when killed), after saying
/// which on stderr.
int wait_ranks(const std::vector<pid_t>& ranks, const std::atomic<bool>* stop,
               std::chrono::seconds grace = std::chrono::seconds(30));

/// In a rank started by spawn_ranks: die with the launcher (PR_SET_PDEATHSIG).
void die_with_launcher();

}  // namespace eelu::distributed
