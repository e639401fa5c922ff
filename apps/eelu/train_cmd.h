// `eelu train`, `eelu compare` and `eelu eval`.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "eelu/train/trainer.h"

namespace eelu::app {

/// Adds the training options shared by train and compare to `cmd`.
void add_train_options(CLI::App* cmd, train::TrainConfig& config);

int run_train(const train::TrainConfig& config, int argc, char** argv);

/// Trains one run per activation (into OUT/<activation>) and prints their accuracies side by
/// side.
int run_compare(const train::TrainConfig& config, const std::vector<std::string>& activations);

struct EvalArgs {
  std::string checkpoint, data_dir, device = "auto";
  bool bn_recalibrate = false;
};
int run_eval(const EvalArgs& args);

}  // namespace eelu::app
