// Data-parallel training on PyTorch's own distributed engine, c10d: rendezvous through a
// c10d::TCPStore, collectives through c10d::ProcessGroupGloo (CPU ranks) or
// c10d::ProcessGroupNCCL (a GPU per rank). This header names no c10d, Gloo or NCCL type, so
// code that includes it needs none of their headers. See docs/distributed.md.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace eelu::distributed {

/// Where this process stands in a job: what torchrun (or `eelu train --nproc`) puts into
/// RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT.
struct Environment {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr;
  int master_port = 0;
  bool distributed() const { return world_size > 1; }
};

/// Reads the environment. No RANK and no WORLD_SIZE: a task of an srun step of several
/// tasks takes its rank from Slurm's variables (slurm.h), any other process is a single
/// process (world size 1).
/// Otherwise all of RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT must be set and valid;
/// an error names the variable and what is wrong with it.
Environment environment_from_env();

/// A process group: this rank's connection to all the others.
class Group {
 public:
  /// Joins the job `env` describes: rank 0 serves the TCPStore at MASTER_ADDR:MASTER_PORT,
  /// the others connect to it; then the process group is formed: Gloo for ranks on the CPU,
  /// NCCL for ranks on `device`, a CUDA GPU (the current one: one GPU per rank). `timeout`
  /// bounds the rendezvous and every collective: an unreachable master, a rank that never
  /// comes or a collective that does not complete ends in an error naming what happened,
  /// never a hang. Gloo's network interface: GLOO_SOCKET_IFNAME if set, loopback when
  /// MASTER_ADDR is a loopback address, else the address this host's name resolves to.
  /// Collectives take tensors anywhere; NCCL's travel to the GPU and back.
  static std::shared_ptr<Group> connect(const Environment& env, std::chrono::milliseconds timeout,
                                        c10::Device device = c10::kCPU);
  /// Whether this library was built with distributed training for ranks on `type`: Gloo
  /// headers that match the LibTorch it was built against (CPU), NCCL's (CUDA)
  /// (CMakeLists.txt, EELU_DISTRIBUTED).
  static bool available(c10::DeviceType type = c10::kCPU);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const;
  int world_size() const;

  /// Sums each tensor over the ranks, in place, waiting for the result.
  void all_reduce_sum(std::vector<at::Tensor> tensors);
  /// Rank `root`'s values of the tensors, in place on every rank.
  void broadcast(std::vector<at::Tensor> tensors, int root = 0);
  /// Every rank's `tensor` (same shape and dtype on all ranks), stacked in rank order.
  at::Tensor all_gather(const at::Tensor& tensor);
  /// Rank `root`'s bytes on every rank (any length).
  std::string broadcast_bytes(const std::string& bytes, int root = 0);
  void barrier();

  /// An asynchronous sum in place; `wait` on the handle.
  class Pending;
  std::shared_ptr<Pending> all_reduce_sum_async(at::Tensor tensor);
  void wait(Pending& pending);

 private:
  struct Impl;
  explicit Group(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Rank 0's parameters and buffers of `module`, copied to every rank.
void broadcast_module(Group& group, torch::nn::Module& module);

/// Rank 0's buffers of `module` (BatchNorm's running statistics...) copied to every rank:
/// what DistributedDataParallel does before each forward (broadcast_buffers=True); buffers
/// only matter in evaluation and checkpoints, so the trainer does it before evaluating.
void broadcast_buffers(Group& group, torch::nn::Module& module);

/// Averages gradients over the ranks as backward produces them, DDP-style: the parameters
/// are packed, in reverse order of registration (roughly the order backward reaches them),
/// into buckets of about `bucket_bytes` (the first one smaller, so that communication starts
/// early); a hook on each parameter copies its gradient into its bucket, and a full bucket
/// is summed over the ranks asynchronously while backward goes on. Buckets are sent strictly
/// in order, so every rank issues the same collectives in the same order. `finish` (after
/// backward) sends what is left, waits, and writes the sums, times `scale`, into the
/// parameters' .grad.
class GradientReducer {
 public:
  GradientReducer(std::shared_ptr<Group> group, std::vector<at::Tensor> parameters,
                  int64_t bucket_bytes = 25 << 20, int64_t first_bucket_bytes = 1 << 20);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  /// Call before each backward.
  void prepare();
  /// Call after each backward.
  void finish(double scale = 1.0);
  size_t bucket_count() const;

 private:
  struct State;
  std::shared_ptr<State> state_;  // shared with the hooks
};

/// The group SyncBatchNorm2d layers synchronise over (none: they act as BatchNorm2d).
void set_batchnorm_group(std::shared_ptr<Group> group);
std::shared_ptr<Group> batchnorm_group();

/// Batch normalisation in training mode over the batch of all ranks together: the mean and
/// variance of each channel come from every rank's shard (combined exactly from per-rank
/// means and variances), and backward reduces its two per-channel sums over the ranks too.
/// `running_mean`/`running_var` are updated as BatchNorm does (unbiased variance of the
/// global batch). With a group of one rank it is at::batch_norm.
at::Tensor sync_batch_norm(const at::Tensor& input, const at::Tensor& weight,
                           const at::Tensor& bias, at::Tensor running_mean, at::Tensor running_var,
                           double momentum, double eps, Group* group);

}  // namespace eelu::distributed
