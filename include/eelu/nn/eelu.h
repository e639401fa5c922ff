// EELU as a LibTorch module, with its options builder and functional form.
#pragma once

#include <ATen/core/Generator.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>
#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <ostream>
#include <string>

namespace eelu::nn {

/// When a training forward uses noise (Note [The training schedule] in src/nn/eelu.cpp).
enum class Schedule {
  alternate,     ///< the paper's method: noisy and clean calls alternate, noisy first
  always_noisy,  ///< noise on every training call, alpha and beta learn on every call
  never_noisy,   ///< no noise (k = 1): EELU without noise equals MPELU
};

/// "alternate", "always_noisy", "never_noisy".
std::string to_string(Schedule schedule);
/// The inverse of to_string; an unknown name is an error that lists the valid ones.
Schedule parse_schedule(const std::string& name);

struct EELUOptions {
  /* implicit */ EELUOptions(int64_t num_parameters = 1) : num_parameters_(num_parameters) {}
  /// 1 (one alpha and beta for the layer) or C (one per channel, dim 1 of the input).
  TORCH_ARG(int64_t, num_parameters);
  /// Initial raw a (alpha = max(a, 0)).
  TORCH_ARG(double, alpha_init) = 0.25;
  /// Initial raw b (beta = max(b, 0)).
  TORCH_ARG(double, beta_init) = 1.0;
  /// Noise level: sigma ~ U(0, epsilon) per call, k = clamp(N(1, sigma^2), 0, 2).
  TORCH_ARG(double, epsilon) = 1.0;
  TORCH_ARG(Schedule, schedule) = Schedule::alternate;
  /// Where the noise comes from; LibTorch's default CPU generator when absent.
  TORCH_ARG(c10::optional<at::Generator>, generator) = c10::nullopt;
  /// The parameters' dtype, in which their initial values are made exactly (LibTorch's
  /// default dtype when absent; Module::to converts the float32 values instead).
  TORCH_ARG(c10::optional<at::ScalarType>, dtype) = c10::nullopt;
};

/// Elastic Exponential Linear Unit (Kim, Kim and Kim, Neurocomputing 406, 2020):
///   f(x) = k·x for x >= 0, alpha·(exp(beta·x) − 1) for x < 0.
/// Parameters `alpha` and `beta` hold the raw a and b; the buffer `noisy_next` holds the
/// phase of the alternating schedule so that a checkpoint resumes it.
class EELUImpl : public torch::nn::Cloneable<EELUImpl> {
 public:
  explicit EELUImpl(const EELUOptions& options_ = {});

  at::Tensor forward(const at::Tensor& input);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  EELUOptions options;
  at::Tensor alpha;
  at::Tensor beta;
  at::Tensor noisy_next;
};

TORCH_MODULE(EELU);

namespace functional {

struct EELUFuncOptions {
  TORCH_ARG(double, epsilon) = 1.0;
  /// Draw noise (k ~ clamp(N(1, sigma^2), 0, 2)); false: k = 1.
  TORCH_ARG(bool, training) = false;
  /// False: alpha and beta get zero gradients (a noisy step of the alternating schedule).
  TORCH_ARG(bool, param_grad) = true;
  TORCH_ARG(c10::optional<at::Generator>, generator) = c10::nullopt;
};

at::Tensor eelu(const at::Tensor& input, const at::Tensor& alpha, const at::Tensor& beta,
                const EELUFuncOptions& options = {});

}  // namespace functional
}  // namespace eelu::nn
