// The trainer's rooms from inside: the optimiser's two parameter groups (the activations'
// own parameters get --act-weight-decay, everything else --weight-decay), and the learning
// rate schedules against their formulas; BatchNorm's recalibration with the noise off.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <cmath>
#include <set>

#include "eelu/models/models.h"
#include "eelu/nn/registry.h"
#include "train/recalibrate.h"
#include "train/settings.h"
#include "train/setup.h"

namespace eelu::test {
namespace {

train::TrainConfig config(const std::string& optimizer) {
  train::TrainConfig c;
  c.optimizer = optimizer;
  c.weight_decay = 5e-4;
  c.act_weight_decay = 0.25;
  c.activation = "eelu(eps=0.6, alpha=1, beta=1)";
  c.out_dir = "unused";
  return train::resolved(c);
}

TEST(TrainSetup, ActivationParametersGetTheirOwnWeightDecay) {
  for (const char* optimizer : {"sgd", "adamw"}) {
    const train::TrainConfig c = config(optimizer);
    models::ModelOptions mo;
    mo.in_channels = 1;
    mo.image_size = 28;
    mo.activation = c.activation;
    auto model = models::make_model("simple-cnn", mo);
    const train::Optimisation o = train::make_optimizer(c, *model);
    auto& groups = o.optimizer->param_groups();
    ASSERT_EQ(groups.size(), 2u) << optimizer;
    std::set<const void*> act;
    int64_t act_count = 0;
    for (const auto& m : model->modules(false)) {
      if (!nn::is_parametric_activation(*m)) continue;
      for (const auto& p : m->parameters(false)) {
        act.insert(p.unsafeGetTensorImpl());
        act_count += p.numel();
      }
    }
    ASSERT_FALSE(act.empty());
    EXPECT_EQ(o.activation_parameters, act_count);
    for (const auto& p : groups[1].params()) EXPECT_TRUE(act.count(p.unsafeGetTensorImpl()));
    for (const auto& p : groups[0].params()) EXPECT_FALSE(act.count(p.unsafeGetTensorImpl()));
    EXPECT_EQ(groups[0].params().size() + groups[1].params().size(), model->parameters().size());
    auto decay = [&](size_t g) {
      if (std::string(optimizer) == "sgd") {
        return static_cast<torch::optim::SGDOptions&>(groups[g].options()).weight_decay();
      }
      return static_cast<torch::optim::AdamWOptions&>(groups[g].options()).weight_decay();
    };
    EXPECT_EQ(decay(0), 5e-4) << optimizer;
    EXPECT_EQ(decay(1), 0.25) << optimizer;
  }
}

TEST(TrainSetup, LearningRateSchedulesFollowTheirFormulas) {
  train::TrainConfig c = config("sgd");
  c.lr = 0.1;
  c.epochs = 10;
  const int64_t per_epoch = 50;
  // cosine to 0 at the end
  EXPECT_DOUBLE_EQ(train::learning_rate(c, 0, per_epoch), 0.1);
  EXPECT_NEAR(train::learning_rate(c, 250, per_epoch), 0.05, 1e-15);
  EXPECT_NEAR(train::learning_rate(c, 500, per_epoch), 0.0, 1e-15);
  // warm-up: linear per step over 2 epochs, then the cosine over the remaining 8
  c.warmup_epochs = 2;
  EXPECT_DOUBLE_EQ(train::learning_rate(c, 0, per_epoch), 0.1 / 100);
  EXPECT_DOUBLE_EQ(train::learning_rate(c, 49, per_epoch), 0.1 * 50 / 100);
  EXPECT_DOUBLE_EQ(train::learning_rate(c, 100, per_epoch), 0.1);
  EXPECT_NEAR(train::learning_rate(c, 300, per_epoch), 0.05, 1e-15);
  // step: times gamma at each milestone
  c.warmup_epochs = 0;
  c.lr_schedule = "step";
  c.milestones = {3, 7};
  c.gamma = 0.5;
  EXPECT_DOUBLE_EQ(train::learning_rate(c, 149, per_epoch), 0.1);
  EXPECT_DOUBLE_EQ(train::learning_rate(c, 150, per_epoch), 0.05);
  EXPECT_DOUBLE_EQ(train::learning_rate(c, 350, per_epoch), 0.025);
  c.lr_schedule = "constant";
  EXPECT_DOUBLE_EQ(train::learning_rate(c, 499, per_epoch), 0.1);
}

}  // namespace
}  // namespace eelu::test

namespace eelu::test {
namespace {

// The settings recorded only when not at their defaults differ in both directions: a run
// recorded with --amp bf16 (or --sync-bn, --nproc 2) resumed without it is refused.
TEST(TrainSettings, OptionalSettingsDifferInBothDirections) {
  train::TrainConfig plain = config("sgd");
  train::TrainConfig special = plain;
  special.amp = "bf16";
  special.sync_batchnorm = true;
  special.nproc = 2;
  const nlohmann::json special_record = train::recorded_settings(special);
  const nlohmann::json plain_record = train::recorded_settings(plain);
  auto as_set = [](const std::vector<std::string>& v) {
    return std::set<std::string>(v.begin(), v.end());
  };
  const std::set<std::string> all = {"nproc", "sync_batchnorm", "amp"};
  EXPECT_EQ(as_set(train::differing_settings(plain, special_record)), all);
  EXPECT_EQ(as_set(train::differing_settings(special, plain_record)), all);
  EXPECT_TRUE(train::differing_settings(special, special_record).empty());
  train::TrainConfig moved = special;
  moved.device = "cuda:3";
  moved.channels_last = true;
  moved.deterministic = true;
  EXPECT_TRUE(train::differing_settings(moved, special_record).empty());  // not settings
}

// After recalibration on one batch, the network in evaluation mode computes what it computes
// with batch statistics and the activations' noise off (up to BatchNorm's unbiased running
// variance); with the noise on during the pass the statistics would be another's. No random
// number is drawn, and BatchNorm's momentum is what it was.
TEST(TrainSetup, BatchNormRecalibrationUsesTheNoiselessActivations) {
  at::manual_seed(3);
  models::ModelOptions o;
  o.in_channels = 1;
  o.image_size = 8;
  o.activation = "eelu(eps=1, alpha=1, beta=1)";
  const auto model = models::make_model("simple-cnn", o);
  data::ImageSplit split;
  split.images = at::randint(0, 256, {40, 1, 8, 8}, at::kLong).to(at::kByte);
  split.labels = at::randint(0, 10, {40}, at::kLong);
  data::LoaderOptions lo;
  lo.batch_size = 40;
  lo.shuffle = false;
  lo.workers = 0;
  data::DataLoader loader(split, {0.5}, {0.25}, lo);
  std::vector<torch::nn::BatchNorm2d> norms;
  for (const auto& m : model->modules(false)) {
    if (auto bn = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(m)) {
      bn->running_mean.fill_(5);  // garbage the pass must replace
      norms.emplace_back(bn);
    }
  }
  ASSERT_EQ(norms.size(), 3u);
  const at::Tensor rng_before = at::detail::getDefaultCPUGenerator().get_state();
  train::recalibrate_batchnorm(*model, loader, 0, 0, train::Placement{}, c10::nullopt);
  EXPECT_TRUE(at::equal(rng_before, at::detail::getDefaultCPUGenerator().get_state()));
  for (const auto& bn : norms) {
    EXPECT_FALSE(bn->is_training());
    EXPECT_EQ(bn->options.momentum().value(), 0.1);
    EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 1);
  }
  torch::NoGradGuard no_grad;
  loader.start_epoch(0);
  data::Batch b;
  ASSERT_TRUE(loader.next(b));
  const at::Tensor eval_logits = model->forward(b.images);
  for (auto& bn : norms) {  // batch statistics, running ones untouched (momentum 0)
    bn->options.momentum(0.0);
    bn->train();
  }
  const at::Tensor batch_logits = model->forward(b.images);
  EXPECT_TRUE(at::allclose(eval_logits, batch_logits, 2e-3, 2e-3))
      << (eval_logits - batch_logits).abs().max();
  model->train();  // the noise on: other activations, other statistics
  EXPECT_FALSE(at::allclose(eval_logits, model->forward(b.images), 2e-3, 2e-3));
}

// MNIST-like defaults (docs/training.md, "Defaults"): crop padding 2, flips except for digits,
// batch 64, lr 0.1, 30 epochs on the whole set and 30 * sqrt(whole / subset) on a subset.
TEST(TrainSettings, MnistLikeDefaultsScaleTheScheduleWithTheSubset) {
  auto with = [](const std::string& dataset, double fraction, int64_t per_class, double val) {
    train::TrainConfig c;
    c.dataset = dataset;
    c.train_fraction = fraction;
    c.train_per_class = per_class;
    c.val_fraction = val;
    c.out_dir = "unused";
    return train::resolved(c);
  };
  const train::TrainConfig full = with("fashion-mnist", 1, 0, 0);
  EXPECT_EQ(full.epochs, 30);
  EXPECT_EQ(full.crop_padding, 2);
  EXPECT_EQ(full.flip, 1);
  EXPECT_EQ(with("mnist", 1, 0, 0).flip, 0);
  EXPECT_EQ(full.batch_size, 64);
  EXPECT_EQ(full.lr, 0.1);
  EXPECT_EQ(with("fashion-mnist", 0.1, 0, 0).epochs, 95);      // 30 * sqrt(10) = 94.9
  EXPECT_EQ(with("fashion-mnist", 0.02, 0, 0).epochs, 213);    // 30 * sqrt(50) = 212.1
  EXPECT_EQ(with("fashion-mnist", 0.02, 0, 0.1).epochs, 213);  // the same share of 54,000
  EXPECT_EQ(with("fashion-mnist", 1, 100, 0).epochs, 233);     // 30 * sqrt(60) = 232.4
  EXPECT_EQ(with("fashion-mnist", 1, 1, 0).epochs, 1000);      // at most 1000
  EXPECT_EQ(with("fashion-mnist", 0.25, 0, 0).epochs, 60);     // exactly 30 * 2
  EXPECT_THROW(with("fashion-mnist", NAN, 0, 0), c10::Error);  // refused, after the rule
  EXPECT_THROW(with("fashion-mnist", 0.02, 0, INFINITY), c10::Error);
  train::TrainConfig set = train::TrainConfig();
  set.out_dir = "unused";
  set.train_fraction = 0.02;
  set.epochs = 7;
  set.crop_padding = 0;
  set.flip = 0;
  const train::TrainConfig given = train::resolved(set);
  EXPECT_EQ(given.epochs, 7);
  EXPECT_EQ(given.crop_padding, 0);
  EXPECT_EQ(given.flip, 0);
  const train::TrainConfig cifar = with("cifar10", 0.02, 0, 0);
  EXPECT_EQ(cifar.epochs, 100);
  EXPECT_EQ(cifar.batch_size, 128);
  EXPECT_EQ(cifar.lr, 0.05);
}

// Activations are recorded in their canonical spelling; a record of an older spelling (as the
// user typed it) is the same setting, another activation differs.
TEST(TrainSettings, ActivationsAreComparedInTheirCanonicalSpelling) {
  train::TrainConfig c = config("sgd");
  c.out_dir = "unused";
  c.activation = "EELU(beta=1, alpha=1, eps=0.60)";
  const train::TrainConfig r = train::resolved(c);
  EXPECT_EQ(r.activation, "eelu(eps=0.6, alpha=1)");
  nlohmann::json old_record = train::recorded_settings(r);
  old_record["activation"] = "eelu(eps=0.6, alpha=1, beta=1)";
  EXPECT_TRUE(train::differing_settings(r, old_record).empty());
  old_record["activation"] = "eelu(eps=0.6, alpha=1, beta=2)";
  EXPECT_EQ(train::differing_settings(r, old_record), std::vector<std::string>{"activation"});
  old_record["activation"] = "no such activation";
  EXPECT_EQ(train::differing_settings(r, old_record), std::vector<std::string>{"activation"});
}

}  // namespace
}  // namespace eelu::test
