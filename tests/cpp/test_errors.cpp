// Bad input gets a clear error naming the argument; extreme input stays finite; NaN
// propagates.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include "common.h"
#include "eelu/nn/eelu.h"
#include "eelu/ops.h"
#include "ops/eelu_checks.h"
#include "ops/noise.h"

namespace eelu::test {
namespace {

template <typename F>
void expect_error(F&& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << fragment << "'";
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find(fragment), std::string::npos) << "message: " << msg;
  }
}

// The out= forms are overloads of the schema (eelu_with_noise.out, eelu_backward.grad_input,
// eelu_noise.out) with kernels under the CPU key: through the dispatcher they give the
// functional forms' bits, and a device without kernels gets a message, not the dispatcher's.
TEST(Errors, OutFormsRunOnTheCpuKeyAndRefuseOtherDevices) {
  const at::Tensor x = at::randn({2, 3, 5, 4}), g = at::randn({2, 3, 5, 4});
  const at::Tensor a = at::full({3}, 0.4), b = at::full({3}, 1.3);
  const NoiseState noise{0.7, 99, 4};
  at::Tensor y = at::empty_like(x), k = at::empty_like(x), gx = at::empty_like(x);
  EXPECT_TRUE(at::equal(eelu_with_noise_out(y, x, a, b, noise), eelu_with_noise(x, a, b, noise)));
  EXPECT_TRUE(at::equal(eelu_noise_out(k, x, noise), eelu_noise(x, noise)));
  auto [ga, gb] = eelu_backward_out(gx, g, x, a, b, noise);
  auto [fx, fa, fb] = eelu_backward(g, x, a, b, noise);
  EXPECT_TRUE(at::equal(gx, fx) && at::equal(ga, fa) && at::equal(gb, fb));
  auto [none_a, none_b] = eelu_backward_out(gx, g, x, a, b, noise, {false, false});
  EXPECT_FALSE(none_a.defined() || none_b.defined());

  const at::Tensor xm = x.to(at::kMeta), am = a.to(at::kMeta), bm = b.to(at::kMeta);
  at::Tensor ym = at::empty_like(xm);
  expect_error(
      [&] { eelu_with_noise_out(ym, xm, am, bm, noise); },
      "eelu_with_noise_out: the out= forms have kernels for the CPU only, got an input on meta");
  expect_error([&] { eelu_noise_out(ym, xm, noise); }, "eelu_noise_out: the out= forms");
  expect_error([&] { eelu_backward_out(ym, xm, xm, am, bm, noise); },
               "eelu_backward_out: the out= forms");
  expect_error([&] { eelu_with_noise_out(y, x, a, b, NoiseState{-1.0, 0, 0}); }, "sigma");
}

TEST(Errors, BadArgumentsNameTheProblem) {
  const at::Tensor x = at::randn({2, 3, 4});
  const at::Tensor p = at::ones({1}), p3 = at::ones({3});
  expect_error([&] { eelu(x.to(at::kLong), p, p); },
               "input must be float32, float64 or bfloat16 (or float16 on CUDA), got Long");
  expect_error([&] { eelu(x.to(at::kHalf), p.to(at::kHalf), p.to(at::kHalf)); },
               "input must be float32, float64 or bfloat16 (or float16 on CUDA), got Half on cpu");
  expect_error([&] { eelu(x, at::ones({4}), p); },
               "alpha must have shape [1] (shared) or [3] (one per channel");
  expect_error([&] { eelu(x, p, at::ones({1, 3})); }, "beta must have shape [1]");
  expect_error([&] { eelu(x, at::ones({}), p); }, "alpha must have shape");
  expect_error([&] { eelu(at::randn({5}), p3, p3); },
               "alpha must have shape [1] for an input of rank 1");
  expect_error([&] { eelu(x, p.to(at::kDouble), p); },
               "alpha has dtype Double but the input has dtype Float");
  expect_error([&] { eelu(x, p, at::ones({1}, at::device(at::kMeta))); },
               "beta is on meta but the input is on cpu");
  expect_error([&] { eelu(x, p, p, -0.5, true); }, "epsilon (the noise level) must be");
  expect_error([&] { eelu(x, p, p, std::nan(""), true); }, "epsilon (the noise level) must be");
  expect_error([&] { eelu_with_noise(x, p, p, NoiseState{-1.0, 0, 0}); }, "sigma");
  expect_error(
      [&] {
        eelu_backward(at::randn({2, 3}), x, p, p, NoiseState{});
      },
      "grad_output must have the input's shape");
  expect_error([&] { draw_noise(-1.0); }, "epsilon");
  expect_error([] { eelu::nn::EELU(eelu::nn::EELUOptions(0)); }, "num_parameters must be");
  expect_error([] { eelu::nn::EELU(eelu::nn::EELUOptions(1).epsilon(-1)); }, "epsilon");
  expect_error(
      [&] {
        eelu::nn::EELU m(eelu::nn::EELUOptions(5));
        m->forward(x);
      },
      "alpha must have shape [1] (shared) or [3]");
}

// A device without a noise generator (no CUDA kernels in this build, or any other device)
// gets an error that says so, not the CPU's noise.
TEST(Errors, NoiseOnADeviceWithoutKernelsIsRefused) {
  if (at::hasCUDA()) GTEST_SKIP() << "this LibTorch has CUDA";
  expect_error([] { detail::draw_noise_on(c10::Device(c10::kCUDA, 0), 1.0, c10::nullopt); },
               "no noise generator for cuda:0 (this eelu was built without the CUDA kernels");
  // a CPU generator serves any device
  const NoiseState s =
      detail::draw_noise_on(c10::Device(c10::kCUDA, 0), 1.0, at::detail::createCPUGenerator(5));
  EXPECT_GT(s.sigma, 0.0);
}

TEST(Errors, SecondDerivativeIsRefused) {
  const at::Tensor x = at::randn({4, 3}, at::kDouble).set_requires_grad(true);
  const at::Tensor p = at::ones({1}, at::kDouble);
  at::Tensor y = eelu(x, p, p);
  auto g = torch::autograd::grad({y.sum()}, {x}, {}, /*retain_graph=*/true,
                                 /*create_graph=*/true);
  try {
    torch::autograd::grad({g[0].sum()}, {x});
    ADD_FAILURE() << "a second derivative was computed";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("derivative for eelu::eelu_backward"), std::string::npos)
        << e.what();
  }
}

TEST(Extremes, LargeNegativeInputsAndLargeBetaStayFinite) {
  for (auto dtype : {at::kFloat, at::kDouble, at::kBFloat16}) {
    const at::Tensor x =
        at::tensor({-1e30, -1e4, -88.0, -1.0, -1e-30, 0.0, 1e-30, 1e4}, at::kDouble)
            .to(dtype)
            .set_requires_grad(true);
    for (double beta : {1.0, 1e3, 1e6, 1e20}) {
      const at::Tensor a = at::full({1}, 2.0, dtype).set_requires_grad(true);
      const at::Tensor b = at::full({1}, beta, dtype).set_requires_grad(true);
      for (bool noisy : {false, true}) {
        at::Tensor y = eelu(x, a, b, 1.0, noisy);
        EXPECT_TRUE(at::isfinite(y).all().item<bool>()) << dtype << " beta " << beta;
        EXPECT_GE(y.min().item<double>(), -2.0) << "output range is [-alpha, inf)";
        auto g = torch::autograd::grad({y.sum()}, {x, a, b});
        for (const auto& t : g) {
          EXPECT_TRUE(at::isfinite(t).all().item<bool>()) << dtype << " beta " << beta;
        }
      }
    }
  }
}

TEST(Extremes, NaNPropagates) {
  const at::Tensor x = at::tensor({-1.0, NAN, 2.0, -NAN}, at::kFloat);
  const at::Tensor p = at::ones({1});
  for (bool noisy : {false, true}) {
    const at::Tensor y = eelu(x, p, p, 1.0, noisy);
    EXPECT_TRUE(std::isnan(y[1].item<float>()));
    EXPECT_TRUE(std::isnan(y[3].item<float>()));
    EXPECT_TRUE(std::isfinite(y[0].item<float>()));
    EXPECT_TRUE(std::isfinite(y[2].item<float>()));
  }
}

}  // namespace
}  // namespace eelu::test
