// The elastic slope k: its distribution against the spec's (statistical checks, seeded so
// they cannot flake, with tolerances stated in standard errors), its reproducibility, and
// bitwise independence from the number of threads.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>

#include "common.h"
#include "eelu/ops.h"

namespace eelu::test {
namespace {

double phi(double z) { return std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI); }
double Phi(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

// For a constant positive input the output is k itself.
at::Tensor k_from_output(const NoiseState& noise, int64_t n) {
  at::Tensor x = at::ones({n / 64, 64}, at::kDouble);
  at::Tensor one = at::ones({1}, at::kDouble);
  return eelu_with_noise(x, one, one, noise).view({-1});
}

class KDistribution : public ::testing::TestWithParam<double> {};

TEST_P(KDistribution, MatchesClippedNormal) {
  const double sigma = GetParam();
  const int64_t n = 1 << 21;
  const NoiseState noise{sigma, 0x9E3779B97F4A7C15ull, 0};
  const at::Tensor k = k_from_output(noise, n);
  EXPECT_TRUE(at::equal(k, eelu_noise(at::ones({n / 64, 64}, at::kDouble), noise).view({-1})))
      << "the output for x = 1 is the materialised k";

  // Z clipped at +-c, c = 1/sigma: k = 1 + sigma * clip(Z).
  const double c = 1.0 / sigma;
  const double p_clip = 1.0 - Phi(c);  // each side
  const double ez2 = (2 * Phi(c) - 1) - 2 * c * phi(c) + 2 * c * c * p_clip;
  const double sd = sigma * std::sqrt(ez2);

  const double mean = k.mean().item<double>();
  const double std = k.std().item<double>();
  const double at0 = (k == 0).to(at::kDouble).mean().item<double>();
  const double at2 = (k == 2).to(at::kDouble).mean().item<double>();
  EXPECT_GE(k.min().item<double>(), 0.0);
  EXPECT_LE(k.max().item<double>(), 2.0);
  // 6 standard errors: a false alarm has probability ~1e-9, and the seed is fixed anyway.
  const double se_mean = sd / std::sqrt(double(n));
  EXPECT_NEAR(mean, 1.0, 6 * se_mean) << "E[k] = 1 (the clip is symmetric)";
  EXPECT_NEAR(std, sd, 6 * sd * std::sqrt(2.0 / n) * 2) << "spread of the clipped normal";
  const double se_p = std::sqrt(p_clip * (1 - p_clip) / n) + 1e-12;
  EXPECT_NEAR(at0, p_clip, 6 * se_p + 2e-7) << "share clipped to 0";
  EXPECT_NEAR(at2, p_clip, 6 * se_p + 2e-7) << "share clipped to 2";

  // The shape of the distribution: empirical CDF of (k - 1) / sigma against Phi inside
  // the clip, at several points.
  const at::Tensor z = (k - 1) / sigma;
  for (double t : {-1.5, -1.0, -0.5, -0.1, 0.0, 0.3, 0.8, 1.4}) {
    if (std::abs(t) >= c) continue;
    const double emp = (z <= t).to(at::kDouble).mean().item<double>();
    const double want = Phi(t);
    EXPECT_NEAR(emp, want, 6 * std::sqrt(want * (1 - want) / n)) << "CDF at " << t;
  }
  // Elements are independent, at the lags of the stream's own structure (Note [EELU noise
  // stream]): 8, 16, 24 are the other words of one Philox call (a duplicated Box-Muller
  // output would show there), 32 and its multiples the next blocks (overlapping counters),
  // and the neighbours of each. Both k - 1 and |k - 1| (a dependence without correlation,
  // such as a shared radius, shows in the magnitudes).
  const at::Tensor dev = k - 1, mag = (k - 1).abs();
  for (int64_t lag : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 64, 96, 256}) {
    for (const at::Tensor& x : {dev, mag}) {
      const at::Tensor u = x.slice(0, 0, n - lag), v = x.slice(0, lag, n);
      const at::Tensor uc = u - u.mean(), vc = v - v.mean();
      const double corr = ((uc * vc).mean() / (uc.std() * vc.std())).item<double>();
      EXPECT_LT(std::abs(corr), 6 / std::sqrt(double(n)))
          << "lag " << lag << (x.is_same(dev) ? " of k - 1" : " of |k - 1|");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sigmas, KDistribution, ::testing::Values(0.05, 0.3, 0.6, 1.0));

TEST(Noise, SigmaIsUniformOnZeroEpsilon) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2024);
  const int n = 20000;
  const double eps = 0.6;
  std::vector<double> s(n);
  for (int i = 0; i < n; ++i) {
    s[i] = draw_noise(eps, gen).sigma;
    ASSERT_GE(s[i], 0.0);
    ASSERT_LT(s[i], eps);
  }
  std::sort(s.begin(), s.end());
  // Kolmogorov-Smirnov distance to U(0, eps); 1.95/sqrt(n) is the 0.1% critical value.
  double d = 0;
  for (int i = 0; i < n; ++i) {
    const double f = s[i] / eps;
    d = std::max({d, std::abs(f - double(i) / n), std::abs(f - double(i + 1) / n)});
  }
  EXPECT_LT(d, 1.95 / std::sqrt(double(n)));
}

TEST(Noise, SigmaIsDrawnOncePerCall) {
  // Within one call every element shares sigma: for a large input, the spread of k matches
  // the sigma of that call, not the mixture over sigma ~ U(0, eps).
  auto gen = at::make_generator<at::CPUGeneratorImpl>(77);
  auto gen2 = at::make_generator<at::CPUGeneratorImpl>(77);
  at::Tensor x = at::ones({1 << 18}, at::kDouble), one = at::ones({1}, at::kDouble);
  for (int call = 0; call < 5; ++call) {
    const at::Tensor k = eelu(x, one, one, 1.0, true, true, gen);
    const NoiseState s = draw_noise(1.0, gen2);
    const double inside = ((k - 1).abs() < 0.999).to(at::kDouble).mean().item<double>();
    // Unclipped share 2*Phi(1/sigma) - 1 matches this call's sigma.
    const double want = 2 * Phi(0.999 / s.sigma) - 1;
    EXPECT_NEAR(inside, want, 6 * std::sqrt(want * (1 - want) / x.numel()) + 1e-6);
  }
}

TEST(Noise, SameSeedSameBits) {
  at::Tensor x = test_input({8, 4, 16, 16}, 5).to(at::kFloat);
  at::Tensor a = at::full({4}, 0.5), b = at::full({4}, 1.5);
  auto run = [&](uint64_t seed) {
    at::manual_seed(seed);
    at::Tensor xr = x.clone().set_requires_grad(true);
    at::Tensor ar = a.clone().set_requires_grad(true), br = b.clone().set_requires_grad(true);
    at::Tensor y = eelu(xr, ar, br, 1.0, true);
    auto g = torch::autograd::grad({y}, {xr, ar, br}, {at::ones_like(y)});
    return std::vector<at::Tensor>{y, g[0], g[1], g[2]};
  };
  const auto r1 = run(42), r2 = run(42), r3 = run(43);
  for (size_t i = 0; i < r1.size(); ++i) EXPECT_TRUE(at::equal(r1[i], r2[i])) << i;
  EXPECT_FALSE(at::equal(r1[0], r3[0])) << "another seed, another noise";
}

// The offset is part of the key: another offset (same seed) gives another, uncorrelated k;
// the same offset the same bits; and the backward regenerates the k of its own offset.
TEST(Noise, TheOffsetSelectsTheStream) {
  const int64_t n = 1 << 16;
  const NoiseState a{0.5, 1234, 0}, b{0.5, 1234, 7}, b_again{0.5, 1234, 7};
  const at::Tensor ka = k_from_output(a, n), kb = k_from_output(b, n);
  EXPECT_TRUE(at::equal(kb, k_from_output(b_again, n)));
  EXPECT_FALSE(at::equal(ka, kb));
  const at::Tensor u = ka - 1, v = kb - 1;
  const double corr = ((u * v).mean() / (u.std() * v.std())).item<double>();
  EXPECT_LT(std::abs(corr), 6 / std::sqrt(double(n))) << "offsets 0 and 7 are correlated";
  // dy/dx for x > 0 is k: the backward of offset 7 gives offset 7's k, not offset 0's
  const at::Tensor x = at::ones({n / 64, 64}, at::kDouble), one = at::ones({1}, at::kDouble);
  auto [gx, ga, gb] = eelu_backward(at::ones_like(x), x, one, one, b);
  EXPECT_TRUE(at::equal(gx.view({-1}), kb));
}

// Bitwise the same with 1 and 2 threads, for every layout and both parameter kinds, on
// tensors big enough to be split across threads (and across reduction units).
TEST(Noise, ThreadCountDoesNotChangeBits) {
  const int saved = at::get_num_threads();
  struct Case {
    std::vector<int64_t> shape;
    const char* layout;
    bool channelwise;
  };
  for (const Case& c :
       {Case{{8, 16, 40, 40}, "contiguous", true}, Case{{8, 16, 40, 40}, "channels_last", true},
        Case{{8, 16, 40, 40}, "strided", false}, Case{{1 << 18}, "contiguous", false},
        Case{{2048, 300}, "contiguous", true}}) {
    for (auto dtype : {at::kFloat, at::kBFloat16}) {
      const int64_t np = c.channelwise ? c.shape[1] : 1;
      const at::Tensor x = in_layout(test_input(c.shape, 9).to(dtype), c.layout);
      const at::Tensor g = test_input(c.shape, 10).to(dtype);
      const at::Tensor a = at::full({np}, 0.7, dtype), b = at::full({np}, 1.1, dtype);
      const NoiseState noise{0.7, 12345, 0};
      auto run = [&](int threads) {
        at::set_num_threads(threads);
        at::Tensor y = eelu_with_noise(x, a, b, noise);
        auto [gx, ga, gb] = eelu_backward(g, x, a, b, noise);
        return std::vector<at::Tensor>{y, gx, ga, gb};
      };
      const auto one = run(1), two = run(2);
      for (size_t i = 0; i < one.size(); ++i) {
        EXPECT_TRUE(at::equal(one[i], two[i])) << c.layout << " output " << i;
      }
    }
  }
  at::set_num_threads(saved);
}

TEST(Noise, LayoutDoesNotChangeK) {
  // k belongs to the element's logical index: a channels-last or strided copy of the same
  // values gives the same output.
  const at::Tensor x = test_input({4, 6, 9, 7}, 13).to(at::kFloat);
  const at::Tensor a = at::full({6}, 0.5), b = at::full({6}, 1.0);
  const NoiseState noise{0.5, 777, 0};
  const at::Tensor y = eelu_with_noise(x, a, b, noise);
  for (const char* layout : {"channels_last", "strided"}) {
    EXPECT_TRUE(at::equal(eelu_with_noise(in_layout(x, layout), a, b, noise), y)) << layout;
  }
}

}  // namespace
}  // namespace eelu::test
