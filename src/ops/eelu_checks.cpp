#include "ops/eelu_checks.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace eelu::detail {

void check_input(const at::Tensor& input) {
  TORCH_CHECK(input.defined(), "eelu: input is an undefined tensor");
  const auto t = input.scalar_type();
  TORCH_CHECK(t == at::kFloat || t == at::kDouble || t == at::kBFloat16 ||
                  (t == at::kHalf && input.is_cuda()),
              "eelu: input must be float32, float64 or bfloat16 (or float16 on CUDA), got ", t,
              " on ", input.device());
}

static void check_parameter(const char* name, const at::Tensor& p, const at::Tensor& input) {
  TORCH_CHECK(p.defined(), "eelu: ", name, " is an undefined tensor");
  TORCH_CHECK(p.scalar_type() == input.scalar_type(), "eelu: ", name, " has dtype ",
              p.scalar_type(), " but the input has dtype ", input.scalar_type(),
              "; convert the parameters to the input's dtype");
  TORCH_CHECK(p.device() == input.device(), "eelu: ", name, " is on ", p.device(),
              " but the input is on ", input.device());
  if (input.dim() >= 2) {
    const int64_t c = input.size(1);
    TORCH_CHECK(p.dim() == 1 && (p.numel() == 1 || p.numel() == c), "eelu: ", name,
                " must have shape [1] (shared) or [", c,
                "] (one per channel, dim 1 of the input), got ", p.sizes());
  } else {
    TORCH_CHECK(p.dim() == 1 && p.numel() == 1, "eelu: ", name,
                " must have shape [1] for an input of rank ", input.dim(),
                " (it has no channel dim), got ", p.sizes());
  }
}

void check_inputs(const at::Tensor& input, const at::Tensor& alpha, const at::Tensor& beta) {
  check_input(input);
  check_parameter("alpha", alpha, input);
  check_parameter("beta", beta, input);
}

void check_epsilon(double epsilon) {
  TORCH_CHECK(std::isfinite(epsilon) && epsilon >= 0.0,
              "eelu: epsilon (the noise level) must be a finite number >= 0, got ", epsilon);
}

void check_sigma(double sigma) {
  TORCH_CHECK(std::isfinite(sigma) && sigma >= 0.0,
              "eelu: sigma (the noise's standard deviation) must be a finite number >= 0, got ",
              sigma);
}

}  // namespace eelu::detail
