#include "eelu/nn/activations.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/generated/variable_factories.h>

#include <cmath>

#include "eelu/ops.h"
#include "nn/parameters.h"
#include "ops/channel_parameters.h"

namespace eelu::nn {
namespace {

void check_count(const char* who, int64_t n) {
  TORCH_CHECK(n >= 1, who, ": num_parameters must be 1 (shared) or the number of channels, got ",
              n);
}

void check_noise_level(const char* who, double epsilon) {
  TORCH_CHECK(std::isfinite(epsilon) && epsilon >= 0 && epsilon <= 1, who,
              ": epsilon must be in [0, 1] (k ~ U(1 - epsilon, 1 + epsilon) must stay >= 0), got ",
              epsilon);
}

// k ~ U(1 - epsilon, 1 + epsilon) per element, in x's dtype.
at::Tensor uniform_slope(const at::Tensor& x, double epsilon,
                         const c10::optional<at::Generator>& gen) {
  return at::empty_like(x).uniform_(1.0 - epsilon, 1.0 + epsilon, gen);
}

}  // namespace

// --- RReLU ------------------------------------------------------------------------------
RReLUImpl::RReLUImpl(const RReLUOptions& options_) : options(options_) { reset(); }
void RReLUImpl::reset() {
  TORCH_CHECK(std::isfinite(options.lower()) && std::isfinite(options.upper()) &&
                  0 <= options.lower() && options.lower() <= options.upper(),
              "rrelu: need 0 <= lower <= upper, got lower=", options.lower(),
              ", upper=", options.upper());
}
at::Tensor RReLUImpl::forward(const at::Tensor& input) {
  return at::rrelu(input, options.lower(), options.upper(), is_training(), options.generator());
}
void RReLUImpl::pretty_print(std::ostream& s) const {
  s << "eelu::nn::RReLU(lower=" << options.lower() << ", upper=" << options.upper() << ")";
}

// --- EReLU ------------------------------------------------------------------------------
EReLUImpl::EReLUImpl(const EReLUOptions& options_) : options(options_) { reset(); }
void EReLUImpl::reset() { check_noise_level("erelu", options.epsilon()); }
// k·x for x >= 0, 0 below, written as where(x < 0, 0, k·x): its gradient at x = 0 is k (ReLU's
// and, from torch 2.x on, clamp_min's are 0), NaN stays NaN and -inf gives 0.
at::Tensor EReLUImpl::forward(const at::Tensor& input) {
  const at::Tensor zero = at::zeros({}, input.options());
  if (!is_training() || options.epsilon() == 0) return at::where(input < 0, zero, input);
  return at::where(input < 0, zero,
                   input * uniform_slope(input, options.epsilon(), options.generator()));
}
void EReLUImpl::pretty_print(std::ostream& s) const {
  s << "eelu::nn::EReLU(epsilon=" << options.epsilon() << ")";
}

// --- EPReLU -----------------------------------------------------------------------------
EPReLUImpl::EPReLUImpl(const EPReLUOptions& options_) : options(options_) { reset(); }
void EPReLUImpl::reset() {
  check_count("eprelu", options.num_parameters());
  check_noise_level("eprelu", options.epsilon());
  a = register_parameter(
      "a", detail::initial_value(options.num_parameters(), options.init(), options.dtype()));
  noisy_next = register_buffer("noisy_next", torch::ones({}, at::kBool));  // noisy first
}
at::Tensor EPReLUImpl::forward(const at::Tensor& input) {
  const detail::ScheduleStep step =
      detail::next_step(is_training(), options.schedule(), noisy_next);
  const at::Tensor slope =
      detail::per_channel(step.param_grad ? a : detail::zero_grad_through(a), input, "eprelu", "a");
  const at::Tensor negative = slope * input;
  if (!step.noisy) return at::where(input >= 0, input, negative);
  return at::where(input >= 0, uniform_slope(input, options.epsilon(), options.generator()) * input,
                   negative);
}
void EPReLUImpl::pretty_print(std::ostream& s) const {
  s << "eelu::nn::EPReLU(num_parameters=" << options.num_parameters() << ", init=" << options.init()
    << ", epsilon=" << options.epsilon() << ", schedule=" << to_string(options.schedule()) << ")";
}

// --- PELU -------------------------------------------------------------------------------
PELUImpl::PELUImpl(const PELUOptions& options_) : options(options_) { reset(); }
void PELUImpl::reset() {
  check_count("pelu", options.num_parameters());
  TORCH_CHECK(options.min_value() > 0 && options.a_init() >= options.min_value() &&
                  options.b_init() >= options.min_value(),
              "pelu: need a_init, b_init >= min_value > 0, got a=", options.a_init(),
              ", b=", options.b_init(), ", min_value=", options.min_value());
  const int64_t n = options.num_parameters();
  a = register_parameter("a", detail::initial_value(n, options.a_init(), options.dtype()));
  b = register_parameter("b", detail::initial_value(n, options.b_init(), options.dtype()));
}
at::Tensor PELUImpl::forward(const at::Tensor& input) {
  const at::Tensor av =
      detail::per_channel(detail::straight_through_min(a, options.min_value()), input, "pelu", "a");
  const at::Tensor bv =
      detail::per_channel(detail::straight_through_min(b, options.min_value()), input, "pelu", "b");
  // exp of min(x, 0) / b: the discarded branch must not overflow into a NaN gradient.
  const at::Tensor negative = av * at::expm1(input.clamp_max(0) / bv);
  return at::where(input >= 0, (av / bv) * input, negative);
}
void PELUImpl::pretty_print(std::ostream& s) const {
  s << "eelu::nn::PELU(num_parameters=" << options.num_parameters()
    << ", a_init=" << options.a_init() << ", b_init=" << options.b_init()
    << ", min_value=" << options.min_value() << ")";
}

// --- MPELU ------------------------------------------------------------------------------
MPELUImpl::MPELUImpl(const MPELUOptions& options_) : options(options_) { reset(); }
void MPELUImpl::reset() {
  check_count("mpelu", options.num_parameters());
  const int64_t n = options.num_parameters();
  alpha =
      register_parameter("alpha", detail::initial_value(n, options.alpha_init(), options.dtype()));
  beta = register_parameter("beta", detail::initial_value(n, options.beta_init(), options.dtype()));
}
// The published form, alpha and beta unbounded. The value takes expm1 (accurate near 0),
// the gradients exp itself (Note [The gradient takes exp, not expm1 + 1] in
// src/ops/eelu_math.h): exp(t) - exp(t).detach() adds 0 to the value and exp's gradient.
at::Tensor MPELUImpl::forward(const at::Tensor& input) {
  const at::Tensor av = detail::per_channel(alpha, input, "mpelu", "alpha");
  const at::Tensor bv = detail::per_channel(beta, input, "mpelu", "beta");
  // beta * min(x, 0): the branch where() discards must not overflow into a NaN gradient.
  const at::Tensor t = bv * input.clamp_max(0);
  const at::Tensor e = at::exp(t);
  const at::Tensor em1 = at::expm1(t).detach() + (e - e.detach());
  return at::where(input >= 0, input, av * em1);
}
void MPELUImpl::pretty_print(std::ostream& s) const {
  s << "eelu::nn::MPELU(num_parameters=" << options.num_parameters()
    << ", alpha_init=" << options.alpha_init() << ", beta_init=" << options.beta_init() << ")";
}

// --- Swish ------------------------------------------------------------------------------
SwishImpl::SwishImpl(const SwishOptions& options_) : options(options_) { reset(); }
void SwishImpl::reset() {
  check_count("swish", options.num_parameters());
  TORCH_CHECK(std::isfinite(options.beta()), "swish: beta must be finite, got ", options.beta());
  at::Tensor init =
      detail::initial_value(options.num_parameters(), options.beta(), options.dtype());
  beta = options.trainable() ? register_parameter("beta", init) : register_buffer("beta", init);
}
at::Tensor SwishImpl::forward(const at::Tensor& input) {
  return input * at::sigmoid(detail::per_channel(beta, input, "swish", "beta") * input);
}
void SwishImpl::pretty_print(std::ostream& s) const {
  s << "eelu::nn::Swish(num_parameters=" << options.num_parameters() << ", beta=" << options.beta()
    << ", trainable=" << (options.trainable() ? "true" : "false") << ")";
}

// --- Mish -------------------------------------------------------------------------------
at::Tensor MishImpl::forward(const at::Tensor& input) { return at::mish(input); }
void MishImpl::pretty_print(std::ostream& s) const { s << "eelu::nn::Mish()"; }

}  // namespace eelu::nn
