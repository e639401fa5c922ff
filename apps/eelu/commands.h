// How the eelu tool is put together: each *_cmd.cpp adds its own subcommands to the app and
// returns the function that runs whichever of them was parsed (-1 when none of its commands
// was). main.cpp only lists them, in the order `eelu --help` shows them.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace eelu::app {

using CommandRunner = std::function<int()>;

CommandRunner add_selfcheck_command(CLI::App& app);    // selfcheck.cpp: selfcheck
CommandRunner add_activation_commands(CLI::App& app);  // activations_cmd.cpp: activations,
                                                       //   plot-activations
CommandRunner add_data_commands(CLI::App& app);        // data_cmd.cpp: data info
/// argc, argv: `train --nproc N` starts its ranks with the same command line.
CommandRunner add_train_commands(CLI::App& app, int argc, char** argv);  // train_cmd.cpp:
                                                                         //   train, compare, eval
CommandRunner add_bench_commands(CLI::App& app);  // bench_cmd.cpp: bench ops, bench step
CommandRunner add_grid_commands(CLI::App& app);   // grid_cmd.cpp: grid, grid-worker,
                                                  //   report, visualize

}  // namespace eelu::app
