#include "nn/parameters.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace eelu::detail {

at::Tensor straight_through_min(const at::Tensor& p, double bound) {
  return p + (p.clamp_min(bound) - p).detach();
}

at::Tensor per_channel(const at::Tensor& p, const at::Tensor& x, const char* who,
                       const char* param) {
  if (p.numel() == 1) return p;
  TORCH_CHECK(x.dim() >= 2 && x.size(1) == p.numel(), who, ": ", param, " has ", p.numel(),
              " entries (one per channel) but the input ", x.sizes(),
              x.dim() >= 2 ? " has a different number of channels (dim 1)"
                           : " has no channel dim");
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[1] = p.numel();
  return p.reshape(shape);
}

ScheduleStep next_step(bool training, nn::Schedule schedule, at::Tensor& noisy_next) {
  ScheduleStep step;
  if (!training) return step;
  switch (schedule) {
    case nn::Schedule::alternate: {
      step.noisy = noisy_next.item<double>() != 0.0;
      step.param_grad = !step.noisy;
      at::NoGradGuard no_grad;
      noisy_next.fill_(step.noisy ? 0 : 1);
      break;
    }
    case nn::Schedule::always_noisy:
      step.noisy = true;
      break;
    case nn::Schedule::never_noisy:
      break;
  }
  return step;
}

at::Tensor initial_value(int64_t n, double value, c10::optional<at::ScalarType> dtype) {
  return at::full({n}, value, at::TensorOptions().dtype(dtype));
}

at::Tensor zero_grad_through(const at::Tensor& p) { return p.detach() + p * 0; }

}  // namespace eelu::detail
