#include "ops/cuda_info.h"

#include <atomic>

#include "eelu/ops.h"

namespace eelu {
namespace {
std::atomic<detail::CudaDeviceName> g_device_name{nullptr};
}  // namespace

namespace detail {
void register_cuda_device_name(CudaDeviceName fn) { g_device_name.store(fn); }
}  // namespace detail

bool has_cuda_kernels() { return g_device_name.load() != nullptr; }

std::string cuda_device_name(int index) {
  const detail::CudaDeviceName fn = g_device_name.load();
  return fn ? fn(index) : std::string();
}

}  // namespace eelu
