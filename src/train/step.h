// One training step on a batch, in one process or as one rank of a distributed job: the
// forward, the loss, the backward (with the gradients reduced over the ranks) and the sums
// the epoch's metrics are made of. The optimiser's step is the caller's.
#pragma once

#include <memory>

#include "eelu/data/loader.h"
#include "eelu/distributed/distributed.h"
#include "eelu/models/models.h"

namespace eelu::train {

struct StepSums {
  double loss = 0;      // the step's mean loss over its (global) batch
  double loss_sum = 0;  // summed over the batch's images
  int64_t correct = 0, seen = 0;
  bool stop = false;  // a stop was asked for (on any rank)
};

class TrainStep {
 public:
  /// Single process when `group` is null. Otherwise the gradients are reduced in buckets
  /// over `group` (Note [Gradient buckets] in src/distributed/reducer.cpp).
  TrainStep(models::Classifier& model, double label_smoothing,
            std::shared_ptr<distributed::Group> group);

  /// The step of batch `index` (its global size from `loader` in a distributed job).
  /// `stop`: this process was asked to stop; a non-finite loss throws "training diverged"
  /// naming the epoch and batch (1-based in the message).
  StepSums run(const data::Batch& batch, const data::DataLoader& loader, int64_t epoch,
               int64_t index, bool stop);

  /// Seconds spent waiting for gradients and the step's metrics after the backward.
  double communication_seconds() const { return comm_seconds_; }

 private:
  StepSums local(const at::Tensor& logits, const data::Batch& batch);
  StepSums distributed(const at::Tensor& logits, const data::Batch& batch, double global_n,
                       bool stop);

  models::Classifier& model_;
  double label_smoothing_;
  std::shared_ptr<distributed::Group> group_;
  std::unique_ptr<distributed::GradientReducer> reducer_;
  double comm_seconds_ = 0;
};

}  // namespace eelu::train
