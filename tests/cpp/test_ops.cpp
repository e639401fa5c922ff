// The fused operator against the float64 composite of ATen operations (eelu::reference),
// with the k the operator used, for every rank, layout, dtype and parameter sharing.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <sstream>

#include "common.h"
#include "eelu/ops.h"
#include "eelu/reference.h"

namespace eelu::test {
namespace {

struct OpCase {
  std::vector<int64_t> shape;
  bool channelwise;
  std::string layout;
  at::ScalarType dtype;
  bool noisy;
};

std::string name_of(const OpCase& c) {
  std::ostringstream s;
  for (auto d : c.shape) s << d << "x";
  s << (c.channelwise ? "_channelwise_" : "_shared_") << c.layout << "_"
    << (c.dtype == at::kDouble  ? "f64"
        : c.dtype == at::kFloat ? "f32"
                                : "bf16")
    << (c.noisy ? "_noisy" : "_eval");
  return s.str();
}

// gtest prints a parameter with this instead of its raw bytes.
void PrintTo(const OpCase& c, std::ostream* os) { *os << name_of(c); }

class OpVsReference : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpVsReference, ForwardAndAllGradients) {
  const OpCase& c = GetParam();
  const int64_t channels = c.shape.size() >= 2 ? c.shape[1] : 1;
  const int64_t np = c.channelwise ? channels : 1;
  const auto dt = at::TensorOptions().dtype(c.dtype);

  // Parameters include a negative raw a and b (alpha, beta clamped to 0; straight-through
  // gradient) when there is more than one.
  at::Tensor a = at::linspace(-0.3, 1.2, np, at::kDouble);
  at::Tensor b = at::linspace(1.5, -0.2, np, at::kDouble);
  if (np == 1) {
    a.fill_(0.7);
    b.fill_(1.3);
  }
  const at::Tensor x_vals = test_input(c.shape, 7).to(c.dtype);
  at::Tensor x = in_layout(x_vals, c.layout).set_requires_grad(true);
  at::Tensor ap = a.to(c.dtype).set_requires_grad(true);
  at::Tensor bp = b.to(c.dtype).set_requires_grad(true);
  at::Tensor grad = in_layout(test_input(c.shape, 8).to(c.dtype), "contiguous");

  at::manual_seed(123);
  const NoiseState noise = c.noisy ? draw_noise(1.0) : NoiseState{};
  if (c.noisy) {
    ASSERT_GT(noise.sigma, 0.0);
  }
  at::Tensor y = eelu_with_noise(x, ap, bp, noise);
  ASSERT_EQ(y.scalar_type(), c.dtype);
  ASSERT_EQ(y.sizes(), x.sizes());
  if (c.layout != "strided" && x.numel() > 0) {
    EXPECT_EQ(y.strides(), x.strides()) << "the output keeps the input's memory format";
  }
  at::Tensor gx, ga, gb;
  if (x.numel() > 0) {
    auto g = torch::autograd::grad({y}, {x, ap, bp}, {grad});
    gx = g[0];
    ga = g[1];
    gb = g[2];
  } else {
    gx = at::zeros_like(x);
    ga = at::zeros_like(ap);
    gb = at::zeros_like(bp);
  }

  // The reference sees exactly the values the operator saw, in float64.
  at::Tensor x64 = x.detach().to(at::kDouble).contiguous().set_requires_grad(true);
  at::Tensor a64 = ap.detach().to(at::kDouble).set_requires_grad(true);
  at::Tensor b64 = bp.detach().to(at::kDouble).set_requires_grad(true);
  const at::Tensor k = eelu_noise(x64, noise);
  if (c.noisy && x.numel() > 100) {
    EXPECT_GT(max_abs(k - 1), 0.05) << "training noise must move k away from 1";
  } else if (!c.noisy) {
    EXPECT_TRUE(at::equal(k, at::ones_like(k))) << "k = 1 exactly without noise";
  }
  at::Tensor r = reference::eelu(x64, a64, b64, k);
  at::Tensor rx, ra, rb;
  if (x.numel() > 0) {
    auto gr = torch::autograd::grad({r}, {x64, a64, b64}, {grad.to(at::kDouble)});
    rx = gr[0];
    ra = gr[1];
    rb = gr[2];
  } else {
    rx = at::zeros_like(x64);
    ra = at::zeros_like(a64);
    rb = at::zeros_like(b64);
  }

  // float64 and float32 compute element-wise in their own precision; bfloat16 computes in
  // float32 and rounds the result to 8 mantissa bits.
  double rtol = 1e-12, atol = 1e-13;
  if (c.dtype == at::kFloat) rtol = 2e-6, atol = 1e-6;
  if (c.dtype == at::kBFloat16) rtol = 8e-3, atol = 1e-3;
  EXPECT_TRUE(close(y, r, rtol, atol)) << "forward";
  EXPECT_TRUE(close(gx, rx, rtol, atol)) << "grad input";
  // The parameter gradients are sums (in double) of per-element terms computed in the
  // arithmetic type: their error is relative to the sum of the terms' magnitudes, plus the
  // rounding of the result to the dtype (bfloat16: 2^-8). The terms in float64:
  std::vector<int64_t> pshape(static_cast<size_t>(x64.dim()), 1);
  if (np > 1) pshape[1] = np;
  const at::Tensor alpha = a64.detach().clamp_min(0).view(pshape);
  const at::Tensor beta = b64.detach().clamp_min(0).view(pshape);
  const at::Tensor xv = x64.detach(), g64 = grad.to(at::kDouble);
  const at::Tensor e = at::exp(beta * xv.clamp_max(0));
  const at::Tensor zero = at::zeros({}, at::kDouble);
  const at::Tensor ta = at::where(xv < 0, g64 * (e - 1), zero).abs();
  const at::Tensor tb = at::where(xv < 0, g64 * alpha * xv * e, zero).abs();
  // the float64 reference's own error: exp(beta x) - 1 cancels near 0 (~2^-52 |g| a term)
  const at::Tensor tg = at::where(xv < 0, g64, zero).abs() * 0x1.0p-50;
  auto per_parameter = [&](const at::Tensor& t) {
    if (t.numel() == 0) return at::zeros({np}, at::kDouble);
    if (np == 1) return t.sum().view({1});
    std::vector<int64_t> others;
    for (int64_t d = 0; d < t.dim(); ++d) {
      if (d != 1) others.push_back(d);
    }
    return t.sum(others);
  };
  const double sum_tol = c.dtype == at::kDouble ? 1e-12 : c.dtype == at::kFloat ? 1e-6 : 1e-5;
  const double out_rtol = c.dtype == at::kBFloat16 ? 0x1.0p-8 : 0.0;
  auto within = [&](const at::Tensor& got, const at::Tensor& want, const at::Tensor& terms) {
    const at::Tensor err = (got.to(at::kDouble) - want).abs();
    const at::Tensor allowed =
        out_rtol * want.abs() + sum_tol * per_parameter(terms) + per_parameter(tg) + 1e-30;
    return (err <= allowed).all().item<bool>();
  };
  EXPECT_TRUE(within(ga, ra, ta)) << "grad alpha " << ga << " vs " << ra;
  EXPECT_TRUE(within(gb, rb, tb)) << "grad beta " << gb << " vs " << rb;
  EXPECT_EQ(ga.sizes(), ap.sizes());
  EXPECT_EQ(gb.sizes(), bp.sizes());
}

std::vector<OpCase> all_cases() {
  std::vector<OpCase> cases;
  const std::vector<std::vector<int64_t>> shapes = {
      {17},         {3, 5},           {2, 3, 7}, {3, 5, 7, 3}, {2, 3, 4, 5, 3},
      {0, 3, 4, 4}, {4, 3, 100, 101}, {700, 33}, {2, 6, 1, 1}, {5, 2, 1}};
  for (auto dtype : {at::kDouble, at::kFloat, at::kBFloat16}) {
    for (const auto& shape : shapes) {
      for (bool channelwise : {false, true}) {
        if (channelwise && shape.size() < 2) continue;
        for (const char* layout : {"contiguous", "channels_last", "strided"}) {
          if (std::string(layout) == "channels_last" && shape.size() < 4) continue;
          for (bool noisy : {false, true}) {
            cases.push_back({shape, channelwise, layout, dtype, noisy});
          }
        }
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllCases, OpVsReference, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<OpCase>& info) {
                           return name_of(info.param);
                         });

// Entry point with module semantics: eval uses no noise and no generator draw.
TEST(EeluOp, EvalIsNoiseFreeAndDrawsNothing) {
  at::Tensor x = test_input({4, 3, 5, 5}, 1);
  at::Tensor a = at::full({3}, 0.5, at::kDouble), b = at::full({3}, 2.0, at::kDouble);
  at::manual_seed(5);
  at::Tensor y = eelu(x, a, b, 1.0, /*training=*/false);
  const double next = at::rand({1}, at::kDouble).item<double>();
  at::manual_seed(5);
  EXPECT_EQ(at::rand({1}, at::kDouble).item<double>(), next) << "eval drew from the generator";
  EXPECT_TRUE(close(y, reference::eelu(x, a, b, at::ones({1}, at::kDouble)), 1e-12, 1e-13));
}

TEST(EeluOp, TrainingCallUsesTheNoiseDrawNoiseGives) {
  at::Tensor x = test_input({4, 3, 6, 6}, 2);
  at::Tensor a = at::full({1}, 0.5, at::kDouble), b = at::full({1}, 2.0, at::kDouble);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(99);
  at::Tensor y = eelu(x, a, b, 0.6, /*training=*/true, true, gen);
  auto gen2 = at::make_generator<at::CPUGeneratorImpl>(99);
  const NoiseState noise = draw_noise(0.6, gen2);
  EXPECT_LT(noise.sigma, 0.6);
  EXPECT_TRUE(at::equal(y, eelu_with_noise(x, a, b, noise)));
  EXPECT_TRUE(close(y, reference::eelu(x, a, b, eelu_noise(x, noise)), 1e-12, 1e-13));
}

TEST(EeluOp, ZeroEpsilonTrainingEqualsEval) {
  at::Tensor x = test_input({2, 3, 8}, 3);
  at::Tensor a = at::full({1}, 0.5, at::kDouble), b = at::full({1}, 2.0, at::kDouble);
  EXPECT_TRUE(at::equal(eelu(x, a, b, 0.0, true), eelu(x, a, b, 0.0, false)));
}

TEST(EeluOp, ParamGradFalseGivesZeroParameterGradients) {
  at::Tensor x = test_input({4, 3, 5, 5}, 4).set_requires_grad(true);
  at::Tensor a = at::full({3}, 0.5, at::kDouble).set_requires_grad(true);
  at::Tensor b = at::full({3}, 2.0, at::kDouble).set_requires_grad(true);
  at::Tensor y = eelu(x, a, b, 1.0, true, /*param_grad=*/false);
  y.sum().backward();
  ASSERT_TRUE(a.grad().defined());
  ASSERT_TRUE(b.grad().defined());
  EXPECT_TRUE(at::equal(a.grad(), at::zeros_like(a)));
  EXPECT_TRUE(at::equal(b.grad(), at::zeros_like(b)));
  EXPECT_GT(max_abs(x.grad()), 0.0);
}

}  // namespace
}  // namespace eelu::test
