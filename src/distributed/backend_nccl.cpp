// The NCCL engine (CUDA ranks, one GPU each).
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include "distributed/backends.h"

namespace eelu::distributed::detail {

c10::intrusive_ptr<Engine> make_nccl(const c10::intrusive_ptr<c10d::Store>& store,
                                     const Environment& env, std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size, options);
}

}  // namespace eelu::distributed::detail
