// Bucketed gradient all-reduce overlapped with backward (see GradientReducer in
// eelu/distributed/distributed.h).
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/variable.h>

#include <mutex>

#include "eelu/distributed/distributed.h"

namespace eelu::distributed {

// Note [Gradient buckets]
// Every rank builds the same buckets from the same parameter list, and sends bucket i only
// after buckets 0..i-1: a bucket that fills early waits for its predecessors. So the
// sequence of collectives is identical on every rank whatever the order in which backward
// happens to produce gradients, which Gloo needs (collectives are matched by their order).
// A parameter that gets no gradient in a step contributes zeros; its bucket then goes out in
// finish(). The hooks see the gradient before it is accumulated into .grad; finish()
// overwrites .grad with the sum, so the trainer must zero gradients before each backward
// (it does), exactly as with DistributedDataParallel without no_sync().
struct GradientReducer::State {
  std::shared_ptr<Group> group;
  std::vector<at::Tensor> params;
  struct Bucket {
    std::vector<size_t> members;   // parameter indices
    std::vector<int64_t> offsets;  // of each member in `flat`
    at::Tensor flat;               // float32/64 buffer of the bucket
    size_t ready = 0;
    std::shared_ptr<Group::Pending> pending;
    bool sent = false;
  };
  std::vector<Bucket> buckets;
  std::vector<size_t> bucket_of, slot_of;  // per parameter
  std::vector<bool> seen;
  size_t next_to_send = 0;
  std::mutex mu;  // hooks run on autograd's threads

  void send_ready_buckets() {
    while (next_to_send < buckets.size() &&
           buckets[next_to_send].ready == buckets[next_to_send].members.size()) {
      Bucket& b = buckets[next_to_send++];
      b.pending = group->all_reduce_sum_async(b.flat);
      b.sent = true;
    }
  }

  void on_gradient(size_t index, const at::Tensor& grad) {
    std::lock_guard<std::mutex> lock(mu);
    TORCH_CHECK(!seen[index],
                "GradientReducer: a parameter got two gradients in one backward "
                "(call prepare() before each backward, and backward once per step)");
    seen[index] = true;
    Bucket& b = buckets[bucket_of[index]];
    const size_t slot = slot_of[index];
    const at::Tensor& p = params[index];
    b.flat.slice(0, b.offsets[slot], b.offsets[slot] + p.numel()).view(p.sizes()).copy_(grad);
    ++b.ready;
    send_ready_buckets();
  }
};

GradientReducer::GradientReducer(std::shared_ptr<Group> group, std::vector<at::Tensor> parameters,
                                 int64_t bucket_bytes, int64_t first_bucket_bytes)
    : state_(std::make_shared<State>()) {
  TORCH_CHECK(group, "GradientReducer: no process group");
  TORCH_CHECK(bucket_bytes > 0 && first_bucket_bytes > 0,
              "GradientReducer: bucket sizes must be positive");
  state_->group = std::move(group);
  State& s = *state_;
  for (auto& p : parameters) {
    if (!p.requires_grad()) continue;
    TORCH_CHECK(p.is_floating_point() && !p.is_sparse(),
                "GradientReducer: dense floating-point parameters only");
    s.params.push_back(p);
  }
  const size_t n = s.params.size();
  s.bucket_of.assign(n, 0);
  s.slot_of.assign(n, 0);
  s.seen.assign(n, false);
  // Reverse registration order, a new bucket when the dtype changes or the cap is reached.
  int64_t cap = first_bucket_bytes, bytes = 0;
  for (size_t k = n; k-- > 0;) {
    const at::Tensor& p = s.params[k];
    const int64_t pb = p.numel() * static_cast<int64_t>(p.element_size());
    const bool new_bucket =
        s.buckets.empty() || bytes >= cap ||
        s.params[s.buckets.back().members.front()].scalar_type() != p.scalar_type();
    if (new_bucket) {
      if (!s.buckets.empty()) cap = bucket_bytes;
      s.buckets.emplace_back();
      bytes = 0;
    }
    State::Bucket& b = s.buckets.back();
    s.bucket_of[k] = s.buckets.size() - 1;
    s.slot_of[k] = b.members.size();
    b.offsets.push_back(b.members.empty() ? 0
                                          : b.offsets.back() + s.params[b.members.back()].numel());
    b.members.push_back(k);
    bytes += pb;
  }
  for (auto& b : s.buckets) {
    const at::Tensor& last = s.params[b.members.back()];
    b.flat = at::zeros({b.offsets.back() + last.numel()}, last.options().requires_grad(false));
  }
  // The hooks hold the state weakly: a reducer that is gone leaves harmless hooks behind.
  std::weak_ptr<State> weak = state_;
  for (size_t k = 0; k < n; ++k) {
    s.params[k].register_hook([weak, k](const at::Tensor& grad) {  // void: grad unchanged
      if (auto st = weak.lock()) st->on_gradient(k, grad);
    });
  }
}

GradientReducer::~GradientReducer() = default;

void GradientReducer::prepare() {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  for (auto& b : s.buckets) {
    TORCH_CHECK(!b.pending,
                "GradientReducer: prepare() while a bucket is in flight (finish() was not called)");
    b.ready = 0;
    b.sent = false;
    b.flat.zero_();
  }
  s.seen.assign(s.params.size(), false);
  s.next_to_send = 0;
}

void GradientReducer::finish(double scale) {
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    // Parameters without a gradient this step count as zeros (their slots are zero).
    for (auto& b : s.buckets) b.ready = b.members.size();
    s.send_ready_buckets();
  }
  torch::NoGradGuard no_grad;
  for (auto& b : s.buckets) {
    s.group->wait(*b.pending);
    b.pending.reset();
    if (scale != 1.0) b.flat.mul_(scale);
    for (size_t slot = 0; slot < b.members.size(); ++slot) {
      at::Tensor& p = s.params[b.members[slot]];
      const at::Tensor sum =
          b.flat.slice(0, b.offsets[slot], b.offsets[slot] + p.numel()).view(p.sizes());
      if (p.grad().defined()) {
        p.mutable_grad().copy_(sum);
      } else {
        p.mutable_grad() = sum.clone();
      }
    }
  }
}

size_t GradientReducer::bucket_count() const { return state_->buckets.size(); }

}  // namespace eelu::distributed
