// Devices and precision (issue 18), what a machine without a GPU can check: --device's
// spellings and refusals, EELU under autocast (the parameters cast to the input's dtype,
// their gradients back in float32), the autocast scope's state, float16's gradient scaler
// against its algorithm, and the channels-last placement.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>
#include <torch/version.h>

#include <cmath>
#include <limits>

#include "eelu/ops.h"
#include "eelu/train/device.h"
#include "train/amp.h"
#include "train/placement.h"

namespace eelu::test {
namespace {

using train::DeviceUnavailable;

TEST(Device, SpellingsAreCheckedWhereverTheyRun) {
  for (const char* bad : {"gpu", "CUDA", "cuda:", "cuda:x", "cuda:-1", "cuda:99999", "cpu:0", ""}) {
    EXPECT_THROW(train::check_device_spec(bad), DeviceUnavailable) << bad;
    EXPECT_THROW(train::choose_device(bad), DeviceUnavailable) << bad;
  }
  for (const char* good : {"auto", "cpu", "cuda", "cuda:0", "cuda:7"}) {
    EXPECT_NO_THROW(train::check_device_spec(good)) << good;
  }
}

TEST(Device, CpuAndAutoWithoutAGpu) {
  const train::DeviceChoice cpu = train::choose_device("cpu");
  EXPECT_TRUE(cpu.device.is_cpu());
  EXPECT_EQ(cpu.name, "cpu");
  EXPECT_TRUE(cpu.note.empty());
  if (at::hasCUDA() && has_cuda_kernels()) GTEST_SKIP() << "this machine has a GPU";
  const train::DeviceChoice a = train::choose_device("auto");
  EXPECT_TRUE(a.device.is_cpu());
  EXPECT_NE(a.note.find("training on the CPU"), std::string::npos) << a.note;
  try {
    train::choose_device("cuda");
    ADD_FAILURE() << "cuda was accepted on a machine without one";
  } catch (const DeviceUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("--device cuda: "), std::string::npos) << e.what();
  }
  EXPECT_THROW(train::choose_device("cuda:1"), DeviceUnavailable);
}

// Note [EELU under autocast]: under CPU autocast, bfloat16 input and float32 parameters give
// exactly what the parameters cast by hand give, and the gradients reach the float32
// parameters.
TEST(Autocast, EeluCastsItsParametersToTheInputsDtype) {
  at::manual_seed(3);
  const at::Tensor x = at::randn({4, 3, 5, 6}).to(at::kBFloat16).requires_grad_();
  const at::Tensor alpha = at::full({3}, 0.8).requires_grad_();
  const at::Tensor beta = at::full({3}, 1.3).requires_grad_();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  at::Tensor y;
  {
    const train::AutocastScope autocast(c10::kCPU, at::kBFloat16);
    y = eelu::eelu(x, alpha, beta, 0.5, /*training=*/true, /*param_grad=*/true, gen);
  }
  EXPECT_EQ(y.scalar_type(), at::kBFloat16);
  const at::Tensor g = at::randn(y.sizes()).to(at::kBFloat16);
  y.backward(g);
  ASSERT_TRUE(alpha.grad().defined() && beta.grad().defined());
  EXPECT_EQ(alpha.grad().scalar_type(), at::kFloat);

  const at::Tensor x2 = x.detach().clone().requires_grad_();
  const at::Tensor a2 = alpha.detach().clone().requires_grad_();
  const at::Tensor b2 = beta.detach().clone().requires_grad_();
  auto gen2 = at::make_generator<at::CPUGeneratorImpl>(11);
  const at::Tensor y2 =
      eelu::eelu(x2, a2.to(at::kBFloat16), b2.to(at::kBFloat16), 0.5, true, true, gen2);
  y2.backward(g);
  EXPECT_TRUE(at::equal(y, y2));
  EXPECT_TRUE(at::equal(x.grad(), x2.grad()));
  EXPECT_TRUE(at::equal(alpha.grad(), a2.grad()));
  EXPECT_TRUE(at::equal(beta.grad(), b2.grad()));
  EXPECT_GT(alpha.grad().abs().sum().item<double>(), 0);
}

TEST(Autocast, OutsideAutocastMixedDtypesAreStillRefused) {
  const at::Tensor x = at::randn({2, 3, 4}).to(at::kBFloat16);
  EXPECT_THROW(eelu::eelu(x, at::ones({3}), at::ones({3})), c10::Error);
}

bool cpu_autocast_on() {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  return at::autocast::is_autocast_enabled(c10::kCPU);
#else
  return at::autocast::is_cpu_enabled();
#endif
}

TEST(Autocast, TheScopeRestoresTheStateAndDoesNothingWithoutADtype) {
  EXPECT_FALSE(cpu_autocast_on());
  {
    const train::AutocastScope none(c10::kCPU, c10::nullopt);
    EXPECT_FALSE(cpu_autocast_on());
  }
  {
    const train::AutocastScope outer(c10::kCPU, at::kBFloat16);
    EXPECT_TRUE(cpu_autocast_on());
    {
      const train::AutocastScope inner(c10::kCPU, at::kBFloat16);
      EXPECT_TRUE(cpu_autocast_on());
    }
    EXPECT_TRUE(cpu_autocast_on());
    const at::Tensor y = at::matmul(at::randn({4, 4}), at::randn({4, 4}));
    EXPECT_EQ(y.scalar_type(), at::kBFloat16);  // autocast really was on
  }
  EXPECT_FALSE(cpu_autocast_on());
  EXPECT_EQ(train::amp_dtype("bf16"), at::kBFloat16);
  EXPECT_EQ(train::amp_dtype("fp16"), at::kHalf);
  EXPECT_FALSE(train::amp_dtype("none").has_value());
  EXPECT_THROW(train::amp_dtype("fp8"), c10::Error);
}

// A linear model whose step through the scaler equals the plain step bit for bit (the scale
// is a power of two), and whose step with an inf gradient is skipped.
struct Fixture {
  torch::nn::Linear lin{torch::nn::LinearOptions(3, 2)};
  torch::optim::SGD opt{lin->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9)};
};

TEST(GradScaler, AScaledStepEqualsThePlainStep) {
  at::manual_seed(5);
  Fixture a, b;
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < a.lin->parameters().size(); ++i)
      b.lin->parameters()[i].copy_(a.lin->parameters()[i]);
  }
  const at::Tensor x = at::randn({8, 3});
  train::GradScaler scaler(true), plain(false);
  for (int step = 0; step < 3; ++step) {
    a.opt.zero_grad();
    b.opt.zero_grad();
    scaler.scale(a.lin->forward(x).pow(2).sum()).backward();
    plain.scale(b.lin->forward(x).pow(2).sum()).backward();
    EXPECT_TRUE(scaler.step(a.opt));
    EXPECT_TRUE(plain.step(b.opt));
  }
  for (size_t i = 0; i < a.lin->parameters().size(); ++i)
    EXPECT_TRUE(at::equal(a.lin->parameters()[i], b.lin->parameters()[i])) << i;
  EXPECT_EQ(scaler.scale_value(), train::GradScaler::kInitialScale);
  EXPECT_EQ(scaler.growth_tracker(), 3);
}

TEST(GradScaler, AStepWithInfOrNanIsSkippedAndTheScaleBacksOff) {
  for (double bad : {std::numeric_limits<double>::infinity(), std::nan("")}) {
    Fixture f;
    const at::Tensor before = f.lin->weight.detach().clone();
    train::GradScaler scaler(true);
    scaler.set_state(1024, 7);
    f.opt.zero_grad();
    scaler.scale(f.lin->forward(at::randn({4, 3})).sum()).backward();
    f.lin->weight.grad()[0][1] = bad;
    EXPECT_FALSE(scaler.step(f.opt));
    EXPECT_TRUE(at::equal(f.lin->weight, before));
    EXPECT_EQ(scaler.scale_value(), 512);
    EXPECT_EQ(scaler.growth_tracker(), 0);
  }
}

TEST(GradScaler, TheScaleGrowsAfterTheIntervalAndItsStateIsChecked) {
  Fixture f;
  train::GradScaler scaler(true);
  scaler.set_state(256, train::GradScaler::kGrowthInterval - 1);
  f.opt.zero_grad();
  scaler.scale(f.lin->forward(at::randn({4, 3})).sum()).backward();
  EXPECT_TRUE(scaler.step(f.opt));
  EXPECT_EQ(scaler.scale_value(), 512);
  EXPECT_EQ(scaler.growth_tracker(), 0);
  EXPECT_THROW(scaler.set_state(0, 0), c10::Error);
  EXPECT_THROW(scaler.set_state(std::nan(""), 0), c10::Error);
  EXPECT_THROW(scaler.set_state(2, train::GradScaler::kGrowthInterval), c10::Error);
  EXPECT_THROW(scaler.set_state(2, -1), c10::Error);
}

TEST(Placement, ChannelsLastPlacesConvolutionsAndImages) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 8, 3));
  train::Placement where;
  where.channels_last = true;
  where.place(*conv);
  EXPECT_TRUE(conv->weight.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_FALSE(conv->weight.is_contiguous());
  const at::Tensor x = where.images(at::randn({2, 3, 9, 9}));
  EXPECT_TRUE(x.is_contiguous(at::MemoryFormat::ChannelsLast));
  EXPECT_TRUE(train::device_of(*conv).is_cpu());
  EXPECT_FALSE(where.pin_memory());
  // An EELU on channels-last input: the same values as on the standard layout.
  const at::Tensor y = conv->forward(x);
  const at::Tensor a = at::full({8}, 0.7), b = at::full({8}, 1.1);
  EXPECT_TRUE(at::equal(eelu::eelu(y, a, b), eelu::eelu(y.contiguous(), a, b)));
}

}  // namespace
}  // namespace eelu::test

namespace eelu::test {
namespace {

// The CPU kernels have no float16: under autocast a float16 input on the CPU (LibTorch 2's
// CPU autocast in float16) is computed in float32 and rounded once, with the same noise.
TEST(Autocast, Float16OnTheCpuIsComputedInFloat32) {
  at::manual_seed(4);
  const at::Tensor x = at::randn({3, 2, 7}).to(at::kHalf).requires_grad_();
  const at::Tensor alpha = at::full({2}, 0.9).requires_grad_();
  const at::Tensor beta = at::full({2}, 1.4).requires_grad_();
  at::Tensor y;
  {
    const train::AutocastScope autocast(c10::kCPU, at::kBFloat16);  // any: the key is what counts
    y = eelu::eelu(x, alpha, beta, 0.5, true, true, at::make_generator<at::CPUGeneratorImpl>(2));
  }
  EXPECT_EQ(y.scalar_type(), at::kHalf);
  y.sum().backward();
  const at::Tensor x2 = x.detach().to(at::kFloat).requires_grad_();
  const at::Tensor a2 = alpha.detach().clone().requires_grad_();
  const at::Tensor b2 = beta.detach().clone().requires_grad_();
  const at::Tensor y2 =
      eelu::eelu(x2, a2, b2, 0.5, true, true, at::make_generator<at::CPUGeneratorImpl>(2));
  y2.to(at::kHalf).sum().backward();
  EXPECT_TRUE(at::equal(y, y2.to(at::kHalf)));
  EXPECT_TRUE(at::equal(alpha.grad(), a2.grad()));
  EXPECT_TRUE(at::equal(x.grad(), x2.grad().to(at::kHalf)));
  // Outside autocast, float16 on the CPU is still refused by name.
  EXPECT_THROW(eelu::eelu(x.detach(), alpha.detach().to(at::kHalf), beta.detach().to(at::kHalf)),
               c10::Error);
}

}  // namespace
}  // namespace eelu::test
