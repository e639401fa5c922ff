// Every network, with a few activations, can fit 64 training images (loss near 0): the
// plumbing of each (shapes, activations per channel, gradients through every block) works.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/adam.h>

#include "common.h"
#include "eelu/models/models.h"
#include "eelu/nn/registry.h"

namespace eelu::test {
namespace {

struct FitCase {
  std::string model, act;
  int64_t size, steps;
};

void PrintTo(const FitCase& c, std::ostream* os) { *os << c.model << " with " << c.act; }

class Overfit : public ::testing::TestWithParam<FitCase> {};

TEST_P(Overfit, SixtyFourImages) {
  const FitCase& c = GetParam();
  at::manual_seed(0);
  models::ModelOptions o;
  o.num_classes = 4;
  o.in_channels = 3;
  o.image_size = c.size;
  o.activation = c.act;
  o.dropout = 0.0;
  auto model = models::make_model(c.model, o);
  const at::Tensor x = at::randn({64, 3, c.size, c.size});
  const at::Tensor y = at::arange(64, at::kLong) % 4;
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(2e-3));
  model->train();
  // The training loss of the last steps, at its lowest: with EELU's alternating schedule
  // every other step is noisy, so at least one of the last four is clean.
  double best = 1e9;
  for (int64_t s = 0; s < c.steps; ++s) {
    opt.zero_grad();
    const at::Tensor logits = model->forward(x);
    const at::Tensor loss = at::cross_entropy_loss(logits, y);
    loss.backward();
    opt.step();
    if (s >= c.steps - 4) best = std::min(best, loss.item<double>());
  }
  EXPECT_LT(best, 0.05) << c.model << " with " << c.act;
  EXPECT_EQ(model->features(x).dim(), 2);
}

INSTANTIATE_TEST_SUITE_P(
    Models, Overfit,
    ::testing::Values(
        FitCase{"simple-cnn", "relu", 16, 150}, FitCase{"simple-cnn4", "relu", 16, 150},
        FitCase{"simple-cnn4", "eelu", 16, 150}, FitCase{"simple-cnn", "eelu", 16, 150},
        FitCase{"simple-cnn", "prelu", 16, 150}, FitCase{"simple-cnn", "swish", 16, 150},
        FitCase{"simple-cnn", "eprelu", 16, 150}, FitCase{"vgg16", "relu", 8, 40},
        FitCase{"vgg16", "eelu", 8, 40}, FitCase{"resnet20", "relu", 8, 120},
        FitCase{"resnet20", "eelu", 8, 120}, FitCase{"resnet18", "elu", 8, 40},
        FitCase{"resnet50", "mpelu", 8, 30}),
    [](const auto& info) {
      std::string n = info.param.model + "_" + info.param.act;
      for (auto& ch : n)
        if (ch == '-') ch = '_';
      return n;
    });

TEST(Models, ShapesAndErrors) {
  for (const auto& [name, _] : models::model_names()) {
    models::ModelOptions o;
    o.image_size = 32;
    auto m = models::make_model(name, o);
    m->eval();
    EXPECT_EQ(m->forward(at::randn({2, 3, 32, 32})).sizes(), at::IntArrayRef({2, 10})) << name;
  }
  models::ModelOptions gray;
  gray.in_channels = 1;
  gray.image_size = 28;
  EXPECT_EQ(models::make_model("vgg16", gray)->forward(at::randn({2, 1, 28, 28})).sizes(),
            at::IntArrayRef({2, 10}));
  models::ModelOptions big;
  big.image_size = 224;
  big.num_classes = 1000;
  auto r18 = models::make_model("resnet18", big);
  r18->eval();
  EXPECT_EQ(r18->forward(at::randn({1, 3, 224, 224})).sizes(), at::IntArrayRef({1, 1000}));
  try {
    models::make_model("resnet19", {});
    ADD_FAILURE();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "unknown model 'resnet19'; valid: simple-cnn, simple-cnn4, vgg16"),
              std::string::npos);
  }
  models::ModelOptions bad;
  bad.activation = "relux";
  EXPECT_THROW(models::make_model("simple-cnn", bad), c10::Error);
  bad.activation = "relu";
  bad.init = "xavier";
  EXPECT_THROW(models::make_model("simple-cnn", bad), c10::Error);
}

TEST(Models, ActivationsAreChannelWiseAfterConvsAndSharedAfterLinear) {
  models::ModelOptions o;
  o.activation = "eelu";
  auto sizes_of = [&](const std::string& name) {
    std::vector<int64_t> sizes;
    for (const auto& p : models::make_model(name, o)->named_parameters()) {
      if (p.key().find(".alpha") != std::string::npos) sizes.push_back(p.value().numel());
    }
    return sizes;
  };
  EXPECT_EQ(sizes_of("simple-cnn"), (std::vector<int64_t>{32, 64, 128}));
  EXPECT_EQ(sizes_of("simple-cnn4"), (std::vector<int64_t>{32, 64, 128, 256}));
  const auto vgg = sizes_of("vgg16");
  ASSERT_EQ(vgg.size(), 15u);
  EXPECT_EQ(vgg[0], 64);
  EXPECT_EQ(vgg[12], 512);
  EXPECT_EQ(vgg[13], 1) << "shared after the fully connected layers";
  EXPECT_EQ(vgg[14], 1);
}

TEST(Models, TaylorInitialisationScalesWithAlphaBeta) {
  auto conv_std = [](const std::string& init, const std::string& act) {
    models::ModelOptions o;
    o.init = init;
    o.activation = act;
    at::manual_seed(1);
    auto m = models::make_model("resnet20", o);
    std::vector<at::Tensor> w;
    for (const auto& p : m->named_parameters()) {
      if (p.value().dim() == 4 && p.value().size(1) == 16 && p.value().size(2) == 3)
        w.push_back(p.value().flatten());
    }
    return at::cat(w).std().item<double>();
  };
  const double he = std::sqrt(2.0 / (16 * 9));
  EXPECT_NEAR(conv_std("kaiming", "eelu(alpha=1, beta=1)"), he, 0.03 * he);
  EXPECT_NEAR(conv_std("taylor", "eelu(alpha=1, beta=1)"), he / std::sqrt(2.0), 0.03 * he);
  EXPECT_NEAR(conv_std("taylor", "relu"), he, 0.03 * he);
}

}  // namespace
}  // namespace eelu::test
