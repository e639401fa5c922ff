// The process group: rendezvous (c10d::TCPStore) and Gloo collectives (c10d::ProcessGroupGloo).
#include "eelu/distributed/distributed.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "distributed/pending.h"

namespace eelu::distributed {
namespace {

bool is_loopback(const std::string& addr) {
  return addr == "localhost" || addr.rfind("127.", 0) == 0 || addr == "::1";
}

std::string error_text(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

}  // namespace

struct Group::Impl {
  int rank = 0, size = 1;
  std::chrono::milliseconds timeout{0};
  std::string where;  // MASTER_ADDR:MASTER_PORT, for messages
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;

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
bool Group::available() { return true; }

std::shared_ptr<Group> Group::connect(const Environment& env, std::chrono::milliseconds timeout) {
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
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  try {
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (is_loopback(env.master_addr)) {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
  } catch (const std::exception& e) {
    TORCH_CHECK(false,
                "distributed: no network device for Gloo (set GLOO_SOCKET_IFNAME to the "
                "interface the ranks reach each other on): ",
                error_text(e));
  }
  options->threads = 2;
  try {
    impl->pg =
        c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.world_size, options);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "distributed: rank ", env.rank,
                " could not connect to the other ranks "
                "(rendezvous at ",
                impl->where, "): ", error_text(e));
  }
  return std::shared_ptr<Group>(new Group(std::move(impl)));
}

int Group::rank() const { return impl_->rank; }
int Group::world_size() const { return impl_->size; }

void Group::all_reduce_sum(std::vector<at::Tensor> tensors) {
  for (auto& t : tensors) {
    TORCH_CHECK(t.is_contiguous(), "all_reduce_sum: tensors must be contiguous");
    std::vector<at::Tensor> one{t};
    impl_->wait(impl_->pg->allreduce(one), "all-reduce");
  }
}

void Group::broadcast(std::vector<at::Tensor> tensors, int root) {
  c10d::BroadcastOptions o;
  o.rootRank = root;
  for (auto& t : tensors) {
    TORCH_CHECK(t.is_contiguous(), "broadcast: tensors must be contiguous");
    std::vector<at::Tensor> one{t};
    impl_->wait(impl_->pg->broadcast(one, o), "broadcast");
  }
}

void Group::barrier() { impl_->wait(impl_->pg->barrier(), "barrier"); }

std::shared_ptr<Group::Pending> Group::all_reduce_sum_async(at::Tensor tensor) {
  TORCH_CHECK(tensor.is_contiguous(), "all_reduce_sum_async: the tensor must be contiguous");
  auto p = std::make_shared<Pending>();
  std::vector<at::Tensor> one{std::move(tensor)};
  p->work = impl_->pg->allreduce(one);
  return p;
}

void Group::wait(Pending& pending) {
  if (!pending.work) return;
  impl_->wait(pending.work, "all-reduce");
  pending.work.reset();
}

}  // namespace eelu::distributed
