// Autograd for eelu (saves the input, alpha, beta and eelu_forward's noise state tensor) and
// for eelu_with_noise (the same with the noise's three numbers); never k. Both call the fused
// backward below autograd.
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

// Note [Zero parameter gradients on noisy steps]
// With param_grad false (the noisy step of the clean/noisy schedule) alpha and beta get a
// gradient of zeros, not none: the optimiser then treats them as on any other step (momentum
// and weight decay still apply), as in the reference implementation.
//
// The backward of both nodes below: the mask of what is needed, the fused backward (given as
// `fused(mask)`), zeros for alpha and beta on a noisy step, nothing for the other arguments.
template <typename Fused>
variable_list eelu_gradients(AutogradContext* ctx, const at::Tensor& grad_output,
                             const at::Tensor& alpha, const at::Tensor& beta, Fused fused) {
  const bool param_grad = ctx->saved_data["param_grad"].toBool();
  const std::array<bool, 3> mask = {ctx->needs_input_grad(0),
                                    param_grad && ctx->needs_input_grad(1),
                                    param_grad && ctx->needs_input_grad(2)};
  at::Tensor grad_input, grad_alpha, grad_beta;
  if (grad_output.defined() && (mask[0] || mask[1] || mask[2])) {
    std::tie(grad_input, grad_alpha, grad_beta) = fused(mask);
  }
  if (!param_grad || !grad_output.defined()) {
    if (ctx->needs_input_grad(1)) grad_alpha = at::zeros_like(alpha);
    if (ctx->needs_input_grad(2)) grad_beta = at::zeros_like(beta);
  }
  return {grad_input,   grad_alpha,   grad_beta,   at::Tensor(),
          at::Tensor(), at::Tensor(), at::Tensor()};
}

class EELUFunction : public torch::autograd::Function<EELUFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& alpha,
                            const at::Tensor& beta, double sigma, int64_t seed, int64_t offset,
                            bool param_grad) {
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

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const NoiseState noise{ctx->saved_data["sigma"].toDouble(),
                           static_cast<uint64_t>(ctx->saved_data["seed"].toInt()),
                           static_cast<uint64_t>(ctx->saved_data["offset"].toInt())};
    return eelu_gradients(ctx, grad_outputs[0], saved[1], saved[2], [&](std::array<bool, 3> mask) {
      return eelu_backward(grad_outputs[0], saved[0], saved[1], saved[2], noise, mask);
    });
  }
};

// The same node for eelu, over eelu_forward: the noise is drawn by an operator below autograd
// and saved as its state tensor, so that a graph traced through this node (AOTAutograd) draws
// on every call and hands the state to eelu_backward_state (Note [The EELU operators]).
class EELUDrawFunction : public torch::autograd::Function<EELUDrawFunction> {
 public:
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& alpha,
                            const at::Tensor& beta, double epsilon, bool training, bool param_grad,
                            c10::optional<at::Generator> generator) {
    at::AutoDispatchBelowADInplaceOrView guard;
    auto [out, noise_state] =
        eelu_forward(input, alpha, beta, epsilon, training, std::move(generator));
    ctx->save_for_backward({input, alpha, beta, noise_state});
    ctx->saved_data["param_grad"] = param_grad;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    return eelu_gradients(ctx, grad_outputs[0], saved[1], saved[2], [&](std::array<bool, 3> mask) {
      return eelu_backward_state(grad_outputs[0], saved[0], saved[1], saved[2], saved[3], mask);
    });
  }
};

at::Tensor eelu_with_noise_autograd(const at::Tensor& input, const at::Tensor& alpha,
                                    const at::Tensor& beta, double sigma, int64_t seed,
                                    int64_t offset, bool param_grad) {
  return EELUFunction::apply(input, alpha, beta, sigma, seed, offset, param_grad);
}

at::Tensor eelu_autograd(const at::Tensor& input, const at::Tensor& alpha, const at::Tensor& beta,
                         double epsilon, bool training, bool param_grad,
                         c10::optional<at::Generator> generator) {
  return EELUDrawFunction::apply(input, alpha, beta, epsilon, training, param_grad,
                                 std::move(generator));
}

TORCH_LIBRARY_IMPL(eelu, Autograd, m) {
  m.impl("eelu", &eelu_autograd);
  m.impl("eelu_with_noise", &eelu_with_noise_autograd);
  m.impl("eelu_forward", torch::autograd::autogradNotImplementedFallback());
  m.impl("eelu_backward", torch::autograd::autogradNotImplementedFallback());
  m.impl("eelu_backward_state", torch::autograd::autogradNotImplementedFallback());
}

}  // namespace
}  // namespace eelu
