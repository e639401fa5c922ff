// Helpers for activations with trainable parameters and training schedules (the shapes of
// per-channel parameters: ops/channel_parameters.h).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>

#include "eelu/nn/eelu.h"

namespace eelu::detail {

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
