// The two CPU implementations (portable scalar, AVX2) against each other, bitwise, the
// float32 element math of ops/eelu_math.h against libm in double, and the element loops of
// the CUDA kernels (ops/cuda/eelu_loops.h) over an emulated grid.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "common.h"
#include "eelu/ops.h"
#include "ops/cuda/eelu_loops.h"
#include "ops/eelu_geometry.h"
#include "ops/eelu_math.h"

namespace eelu::test {
namespace {

// Restores the automatic choice whatever happens in the test.
struct CapabilityGuard {
  ~CapabilityGuard() { set_cpu_capability(""); }
};

bool have_avx2() {
  try {
    set_cpu_capability("avx2");
    return true;
  } catch (const c10::Error&) {
    return false;
  }
}

// Inputs with the values that take every branch: NaN, infinities, signed zeros, tiny and
// huge magnitudes, and exponentials that underflow.
at::Tensor awkward_input(at::IntArrayRef shape, at::ScalarType dtype) {
  at::Tensor x = test_input(shape, 21).mul(3).contiguous();
  at::Tensor flat = x.view({-1});
  const double specials[] = {std::numeric_limits<double>::quiet_NaN(),
                             std::numeric_limits<double>::infinity(),
                             -std::numeric_limits<double>::infinity(),
                             -0.0,
                             0.0,
                             -1e-30,
                             1e-30,
                             -100.0,
                             -1e5,
                             1e30,
                             -87.5,
                             -17.0};
  const int64_t n = flat.numel();
  for (int64_t i = 0; i < n; i += 97) flat[i] = specials[(i / 97) % 12];
  return x.to(dtype);
}

TEST(Kernels, ScalarAndAvx2GiveTheSameBits) {
  CapabilityGuard restore;
  if (!have_avx2()) GTEST_SKIP() << "no AVX2 kernels in this build or on this CPU";
  struct Case {
    std::vector<int64_t> shape;
    const char* layout;
    bool channelwise;
  };
  const std::vector<Case> cases = {
      {{8, 16, 40, 40}, "contiguous", true}, {{8, 16, 40, 40}, "channels_last", true},
      {{4, 6, 7, 7}, "contiguous", true},    {{4, 6, 7, 7}, "channels_last", false},
      {{3, 5, 9, 11}, "strided", true},      {{(1 << 16) + 13}, "contiguous", false},
      {{300, 37}, "contiguous", true},       {{2, 3, 5, 4, 3}, "contiguous", true},
      {{5, 3}, "contiguous", false}};
  for (const Case& c : cases) {
    for (auto dtype : {at::kFloat, at::kBFloat16}) {
      const int64_t np = c.channelwise ? c.shape[1] : 1;
      const at::Tensor x = in_layout(awkward_input(c.shape, dtype), c.layout);
      const at::Tensor g = test_input(c.shape, 22).to(dtype);
      // alpha and beta with a zero and a negative raw value (clamped to 0) among them
      at::Tensor a = at::linspace(-0.2, 1.3, np, at::kDouble).to(dtype);
      at::Tensor b = at::linspace(1.7, 0.0, np, at::kDouble).to(dtype);
      if (np == 1) {
        a.fill_(0.6);
        b.fill_(1.4);
      }
      for (const NoiseState& noise : {NoiseState{}, NoiseState{0.8, 0xABCDEF12345ull, 3}}) {
        auto run = [&](const char* capability) {
          set_cpu_capability(capability);
          at::Tensor y = eelu_with_noise(x, a, b, noise);
          auto [gx, ga, gb] = eelu_backward(g, x, a, b, noise);
          return std::vector<at::Tensor>{y, gx, ga, gb, eelu_noise(x, noise)};
        };
        const auto scalar = run("default");
        const auto vector = run("avx2");
        const char* names[] = {"output", "grad input", "grad alpha", "grad beta", "k"};
        for (size_t i = 0; i < scalar.size(); ++i) {
          EXPECT_TRUE(at::equal(scalar[i].isnan(), vector[i].isnan()) &&
                      at::equal(at::nan_to_num(scalar[i]), at::nan_to_num(vector[i])))
              << names[i] << ", " << c.layout << ", dtype " << dtype << ", sigma " << noise.sigma
              << ", max diff "
              << (at::nan_to_num(scalar[i]) - at::nan_to_num(vector[i])).abs().max().item<double>();
        }
      }
    }
  }
}

TEST(Kernels, CapabilityNamesAreChecked) {
  CapabilityGuard restore;
  set_cpu_capability("default");
  EXPECT_STREQ(cpu_capability(), "default");
  try {
    set_cpu_capability("avx9000");
    FAIL() << "an unknown capability must throw";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown CPU capability 'avx9000'"), std::string::npos)
        << e.what();
  }
}

// The float32 functions behind the noise and the exponential branch, against libm in
// double, over their whole domains.
TEST(ElementMath, Expm1IsAccurateOnTheNegativeAxis) {
  double worst = 0;
  float worst_t = 0;
  for (int i = 0; i <= 2000000; ++i) {
    // dense near 0, then out to the clamp at -87 and beyond
    const float t = i < 1000000 ? -std::ldexp(static_cast<float>(i), -20)
                                : -static_cast<float>(i - 1000000) * 9.5e-5f;
    const double want = std::expm1(static_cast<double>(t));
    const double got = math::expm1_neg(t);
    const double err = std::abs(got - want) / std::max(std::abs(want), 1e-38);
    if (err > worst) worst = err, worst_t = t;
  }
  EXPECT_LT(worst, 3.0 * 0x1.0p-24) << "relative error " << worst << " at t = " << worst_t;
  EXPECT_EQ(math::expm1_neg(-1000.f), -1.f);
  EXPECT_EQ(math::expm1_neg(0.f), 0.f);
  EXPECT_TRUE(std::isnan(math::expm1_neg(std::nanf(""))));
  EXPECT_EQ(math::expm1_neg(-std::numeric_limits<float>::infinity()), -1.f);
}

TEST(ElementMath, ExpIsAccurateDownToItsUnderflow) {
  double worst = 0;
  float worst_t = 0;
  for (int i = 0; i <= 1000000; ++i) {
    const float t = -static_cast<float>(i) * 8.73e-5f;  // 0 .. -87.3 (exp stays normal)
    float em1 = 0, e = 0;
    math::expm1_exp_neg(t, em1, e);
    const double err = std::abs(e - std::exp(static_cast<double>(t))) / std::exp(double(t));
    if (err > worst) worst = err, worst_t = t;
  }
  EXPECT_LT(worst, 3.0 * 0x1.0p-24) << "relative error " << worst << " at t = " << worst_t;
  float em1 = 0, e = 1;
  math::expm1_exp_neg(-88.f, em1, e);
  EXPECT_EQ(e, 0.f);
  EXPECT_EQ(em1, -1.f);
  math::expm1_exp_neg(-std::numeric_limits<float>::infinity(), em1, e);
  EXPECT_EQ(e, 0.f);
  math::expm1_exp_neg(0.f, em1, e);
  EXPECT_EQ(e, 1.f);
  EXPECT_EQ(em1, 0.f);
}

// Deep in the negative tail the gradients are alpha*beta*exp(beta x) and alpha*x*exp(beta x)
// (Note [The gradient takes exp, not expm1 + 1]): relative to float64 they must stay within
// the rounding of beta*x (|t| ulp) and a few roundings of their own, every kernel and dtype,
// down to where exp leaves the normal range (float: t = -87.3; double: t = -708).
TEST(Kernels, GradientsAreAccurateDeepInTheNegativeTail) {
  CapabilityGuard restore;
  std::vector<const char*> capabilities = {"default"};
  if (have_avx2()) capabilities.push_back("avx2");
  struct Case {
    at::ScalarType dtype;
    double t_min, ulp;
  };
  for (const Case c : {Case{at::kFloat, -87.0, 0x1.0p-24}, Case{at::kDouble, -700.0, 0x1.0p-53},
                       Case{at::kBFloat16, -87.0, 0x1.0p-8}}) {
    const int64_t n = 4003;
    const double alpha = 1.5, beta = 1.25;
    // one element per channel, so that the parameter gradients are per element too
    const at::Tensor t = at::linspace(c.t_min, -1e-3, n, at::kDouble);
    const at::Tensor x = (t / beta).to(c.dtype).view({1, n});
    const at::Tensor a = at::full({n}, alpha, at::kDouble).to(c.dtype);
    const at::Tensor b = at::full({n}, beta, at::kDouble).to(c.dtype);
    const at::Tensor g = at::ones({1, n}, at::kDouble).to(c.dtype);
    const at::Tensor x64 = x.to(at::kDouble);
    const at::Tensor t64 = x64 * beta;
    const at::Tensor want_gx = alpha * beta * at::exp(t64);
    const at::Tensor want_gb = alpha * x64 * at::exp(t64);
    const at::Tensor want_ga = at::expm1(t64);
    // float: beta*x rounded (|t| ulp), exp and two products; bfloat16 adds its own rounding
    const at::Tensor rtol = (t64.abs() + 8) * (c.dtype == at::kBFloat16 ? 0x1.0p-24 : c.ulp) +
                            (c.dtype == at::kBFloat16 ? c.ulp : 0.0);
    for (const char* capability : capabilities) {
      if (c.dtype == at::kDouble && std::string(capability) == "avx2") continue;
      set_cpu_capability(capability);
      auto [gx, ga, gb] = eelu_backward(g, x, a, b, NoiseState{});
      auto rel = [](const at::Tensor& got, const at::Tensor& want) {
        return ((got.to(at::kDouble).view({-1}) - want.view({-1})).abs() / want.view({-1}).abs());
      };
      for (const auto& [name, got, want] :
           {std::tuple<const char*, at::Tensor, at::Tensor>{"grad input", gx, want_gx},
            {"grad beta", gb, want_gb},
            {"grad alpha", ga, want_ga}}) {
        const at::Tensor excess = rel(got, want) - rtol.view({-1});
        const int64_t worst = excess.argmax().item<int64_t>();
        EXPECT_LE(excess[worst].item<double>(), 0)
            << name << ", " << capability << ", dtype " << c.dtype << ": relative error "
            << rel(got, want)[worst].item<double>()
            << " at beta*x = " << t64.view({-1})[worst].item<double>();
      }
    }
  }
}

TEST(ElementMath, LogAndSincosOfTheUniformsAreAccurate) {
  double worst_log = 0, worst_trig = 0;
  for (uint32_t n = 0; n < (1u << 24); n += 7) {
    const uint32_t w = n << 8 | (n & 0xFF);
    const double u = (static_cast<double>(n) + 1) * 0x1.0p-24;
    worst_log = std::max(worst_log, std::abs(math::log_unit(w) - std::log(u)) /
                                        std::max(1.0, std::abs(std::log(u))));
    float c, s;
    math::sincos_unit(w, c, s);
    const double angle = 2 * M_PI * static_cast<double>(n) * 0x1.0p-24;
    worst_trig =
        std::max({worst_trig, std::abs(c - std::cos(angle)), std::abs(s - std::sin(angle))});
  }
  EXPECT_LT(worst_log, 4e-7) << "log of the uniform";
  EXPECT_LT(worst_trig, 4e-7) << "cos and sin of the angle";
  EXPECT_EQ(math::log_unit(0xFFFFFFFFu), 0.0f) << "u = 1 gives log u = 0, a radius of 0";
}

TEST(ElementMath, BlockLayoutOfTheNoiseStream) {
  // Philox counter 8*b + j gives the elements 32*b + j + 8*w, w = 0..3.
  float block[32];
  math::noise_block(77, 5, 0.6f, 3, block);
  for (int j = 0; j < 8; ++j) {
    float quad[4];
    math::noise_quad(77, 5, 0.6f, 8 * 3 + j, quad);
    for (int w = 0; w < 4; ++w) EXPECT_EQ(block[j + 8 * w], quad[w]) << j << " " << w;
  }
  // and the operator's k is that stream: element 32*3 + 8*2 + 5 of a flat tensor
  const at::Tensor k = eelu_noise(at::zeros({200}), NoiseState{0.6, 77, 5});
  EXPECT_EQ(k[32 * 3 + 8 * 2 + 5].item<float>(), block[8 * 2 + 5]);
}

// The CUDA kernels' loops, run on the host over every (block, thread) of a small grid: every
// element is visited exactly once, with its channel, and with the k the CPU kernels use.
TEST(CudaLoops, EveryElementOnceWithItsChannelAndTheCpusNoise) {
  struct Case {
    std::vector<int64_t> shape;
    bool channels_last;
  };
  const std::vector<Case> cases = {
      {{2, 3, 5, 7}, false}, {{2, 3, 5, 7}, true},   {{3, 5, 33}, false},   {{4, 6}, false},
      {{37}, false},         {{1, 2, 300, 7}, true}, {{2, 64, 3, 3}, true}, {{5, 1, 1, 1}, false}};
  const double sigma = 0.7;
  const int64_t seed = 0x5EED, offset = 9;
  for (const auto& tc : cases) {
    at::Tensor x = at::zeros(tc.shape);
    if (tc.channels_last) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    SCOPED_TRACE(::testing::PrintToString(tc.shape) + (tc.channels_last ? " channels last" : ""));
    const detail::Geometry geo = detail::geometry_of(x);
    const int64_t n = geo.numel();
    // The CPU kernels' k, in memory order.
    const at::Tensor k_cpu = eelu_noise(x, NoiseState{sigma, uint64_t(seed), uint64_t(offset)});
    const at::Tensor k_mem = k_cpu.as_strided({n}, {1});
    const float* kc = k_mem.data_ptr<float>();
    auto channel_of = [&](int64_t m) {
      return geo.channels_inner ? m % geo.C : (m / geo.S) % geo.C;
    };
    const cuda::Shape<uint32_t> sh{uint32_t(n), uint32_t(geo.C), uint32_t(geo.S)};
    for (const uint64_t blocks : {1ull, 2ull, 7ull}) {
      std::vector<int> visits(static_cast<size_t>(n), 0);
      for (uint64_t b = 0; b < blocks; ++b) {
        for (uint64_t t = 0; t < cuda::kThreads; ++t) {
          cuda::for_each_noisy(sh, cuda::GridPosition{b, t, blocks}, false, geo.channels_inner,
                               float(sigma), uint64_t(seed), uint64_t(offset),
                               [&](uint32_t m, uint32_t c, float k) {
                                 ASSERT_LT(m, uint32_t(n));
                                 ++visits[m];
                                 ASSERT_EQ(int64_t(c), channel_of(m)) << "memory index " << m;
                                 ASSERT_EQ(math::float_to_bits(k), math::float_to_bits(kc[m]))
                                     << "memory index " << m;
                               });
        }
      }
      for (int64_t m = 0; m < n; ++m)
        ASSERT_EQ(visits[size_t(m)], 1) << "noisy loop, memory index " << m;
      std::fill(visits.begin(), visits.end(), 0);
      for (uint64_t b = 0; b < blocks; ++b) {
        for (uint64_t t = 0; t < cuda::kThreads; ++t) {
          auto visit = [&](uint32_t m, uint32_t c) {
            ASSERT_LT(m, uint32_t(n));
            ++visits[m];
            ASSERT_EQ(int64_t(c), channel_of(m)) << "memory index " << m;
          };
          if (geo.channels_inner) {
            cuda::for_each_plain<cuda::Layout::ChannelInner>(sh, cuda::GridPosition{b, t, blocks},
                                                             visit);
          } else {
            cuda::for_each_plain<cuda::Layout::ChannelOuter>(sh, cuda::GridPosition{b, t, blocks},
                                                             visit);
          }
        }
      }
      for (int64_t m = 0; m < n; ++m)
        ASSERT_EQ(visits[size_t(m)], 1) << "plain loop, memory index " << m;
    }
    // The reduction's view: channel c's elements are exactly the memory indices of channel c.
    std::vector<int> seen(static_cast<size_t>(n), 0);
    for (int64_t c = 0; c < geo.C; ++c) {
      for (int64_t j = 0; j < geo.O * geo.S; ++j) {
        const int64_t m = cuda::channel_element(j, c, geo.C, geo.S, geo.channels_inner);
        ASSERT_TRUE(m >= 0 && m < n);
        ASSERT_EQ(channel_of(m), c);
        ++seen[size_t(m)];
      }
    }
    for (int64_t m = 0; m < n; ++m)
      ASSERT_EQ(seen[size_t(m)], 1) << "reduction, memory index " << m;
  }
}

}  // namespace
}  // namespace eelu::test
