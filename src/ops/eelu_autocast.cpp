// The EELU operators under autocast (torch.autocast, the trainer's --amp).
#include <ATen/core/Tensor.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include "eelu/ops.h"

namespace eelu {
namespace {

// Note [EELU under autocast]
// Autocast runs a convolution in bfloat16 or float16 and leaves an activation alone: ELU
// gets the convolution's half-precision output and runs in that dtype. EELU does the same,
// but its kernels take alpha and beta in the input's dtype while the parameters stay
// float32 (the optimiser's master copy). So below the autocast key the parameters are cast
// to the input's dtype for the call; their gradients flow back through the cast to the
// float32 parameters (the kernels sum the per-channel gradients in float, then round once).
// A parameter already in the input's dtype is passed as it is.
at::Tensor like_input(const at::Tensor& param, const at::Tensor& input) {
  if (!input.is_floating_point() || param.scalar_type() == input.scalar_type()) return param;
  return param.to(input.scalar_type());
}

template <c10::DispatchKey kKey>
at::Tensor eelu_autocast(const at::Tensor& input, const at::Tensor& alpha, const at::Tensor& beta,
                         double epsilon, bool training, bool param_grad,
                         c10::optional<at::Generator> generator) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(kKey);
  return eelu::eelu(input, like_input(alpha, input), like_input(beta, input), epsilon, training,
                    param_grad, std::move(generator));
}

template <c10::DispatchKey kKey>
std::tuple<at::Tensor, at::Tensor> eelu_forward_autocast(const at::Tensor& input,
                                                         const at::Tensor& alpha,
                                                         const at::Tensor& beta, double epsilon,
                                                         bool training,
                                                         c10::optional<at::Generator> generator) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(kKey);
  return eelu::eelu_forward(input, like_input(alpha, input), like_input(beta, input), epsilon,
                            training, std::move(generator));
}

template <c10::DispatchKey kKey>
at::Tensor eelu_with_noise_autocast(const at::Tensor& input, const at::Tensor& alpha,
                                    const at::Tensor& beta, double sigma, int64_t seed,
                                    int64_t offset, bool param_grad) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(kKey);
  NoiseState noise;
  noise.sigma = sigma;
  noise.seed = static_cast<uint64_t>(seed);
  noise.offset = static_cast<uint64_t>(offset);
  return eelu::eelu_with_noise(input, like_input(alpha, input), like_input(beta, input), noise,
                               param_grad);
}

TORCH_LIBRARY_IMPL(eelu, AutocastCPU, m) {
  m.impl("eelu", &eelu_autocast<c10::DispatchKey::AutocastCPU>);
  m.impl("eelu_forward", &eelu_forward_autocast<c10::DispatchKey::AutocastCPU>);
  m.impl("eelu_with_noise", &eelu_with_noise_autocast<c10::DispatchKey::AutocastCPU>);
}

TORCH_LIBRARY_IMPL(eelu, AutocastCUDA, m) {
  m.impl("eelu", &eelu_autocast<c10::DispatchKey::AutocastCUDA>);
  m.impl("eelu_forward", &eelu_forward_autocast<c10::DispatchKey::AutocastCUDA>);
  m.impl("eelu_with_noise", &eelu_with_noise_autocast<c10::DispatchKey::AutocastCUDA>);
}

}  // namespace
}  // namespace eelu
