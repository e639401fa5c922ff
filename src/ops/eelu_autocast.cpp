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
// One exception: the CPU kernels have no float16 (CPU autocast in float16, LibTorch 2), so
// there the call computes in float32 and its output is rounded to float16. A tensor already
// in the dtype of the call is passed as it is.
at::ScalarType call_dtype(const at::Tensor& input) {
  const at::ScalarType t = input.scalar_type();
  return input.is_cpu() && t == at::kHalf ? at::kFloat : t;
}

at::Tensor as(const at::Tensor& t, at::ScalarType dtype) {
  return t.scalar_type() == dtype ? t : t.to(dtype);
}

template <c10::DispatchKey kKey>
at::Tensor eelu_autocast(const at::Tensor& input, const at::Tensor& alpha, const at::Tensor& beta,
                         double epsilon, bool training, bool param_grad,
                         c10::optional<at::Generator> generator) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(kKey);
  if (!input.is_floating_point()) {  // refused by the operator's checks, by name
    return eelu::eelu(input, alpha, beta, epsilon, training, param_grad, std::move(generator));
  }
  const at::ScalarType t = call_dtype(input);
  return as(eelu::eelu(as(input, t), as(alpha, t), as(beta, t), epsilon, training, param_grad,
                       std::move(generator)),
            input.scalar_type());
}

template <c10::DispatchKey kKey>
std::tuple<at::Tensor, at::Tensor> eelu_forward_autocast(const at::Tensor& input,
                                                         const at::Tensor& alpha,
                                                         const at::Tensor& beta, double epsilon,
                                                         bool training,
                                                         c10::optional<at::Generator> generator) {
  const c10::impl::ExcludeDispatchKeyGuard no_autocast(kKey);
  if (!input.is_floating_point()) {
    return eelu::eelu_forward(input, alpha, beta, epsilon, training, std::move(generator));
  }
  const at::ScalarType t = call_dtype(input);
  auto [out, state] = eelu::eelu_forward(as(input, t), as(alpha, t), as(beta, t), epsilon, training,
                                         std::move(generator));
  return {as(out, input.scalar_type()), state};
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
  if (!input.is_floating_point())
    return eelu::eelu_with_noise(input, alpha, beta, noise, param_grad);
  const at::ScalarType t = call_dtype(input);
  return as(eelu::eelu_with_noise(as(input, t), as(alpha, t), as(beta, t), noise, param_grad),
            input.scalar_type());
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
