// The records of a run in its directory, each written whole through a temporary file and a
// rename: config.json (every setting, versions, threads, commit, data and model sizes),
// metrics.jsonl (one line an epoch) and summary.json.
#pragma once

#include <torch/nn/module.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "eelu/train/trainer.h"

namespace eelu::train {

nlohmann::json to_json(const EpochMetrics& metrics);
EpochMetrics metrics_from_json(const nlohmann::json& j);

/// What config.json holds besides the recorded settings: facts of this run.
struct RunFacts {
  std::string device = "cpu", device_name;  // where it trained: "cuda:0", "NVIDIA H200"
  int world_size = 1;
  int64_t train_images = 0, val_images = 0, test_images = 0, classes = 0;
  std::vector<double> mean, std;
  int64_t parameters = 0, activation_parameters = 0;
};
void write_config_record(const TrainConfig& config, const RunFacts& facts);

/// --resume: config.json must still hold the settings of the run (those of `config`, which
/// the checkpoint's were compared with): a record edited by hand is refused, not kept.
void check_config_record(const TrainConfig& config);

/// --overwrite: removes the records and checkpoint of the run in config.out_dir.
void remove_records(const std::string& dir);

/// metrics.jsonl: one line per finished epoch.
void write_metrics(const std::string& dir, const std::vector<EpochMetrics>& history);

/// summary.json of a finished run.
void write_summary(const TrainConfig& config, const TrainResult& result, torch::nn::Module& model);

/// FNV-1a over the bytes of every parameter and buffer, in name order: two runs that end with
/// the same weights bit for bit have the same digest (what resume is tested against).
std::string state_digest(torch::nn::Module& model);

}  // namespace eelu::train
