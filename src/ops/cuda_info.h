// What the CUDA kernels (src/ops/cuda/, when built) tell the rest of the library about the
// GPUs: they register a function at load time, so that no file outside src/ops/cuda/
// includes a CUDA header.
#pragma once

#include <string>

namespace eelu::detail {

using CudaDeviceName = std::string (*)(int index);

/// Called once by the CUDA kernels' translation unit at static initialisation.
void register_cuda_device_name(CudaDeviceName fn);

}  // namespace eelu::detail
