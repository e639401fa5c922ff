// What the grid's workers and tasks say about where they run: the time, this host's name,
// whether a process of this host is gone (to take over the runs it held).
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>

namespace eelu::experiment {

/// Seconds since the epoch (heartbeats, start and end times).
inline double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// This host's name, "unknown" if it cannot be read.
inline std::string hostname() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

/// Process `pid` of this host no longer exists (not merely another user's: EPERM is alive).
inline bool process_gone(int64_t pid) {
  return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace eelu::experiment
