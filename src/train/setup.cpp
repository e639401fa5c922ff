#include "train/setup.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <vector>

#include "eelu/data/subsets.h"
#include "eelu/nn/registry.h"
#include "train/evaluate.h"

namespace eelu::train {

TrainingData load_training_data(const TrainConfig& c, int rank, int world, bool pin_memory) {
  data::LoadOptions load;
  return training_data(data::load_dataset(c.dataset, c.data_dir, load), c, rank, world, pin_memory);
}

TrainingData training_data(data::ImageDataset dataset, const TrainConfig& c, int rank, int world,
                           bool pin_memory) {
  TrainingData t;
  t.dataset = std::move(dataset);
  const data::ImageDataset& d = t.dataset;
  t.train = d.train;
  if (c.val_fraction > 0) {
    auto [tr, va] =
        data::stratified_holdout(d.train.labels, d.num_classes(), c.val_fraction, c.seed);
    t.val = data::take(d.train, va);
    t.train = data::take(d.train, tr);
  }
  if (c.train_per_class > 0) {
    t.train = data::take(t.train, data::stratified_per_class(t.train.labels, d.num_classes(),
                                                             c.train_per_class, c.seed));
  } else if (c.train_fraction < 1) {
    t.train = data::take(t.train, data::stratified_fraction(t.train.labels, d.num_classes(),
                                                            c.train_fraction, c.seed));
  }
  data::LoaderOptions lo;
  lo.batch_size = c.batch_size;
  lo.workers = c.workers;
  lo.seed = c.seed;
  lo.augment.crop_padding = c.crop_padding;
  lo.augment.horizontal_flip = c.flip == 1;
  lo.augment.random_resize = !d.train.in_memory();  // image folders
  lo.shard = rank;
  lo.shards = world;
  lo.pin_memory = pin_memory;
  TORCH_CHECK(t.train.size() >= world, "the training set (", t.train.size(),
              " images) is smaller than the world size ", world);
  t.train_loader = std::make_unique<data::DataLoader>(t.train, d.mean, d.std, lo);
  TORCH_CHECK(t.train_loader->batches_per_epoch() >= 1, "--batch-size ", c.batch_size,
              world > 1 ? " per rank" : "", " is larger than the training set (", t.train.size(),
              " images): not one batch to train on");
  data::LoaderOptions eval_lo = lo;
  eval_lo.shuffle = false;
  eval_lo.augment = data::Augmentation{};
  t.test_loader = std::make_unique<data::DataLoader>(d.test, d.mean, d.std, eval_lo);
  if (t.val.size() > 0)
    t.val_loader = std::make_unique<data::DataLoader>(t.val, d.mean, d.std, eval_lo);
  return t;
}

std::shared_ptr<models::Classifier> make_network(const TrainConfig& c, const data::ImageDataset& d,
                                                 distributed::Group* group, int rank,
                                                 const Placement& where) {
  at::manual_seed(c.seed);  // the CPU's generator and every GPU's
  auto model = models::make_model(c.model, model_options(d, c));
  if (group) {
    distributed::broadcast_module(*group, *model);  // every rank starts from rank 0's weights
    if (rank > 0) at::manual_seed(c.seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(rank));
  }
  where.place(*model);
  return model;
}

Optimisation make_optimizer(const TrainConfig& c, models::Classifier& model) {
  std::vector<at::Tensor> act_params, other_params;
  for (const auto& m : model.modules(false)) {
    const bool act = nn::is_parametric_activation(*m);
    for (const auto& p : m->parameters(/*recurse=*/false))
      (act ? act_params : other_params).push_back(p);
  }
  auto groups_of = [&](auto base) {
    using Options = decltype(base);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(other_params,
                        std::make_unique<Options>(Options(base).weight_decay(c.weight_decay)));
    if (!act_params.empty()) {
      groups.emplace_back(
          act_params, std::make_unique<Options>(Options(base).weight_decay(c.act_weight_decay)));
    }
    return groups;
  };
  Optimisation out;
  for (const auto& t : act_params) out.activation_parameters += t.numel();
  if (c.optimizer == "sgd") {
    const auto base = torch::optim::SGDOptions(c.lr).momentum(c.momentum).nesterov(c.nesterov);
    out.optimizer = std::make_unique<torch::optim::SGD>(groups_of(base), base);
  } else {
    const auto base = torch::optim::AdamWOptions(c.lr);
    out.optimizer = std::make_unique<torch::optim::AdamW>(groups_of(base), base);
  }
  return out;
}

}  // namespace eelu::train
