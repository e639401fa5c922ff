// `eelu grid`, `eelu grid-worker` (started by grid), `eelu report`.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace eelu::app {

/// Adds the subcommands; the returned function runs whichever was parsed (returns -1 if
/// none of them was).
std::function<int()> add_grid_commands(CLI::App& app);

}  // namespace eelu::app
