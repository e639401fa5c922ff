// Parameters of shape [1] (shared) or [C] (one per channel, dim 1 of the input) against an
// input: the broadcasting and the clamp with a straight-through gradient. The operator's
// float64 reference uses them, and so do the modules of src/nn (which may use the operator
// layer; the operator layer knows nothing of the modules).
#pragma once

#include <ATen/core/Tensor.h>

namespace eelu::detail {

/// max(p, bound) in the forward, identity in the backward: the gradient reaches the raw
/// parameter whatever its value (the rule the spec gives for EELU's clamp at 0).
at::Tensor straight_through_min(const at::Tensor& p, double bound);

/// p (shape [1] or [C]) shaped to broadcast against x: [1] as it is, [C] as [1, C, 1, ...]
/// when C = x.size(1). Any other shape is an error naming `who` and the parameter.
at::Tensor per_channel(const at::Tensor& p, const at::Tensor& x, const char* who,
                       const char* param);

}  // namespace eelu::detail
