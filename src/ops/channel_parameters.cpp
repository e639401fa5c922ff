#include "ops/channel_parameters.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <vector>

namespace eelu::detail {

at::Tensor straight_through_min(const at::Tensor& p, double bound) {
  return p + (p.clamp_min(bound) - p).detach();
}

at::Tensor per_channel(const at::Tensor& p, const at::Tensor& x, const char* who,
                       const char* param) {
  if (p.numel() == 1) return p;
  TORCH_CHECK(x.dim() >= 2 && x.size(1) == p.numel(), who, ": ", param, " has ", p.numel(),
              " entries (one per channel) but the input ", x.sizes(),
              x.dim() >= 2 ? " has a different number of channels (dim 1)" : " has no channel dim");
  std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
  shape[1] = p.numel();
  return p.reshape(shape);
}

}  // namespace eelu::detail
