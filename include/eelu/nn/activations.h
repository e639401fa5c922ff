// The activations EELU is compared with (../shared/spec/eelu.md, "The activations it is
// compared with"), written where LibTorch has no exact built-in. Each documents f(x), f'(x)
// and its paper. Per-channel parameters act along dim 1 of an (N, C, ...) input.
#pragma once

#include <ATen/core/Generator.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <ostream>

#include "eelu/nn/eelu.h"

namespace eelu::nn {

// ---------------------------------------------------------------------------------------
/// RReLU (Xu et al., "Empirical evaluation of rectified activations in convolutional
/// network", 2015): f(x) = x (x >= 0), r·x (x < 0); training r ~ U(lower, upper) per
/// element, eval r = (lower + upper) / 2. f'(x) = 1 or r. LibTorch's kernel (at::rrelu),
/// with the noise from `generator`.
struct RReLUOptions {
  TORCH_ARG(double, lower) = 1.0 / 8.0;
  TORCH_ARG(double, upper) = 1.0 / 3.0;
  TORCH_ARG(c10::optional<at::Generator>, generator) = c10::nullopt;
};
class RReLUImpl : public torch::nn::Cloneable<RReLUImpl> {
 public:
  explicit RReLUImpl(const RReLUOptions& options_ = {});
  at::Tensor forward(const at::Tensor& input);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  RReLUOptions options;
};
TORCH_MODULE(RReLU);

// ---------------------------------------------------------------------------------------
/// EReLU, elastic ReLU (Jiang et al., "Deep neural networks with elastic rectified linear
/// units for object recognition", Neurocomputing 275, 2018): f(x) = k·x (x >= 0), 0 (x < 0);
/// training k ~ U(1 − ε, 1 + ε) per element, eval k = 1. f'(x) = k (x >= 0: k at 0 too, as
/// the definition and the authors' code give, unlike ReLU's 0), 0 (x < 0).
struct EReLUOptions {
  TORCH_ARG(double, epsilon) = 0.4;
  TORCH_ARG(c10::optional<at::Generator>, generator) = c10::nullopt;
};
class EReLUImpl : public torch::nn::Cloneable<EReLUImpl> {
 public:
  explicit EReLUImpl(const EReLUOptions& options_ = {});
  at::Tensor forward(const at::Tensor& input);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  EReLUOptions options;
};
TORCH_MODULE(EReLU);

// ---------------------------------------------------------------------------------------
/// EPReLU, elastic parametric ReLU (Jiang et al. 2018): f(x) = k·x (x >= 0), a·x (x < 0);
/// k as EReLU, a trainable; the clean/noisy alternation of EELU (`schedule`): on noisy
/// calls a receives a zero gradient. f'(x) = k or a; ∂f/∂a = x (x < 0).
struct EPReLUOptions {
  /* implicit */ EPReLUOptions(int64_t num_parameters = 1) : num_parameters_(num_parameters) {}
  TORCH_ARG(int64_t, num_parameters);
  TORCH_ARG(double, init) = 0.1;
  TORCH_ARG(double, epsilon) = 0.4;
  TORCH_ARG(Schedule, schedule) = Schedule::alternate;
  /// The parameters' dtype, in which their initial values are made exactly (LibTorch's
  /// default dtype when absent; Module::to converts the float32 values instead).
  TORCH_ARG(c10::optional<at::ScalarType>, dtype) = c10::nullopt;
  TORCH_ARG(c10::optional<at::Generator>, generator) = c10::nullopt;
};
class EPReLUImpl : public torch::nn::Cloneable<EPReLUImpl> {
 public:
  explicit EPReLUImpl(const EPReLUOptions& options_ = {});
  at::Tensor forward(const at::Tensor& input);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  EPReLUOptions options;
  at::Tensor a;
  at::Tensor noisy_next;
};
TORCH_MODULE(EPReLU);

// ---------------------------------------------------------------------------------------
/// PELU, parametric ELU (Trottier et al., "Parametric exponential linear unit for deep
/// convolutional neural networks", ICMLA 2017): f(x) = (a/b)·x (x >= 0), a·(exp(x/b) − 1)
/// (x < 0), a, b trainable and kept >= `min_value` (0.1): the module uses max(a, 0.1) and
/// max(b, 0.1), with the gradient passed straight through to the raw parameter as EELU does,
/// so a parameter pushed below the bound can come back. f'(x) = a/b or (a/b)·exp(x/b);
/// ∂f/∂a = x/b or exp(x/b) − 1; ∂f/∂b = −a·x/b² or −a·x·exp(x/b)/b².
struct PELUOptions {
  /* implicit */ PELUOptions(int64_t num_parameters = 1) : num_parameters_(num_parameters) {}
  TORCH_ARG(int64_t, num_parameters);
  TORCH_ARG(double, a_init) = 1.0;
  TORCH_ARG(double, b_init) = 1.0;
  TORCH_ARG(double, min_value) = 0.1;
  /// The parameters' dtype, in which their initial values are made exactly (LibTorch's
  /// default dtype when absent; Module::to converts the float32 values instead).
  TORCH_ARG(c10::optional<at::ScalarType>, dtype) = c10::nullopt;
};
class PELUImpl : public torch::nn::Cloneable<PELUImpl> {
 public:
  explicit PELUImpl(const PELUOptions& options_ = {});
  at::Tensor forward(const at::Tensor& input);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  PELUOptions options;
  at::Tensor a;
  at::Tensor b;
};
TORCH_MODULE(PELU);

// ---------------------------------------------------------------------------------------
/// MPELU, multiple parametric ELU (Li, Fan and Yang, "Improving deep neural network with
/// multiple parametric exponential linear units", Neurocomputing 301, 2018): f(x) = x
/// (x >= 0), α·(exp(β·x) − 1) (x < 0), α, β trainable and unbounded, as published (EELU,
/// which clamps its α and β at 0, is not used). f'(x) = 1 or α·β·exp(β·x);
/// ∂f/∂α = exp(β·x) − 1, ∂f/∂β = α·x·exp(β·x) (x < 0).
struct MPELUOptions {
  /* implicit */ MPELUOptions(int64_t num_parameters = 1) : num_parameters_(num_parameters) {}
  TORCH_ARG(int64_t, num_parameters);
  TORCH_ARG(double, alpha_init) = 0.25;
  TORCH_ARG(double, beta_init) = 1.0;
  /// The parameters' dtype, in which their initial values are made exactly (LibTorch's
  /// default dtype when absent; Module::to converts the float32 values instead).
  TORCH_ARG(c10::optional<at::ScalarType>, dtype) = c10::nullopt;
};
class MPELUImpl : public torch::nn::Cloneable<MPELUImpl> {
 public:
  explicit MPELUImpl(const MPELUOptions& options_ = {});
  at::Tensor forward(const at::Tensor& input);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  MPELUOptions options;
  at::Tensor alpha;
  at::Tensor beta;
};
TORCH_MODULE(MPELU);

// ---------------------------------------------------------------------------------------
/// Swish (Ramachandran, Zoph and Le, "Searching for activation functions", 2017):
/// f(x) = x·sigmoid(β·x); β fixed or trainable (shared or per channel). With s = sigmoid(βx):
/// f'(x) = s + β·x·s·(1 − s); ∂f/∂β = x²·s·(1 − s).
struct SwishOptions {
  /* implicit */ SwishOptions(int64_t num_parameters = 1) : num_parameters_(num_parameters) {}
  TORCH_ARG(int64_t, num_parameters);
  TORCH_ARG(double, beta) = 1.0;
  TORCH_ARG(bool, trainable) = false;
  /// The parameters' dtype, in which their initial values are made exactly (LibTorch's
  /// default dtype when absent; Module::to converts the float32 values instead).
  TORCH_ARG(c10::optional<at::ScalarType>, dtype) = c10::nullopt;
};
class SwishImpl : public torch::nn::Cloneable<SwishImpl> {
 public:
  explicit SwishImpl(const SwishOptions& options_ = {});
  at::Tensor forward(const at::Tensor& input);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  SwishOptions options;
  at::Tensor beta;  // a parameter when trainable, a buffer otherwise
};
TORCH_MODULE(Swish);

// ---------------------------------------------------------------------------------------
/// Mish (Misra, "Mish: a self regularized non-monotonic activation function", 2019):
/// f(x) = x·tanh(softplus(x)). LibTorch's kernel (at::mish); the C++ API has no module.
class MishImpl : public torch::nn::Cloneable<MishImpl> {
 public:
  MishImpl() = default;
  at::Tensor forward(const at::Tensor& input);
  void reset() override {}
  void pretty_print(std::ostream& stream) const override;
};
TORCH_MODULE(Mish);

}  // namespace eelu::nn
