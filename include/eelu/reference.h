// EELU written as a plain composite of ATen operations, for checking the fused kernels (and
// anyone's port of them): differentiable through LibTorch's own autograd, slow, and
// holding every intermediate. Not for training.
#pragma once

#include <ATen/core/Tensor.h>

namespace eelu::reference {

/// where(x >= 0, k·x, max(a,0)·(exp(max(b,0)·x) − 1)), with a and b broadcast along dim 1
/// when they have C entries. `k` is a tensor broadcastable to x (the noise a call used, see
/// eelu::eelu_noise) or a 1-element tensor holding 1 for evaluation. The clamp of a and b
/// is straight-through, as in the operator: the gradient reaches a and b whatever their sign.
at::Tensor eelu(const at::Tensor& x, const at::Tensor& a, const at::Tensor& b, const at::Tensor& k);

}  // namespace eelu::reference
