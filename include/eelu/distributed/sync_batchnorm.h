// SyncBatchNorm2d: BatchNorm2d whose training-mode statistics cover the batch of every rank
// (distributed::sync_batch_norm over distributed::batchnorm_group()). Its parameters and
// buffers have BatchNorm2d's names and shapes (weight, bias, running_mean, running_var,
// num_batches_tracked), so checkpoints move freely between the two; without a group of
// several ranks, or in eval mode, it computes exactly what BatchNorm2d does.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/options/batchnorm.h>
#include <torch/nn/pimpl.h>

namespace eelu::distributed {

// (Not derived from BatchNorm2dImpl: LibTorch does not export the base's virtual functions
// that a derived class's vtables need.)
class SyncBatchNorm2dImpl : public torch::nn::Cloneable<SyncBatchNorm2dImpl> {
 public:
  explicit SyncBatchNorm2dImpl(int64_t num_features)
      : SyncBatchNorm2dImpl(torch::nn::BatchNormOptions(num_features)) {}
  explicit SyncBatchNorm2dImpl(const torch::nn::BatchNormOptions& options);
  void reset() override;
  at::Tensor forward(const at::Tensor& input);
  void pretty_print(std::ostream& stream) const override;

  torch::nn::BatchNormOptions options;
  at::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
};
TORCH_MODULE(SyncBatchNorm2d);

}  // namespace eelu::distributed
