// Finite differences: the operator's gradients (input, alpha, beta) against central
// differences of the operator itself, in float64, with the noise fixed.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include "common.h"
#include "eelu/ops.h"

namespace eelu::test {
namespace {

// Central-difference gradient of L(t) = sum(f(t) * w) with respect to every entry of t.
template <typename F>
at::Tensor numerical_grad(F&& loss, at::Tensor t, double h) {
  at::Tensor g = at::zeros_like(t);
  auto flat = t.view({-1});
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double v = flat[i].item<double>();
    flat[i] = v + h;
    const double up = loss();
    flat[i] = v - h;
    const double down = loss();
    flat[i] = v;
    g.view({-1})[i] = (up - down) / (2 * h);
  }
  return g;
}

void check(const std::vector<int64_t>& shape, bool channelwise, bool noisy, double a0, double b0) {
  const int64_t np = channelwise ? shape[1] : 1;
  // Keep x away from the kink at 0, where the derivative jumps from alpha*beta to k.
  at::Tensor x = test_input(shape, 11);
  x = at::where(x.abs() < 0.05, x.sign() * 0.05 + (x == 0).to(at::kDouble) * 0.05, x);
  at::Tensor a = at::linspace(a0, a0 + 0.5, np, at::kDouble);
  at::Tensor b = at::linspace(b0, b0 + 0.7, np, at::kDouble);
  const at::Tensor w = test_input(shape, 12);
  at::manual_seed(3);
  const NoiseState noise = noisy ? draw_noise(0.8) : NoiseState{};

  auto loss = [&] { return (eelu_with_noise(x, a, b, noise) * w).sum().item<double>(); };
  const at::Tensor xg = x.clone().set_requires_grad(true);
  const at::Tensor ag = a.clone().set_requires_grad(true);
  const at::Tensor bg = b.clone().set_requires_grad(true);
  auto g = torch::autograd::grad({(eelu_with_noise(xg, ag, bg, noise) * w).sum()}, {xg, ag, bg});

  const double h = 1e-6;
  EXPECT_TRUE(close(g[0], numerical_grad(loss, x, h), 1e-6, 1e-7)) << "d/dx";
  EXPECT_TRUE(close(g[1], numerical_grad(loss, a, h), 1e-6, 1e-7)) << "d/da";
  EXPECT_TRUE(close(g[2], numerical_grad(loss, b, h), 1e-6, 1e-7)) << "d/db";
}

TEST(FiniteDifferences, SharedEval) { check({3, 4, 5}, false, false, 0.4, 0.8); }
TEST(FiniteDifferences, SharedNoisy) { check({3, 4, 5}, false, true, 0.4, 0.8); }
TEST(FiniteDifferences, ChannelwiseEval) { check({2, 3, 4, 4}, true, false, 0.2, 0.5); }
TEST(FiniteDifferences, ChannelwiseNoisy) { check({2, 3, 4, 4}, true, true, 0.2, 0.5); }
TEST(FiniteDifferences, TwoDimensional) { check({6, 5}, true, true, 1.0, 1.0); }
TEST(FiniteDifferences, OneDimensional) { check({23}, false, true, 1.0, 1.0); }

}  // namespace
}  // namespace eelu::test
