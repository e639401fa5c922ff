#include "train/placement.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace eelu::train {

void Placement::place(torch::nn::Module& model) const {
  model.to(device);
  if (!channels_last) return;
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
}

at::Tensor Placement::images(const at::Tensor& host) const {
  at::Tensor x = host.device() == device ? host : host.to(device, /*non_blocking=*/true);
  return channels_last && x.dim() == 4 ? x.contiguous(at::MemoryFormat::ChannelsLast) : x;
}

at::Tensor Placement::labels(const at::Tensor& host) const {
  return host.device() == device ? host : host.to(device, /*non_blocking=*/true);
}

c10::Device device_of(torch::nn::Module& model) {
  const auto params = model.parameters();
  return params.empty() ? c10::Device(c10::kCPU) : params.front().device();
}

}  // namespace eelu::train
