// The eelu command-line tool: each *_cmd.cpp adds its own subcommands (commands.h).
#include <CLI/CLI.hpp>

#include <c10/util/Exception.h>
#include <torch/version.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "allocator.h"
#include "commands.h"
#include "eelu/distributed/distributed.h"
#include "eelu/ops.h"
#include "eelu/train/device.h"

namespace {

// The build's features on one line (the tests read "distributed training: no" to skip).
std::string version_line() {
  using eelu::distributed::Group;
  return std::string("eelu ") + eelu::version() + " (LibTorch " + TORCH_VERSION +
         "; distributed training: " + (Group::available(c10::kCPU) ? "yes" : "no") +
         "; on GPUs (NCCL): " + (Group::available(c10::kCUDA) ? "yes" : "no") + ")";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace eelu::app;
  if (const std::string error = configure_allocator(); !error.empty()) {
    std::fprintf(stderr, "eelu: %s\n", error.c_str());
    return 2;
  }
  CLI::App app{
      "eelu: the Elastic Exponential Linear Unit for LibTorch, and the tools to "
      "test it against other activations"};
  app.set_version_flag("--version", version_line());
  app.require_subcommand(0, 1);
  const std::vector<CommandRunner> commands = {
      add_selfcheck_command(app),          add_activation_commands(app), add_data_commands(app),
      add_train_commands(app, argc, argv), add_bench_commands(app),      add_grid_commands(app)};

  CLI11_PARSE(app, argc, argv);
  if (app.get_subcommands().empty()) {
    std::fprintf(stderr, "%s\neelu: a subcommand is required\n", app.help().c_str());
    return 2;
  }
  try {
    for (const CommandRunner& run : commands) {
      if (const int rc = run(); rc >= 0) return rc;
    }
  } catch (const eelu::train::DeviceUnavailable& e) {  // a usage error, like CLI11's
    std::fprintf(stderr, "eelu: %s\n", e.what());
    return 2;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "eelu: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eelu: %s\n", e.what());
    return 1;
  }
  return 0;
}
