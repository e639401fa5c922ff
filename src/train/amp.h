// Mixed precision for the trainer (--amp bf16|fp16): autocast over the forward, and for
// float16 a gradient scaler.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <string>

namespace eelu::train {

/// The autocast dtype of --amp: none (nullopt), bf16 or fp16; throws for anything else.
c10::optional<at::ScalarType> amp_dtype(const std::string& amp);

/// Autocast for `device_type` in `dtype` while it lives, as torch.autocast's context does
/// (the previous state restored, the cast cache cleared when the outermost one ends);
/// nothing when `dtype` is nullopt.
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device_type, c10::optional<at::ScalarType> dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType type_;
  bool active_ = false, was_enabled_ = false;
  at::ScalarType was_dtype_ = at::kFloat;
};

/// float16's gradient scaler, torch.amp.GradScaler's algorithm and defaults: the loss is
/// multiplied by the scale before the backward; step() divides the gradients by it and steps
/// the optimiser unless a gradient holds inf or NaN (then the step is skipped); the scale
/// halves after a skipped step and doubles after 2000 steps in a row without one. Disabled,
/// it multiplies by 1 and always steps.
class GradScaler {
 public:
  explicit GradScaler(bool enabled) : enabled_(enabled) {}
  bool enabled() const { return enabled_; }
  at::Tensor scale(const at::Tensor& loss) const;
  /// Returns whether the optimiser stepped.
  bool step(torch::optim::Optimizer& optimizer);

  double scale_value() const { return scale_; }
  int64_t growth_tracker() const { return tracker_; }
  void set_state(double scale, int64_t growth_tracker);

  static constexpr double kInitialScale = 65536.0, kGrowth = 2.0, kBackoff = 0.5;
  static constexpr int64_t kGrowthInterval = 2000;

 private:
  bool enabled_;
  double scale_ = kInitialScale;
  int64_t tracker_ = 0;
};

}  // namespace eelu::train
