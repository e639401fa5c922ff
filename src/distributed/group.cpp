// The process group: rendezvous (c10d::TCPStore) and the collectives of its engine, Gloo on
// CPUs or NCCL on CUDA GPUs (distributed/backends.h).
#include "eelu/distributed/distributed.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "distributed/backends.h"
#include "distributed/pending.h"

namespace eelu::distributed {
namespace {

std::string error_text(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

// The engine this build has for `device` (available() was checked first).
c10::intrusive_ptr<detail::Engine> make_engine(const c10::intrusive_ptr<c10d::Store>& store,
                                               const Environment& env,
                                               std::chrono::milliseconds timeout,
                                               c10::Device device) {
#if EELU_DISTRIBUTED_NCCL
  if (device.is_cuda()) return detail::make_nccl(store, env, timeout);
#endif
#if EELU_DISTRIBUTED_GLOO
  if (device.is_cpu()) return detail::make_gloo(store, env, timeout);
#endif
  TORCH_CHECK(false, "distributed: no engine for ", device, " in this build");
}

}  // namespace

struct Group::Impl {
  int rank = 0, size = 1;
  std::chrono::milliseconds timeout{0};
  std::string where;  // MASTER_ADDR:MASTER_PORT, for messages
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<detail::Engine> pg;
  c10::Device device{c10::kCPU};  // where the engine's collectives take their tensors

  // `t` where the engine takes it: itself, or a copy on the group's device (NCCL takes GPU
  // tensors only; the callers' small CPU tensors travel there and back).
  at::Tensor on_device(const at::Tensor& t) const {
    return t.device() == device ? t : t.to(device);
  }

  // Waits for `work`; a failure (a rank gone, a timeout) becomes an error that says so.
  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
    try {
      work->wait(timeout);
    } catch (const std::exception& e) {
      TORCH_CHECK(false, "distributed ", what, " failed on rank ", rank, " of ", size,
                  " (another rank died or stopped answering within ", timeout.count() / 1000.0,
                  " s?): ", error_text(e));
    }
  }
};

Group::Group(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Group::~Group() = default;
bool Group::available(c10::DeviceType type) {
  if (type == c10::kCPU) return EELU_DISTRIBUTED_GLOO != 0;
  return type == c10::kCUDA && EELU_DISTRIBUTED_NCCL != 0;
}

std::shared_ptr<Group> Group::connect(const Environment& env, std::chrono::milliseconds timeout,
                                      c10::Device device) {
  TORCH_CHECK(available(device.type()), "distributed training on ", device.type(),
              ": this eelu was built without ", device.is_cuda() ? "NCCL" : "Gloo",
              " (docs/distributed.md, \"Building\")");
  TORCH_CHECK(env.world_size >= 1 && env.rank >= 0 && env.rank < env.world_size,
              "distributed: rank ", env.rank, " is not in a world of ", env.world_size);
  TORCH_CHECK(timeout.count() > 0, "distributed: the timeout must be positive");
  auto impl = std::make_unique<Impl>();
  impl->rank = env.rank;
  impl->size = env.world_size;
  impl->timeout = timeout;
  impl->where = env.master_addr + ":" + std::to_string(env.master_port);
  // Under torchrun's static rendezvous its agent already serves the store at MASTER_ADDR:
  // MASTER_PORT; the ranks join it as clients under the attempt's prefix, as PyTorch's own
  // env:// initialisation does.
  const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
  const bool agent_store = agent && std::string(agent) == "True";
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(env.master_port);
  so.isServer = env.rank == 0 && !agent_store;
  so.numWorkers = static_cast<std::size_t>(env.world_size);
  so.waitWorkers = true;
  so.timeout = timeout;
  try {
    impl->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    if (agent_store) {
      const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
      impl->store = c10::make_intrusive<c10d::PrefixStore>(
          std::string("/worker/attempt_") + (attempt ? attempt : "0"), impl->store);
    }
  } catch (const std::exception& e) {
    TORCH_CHECK(
        false, "distributed: rank ", env.rank, " could not ", so.isServer ? "serve" : "reach",
        " the rendezvous at ", impl->where, " with ", env.world_size, " ranks within ",
        timeout.count() / 1000.0,
        " s (check MASTER_ADDR, MASTER_PORT and that every rank was started): ", error_text(e));
  }
  impl->device = device;
  try {
    impl->pg = make_engine(impl->store, env, timeout, device);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "distributed: rank ", env.rank, " could not connect to the other ranks ",
                "over ", device.is_cuda() ? "NCCL" : "Gloo", " (rendezvous at ", impl->where,
                "): ", error_text(e));
  }
  return std::shared_ptr<Group>(new Group(std::move(impl)));
}

int Group::rank() const { return impl_->rank; }
int Group::world_size() const { return impl_->size; }

void Group::all_reduce_sum(std::vector<at::Tensor> tensors) {
  for (auto& t : tensors) {
    TORCH_CHECK(t.is_contiguous(), "all_reduce_sum: tensors must be contiguous");
    std::vector<at::Tensor> one{impl_->on_device(t)};
    impl_->wait(impl_->pg->allreduce(one), "all-reduce");
    if (!one[0].is_same(t)) t.copy_(one[0]);
  }
}

void Group::broadcast(std::vector<at::Tensor> tensors, int root) {
  c10d::BroadcastOptions o;
  o.rootRank = root;
  for (auto& t : tensors) {
    TORCH_CHECK(t.is_contiguous(), "broadcast: tensors must be contiguous");
    std::vector<at::Tensor> one{impl_->on_device(t)};
    impl_->wait(impl_->pg->broadcast(one, o), "broadcast");
    if (!one[0].is_same(t)) t.copy_(one[0]);
  }
}

void Group::barrier() { impl_->wait(impl_->pg->barrier(), "barrier"); }

std::shared_ptr<Group::Pending> Group::all_reduce_sum_async(at::Tensor tensor) {
  TORCH_CHECK(tensor.is_contiguous(), "all_reduce_sum_async: the tensor must be contiguous");
  auto p = std::make_shared<Pending>();
  p->result = tensor;
  p->sent = impl_->on_device(tensor);
  std::vector<at::Tensor> one{p->sent};
  p->work = impl_->pg->allreduce(one);
  return p;
}

void Group::wait(Pending& pending) {
  if (!pending.work) return;
  impl_->wait(pending.work, "all-reduce");
  pending.work.reset();
  if (!pending.sent.is_same(pending.result)) pending.result.copy_(pending.sent);
}

}  // namespace eelu::distributed
