#include "eelu/reference.h"

#include <ATen/ATen.h>

#include "ops/channel_parameters.h"

namespace eelu::reference {

at::Tensor eelu(const at::Tensor& x, const at::Tensor& a, const at::Tensor& b,
                const at::Tensor& k) {
  const at::Tensor alpha =
      detail::per_channel(detail::straight_through_min(a, 0), x, "eelu", "alpha");
  const at::Tensor beta =
      detail::per_channel(detail::straight_through_min(b, 0), x, "eelu", "beta");
  const at::Tensor positive = k * x;
  // exp of min(x, 0): large positive x would overflow exp and put 0 * inf = NaN into the
  // gradient of the branch that where() discards.
  const at::Tensor negative = alpha * (at::exp(beta * x.clamp_max(0)) - 1);
  return at::where(x >= 0, positive, negative);
}

}  // namespace eelu::reference
