#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Generator.h>

#include <ATen/ops/empty.h>

#include <cstring>
#include <mutex>

#include "eelu/ops.h"
#include "ops/eelu_checks.h"
#include "ops/noise.h"

namespace eelu {

// Note [Drawing the noise of one call]
// Under the generator's lock: one 64-bit draw for sigma = epsilon * U[0, 1) (53-bit
// mantissa), one for the Philox key. The offset is 0 on CPU: every call has its own key, so
// the counter space of one call (numel / 4 groups) is never shared with another call.
// Two draws per call whatever the tensor's size keeps the default generator's stream, and
// so everything else seeded from it, independent of the activation sizes.
NoiseState draw_noise(double epsilon, c10::optional<at::Generator> generator) {
  detail::check_epsilon(epsilon);
  auto* gen = at::get_generator_or_default<at::CPUGeneratorImpl>(
      generator, at::detail::getDefaultCPUGenerator());
  std::lock_guard<std::mutex> lock(gen->mutex_);
  NoiseState state;
  const uint64_t u = gen->random64();
  state.sigma = epsilon * static_cast<double>(u >> 11) * 0x1.0p-53;
  state.seed = gen->random64();
  state.offset = 0;
  return state;
}

namespace detail {
namespace {
std::mutex g_drawers_mutex;
NoiseDrawer g_cuda_drawer = nullptr;
}  // namespace

void register_noise_drawer(c10::DeviceType type, NoiseDrawer drawer) {
  TORCH_CHECK(type == c10::DeviceType::CUDA, "eelu: noise drawers exist for CUDA only");
  std::lock_guard<std::mutex> lock(g_drawers_mutex);
  g_cuda_drawer = drawer;
}

NoiseState draw_noise_on(c10::Device device, double epsilon,
                         c10::optional<at::Generator> generator) {
  const c10::Device from =
      generator.has_value() && generator->defined() ? generator->device() : device;
  if (from.is_cpu()) return draw_noise(epsilon, std::move(generator));
  NoiseDrawer drawer = nullptr;
  if (from.is_cuda()) {
    std::lock_guard<std::mutex> lock(g_drawers_mutex);
    drawer = g_cuda_drawer;
  }
  TORCH_CHECK(drawer, "eelu: no noise generator for ", from, " (this eelu was built without the ",
              "CUDA kernels: configure with -DEELU_WITH_CUDA=ON against a LibTorch with CUDA)");
  return drawer(epsilon, std::move(generator), from);
}

at::Tensor noise_to_tensor(const NoiseState& noise) {
  at::Tensor state = at::empty({3}, at::TensorOptions().dtype(at::kLong).device(at::kCPU));
  int64_t* p = state.data_ptr<int64_t>();
  std::memcpy(&p[0], &noise.sigma, sizeof(double));
  p[1] = static_cast<int64_t>(noise.seed);
  p[2] = static_cast<int64_t>(noise.offset);
  return state;
}

NoiseState noise_from_tensor(const at::Tensor& state) {
  TORCH_CHECK(state.defined() && state.device().is_cpu() && state.scalar_type() == at::kLong &&
                  state.dim() == 1 && state.numel() == 3,
              "eelu: noise_state must be the CPU int64 tensor of 3 entries that eelu_forward "
              "returned, got ",
              state.defined() ? state.toString() : "an undefined tensor",
              state.defined() ? " of shape " + c10::str(state.sizes()) : "");
  const at::Tensor c = state.contiguous();
  const int64_t* p = c.data_ptr<int64_t>();
  NoiseState noise;
  std::memcpy(&noise.sigma, &p[0], sizeof(double));
  noise.seed = static_cast<uint64_t>(p[1]);
  noise.offset = static_cast<uint64_t>(p[2]);
  check_sigma(noise.sigma);
  return noise;
}

}  // namespace detail
}  // namespace eelu
