// What a run trains on and with: its data (the held-out and reduced splits, the loaders of
// this rank's shard), its network (the same initial weights on every rank) and its optimiser.
#pragma once

#include <torch/optim/optimizer.h>

#include <cstdint>
#include <memory>

#include "eelu/data/images.h"
#include "eelu/data/loader.h"
#include "eelu/distributed/distributed.h"
#include "eelu/models/models.h"
#include "eelu/train/trainer.h"
#include "train/placement.h"

namespace eelu::train {

struct TrainingData {
  data::ImageDataset dataset;
  data::ImageSplit train, val;  // val empty without --val-fraction
  std::unique_ptr<data::DataLoader> train_loader, test_loader;
  std::unique_ptr<data::DataLoader> val_loader;  // null without a validation split
};

/// The held-out validation split first, then the reduced training set from what is left,
/// both stratified and chosen by the seed (the same for every activation); loaders over
/// shard `rank` of `world`, building their batches in pinned memory when `pin_memory`.
TrainingData load_training_data(const TrainConfig& config, int rank, int world,
                                bool pin_memory = false);
/// The same from `dataset`, loaded already (config's dataset).
TrainingData training_data(data::ImageDataset dataset, const TrainConfig& config, int rank,
                           int world, bool pin_memory = false);

/// The network, initialised from the seed (rank 0's weights sent to every rank) on the CPU,
/// whatever the device, so that a run starts from the same weights on any; then placed as
/// `where` says, and each rank's generators set for its own EELU noise and dropout,
/// reproducible from (seed, rank).
std::shared_ptr<models::Classifier> make_network(const TrainConfig& config,
                                                 const data::ImageDataset& dataset,
                                                 distributed::Group* group, int rank,
                                                 const Placement& where = {});

/// SGD or AdamW over two parameter groups that differ only in weight decay: the network's
/// and the activations' own parameters (--act-weight-decay).
struct Optimisation {
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  int64_t activation_parameters = 0;  // entries in the activations' group
};
Optimisation make_optimizer(const TrainConfig& config, models::Classifier& model);

}  // namespace eelu::train
