#include "nn/parameters.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace eelu::detail {

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
