// How the kernels see a tensor (CPU and CUDA alike): logically (O, C, S) = (N, C,
// prod(spatial)), with the logical index l = (o*C + c)*S + s, stored either channel-outer
// (memory index = l, the standard contiguous layout) or channel-inner (memory index =
// (o*S + s)*C + c: channels last, and any input with S == 1, for which both orders
// coincide). Row r of a channel-inner tensor holds the C channels of (o, s) = (r / S, r % S)
// at memory r*C.
#pragma once

#include <ATen/core/Tensor.h>

namespace eelu::detail {

struct Geometry {
  int64_t O = 1, C = 1, S = 1;
  bool channels_inner = false;
  at::MemoryFormat format = at::MemoryFormat::Contiguous;
  int64_t numel() const { return O * C * S; }
};

inline Geometry geometry_of(const at::Tensor& x) {
  Geometry g;
  if (x.dim() >= 2) {
    g.O = x.size(0);
    g.C = x.size(1);
    g.S = 1;
    for (int64_t d = 2; d < x.dim(); ++d) g.S *= x.size(d);
  } else {
    g.S = x.numel();
  }
  if (!x.is_contiguous()) {
    if (x.dim() == 4 && x.is_contiguous(at::MemoryFormat::ChannelsLast)) {
      g.format = at::MemoryFormat::ChannelsLast;
    } else if (x.dim() == 5 && x.is_contiguous(at::MemoryFormat::ChannelsLast3d)) {
      g.format = at::MemoryFormat::ChannelsLast3d;
    }
  }
  g.channels_inner = g.format != at::MemoryFormat::Contiguous || (x.dim() >= 2 && g.S == 1);
  return g;
}

}  // namespace eelu::detail
