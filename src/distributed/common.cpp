// What distributed training needs beyond the process group itself: the environment, and
// collectives built from the group's primitives.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/module.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "eelu/distributed/distributed.h"
#include "eelu/distributed/slurm.h"

namespace eelu::distributed {
namespace {

// The value of an integer environment variable, checked.
int int_variable(const char* name, int lo, int hi, const char* what) {
  const char* text = std::getenv(name);
  TORCH_CHECK(text && *text, name, " is not set (", what, ")");
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  TORCH_CHECK(errno == 0 && end && *end == '\0' && v >= lo && v <= hi, name, "='", text,
              "' is not ", what, ", an integer in [", lo, ", ", hi, "]");
  return static_cast<int>(v);
}

}  // namespace

Environment environment_from_env() {
  Environment env;
  if (!std::getenv("RANK") && !std::getenv("WORLD_SIZE")) {
    if (auto slurm = environment_from_slurm()) return *slurm;  // an srun task of several
    return env;
  }
  env.world_size = int_variable("WORLD_SIZE", 1, 1 << 20, "the number of ranks");
  env.rank = int_variable("RANK", 0, env.world_size - 1, "this process's rank");
  env.local_rank = std::getenv("LOCAL_RANK") ? int_variable("LOCAL_RANK", 0, env.world_size - 1,
                                                            "the rank on this machine")
                                             : env.rank;
  env.local_world_size =
      std::getenv("LOCAL_WORLD_SIZE")
          ? int_variable("LOCAL_WORLD_SIZE", 1, env.world_size, "the ranks on this machine")
          : env.world_size;
  if (env.world_size > 1) {
    const char* addr = std::getenv("MASTER_ADDR");
    TORCH_CHECK(addr && *addr,
                "MASTER_ADDR is not set (the address of rank 0, which serves the rendezvous)");
    env.master_addr = addr;
    env.master_port = int_variable("MASTER_PORT", 1, 65535, "the rendezvous port");
  }
  return env;
}

at::Tensor Group::all_gather(const at::Tensor& tensor) {
  // Each rank fills its row of a zero matrix; the sum over ranks is every row.
  const at::Tensor flat = tensor.contiguous().view({-1});
  at::Tensor rows = at::zeros({world_size(), flat.numel()}, flat.options());
  rows[rank()].copy_(flat);
  all_reduce_sum({rows});
  std::vector<int64_t> shape{world_size()};
  for (int64_t d : tensor.sizes()) shape.push_back(d);
  return rows.view(shape);
}

std::string Group::broadcast_bytes(const std::string& bytes, int root) {
  at::Tensor n = at::tensor({static_cast<int64_t>(bytes.size())}, at::kLong);
  broadcast({n}, root);
  at::Tensor data = at::empty({n.item<int64_t>()}, at::kByte);
  if (rank() == root) std::memcpy(data.data_ptr(), bytes.data(), bytes.size());
  if (data.numel() > 0) broadcast({data}, root);
  return std::string(static_cast<const char*>(data.data_ptr()), static_cast<size_t>(data.numel()));
}

namespace {
void broadcast_all(Group& group, const std::vector<at::Tensor>& tensors) {
  if (group.world_size() == 1) return;
  torch::NoGradGuard no_grad;
  for (const auto& t : tensors) {
    // Gloo moves numbers, not bool: flags (the EELU schedule's noisy_next) travel as bytes.
    at::Tensor c = t.scalar_type() == at::kBool ? t.to(at::kByte) : t.contiguous();
    group.broadcast({c}, 0);
    if (!c.is_same(t)) const_cast<at::Tensor&>(t).copy_(c);
  }
}
}  // namespace

void broadcast_module(Group& group, torch::nn::Module& module) {
  std::vector<at::Tensor> all = module.parameters();
  for (auto& b : module.buffers()) all.push_back(b);
  broadcast_all(group, all);
}

void broadcast_buffers(Group& group, torch::nn::Module& module) {
  broadcast_all(group, module.buffers());
}

}  // namespace eelu::distributed
