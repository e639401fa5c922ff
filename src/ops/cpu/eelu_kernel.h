// CPU kernels of the EELU operators (registered for the CPU dispatch key).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <tuple>

namespace eelu::cpu {

at::Tensor eelu_forward_cpu(const at::Tensor& input, const at::Tensor& alpha,
                            const at::Tensor& beta, double sigma, int64_t seed, int64_t offset,
                            bool param_grad);

std::tuple<at::Tensor, at::Tensor, at::Tensor> eelu_backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& alpha,
    const at::Tensor& beta, double sigma, int64_t seed, int64_t offset,
    std::array<bool, 3> output_mask);

at::Tensor eelu_noise_cpu(const at::Tensor& input, double sigma, int64_t seed, int64_t offset);

// out= forms (the schema's eelu_with_noise.out, eelu_backward.grad_input, eelu_noise.out:
// arguments in its order, the output last; no autograd, see eelu/ops.h).
at::Tensor& eelu_forward_out_cpu(const at::Tensor& input, const at::Tensor& alpha,
                                 const at::Tensor& beta, double sigma, int64_t seed, int64_t offset,
                                 at::Tensor& out);
std::tuple<at::Tensor, at::Tensor> eelu_backward_out_cpu(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& alpha,
    const at::Tensor& beta, double sigma, int64_t seed, int64_t offset,
    std::array<bool, 2> param_mask, at::Tensor& grad_input);
at::Tensor& eelu_noise_out_cpu(const at::Tensor& input, double sigma, int64_t seed, int64_t offset,
                               at::Tensor& out);

}  // namespace eelu::cpu
