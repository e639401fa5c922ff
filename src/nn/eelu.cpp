#include "eelu/nn/eelu.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/generated/variable_factories.h>

#include "eelu/ops.h"
#include "nn/parameters.h"

namespace eelu::nn {

std::string to_string(Schedule schedule) {
  switch (schedule) {
    case Schedule::alternate:
      return "alternate";
    case Schedule::always_noisy:
      return "always_noisy";
    case Schedule::never_noisy:
      return "never_noisy";
  }
  TORCH_CHECK(false, "eelu: unknown schedule value ", static_cast<int>(schedule));
}

Schedule parse_schedule(const std::string& name) {
  for (Schedule s : {Schedule::alternate, Schedule::always_noisy, Schedule::never_noisy}) {
    if (name == to_string(s)) return s;
  }
  TORCH_CHECK(false, "eelu: unknown schedule '", name,
              "'; valid: alternate, always_noisy, never_noisy");
}

EELUImpl::EELUImpl(const EELUOptions& options_) : options(options_) { reset(); }

void EELUImpl::reset() {
  TORCH_CHECK(options.num_parameters() >= 1,
              "eelu: num_parameters must be 1 (shared) or the number of channels, got ",
              options.num_parameters());
  TORCH_CHECK(std::isfinite(options.epsilon()) && options.epsilon() >= 0,
              "eelu: epsilon (the noise level) must be a finite number >= 0, got ",
              options.epsilon());
  TORCH_CHECK(std::isfinite(options.alpha_init()) && std::isfinite(options.beta_init()),
              "eelu: alpha_init and beta_init must be finite, got ", options.alpha_init(), " and ",
              options.beta_init());
  const int64_t n = options.num_parameters();
  alpha =
      register_parameter("alpha", detail::initial_value(n, options.alpha_init(), options.dtype()));
  beta = register_parameter("beta", detail::initial_value(n, options.beta_init(), options.dtype()));
  noisy_next = register_buffer("noisy_next", torch::ones({}, at::kBool));  // noisy first
}

// Note [The training schedule]
// eval: k = 1, no generator draw. Training with
//   alternate     calls alternate noisy (k sampled, alpha and beta get zero gradients) and
//                 clean (k = 1, alpha and beta learn), starting noisy, as the authors' code
//                 does; the phase lives in the buffer `noisy_next`, so it is saved and
//                 restored with the module. Only a training call moves it (the authors' code
//                 also flips it on evaluation calls, which looks unintended: not copied).
//   always_noisy  k sampled and alpha, beta learn on every call;
//   never_noisy   k = 1 on every call (MPELU).
// `noisy_next` is read as "!= 0" because Module::to(dtype) converts buffers too.
at::Tensor EELUImpl::forward(const at::Tensor& input) {
  const detail::ScheduleStep step =
      detail::next_step(is_training(), options.schedule(), noisy_next);
  return eelu::eelu(input, alpha, beta, options.epsilon(), step.noisy, step.param_grad,
                    options.generator());
}

void EELUImpl::pretty_print(std::ostream& stream) const {
  stream << "eelu::nn::EELU(num_parameters=" << options.num_parameters()
         << ", alpha_init=" << options.alpha_init() << ", beta_init=" << options.beta_init()
         << ", epsilon=" << options.epsilon() << ", schedule=" << to_string(options.schedule())
         << ")";
}

namespace functional {

at::Tensor eelu(const at::Tensor& input, const at::Tensor& alpha, const at::Tensor& beta,
                const EELUFuncOptions& options) {
  return eelu::eelu(input, alpha, beta, options.epsilon(), options.training(), options.param_grad(),
                    options.generator());
}

}  // namespace functional
}  // namespace eelu::nn
