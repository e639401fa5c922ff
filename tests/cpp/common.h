// Helpers shared by the C++ tests.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "eelu/ops.h"

namespace eelu::test {

// Values in [-3, 3] with some exact zeros and values near zero on both sides, as float64.
inline at::Tensor test_input(at::IntArrayRef shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor x = at::rand(shape, gen, at::kDouble) * 6 - 3;
  if (x.numel() >= 8) {
    auto flat = x.view({-1});
    flat[0] = 0.0;
    flat[1] = -0.0;
    flat[2] = 1e-7;
    flat[3] = -1e-7;
  }
  return x;
}

// Lays x out as `layout`: "contiguous", "channels_last" (4-D and 5-D) or "strided" (a view
// with a step of 2 in the last dim, so neither contiguous nor channels last).
inline at::Tensor in_layout(const at::Tensor& x, const std::string& layout) {
  if (layout == "contiguous") return x.contiguous();
  if (layout == "channels_last") {
    return x.contiguous(x.dim() == 5 ? at::MemoryFormat::ChannelsLast3d
                                     : at::MemoryFormat::ChannelsLast);
  }
  // strided: interleave with garbage and take every other element of the last dim
  std::vector<int64_t> big(x.sizes().begin(), x.sizes().end());
  big.back() *= 2;
  at::Tensor holder = at::full(big, 1e9, x.options());
  at::Tensor view = holder.slice(-1, 0, big.back(), 2);
  view.copy_(x);
  return view;
}

inline double max_abs(const at::Tensor& a) {
  return a.numel() == 0 ? 0.0 : a.abs().max().item<double>();
}

// |got - want| <= atol + rtol * |want| everywhere, with the worst element in the message.
inline ::testing::AssertionResult close(const at::Tensor& got, const at::Tensor& want, double rtol,
                                        double atol) {
  if (got.sizes() != want.sizes()) {
    return ::testing::AssertionFailure() << "shape " << got.sizes() << " vs " << want.sizes();
  }
  if (got.numel() == 0) return ::testing::AssertionSuccess();
  const at::Tensor g = got.to(at::kDouble), w = want.to(at::kDouble);
  const at::Tensor excess = (g - w).abs() - (atol + rtol * w.abs());
  const int64_t worst = excess.reshape({-1}).argmax().item<int64_t>();
  if (excess.reshape({-1})[worst].item<double>() <= 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "element " << worst << ": got " << g.reshape({-1})[worst].item<double>() << ", want "
         << w.reshape({-1})[worst].item<double>() << " (rtol " << rtol << ", atol " << atol << ")";
}

}  // namespace eelu::test
