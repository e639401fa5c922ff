// Running another program (sbatch, squeue, scontrol) and reading what it printed.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace eelu::util {

struct CommandResult {
  int status = 0;  // exit code; 128 + the signal that killed it
  std::string out, err;
};

/// Runs argv[0] (looked up in PATH) with `argv`, waits for it and returns its exit status and
/// output; nullopt when the program is not there.
std::optional<CommandResult> run_command(const std::vector<std::string>& argv);

}  // namespace eelu::util
