#include "train/amp.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include <cmath>
#include <vector>

// LibTorch 2.4 made autocast's state per device type; 1.13 to 2.3 name the CPU and CUDA
// states apart.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define EELU_AUTOCAST_PER_DEVICE 1
#else
#define EELU_AUTOCAST_PER_DEVICE 0
#endif

namespace eelu::train {
namespace {

bool autocast_enabled(c10::DeviceType t) {
#if EELU_AUTOCAST_PER_DEVICE
  return at::autocast::is_autocast_enabled(t);
#else
  return t == c10::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

void set_autocast_enabled(c10::DeviceType t, bool on) {
#if EELU_AUTOCAST_PER_DEVICE
  at::autocast::set_autocast_enabled(t, on);
#else
  t == c10::kCPU ? at::autocast::set_cpu_enabled(on) : at::autocast::set_enabled(on);
#endif
}

at::ScalarType autocast_dtype(c10::DeviceType t) {
#if EELU_AUTOCAST_PER_DEVICE
  return at::autocast::get_autocast_dtype(t);
#else
  return t == c10::kCPU ? at::autocast::get_autocast_cpu_dtype()
                        : at::autocast::get_autocast_gpu_dtype();
#endif
}

void set_autocast_dtype(c10::DeviceType t, at::ScalarType dtype) {
#if EELU_AUTOCAST_PER_DEVICE
  at::autocast::set_autocast_dtype(t, dtype);
#else
  t == c10::kCPU ? at::autocast::set_autocast_cpu_dtype(dtype)
                 : at::autocast::set_autocast_gpu_dtype(dtype);
#endif
}

}  // namespace

c10::optional<at::ScalarType> amp_dtype(const std::string& amp) {
  if (amp == "none") return c10::nullopt;
  if (amp == "bf16") return at::kBFloat16;
  if (amp == "fp16") return at::kHalf;
  TORCH_CHECK(false, "--amp must be none, bf16 or fp16, got '", amp, "'");
}

AutocastScope::AutocastScope(c10::DeviceType device_type, c10::optional<at::ScalarType> dtype)
    : type_(device_type) {
  if (!dtype) return;
  TORCH_CHECK(type_ == c10::kCPU || type_ == c10::kCUDA, "--amp: autocast on ", type_,
              " is not supported");
  was_enabled_ = autocast_enabled(type_);
  was_dtype_ = autocast_dtype(type_);
  set_autocast_dtype(type_, *dtype);
  set_autocast_enabled(type_, true);
  at::autocast::increment_nesting();
  active_ = true;
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(type_, was_enabled_);
  set_autocast_dtype(type_, was_dtype_);
}

at::Tensor GradScaler::scale(const at::Tensor& loss) const {
  return enabled_ ? loss * scale_ : loss;
}

bool GradScaler::step(torch::optim::Optimizer& optimizer) {
  if (!enabled_) {
    optimizer.step();
    return true;
  }
  std::vector<at::Tensor> grads;
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      if (p.grad().defined()) grads.push_back(p.grad());
    }
  }
  // One flag for every gradient, read once (one synchronisation a step on a GPU).
  at::Tensor found_inf;
  const double inv_scale = 1.0 / scale_;
  for (const at::Tensor& g : grads) {
    const at::Tensor bad = at::logical_not(at::isfinite(g)).any();
    found_inf = found_inf.defined() ? at::logical_or(found_inf, bad) : bad;
    g.mul_(inv_scale);
  }
  const bool skip = found_inf.defined() && found_inf.item<bool>();
  if (skip) {
    scale_ *= kBackoff;
    tracker_ = 0;
    return false;
  }
  optimizer.step();
  if (++tracker_ == kGrowthInterval) {
    scale_ *= kGrowth;
    tracker_ = 0;
  }
  return true;
}

void GradScaler::set_state(double scale, int64_t growth_tracker) {
  TORCH_CHECK(
      std::isfinite(scale) && scale > 0 && growth_tracker >= 0 && growth_tracker < kGrowthInterval,
      "gradient scaler state out of range: scale ", scale, ", growth tracker ", growth_tracker);
  scale_ = scale;
  tracker_ = growth_tracker;
}

}  // namespace eelu::train
