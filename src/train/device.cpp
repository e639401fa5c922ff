#include "eelu/train/device.h"

#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "eelu/ops.h"

namespace eelu::train {
namespace {

// -1: "cuda" without an index; the index of "cuda:N"; throws for anything else.
int cuda_index(const std::string& spec) {
  if (spec == "cuda") return -1;
  const std::string prefix = "cuda:";
  const std::string digits = spec.substr(spec.rfind(prefix, 0) == 0 ? prefix.size() : 0);
  const bool numeric = spec.rfind(prefix, 0) == 0 && !digits.empty() && digits.size() <= 4 &&
                       digits.find_first_not_of("0123456789") == std::string::npos;
  if (!numeric) {
    throw DeviceUnavailable("--device must be auto, cpu, cuda or cuda:N, got '" + spec + "'");
  }
  return std::atoi(digits.c_str());
}

// Why CUDA cannot be used here; empty when it can.
std::string cuda_missing() {
  if (torch::cuda::device_count() == 0) {
    return std::string("no CUDA GPU is visible to LibTorch ") + TORCH_VERSION +
           " (a CPU build of LibTorch, no GPU or driver, or CUDA_VISIBLE_DEVICES hides it)";
  }
  if (!has_cuda_kernels()) {
    return "this eelu was built without its CUDA kernels (configure with -DEELU_WITH_CUDA=ON, "
           "or pip install with EELU_CUDA=1)";
  }
  return "";
}

}  // namespace

void check_device_spec(const std::string& spec) {
  if (spec != "auto" && spec != "cpu") (void)cuda_index(spec);
}

DeviceChoice choose_device(const std::string& spec) {
  check_device_spec(spec);
  DeviceChoice out;
  out.name = "cpu";
  if (spec == "cpu") return out;
  const std::string missing = cuda_missing();
  if (spec == "auto") {
    if (!missing.empty()) {
      out.note = "--device auto: training on the CPU: " + missing;
      return out;
    }
    out.device = c10::Device(c10::kCUDA, 0);
  } else {
    if (!missing.empty()) throw DeviceUnavailable("--device " + spec + ": " + missing);
    const int index = std::max(cuda_index(spec), 0);
    const auto count = static_cast<int>(torch::cuda::device_count());
    if (index >= count) {
      throw DeviceUnavailable("--device " + spec + ": this machine has " + std::to_string(count) +
                              " CUDA GPU(s), cuda:0 to cuda:" + std::to_string(count - 1));
    }
    out.device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  out.name = cuda_device_name(out.device.index());
  return out;
}

void check_ranks_fit(const std::string& spec, int64_t ranks) {
  const DeviceChoice d = choose_device(spec);
  if (!d.device.is_cuda() || ranks <= 1) return;
  const auto count = static_cast<int64_t>(torch::cuda::device_count());
  if (ranks > count) {
    throw DeviceUnavailable("--nproc " + std::to_string(ranks) + " with --device " + spec +
                            ": one GPU per rank, and this machine has " + std::to_string(count) +
                            " (train the ranks on the CPU with --device cpu)");
  }
}

}  // namespace eelu::train
