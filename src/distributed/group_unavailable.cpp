// The process group of a library built without Gloo's headers: joining a job says what is
// missing (no Group can exist, so the other members are never reached).
#include <c10/util/Exception.h>

#include "eelu/distributed/distributed.h"

namespace eelu::distributed {

class Group::Pending {};
struct Group::Impl {};

namespace {
[[noreturn]] void unavailable() {
  TORCH_CHECK(false,
              "distributed training: this eelu was built without it (no Gloo headers "
              "matching its LibTorch at configure time: Debian's LibTorch with libgloo-dev has "
              "them; PyPI's torch ships none, and other Gloo headers would not match it; nor "
              "NCCL's, which a CUDA build against PyPI's torch has; see docs/distributed.md)");
}
}  // namespace

Group::Group(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Group::~Group() = default;
bool Group::available(c10::DeviceType) { return false; }
std::shared_ptr<Group> Group::connect(const Environment&, std::chrono::milliseconds, c10::Device) {
  unavailable();
}
int Group::rank() const { unavailable(); }
int Group::world_size() const { unavailable(); }
void Group::all_reduce_sum(std::vector<at::Tensor>) { unavailable(); }
void Group::broadcast(std::vector<at::Tensor>, int) { unavailable(); }
void Group::barrier() { unavailable(); }
std::shared_ptr<Group::Pending> Group::all_reduce_sum_async(at::Tensor) { unavailable(); }
void Group::wait(Pending&) { unavailable(); }

}  // namespace eelu::distributed
