// Evaluation: loss, accuracy and confusion matrix of a network on a split (reduced over the
// ranks of a distributed job), and of a trained network from its checkpoint.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "eelu/data/images.h"
#include "eelu/data/loader.h"
#include "eelu/distributed/distributed.h"
#include "eelu/models/models.h"
#include "eelu/train/trainer.h"
#include "train/placement.h"

namespace eelu::train {

struct Eval {
  double loss = 0, acc = 0;
  at::Tensor confusion;  // (classes, classes) int64
};

/// Evaluates on `loader` (this rank's shard in a distributed job: the sums are reduced over
/// the ranks, so every rank returns the figures of the whole split); at most `max_batches`
/// batches (0: all). The network is where `where` says, and the batches are copied there;
/// evaluation runs in float32 whatever the training's --amp.
Eval run_eval(models::Classifier& model, data::DataLoader& loader, int64_t classes,
              int64_t max_batches, distributed::Group* group = nullptr,
              const Placement& where = {});

/// The network's shape for a dataset: its classes and channels, and its image size (image
/// folders are cropped to 224), with the activation and initialisation of `config`.
models::ModelOptions model_options(const data::ImageDataset& dataset, const TrainConfig& config);

}  // namespace eelu::train
