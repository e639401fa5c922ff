// Where a run's tensors live: its device and memory format. The network is moved once;
// every batch is copied to the device (without blocking, from pinned memory on a GPU) in the
// network's memory format.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>

namespace eelu::train {

struct Placement {
  c10::Device device{c10::kCPU};
  bool channels_last = false;

  /// Parameters and buffers to the device; with channels_last the 4-d weights
  /// (convolutions) in channels-last layout.
  void place(torch::nn::Module& model) const;
  /// A batch's images on the device, channels-last when asked for.
  at::Tensor images(const at::Tensor& host) const;
  /// A batch's labels on the device.
  at::Tensor labels(const at::Tensor& host) const;
  /// Whether the loader should build its batches in pinned memory (a CUDA device).
  bool pin_memory() const { return device.is_cuda(); }
};

/// The device of a network's parameters (the CPU for a network without any).
c10::Device device_of(torch::nn::Module& model);

}  // namespace eelu::train
