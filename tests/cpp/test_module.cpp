// eelu::nn::EELU: parameters, schedules, eval determinism, save/load, the functional form.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/serialize.h>

#include <cstdio>

#include "common.h"
#include "eelu/nn/eelu.h"
#include "eelu/reference.h"

namespace eelu::test {
namespace {

using eelu::nn::EELU;
using eelu::nn::EELUOptions;
using eelu::nn::Schedule;

TEST(Module, DefaultsAndNames) {
  EELU m;
  auto params = m->named_parameters();
  ASSERT_EQ(params.size(), 2u);
  ASSERT_TRUE(params.contains("alpha"));
  ASSERT_TRUE(params.contains("beta"));
  EXPECT_TRUE(at::equal(m->alpha, at::full({1}, 0.25)));
  EXPECT_TRUE(at::equal(m->beta, at::full({1}, 1.0)));
  EXPECT_EQ(m->options.epsilon(), 1.0);
  EXPECT_EQ(m->options.schedule(), Schedule::alternate);
  EXPECT_TRUE(m->named_buffers().contains("noisy_next"));

  EELU cw(EELUOptions(16).alpha_init(1).beta_init(1).epsilon(0.6));
  EXPECT_EQ(cw->alpha.sizes(), at::IntArrayRef({16}));
  EXPECT_TRUE(at::equal(cw->alpha, at::ones({16})));
  std::ostringstream s;
  s << *cw;
  EXPECT_EQ(s.str(),
            "eelu::nn::EELU(num_parameters=16, alpha_init=1, beta_init=1, epsilon=0.6, "
            "schedule=alternate)");
}

TEST(Module, EvalIsDeterministicAndEqualsKOne) {
  EELU m(EELUOptions(3).alpha_init(0.8).beta_init(1.5));
  m->eval();
  const at::Tensor x = test_input({4, 3, 6, 6}, 1).to(at::kFloat);
  const at::Tensor y1 = m->forward(x), y2 = m->forward(x);
  EXPECT_TRUE(at::equal(y1, y2));
  EXPECT_TRUE(close(y1, reference::eelu(x, m->alpha, m->beta, at::ones({1})), 1e-6, 1e-7));
}

// Returns (output, alpha.grad, beta.grad) of one training step of sum(y * w).
std::vector<at::Tensor> step(EELU& m, const at::Tensor& x) {
  m->zero_grad();
  at::Tensor y = m->forward(x);
  (y * at::linspace(-1, 1, y.numel()).view(y.sizes())).sum().backward();
  return {y.detach(), m->alpha.grad().clone(), m->beta.grad().clone()};
}

TEST(Module, AlternateScheduleNoisyThenClean) {
  EELU m(EELUOptions(3).alpha_init(0.8).beta_init(1.5).epsilon(1.0));
  const at::Tensor x = test_input({4, 3, 6, 6}, 2).to(at::kFloat);
  const at::Tensor clean = reference::eelu(x, m->alpha, m->beta, at::ones({1})).detach();
  at::manual_seed(1);
  for (int call = 0; call < 4; ++call) {
    const auto r = step(m, x);
    if (call % 2 == 1) {  // clean: k = 1, parameters learn
      EXPECT_TRUE(close(r[0], clean, 1e-6, 1e-7)) << "call " << call;
      EXPECT_GT(max_abs(r[1]), 0.0) << "call " << call;
      EXPECT_GT(max_abs(r[2]), 0.0) << "call " << call;
    } else {  // noisy: k sampled, zero gradients for alpha and beta
      EXPECT_FALSE(at::equal(r[0], clean)) << "call " << call;
      EXPECT_TRUE(at::equal(r[1], at::zeros({3}))) << "call " << call;
      EXPECT_TRUE(at::equal(r[2], at::zeros({3}))) << "call " << call;
    }
  }
  // Evaluation does not move the phase.
  m->eval();
  m->forward(x);
  m->train();
  EXPECT_FALSE(at::equal(step(m, x)[0], clean)) << "the fifth call is noisy";
}

TEST(Module, AlwaysAndNeverNoisy) {
  const at::Tensor x = test_input({4, 3, 6, 6}, 3).to(at::kFloat);
  EELU always(EELUOptions(3).schedule(Schedule::always_noisy));
  EELU never(EELUOptions(3).schedule(Schedule::never_noisy));
  const at::Tensor clean = reference::eelu(x, always->alpha, always->beta, at::ones({1})).detach();
  at::manual_seed(2);
  for (int call = 0; call < 3; ++call) {
    const auto r = step(always, x);
    EXPECT_GT(max_abs(r[0] - clean), 1e-3);
    EXPECT_GT(max_abs(r[1]), 0.0);
    const auto n = step(never, x);
    EXPECT_TRUE(close(n[0], clean, 1e-6, 1e-7));
    EXPECT_GT(max_abs(n[1]), 0.0);
  }
}

TEST(Module, GeneratorOptionMakesNoiseReproducible) {
  const at::Tensor x = test_input({2, 3, 5, 5}, 4).to(at::kFloat);
  auto make = [] {
    return EELU(EELUOptions(3)
                    .schedule(Schedule::always_noisy)
                    .generator(at::make_generator<at::CPUGeneratorImpl>(31)));
  };
  EELU m1 = make(), m2 = make();
  at::manual_seed(1);
  const at::Tensor y1 = m1->forward(x);
  at::manual_seed(2);  // the default generator plays no part
  const at::Tensor y2 = m2->forward(x);
  EXPECT_TRUE(at::equal(y1, y2));
}

TEST(Module, SaveAndLoad) {
  EELU m(EELUOptions(5).alpha_init(0.3).beta_init(0.9));
  {
    torch::NoGradGuard no_grad;
    m->alpha.copy_(at::linspace(-0.1, 0.9, 5));
    m->beta.copy_(at::linspace(2.0, 0.5, 5));
  }
  m->forward(at::randn({2, 5, 3}));  // moves the alternation phase to "clean next"
  const std::string path = ::testing::TempDir() + "/eelu_module.pt";
  torch::save(m, path);
  EELU loaded(EELUOptions(5));
  torch::load(loaded, path);
  std::remove(path.c_str());
  EXPECT_TRUE(at::equal(loaded->alpha, m->alpha));
  EXPECT_TRUE(at::equal(loaded->beta, m->beta));
  EXPECT_EQ(loaded->noisy_next.item<bool>(), false);
  loaded->eval();
  m->eval();
  const at::Tensor x = at::randn({2, 5, 3});
  EXPECT_TRUE(at::equal(loaded->forward(x), m->forward(x)));
}

TEST(Module, CloneAndDtypeConversion) {
  EELU m(EELUOptions(2));
  auto copy = std::dynamic_pointer_cast<eelu::nn::EELUImpl>(m->clone());
  ASSERT_TRUE(copy);
  EXPECT_TRUE(at::equal(copy->alpha, m->alpha));
  EXPECT_NE(copy->alpha.data_ptr(), m->alpha.data_ptr());
  m->to(at::kDouble);
  EXPECT_EQ(m->alpha.scalar_type(), at::kDouble);
  // The phase buffer is converted too; the schedule still alternates.
  const at::Tensor x = test_input({3, 2, 4}, 6);
  m->forward(x);  // noisy
  const at::Tensor clean = m->forward(x).detach();
  EXPECT_FALSE(at::equal(m->forward(x), clean));
  EXPECT_TRUE(at::equal(m->forward(x), clean));
}

TEST(Module, FunctionalMatchesModule) {
  EELU m(EELUOptions(3).epsilon(0.6).schedule(Schedule::always_noisy));
  const at::Tensor x = test_input({2, 3, 4, 4}, 7).to(at::kFloat);
  at::manual_seed(8);
  const at::Tensor ym = m->forward(x);
  at::manual_seed(8);
  namespace F = eelu::nn::functional;
  const at::Tensor yf =
      F::eelu(x, m->alpha, m->beta, F::EELUFuncOptions().epsilon(0.6).training(true));
  EXPECT_TRUE(at::equal(ym, yf));
}

TEST(Module, ScheduleNames) {
  for (Schedule s : {Schedule::alternate, Schedule::always_noisy, Schedule::never_noisy}) {
    EXPECT_EQ(eelu::nn::parse_schedule(eelu::nn::to_string(s)), s);
  }
  try {
    eelu::nn::parse_schedule("sometimes");
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("valid: alternate, always_noisy, never_noisy"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace eelu::test
