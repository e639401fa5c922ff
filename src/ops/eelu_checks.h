// Argument checks shared by every entry point of the operator, so that a bad call gets the
// same clear message whether it comes from C++, Python or TorchScript.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "eelu/ops.h"

namespace eelu::detail {

// input: float32, float64 or bfloat16; alpha, beta: 1-D with 1 or C = input.size(1)
// entries (C exists only for inputs of rank >= 2), same dtype and device as the input.
void check_inputs(const at::Tensor& input, const at::Tensor& alpha, const at::Tensor& beta);
void check_input(const at::Tensor& input);
void check_epsilon(double epsilon);
void check_sigma(double sigma);

}  // namespace eelu::detail
