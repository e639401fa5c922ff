// Autograd for eelu_with_noise: saves the input, alpha, beta and the noise's three numbers
// (never k) and calls the fused backward below autograd.
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/zeros_like.h>
#include <torch/csrc/autograd/autograd_not_implemented_fallback.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

#include "eelu/ops.h"

namespace eelu {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class EELUFunction : public torch::autograd::Function<EELUFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input,
                            const at::Tensor& alpha, const at::Tensor& beta, double sigma,
                            int64_t seed, int64_t offset, bool param_grad) {
    at::AutoDispatchBelowADInplaceOrView guard;
    const NoiseState noise{sigma, static_cast<uint64_t>(seed), static_cast<uint64_t>(offset)};
    at::Tensor out = eelu_with_noise(input, alpha, beta, noise, param_grad);
    ctx->save_for_backward({input, alpha, beta});
    ctx->saved_data["sigma"] = sigma;
    ctx->saved_data["seed"] = seed;
    ctx->saved_data["offset"] = offset;
    ctx->saved_data["param_grad"] = param_grad;
    return out;
  }

  // Note [Zero parameter gradients on noisy steps]
  // With param_grad false (the noisy step of the clean/noisy schedule) alpha and beta get a
  // gradient of zeros, not none: the optimiser then treats them as on any other step (momentum
  // and weight decay still apply), as in the reference implementation.
  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& input = saved[0];
    const at::Tensor& alpha = saved[1];
    const at::Tensor& beta = saved[2];
    const bool param_grad = ctx->saved_data["param_grad"].toBool();
    const NoiseState noise{ctx->saved_data["sigma"].toDouble(),
                           static_cast<uint64_t>(ctx->saved_data["seed"].toInt()),
                           static_cast<uint64_t>(ctx->saved_data["offset"].toInt())};
    const std::array<bool, 3> mask = {ctx->needs_input_grad(0),
                                      param_grad && ctx->needs_input_grad(1),
                                      param_grad && ctx->needs_input_grad(2)};
    at::Tensor grad_input, grad_alpha, grad_beta;
    if (grad_outputs[0].defined() && (mask[0] || mask[1] || mask[2])) {
      std::tie(grad_input, grad_alpha, grad_beta) =
          eelu_backward(grad_outputs[0], input, alpha, beta, noise, mask);
    }
    if (!param_grad || !grad_outputs[0].defined()) {
      if (ctx->needs_input_grad(1)) grad_alpha = at::zeros_like(alpha);
      if (ctx->needs_input_grad(2)) grad_beta = at::zeros_like(beta);
    }
    return {grad_input, grad_alpha, grad_beta, at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

at::Tensor eelu_with_noise_autograd(const at::Tensor& input, const at::Tensor& alpha,
                                    const at::Tensor& beta, double sigma, int64_t seed,
                                    int64_t offset, bool param_grad) {
  return EELUFunction::apply(input, alpha, beta, sigma, seed, offset, param_grad);
}

TORCH_LIBRARY_IMPL(eelu, Autograd, m) {
  m.impl("eelu_with_noise", &eelu_with_noise_autograd);
  m.impl("eelu_backward", torch::autograd::autogradNotImplementedFallback());
}

}  // namespace
}  // namespace eelu
