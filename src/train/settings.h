// The settings of a training run as records hold them (config.json, the checkpoint's copy,
// grid databases), and the learning-rate schedule they describe.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "eelu/train/trainer.h"

namespace eelu::train {

/// The recorded settings of `config`: runtime settings (workers, threads, out_dir, the
/// flags, dist_timeout) are not among them.
nlohmann::json recorded_settings(const TrainConfig& config);

/// The recorded settings of `config` that `record` (a checkpoint's or config.json's copy)
/// lacks or holds with another value, by name.
std::vector<std::string> differing_settings(const TrainConfig& config,
                                            const nlohmann::json& record);

/// The learning rate of step `step` (0-based, of `steps_per_epoch` per epoch): linear
/// warm-up, then constant, step or cosine (to 0 at the end of training).
double learning_rate(const TrainConfig& config, int64_t step, int64_t steps_per_epoch);

}  // namespace eelu::train
