// Every registered activation: forward against its formula in float64 (eval and training,
// the noise fixed), gradients of the input and of every parameter by finite differences,
// the noise's distribution, parameters (registered, learning, saved and loaded), and the
// registry's parsing and errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/modules/container/any.h>
#include <torch/serialize.h>

#include <cmath>
#include <functional>
#include <map>

#include "common.h"
#include "eelu/nn/activations.h"
#include "eelu/nn/registry.h"

namespace eelu::test {
namespace {

using torch::nn::AnyModule;
constexpr int64_t kChannels = 4;

at::Tensor param(AnyModule& m, const std::string& name) {
  return m.ptr()->named_parameters()[name];
}

// Channel-wise broadcasting of a [C] or [1] parameter against (N, C, L) inputs.
at::Tensor bc(const at::Tensor& p) { return p.numel() == 1 ? p : p.view({1, -1, 1}); }

// Sets every parameter to distinct positive values, away from bounds, per channel.
void distinct_parameters(AnyModule& m) {
  torch::NoGradGuard no_grad;
  double base = 0.35;
  for (auto& p : m.ptr()->parameters()) {
    p.copy_(at::linspace(base, base + 0.6, p.numel(), p.options()));
    base += 0.4;
  }
}

// The formula of each activation at the noise given (k for the positive side, r for RReLU's
// negative side; eval: their means), in float64.
using Formula = std::function<at::Tensor(AnyModule&, const at::Tensor& x, const at::Tensor& k)>;

const std::map<std::string, Formula>& formulas() {
  static const std::map<std::string, Formula> f = {
      {"relu", [](AnyModule&, const at::Tensor& x, const at::Tensor&) { return x.clamp_min(0); }},
      {"lrelu", [](AnyModule&, const at::Tensor& x,
                   const at::Tensor&) { return at::where(x >= 0, x, 0.01 * x); }},
      {"prelu", [](AnyModule& m, const at::Tensor& x,
                   const at::Tensor&) { return at::where(x >= 0, x, bc(param(m, "weight")) * x); }},
      {"rrelu", [](AnyModule&, const at::Tensor& x,
                   const at::Tensor& r) { return at::where(x >= 0, x, r * x); }},
      {"erelu", [](AnyModule&, const at::Tensor& x,
                   const at::Tensor& k) { return at::where(x >= 0, k * x, at::zeros_like(x)); }},
      {"eprelu",
       [](AnyModule& m, const at::Tensor& x, const at::Tensor& k) {
         return at::where(x >= 0, k * x, bc(param(m, "a")) * x);
       }},
      {"elu", [](AnyModule&, const at::Tensor& x,
                 const at::Tensor&) { return at::where(x >= 0, x, at::exp(x.clamp_max(0)) - 1); }},
      {"pelu",
       [](AnyModule& m, const at::Tensor& x, const at::Tensor&) {
         const at::Tensor a = bc(param(m, "a")), b = bc(param(m, "b"));
         return at::where(x >= 0, a / b * x, a * (at::exp(x.clamp_max(0) / b) - 1));
       }},
      {"mpelu",
       [](AnyModule& m, const at::Tensor& x, const at::Tensor&) {
         const at::Tensor a = bc(param(m, "alpha")), b = bc(param(m, "beta"));
         return at::where(x >= 0, x, a * (at::exp(b * x.clamp_max(0)) - 1));
       }},
      {"selu",
       [](AnyModule&, const at::Tensor& x, const at::Tensor&) {
         const double l = 1.0507009873554805, a = 1.6732632423543772;
         return l * at::where(x >= 0, x, a * (at::exp(x.clamp_max(0)) - 1));
       }},
      {"swish", [](AnyModule& m, const at::Tensor& x,
                   const at::Tensor&) { return x / (1 + at::exp(-bc(param(m, "beta")) * x)); }},
      {"gelu", [](AnyModule&, const at::Tensor& x,
                  const at::Tensor&) { return 0.5 * x * (1 + at::erf(x / std::sqrt(2.0))); }},
      {"silu",
       [](AnyModule&, const at::Tensor& x, const at::Tensor&) { return x / (1 + at::exp(-x)); }},
      {"mish", [](AnyModule&, const at::Tensor& x,
                  const at::Tensor&) { return x * at::tanh(at::log1p(at::exp(x))); }},
      {"eelu",
       [](AnyModule& m, const at::Tensor& x, const at::Tensor& k) {
         const at::Tensor a = bc(param(m, "alpha")), b = bc(param(m, "beta"));
         return at::where(x >= 0, k * x, a * (at::exp(b * x.clamp_max(0)) - 1));
       }},
  };
  return f;
}

// x of shape (3, C, 9): both branches, the boundary, values near it, large magnitudes.
at::Tensor grid_input() {
  at::Tensor x = at::linspace(-6, 6, 3 * kChannels * 9, at::kDouble).view({3, kChannels, 9});
  auto flat = x.view({-1});
  flat[0] = 0.0;
  flat[1] = 1e-9;
  flat[2] = -1e-9;
  return x;
}

// Each registered activation, built channel-wise with noise from `gen` and trainable
// parameters where it has them; noisy ones noisy on every training call.
std::string spec_for(const std::string& name) {
  if (name == "swish") return "swish(trainable)";
  if (name == "eelu" || name == "eprelu") return name + "(schedule=always_noisy)";
  return name;
}

class Activation : public ::testing::TestWithParam<std::string> {};

TEST_P(Activation, EvalForwardMatchesFormula) {
  const std::string name = GetParam();
  ASSERT_TRUE(formulas().count(name)) << "no formula in the test for " << name;
  AnyModule m = nn::make_activation(spec_for(name), kChannels);
  m.ptr()->to(at::kDouble);
  distinct_parameters(m);
  m.ptr()->eval();
  const at::Tensor x = grid_input();
  at::Tensor mean_noise = at::ones({1}, at::kDouble);
  if (name == "rrelu") mean_noise.fill_((1.0 / 8 + 1.0 / 3) / 2);
  const at::Tensor y = m.forward(x);
  EXPECT_TRUE(close(y, formulas().at(name)(m, x, mean_noise).detach(), 1e-12, 1e-14));
  EXPECT_TRUE(at::equal(y, m.forward(x))) << "eval is deterministic";
}

// The noise a training call of a noisy activation draws from a generator in a known state:
// k for EReLU, EPReLU (uniform_), r for RReLU (recovered from the output), k for EELU.
at::Tensor noise_of(const std::string& name, const at::Tensor& x, at::Generator& gen,
                    const at::Tensor& y) {
  if (name == "erelu" || name == "eprelu") return at::empty_like(x).uniform_(0.6, 1.4, gen);
  if (name == "eelu") return eelu_noise(x, draw_noise(1.0, gen));
  if (name == "rrelu") return at::where(x < 0, y / x, at::zeros_like(x));
  return at::ones({1}, at::kDouble);
}

TEST_P(Activation, TrainingForwardMatchesFormulaWithTheNoiseItDrew) {
  const std::string name = GetParam();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  AnyModule m = nn::make_activation(spec_for(name), kChannels, gen);
  m.ptr()->to(at::kDouble);
  distinct_parameters(m);
  m.ptr()->train();
  const at::Tensor x = grid_input();
  gen.set_current_seed(77);
  const at::Tensor y = m.forward(x).detach();
  gen.set_current_seed(77);
  const at::Tensor k = noise_of(name, x, gen, y);
  EXPECT_TRUE(close(y, formulas().at(name)(m, x, k).detach(), 1e-12, 1e-14));
  const bool noisy = nn::activation_info(name).noisy;
  m.ptr()->eval();
  EXPECT_EQ(!at::equal(y, m.forward(x)), noisy) << "training differs from eval iff noisy";
  if (name == "rrelu") {
    const at::Tensor r = k.masked_select(x < -1e-3);
    EXPECT_GE(r.min().item<double>(), 1.0 / 8 - 1e-12);
    EXPECT_LE(r.max().item<double>(), 1.0 / 3 + 1e-12);
  }
}

// Central differences of sum(f(x) * w) for the input and every parameter, the noise fixed by
// re-seeding the generator before every call.
TEST_P(Activation, GradientsMatchFiniteDifferences) {
  const std::string name = GetParam();
  for (bool training : {false, true}) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    AnyModule m = nn::make_activation(spec_for(name), kChannels, gen);
    m.ptr()->to(at::kDouble);
    distinct_parameters(m);
    training ? m.ptr()->train() : m.ptr()->eval();
    at::Tensor x = grid_input();
    x = at::where(x.abs() < 0.05, at::full_like(x, 0.3), x);  // off the kink
    const at::Tensor w = at::cos(at::arange(x.numel(), at::kDouble)).view(x.sizes());
    auto loss = [&] {
      gen.set_current_seed(3);
      return (m.forward(x) * w).sum();
    };
    std::vector<at::Tensor> inputs{x.clone().set_requires_grad(true)};
    for (auto& p : m.ptr()->parameters()) inputs.push_back(p);
    gen.set_current_seed(3);
    const auto grads =
        torch::autograd::grad({(m.forward(inputs[0]) * w).sum()}, inputs, {}, false, false, true);
    std::vector<at::Tensor> targets{x};
    for (auto& p : m.ptr()->parameters()) targets.push_back(p);
    for (size_t t = 0; t < targets.size(); ++t) {
      at::Tensor target = targets[t];
      at::Tensor numeric = at::zeros_like(target);
      torch::NoGradGuard no_grad;
      auto flat = target.view({-1});
      for (int64_t i = 0; i < flat.numel(); ++i) {
        const double v = flat[i].item<double>(), h = 1e-6;
        flat[i] = v + h;
        const double up = loss().item<double>();
        flat[i] = v - h;
        const double down = loss().item<double>();
        flat[i] = v;
        numeric.view({-1})[i] = (up - down) / (2 * h);
      }
      ASSERT_TRUE(grads[t].defined()) << name << " target " << t;
      EXPECT_TRUE(close(grads[t], numeric, 1e-6, 1e-6))
          << name << (training ? " training" : " eval") << ", gradient " << t
          << (t == 0 ? " (input)" : " (parameter)");
    }
  }
}

// Feature vectors (N, C) are images of one pixel: the same values as (N, C, 1, 1) give the
// same outputs, in eval and (from the same generator state) in training, so per-channel
// parameters and the noise index both alike; and the layout of an image (channels last, a
// transposed view) does not change what an element gets.
TEST_P(Activation, FeatureVectorsAreOnePixelImagesAndLayoutsAgree) {
  const std::string name = GetParam();
  AnyModule m = nn::make_activation(spec_for(name), 6);
  for (const auto& p : m.ptr()->parameters()) {  // distinct per-channel values
    torch::NoGradGuard no_grad;
    p.add_(at::linspace(0.05, 0.3, p.numel()).view(p.sizes()));
  }
  for (bool training : {true, false}) {
    training ? m.ptr()->train() : m.ptr()->eval();
    const at::Tensor x = at::randn({7, 6});
    at::manual_seed(5);
    const at::Tensor y = m.forward(x);
    at::manual_seed(5);
    const at::Tensor y4 = m.forward(x.view({7, 6, 1, 1}));
    EXPECT_EQ(y.sizes(), x.sizes());
    EXPECT_TRUE(at::isfinite(y).all().item<bool>()) << name;
    EXPECT_TRUE(at::equal(y4.view({7, 6}), y)) << name << (training ? " training" : " eval");
  }
  m.ptr()->eval();  // deterministic: layouts compared element by element (LibTorch's own GELU
                    // differs by an ulp or two between its vector and scalar code)
  const at::Tensor img = at::randn({2, 6, 5, 5});
  const at::Tensor want = m.forward(img);
  EXPECT_TRUE(
      at::allclose(m.forward(img.contiguous(at::MemoryFormat::ChannelsLast)), want, 1e-5, 1e-6))
      << name << " channels last";
  EXPECT_TRUE(
      at::allclose(m.forward(img.transpose(2, 3).contiguous().transpose(2, 3)), want, 1e-5, 1e-6))
      << name << " transposed view";
}

TEST_P(Activation, ParametersLearnAndSurviveSaveLoad) {
  const std::string name = GetParam();
  AnyModule m = nn::make_activation(spec_for(name), kChannels);
  const auto params = m.ptr()->named_parameters();
  const std::map<std::string, std::vector<std::string>> expected = {
      {"prelu", {"weight"}},        {"eprelu", {"a"}},   {"pelu", {"a", "b"}},
      {"mpelu", {"alpha", "beta"}}, {"swish", {"beta"}}, {"eelu", {"alpha", "beta"}}};
  const auto it = expected.find(name);
  if (it == expected.end()) {
    EXPECT_EQ(params.size(), 0u) << name << " has no trainable parameters";
    return;
  }
  ASSERT_EQ(params.size(), it->second.size());
  for (const auto& pname : it->second) {
    ASSERT_TRUE(params.contains(pname)) << name << " lacks " << pname;
    EXPECT_EQ(params[pname].numel(), kChannels) << "channel-wise by default";
  }
  m.ptr()->train();
  distinct_parameters(m);
  const at::Tensor x = grid_input().to(at::kFloat);
  (m.forward(x) * at::linspace(-1, 2, x.numel()).view(x.sizes())).sum().backward();
  for (const auto& p : m.ptr()->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << name << "." << p.key();
    EXPECT_GT(max_abs(p.value().grad()), 0.0) << name << "." << p.key();
  }

  const std::string path = ::testing::TempDir() + "/act_" + name + ".pt";
  {
    torch::serialize::OutputArchive out;
    m.ptr()->save(out);
    out.save_to(path);
  }
  AnyModule fresh = nn::make_activation(spec_for(name), kChannels);
  {
    torch::serialize::InputArchive in;
    in.load_from(path);
    fresh.ptr()->load(in);
  }
  std::remove(path.c_str());
  for (const auto& p : m.ptr()->named_parameters()) {
    EXPECT_TRUE(at::equal(fresh.ptr()->named_parameters()[p.key()], p.value())) << p.key();
  }
}

std::vector<std::string> all_names() {
  std::vector<std::string> names;
  for (const auto& info : nn::activation_names()) names.push_back(info.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Registry, Activation, ::testing::ValuesIn(all_names()),
                         [](const auto& info) { return info.param; });

TEST(Activations, RegistryCoversTheSpecTable) {
  for (const char* name : {"relu", "lrelu", "prelu", "rrelu", "erelu", "eprelu", "elu", "pelu",
                           "mpelu", "selu", "swish", "gelu", "silu", "mish", "eelu"}) {
    EXPECT_NO_THROW(nn::activation_info(name)) << name;
  }
  EXPECT_EQ(nn::activation_names().size(), 15u);
}

// Noisy slopes against their distributions: for x = 1 the output of EReLU and EPReLU is
// k ~ U(1 - eps, 1 + eps); for x = -1 RReLU gives -r, r ~ U(lower, upper).
TEST(Activations, NoiseDistributions) {
  const int64_t n = 1 << 20;
  struct Case {
    std::string spec;
    double sign, lo, hi;
  };
  for (const Case& c :
       {Case{"erelu", 1, 0.6, 1.4}, Case{"eprelu(schedule=always_noisy)", 1, 0.6, 1.4},
        Case{"erelu(eps=0.1)", 1, 0.9, 1.1}, Case{"rrelu(lower=0.1, upper=0.3)", -1, 0.1, 0.3}}) {
    AnyModule m = nn::make_activation(c.spec, 1, at::make_generator<at::CPUGeneratorImpl>(8));
    m.ptr()->train();
    const at::Tensor v =
        (m.forward(at::full({n / 16, 16}, c.sign, at::kDouble)) * c.sign).view({-1});
    const double mean = (c.lo + c.hi) / 2, sd = (c.hi - c.lo) / std::sqrt(12.0);
    EXPECT_GE(v.min().item<double>(), c.lo) << c.spec;
    EXPECT_LE(v.max().item<double>(), c.hi) << c.spec;
    EXPECT_NEAR(v.mean().item<double>(), mean, 6 * sd / std::sqrt(double(n))) << c.spec;
    EXPECT_NEAR(v.std().item<double>(), sd, 0.01 * sd) << c.spec;
    for (double q : {0.1, 0.25, 0.5, 0.75, 0.9}) {
      const double t = c.lo + q * (c.hi - c.lo);
      const double emp = (v <= t).to(at::kDouble).mean().item<double>();
      EXPECT_NEAR(emp, q, 6 * std::sqrt(q * (1 - q) / n)) << c.spec << " CDF at " << q;
    }
  }
}

TEST(Activations, EpreluAlternatesLikeEelu) {
  AnyModule m = nn::make_activation("eprelu", 3);
  m.ptr()->train();
  const at::Tensor x = grid_input().to(at::kFloat).slice(1, 0, 3);
  const at::Tensor clean = at::where(x >= 0, x, 0.1 * x);
  for (int call = 0; call < 4; ++call) {
    m.ptr()->zero_grad();
    const at::Tensor y = m.forward(x);
    (y * x).sum().backward();
    const at::Tensor g = param(m, "a").grad();
    ASSERT_TRUE(g.defined());
    if (call % 2 == 1) {  // noisy first, as EELU
      EXPECT_TRUE(close(y, clean, 1e-6, 1e-7)) << call;
      EXPECT_GT(max_abs(g), 0.0) << call;
    } else {
      EXPECT_FALSE(at::equal(y, clean)) << call;
      EXPECT_TRUE(at::equal(g, at::zeros_like(g))) << call;
    }
  }
}

// MPELU as published (Li et al. 2018): alpha and beta unbounded, no clamp at 0.
TEST(Activations, MpeluTakesNegativeParametersAsPublished) {
  struct Case {
    double alpha, beta;
  };
  for (const Case c : {Case{-0.5, 1.0}, Case{0.5, -0.5}, Case{-0.3, -0.7}}) {
    AnyModule m = nn::make_activation("mpelu(shared)", 1, c10::nullopt, at::kDouble);
    {
      torch::NoGradGuard no_grad;
      param(m, "alpha").fill_(c.alpha);
      param(m, "beta").fill_(c.beta);
    }
    const at::Tensor x = at::tensor({-1.0, -0.25, 0.5}, at::kDouble).view({3, 1}).requires_grad_();
    const at::Tensor y = m.forward(x);
    const at::Tensor want = at::tensor(
        {c.alpha * std::expm1(-c.beta), c.alpha * std::expm1(-0.25 * c.beta), 0.5}, at::kDouble);
    EXPECT_TRUE(close(y.view({-1}), want, 1e-15, 1e-15)) << c.alpha << ", " << c.beta;
    y.sum().backward();
    const double e1 = std::exp(-c.beta), e2 = std::exp(-0.25 * c.beta);
    EXPECT_TRUE(close(x.grad().view({-1}),
                      at::tensor({c.alpha * c.beta * e1, c.alpha * c.beta * e2, 1.0}, at::kDouble),
                      1e-15, 1e-15));
    EXPECT_NEAR(param(m, "alpha").grad().item<double>(),
                std::expm1(-c.beta) + std::expm1(-0.25 * c.beta), 1e-15);
    EXPECT_NEAR(param(m, "beta").grad().item<double>(), -c.alpha * e1 - 0.25 * c.alpha * e2, 1e-15);
  }
  // the example: alpha = -0.5, x = -1 gives 0.316 and a slope of -0.184
  AnyModule m = nn::make_activation("mpelu(alpha=-0.5)", 1);
  const at::Tensor x = at::full({1, 1}, -1.0f).requires_grad_();
  const at::Tensor y = m.forward(x);
  y.sum().backward();
  EXPECT_NEAR(y.item<float>(), 0.316, 1e-3);
  EXPECT_NEAR(x.grad().item<float>(), -0.184, 1e-3);
}

// The gradients deep in the negative tail take exp itself, not expm1 + 1 (Note [The gradient
// takes exp, not expm1 + 1]): MPELU's composite keeps the digits the fused operator keeps.
TEST(Activations, MpeluGradientsAreAccurateDeepInTheTail) {
  AnyModule m = nn::make_activation("mpelu(alpha=1.5, beta=1.25, shared)", 1);
  const at::Tensor x = at::linspace(-69.0, -0.01, 1001, at::kFloat).view({-1, 1}).requires_grad_();
  m.forward(x).sum().backward();
  const at::Tensor x64 = x.detach().to(at::kDouble);
  const at::Tensor want = 1.5 * 1.25 * at::exp(1.25 * x64);
  const at::Tensor rel = (x.grad().to(at::kDouble) - want).abs() / want;
  EXPECT_LT(rel.max().item<double>(), 1e-5)
      << "at x = " << x64.view({-1})[rel.argmax()].item<double>();
}

// EReLU is k·x for x >= 0: its derivative at exactly 0 is k (1 in evaluation), not ReLU's 0.
TEST(Activations, EreluDerivativeAtZeroIsTheSlope) {
  AnyModule m = nn::make_activation("erelu(eps=0.4)", 1);
  for (bool training : {false, true}) {
    training ? m.ptr()->train() : m.ptr()->eval();
    const at::Tensor x = at::zeros({1000, 1}).requires_grad_();
    m.forward(x).sum().backward();
    const at::Tensor g = x.grad();
    if (training) {
      EXPECT_GE(g.min().item<float>(), 0.6f);
      EXPECT_LE(g.max().item<float>(), 1.4f);
      EXPECT_GT((g - 1).abs().max().item<float>(), 0.1f) << "k is drawn per element";
    } else {
      EXPECT_TRUE(at::equal(g, at::ones_like(g)));
    }
  }
  const at::Tensor nan = m.forward(at::full({1, 1}, std::nan("")));
  EXPECT_TRUE(std::isnan(nan.item<float>())) << "NaN stays NaN";
}

// Parameters made in the dtype asked for hold their initial values exactly in it, and number
// settings take fractions (RReLU's upper bound is 1/3, the double 1.0 / 3.0).
TEST(Registry, ParametersAreExactInTheirDtype) {
  struct Case {
    const char* spec;
    const char* param;
    double value;
  };
  for (const Case c :
       {Case{"prelu(init=0.1)", "weight", 0.1}, Case{"eprelu", "a", 0.1},
        Case{"pelu(b=0.7)", "b", 0.7}, Case{"mpelu(alpha=0.3)", "alpha", 0.3},
        Case{"eelu(beta=0.9)", "beta", 0.9}, Case{"swish(beta=0.1, trainable)", "beta", 0.1}}) {
    for (auto dtype : {at::kDouble, at::kFloat, at::kBFloat16}) {
      AnyModule m = nn::make_activation(c.spec, 3, c10::nullopt, dtype);
      const at::Tensor p = param(m, c.param);
      EXPECT_EQ(p.scalar_type(), dtype) << c.spec;
      EXPECT_TRUE(at::equal(p, at::full({3}, c.value, at::TensorOptions().dtype(dtype)))) << c.spec;
      EXPECT_TRUE(p.requires_grad()) << c.spec;
    }
  }
  AnyModule plain = nn::make_activation("prelu(init=0.1)", 2);
  EXPECT_EQ(param(plain, "weight").scalar_type(), at::kFloat)
      << "the default dtype without one given";
  auto rrelu = nn::make_activation("rrelu", 1);
  EXPECT_EQ(rrelu.ptr()->as<nn::RReLUImpl>()->options.upper(), 1.0 / 3.0);
  EXPECT_EQ(rrelu.ptr()->as<nn::RReLUImpl>()->options.lower(), 0.125);
  EXPECT_EQ(nn::make_activation("rrelu(upper=2/7)", 1).ptr()->as<nn::RReLUImpl>()->options.upper(),
            2.0 / 7.0);
  EXPECT_EQ(nn::parse_activation_spec("rrelu").to_string(), "rrelu(lower=1/8, upper=1/3)");
}

TEST(Activations, PeluKeepsItsBoundsAndLetsParametersComeBack) {
  AnyModule m = nn::make_activation("pelu(shared)", 1);
  {
    torch::NoGradGuard no_grad;
    param(m, "a").fill_(-3.0);  // acts as 0.1
    param(m, "b").fill_(0.05);  // acts as 0.1
  }
  const at::Tensor x = at::tensor({-1.0, 2.0}, at::kFloat).view({2, 1});
  const at::Tensor y = m.forward(x);
  EXPECT_TRUE(close(y.view({-1}), at::tensor({0.1f * std::expm1(-10.0f), 2.0f}), 1e-5, 1e-6));
  y.sum().backward();
  EXPECT_NE(param(m, "a").grad().item<float>(), 0.0f) << "straight-through below the bound";
}

TEST(Registry, SettingsParse) {
  auto eelu = nn::make_activation("EELU(eps=0.6, alpha=1, beta=1, schedule=always_noisy)", 8);
  auto* e = eelu.ptr()->as<nn::EELUImpl>();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->options.epsilon(), 0.6);
  EXPECT_EQ(e->options.alpha_init(), 1.0);
  EXPECT_EQ(e->options.schedule(), nn::Schedule::always_noisy);
  EXPECT_EQ(e->alpha.numel(), 8);
  EXPECT_EQ(
      nn::make_activation("eelu(epsilon=0.8, shared)", 8).ptr()->as<nn::EELUImpl>()->alpha.numel(),
      1);

  auto prelu = nn::make_activation("prelu(init=0.25, shared)", 8);
  EXPECT_EQ(prelu.ptr()->named_parameters()["weight"].numel(), 1);
  EXPECT_EQ(
      nn::make_activation("prelu(channelwise)", 8).ptr()->named_parameters()["weight"].numel(), 8);
  for (const char* spec :
       {"lrelu(slope=0.1)", "Leaky_ReLU( SLOPE = 0.1 )", "leakyrelu(slope=1e-1)"}) {
    auto lrelu = nn::make_activation(spec, 1);
    EXPECT_NEAR(lrelu.forward(at::full({1, 1}, -1.0)).item<float>(), -0.1f, 1e-7) << spec;
  }
  EXPECT_EQ(nn::parse_activation_spec("eelu").to_string(),
            "eelu(eps=1, alpha=0.25, beta=1, schedule=alternate, shared=false)");
  EXPECT_EQ(nn::parse_activation_spec("PReLU(Shared)").to_string(),
            "prelu(init=0.25, shared=true)");
  EXPECT_EQ(nn::parse_activation_spec("relu()").to_string(), "relu");
  auto gelu = nn::make_activation("gelu(approximate=tanh)", 1);
  const at::Tensor x = at::full({1, 1}, 1.0);
  EXPECT_NEAR(gelu.forward(x).item<float>(),
              0.5 * (1 + std::tanh(std::sqrt(2 / M_PI) * (1 + 0.044715))), 1e-6);
}

// One spelling per activation (issue 20): what records hold and grids and resumes compare.
TEST(Registry, CanonicalSpellingIsOnePerActivation) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"RELU", "relu"},
      {"relu()", "relu"},
      {"eelu(eps=1)", "eelu"},
      {"EELU(beta=1, alpha=1.0, eps=0.60)", "eelu(eps=0.6, alpha=1)"},
      {"eelu(epsilon=0.6, alpha=1, beta=1, schedule=ALWAYS_NOISY)",
       "eelu(eps=0.6, alpha=1, schedule=always_noisy)"},
      {"leaky_relu(slope=0.01)", "lrelu"},
      {"LeakyReLU(slope=1e-1)", "lrelu(slope=0.1)"},
      {"prelu(channelwise)", "prelu"},
      {"prelu(shared=TRUE)", "prelu(shared)"},
      {"rrelu(upper=0.3333333333333333)", "rrelu"},
      {"rrelu(upper=2/7)", "rrelu(upper=0.2857142857142857)"},
      {"lrelu(slope=1e-6)", "lrelu(slope=1e-06)"},
  };
  for (const auto& [spec, canonical] : cases) {
    EXPECT_EQ(nn::canonical_activation(spec), canonical) << spec;
    EXPECT_EQ(nn::canonical_activation(canonical), canonical) << "a fixed point: " << canonical;
    AnyModule typed = nn::make_activation(spec, 3), canon = nn::make_activation(canonical, 3);
    typed.ptr()->eval();
    canon.ptr()->eval();
    const at::Tensor x = at::linspace(-3, 3, 12, at::kFloat).view({2, 3, 2});
    EXPECT_TRUE(at::equal(typed.forward(x), canon.forward(x))) << "the same activation: " << spec;
    for (const auto& p : typed.ptr()->named_parameters()) {
      EXPECT_TRUE(at::equal(p.value(), canon.ptr()->named_parameters()[p.key()])) << spec;
    }
  }
  EXPECT_NE(nn::canonical_activation("eelu(eps=0.6)"), nn::canonical_activation("eelu(eps=0.61)"));
}

void expect_error(const std::string& spec, const std::string& fragment) {
  try {
    nn::make_activation(spec, 4);
    ADD_FAILURE() << spec << ": no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find(fragment), std::string::npos)
        << spec << ": " << e.what_without_backtrace();
  }
}

TEST(Registry, ErrorsListWhatIsValid) {
  expect_error("relux",
               "unknown activation 'relux'; valid: relu, lrelu, prelu, rrelu, erelu, "
               "eprelu, elu, pelu, mpelu, selu, swish, gelu, silu, mish, eelu");
  expect_error("lrelu(sloop=0.1)", "activation 'lrelu' has no setting 'sloop'; valid: slope");
  expect_error("relu(slope=0.1)", "activation 'relu' has no setting 'slope'; it has none");
  expect_error("eelu(foo)", "valid: eps, alpha, beta, schedule, shared, channelwise");
  expect_error("lrelu(slope=abc)", "setting 'slope' must be a finite number, got 'abc'");
  expect_error("lrelu(slope=inf)", "must be a finite number");
  expect_error("lrelu(slope=1/0)", "must be a finite number, got '1/0'");
  expect_error("lrelu(slope=1/x)", "must be a finite number, got '1/x'");
  expect_error("lrelu(slope=1/2/3)", "must be a finite number, got '1/2/3'");
  expect_error("eelu(schedule=sometimes)",
               "setting 'schedule' must be one of alternate, always_noisy, never_noisy");
  expect_error("gelu(approximate=exact)", "must be one of none, tanh");
  expect_error("prelu(shared=maybe)", "is a flag: true or false");
  expect_error("lrelu(slope=0.1, slope=0.2)", "given twice");
  expect_error("lrelu(slope=0.1", "missing ')'");
  expect_error("", "empty activation spec");
  expect_error("eelu(eps=-1)", "epsilon (the noise level) must be a finite number >= 0");
  expect_error("erelu(eps=1.5)", "erelu: epsilon must be in [0, 1]");
  expect_error("rrelu(lower=0.5, upper=0.1)", "need 0 <= lower <= upper");
  expect_error("pelu(a=0.01)", "need a_init, b_init >= min_value > 0");
  try {
    nn::make_activation("prelu", 0);
    ADD_FAILURE() << "channels 0 accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("channels must be >= 1"), std::string::npos);
  }
}

}  // namespace
}  // namespace eelu::test
