// Drawing the noise of a training call (noise.cpp), and the noise as a tensor, the form in
// which a graph (torch.compile, AOTAutograd) carries it from the forward to the backward.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "eelu/ops.h"

namespace eelu::detail {

// The noise of a training call on `device`: drawn from `generator` (whatever its device), or
// from the default generator of `device`. CUDA registers its drawer when the library is built
// with EELU_WITH_CUDA (ops/cuda/eelu_kernel.cu); other devices have none.
using NoiseDrawer = NoiseState (*)(double epsilon, c10::optional<at::Generator> generator,
                                   c10::Device device);
void register_noise_drawer(c10::DeviceType type, NoiseDrawer drawer);
NoiseState draw_noise_on(c10::Device device, double epsilon,
                         c10::optional<at::Generator> generator);

// Note [The noise state tensor]
// eelu_forward returns the noise it drew as a CPU int64 tensor of three entries: the bits of
// sigma (a double), the seed and the offset (uint64 bit patterns). A CPU tensor whatever the
// input's device: the kernels take the three numbers as launch arguments, so reading them
// back never waits for a device.
at::Tensor noise_to_tensor(const NoiseState& noise);
NoiseState noise_from_tensor(const at::Tensor& state);

}  // namespace eelu::detail
