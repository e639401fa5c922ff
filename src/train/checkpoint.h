// checkpoint.pt: the model, the optimiser, where training stands and every rank's generator
// state, written atomically (rank 0) so that a resumed run continues bit for bit.
#pragma once

#include <torch/optim/optimizer.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "eelu/distributed/distributed.h"
#include "eelu/models/models.h"
#include "eelu/train/trainer.h"

namespace eelu::train {

/// What a checkpoint holds besides the model and optimiser.
struct Progress {
  int64_t epoch = 0;    // the epoch in progress (or the next one)
  int64_t batch = 0;    // the next batch of that epoch
  double loss_sum = 0;  // partial sums of the epoch in progress
  int64_t correct = 0, seen = 0;
  double seconds = 0;  // training time so far (all sessions)
  double epoch_seconds = 0;
  std::vector<EpochMetrics> history;
};

std::string checkpoint_path(const std::string& dir);

/// Writes the checkpoint (rank 0). In a distributed job every rank must call it: the
/// checkpoint holds every rank's generator state (rank r's EELU noise and dropout continue
/// exactly on resume).
void save_checkpoint(const std::string& dir, const TrainConfig& config, models::Classifier& model,
                     torch::optim::Optimizer& opt, const Progress& progress,
                     distributed::Group* group = nullptr);

/// Loads meta (and, with a model and optimiser, their states and rank `rank`'s generator
/// state) from a checkpoint: the file at `path`, or its bytes when `bytes` is given (a
/// distributed job reads the file on rank 0 and broadcasts it, so no shared file system is
/// needed). With `world` > 0 a checkpoint written by a job of another world size is refused
/// first, before anything else is read from it.
nlohmann::json load_checkpoint(const std::string& path, models::Classifier* model,
                               torch::optim::Optimizer* opt, const std::string* bytes = nullptr,
                               int rank = 0, int world = 0);

/// --resume: the model, optimiser and generator state of config.out_dir's checkpoint (read on
/// rank 0 and sent to every rank), refused if its settings differ from `config`'s; returns
/// where training stands.
Progress resume_from_checkpoint(const TrainConfig& config, models::Classifier& model,
                                torch::optim::Optimizer& opt, distributed::Group* group, int rank,
                                int world);

}  // namespace eelu::train
