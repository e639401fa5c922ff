// Where a run computes: --device auto|cpu|cuda|cuda:N, resolved against what this LibTorch
// and this machine have.
#pragma once

#include <c10/core/Device.h>

#include <stdexcept>
#include <string>

namespace eelu::train {

/// A device this process cannot use: a misspelt --device, CUDA where LibTorch or the
/// machine has none, a GPU index beyond the machine's. The command-line tool exits 2.
class DeviceUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DeviceChoice {
  c10::Device device{c10::kCPU};
  std::string name;  // "cpu", or the GPU's name ("NVIDIA H200")
  std::string note;  // one line when `auto` fell back to the CPU; empty otherwise
};

/// Throws DeviceUnavailable unless `spec` is auto, cpu, cuda or cuda:N (N a number).
void check_device_spec(const std::string& spec);

/// `auto`: the first CUDA GPU when LibTorch has CUDA, this library its CUDA kernels and the
/// machine a GPU; else the CPU, with a note saying why. `cuda` and `cuda:N` are refused
/// (DeviceUnavailable, naming what is missing) where they cannot run.
DeviceChoice choose_device(const std::string& spec);

/// `--nproc ranks` on this machine: on CUDA one GPU per rank, so a machine with fewer GPUs
/// than ranks is refused (DeviceUnavailable) before any rank starts.
void check_ranks_fit(const std::string& spec, int64_t ranks);

}  // namespace eelu::train
