// CPU kernels of the EELU operators (registered for the CPU dispatch key).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <string>
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

// out= forms (no autograd; see eelu/ops.h).
at::Tensor& eelu_forward_out_cpu(at::Tensor& out, const at::Tensor& input,
                                 const at::Tensor& alpha, const at::Tensor& beta,
                                 double sigma, int64_t seed, int64_t offset);
std::tuple<at::Tensor, at::Tensor> eelu_backward_out_cpu(
    at::Tensor& grad_input, const at::Tensor& grad_output, const at::Tensor& input,
    const at::Tensor& alpha, const at::Tensor& beta, double sigma, int64_t seed,
    int64_t offset, std::array<bool, 2> param_mask);
at::Tensor& eelu_noise_out_cpu(at::Tensor& out, const at::Tensor& input, double sigma,
                               int64_t seed, int64_t offset);

const char* cpu_capability();
void set_cpu_capability(const std::string& name);

}  // namespace eelu::cpu
