// Helpers for activations with trainable parameters and training schedules.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>

#include "eelu/nn/eelu.h"

namespace eelu::detail {

/// max(p, bound) in the forward, identity in the backward: the gradient reaches the raw
/// parameter whatever its value (the rule the spec gives for EELU's clamp at 0).
at::Tensor straight_through_min(const at::Tensor& p, double bound);

/// p (shape [1] or [C]) shaped to broadcast against x: [1] as it is, [C] as [1, C, 1, ...]
/// when C = x.size(1). Any other shape is an error naming `who` and the parameter.
at::Tensor per_channel(const at::Tensor& p, const at::Tensor& x, const char* who,
                       const char* param);

/// What a forward call does under a schedule (Note [The training schedule] in
/// src/nn/eelu.cpp); moves the phase held in `noisy_next` on alternating training calls.
struct ScheduleStep {
  bool noisy = false;
  bool param_grad = true;
};
ScheduleStep next_step(bool training, nn::Schedule schedule, at::Tensor& noisy_next);

/// A parameter's initial value: n entries of `value`, made in `dtype` (the default dtype when
/// absent), so that 0.1 is 0.1 in float64 and not float32's 0.100000001.
at::Tensor initial_value(int64_t n, double value, c10::optional<at::ScalarType> dtype);

/// p unchanged in the forward, with a zero gradient in the backward (a tensor of zeros,
/// not none): the parameter sits out a noisy step but the optimiser still sees it.
at::Tensor zero_grad_through(const at::Tensor& p);

}  // namespace eelu::detail
