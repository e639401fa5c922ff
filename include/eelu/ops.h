// The EELU operator (Kim, Kim and Kim, "Elastic exponential linear units for convolutional
// neural networks", Neurocomputing 406, 2020):
//
//   EELU(x) = k·x                 x >= 0
//             α·(exp(β·x) − 1)    x <  0        α = max(a, 0), β = max(b, 0)
//
// with k = clamp(N(1, σ²), 0, 2) per element, σ ~ U(0, ε) once per call, during training
// only (k = 1 otherwise). The same operators are reachable as torch.ops.eelu.* from Python
// and TorchScript; see docs/operator.md for the semantics in full.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/util/Optional.h>

#include <array>
#include <cstdint>
#include <string>
#include <tuple>

namespace eelu {

/// What regenerates the noise of one training call: k at logical element index i is a pure
/// function of (sigma, seed, offset, i) through a Philox4x32-10 counter-based generator, so
/// the backward pass recomputes k instead of storing it. sigma == 0 means k = 1 exactly.
struct NoiseState {
  double sigma = 0.0;
  uint64_t seed = 0;
  uint64_t offset = 0;
};

/// Draws σ ~ U(0, ε) and a fresh Philox key from `generator` (LibTorch's default CPU
/// generator when absent), exactly as eelu(..., training=true) does.
NoiseState draw_noise(double epsilon, c10::optional<at::Generator> generator = c10::nullopt);

/// EELU with the module semantics: `training` draws noise from `generator`; `param_grad`
/// false gives alpha and beta zero gradients (the noisy step of the clean/noisy schedule).
/// alpha, beta: shape [1] (shared) or [C] (channel-wise, C = input.size(1)), same dtype and
/// device as the input. Input dtype: float32, float64 or bfloat16; any rank and layout.
at::Tensor eelu(const at::Tensor& input, const at::Tensor& alpha, const at::Tensor& beta,
                double epsilon = 1.0, bool training = false, bool param_grad = true,
                c10::optional<at::Generator> generator = c10::nullopt);

// The forward of eelu and the noise it drew, as a CPU int64 tensor [bits of sigma, seed,
// offset] (Note [The noise state tensor] in src/ops/noise.h): what eelu's autograd node saves,
// and what a traced graph carries from the forward to eelu_backward_state.
std::tuple<at::Tensor, at::Tensor> eelu_forward(
    const at::Tensor& input, const at::Tensor& alpha, const at::Tensor& beta, double epsilon = 1.0,
    bool training = false, c10::optional<at::Generator> generator = c10::nullopt);

// eelu_backward with the noise given as eelu_forward's state tensor.
std::tuple<at::Tensor, at::Tensor, at::Tensor> eelu_backward_state(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& alpha,
    const at::Tensor& beta, const at::Tensor& noise_state,
    std::array<bool, 3> output_mask = {true, true, true});

/// EELU with explicit noise (differentiable in input, alpha and beta).
at::Tensor eelu_with_noise(const at::Tensor& input, const at::Tensor& alpha, const at::Tensor& beta,
                           const NoiseState& noise, bool param_grad = true);

/// The k that a call with this noise uses, materialised with the input's shape: float32 for
/// float32 and bfloat16 inputs, float64 for float64 (k itself is computed in float32).
at::Tensor eelu_noise(const at::Tensor& input, const NoiseState& noise);

/// Gradients of EELU with respect to (input, alpha, beta); k regenerated from `noise`.
/// Entries whose mask is false are undefined tensors.
std::tuple<at::Tensor, at::Tensor, at::Tensor> eelu_backward(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& alpha,
    const at::Tensor& beta, const NoiseState& noise,
    std::array<bool, 3> output_mask = {true, true, true});

/// out= forms of the CPU kernels, for benchmarks and inference: they write into a tensor
/// the caller allocated, which must have the input's shape and dtype (float32 for the k of
/// a float32 or bfloat16 input, float64 for float64) and be dense in the input's memory
/// format. They record no autograd history; inputs must be on the CPU.
at::Tensor& eelu_with_noise_out(at::Tensor& out, const at::Tensor& input, const at::Tensor& alpha,
                                const at::Tensor& beta, const NoiseState& noise);
at::Tensor& eelu_noise_out(at::Tensor& out, const at::Tensor& input, const NoiseState& noise);
/// Writes the input gradient into grad_input; returns the gradients of (alpha, beta) that
/// param_mask asks for (undefined tensors otherwise).
std::tuple<at::Tensor, at::Tensor> eelu_backward_out(
    at::Tensor& grad_input, const at::Tensor& grad_output, const at::Tensor& input,
    const at::Tensor& alpha, const at::Tensor& beta, const NoiseState& noise,
    std::array<bool, 2> param_mask = {true, true});

/// The instruction set the CPU kernels use: "avx2" (AVX2 and FMA, chosen when the CPU has
/// them) or "default" (portable scalar code). Both give bitwise the same results.
const char* cpu_capability();
/// Forces "default" or "avx2" ("" restores the automatic choice); the environment
/// variable EELU_CPU_CAPABILITY sets the initial choice the same way. Throws for a name
/// this library or CPU cannot run.
void set_cpu_capability(const std::string& name);

/// Whether this library was built with its CUDA kernels (-DEELU_WITH_CUDA=ON).
bool has_cuda_kernels();
/// The name of CUDA device `index` as its driver gives it ("NVIDIA H200"); "" without the
/// CUDA kernels.
std::string cuda_device_name(int index);

/// The library's version, "major.minor.patch".
const char* version();

}  // namespace eelu
