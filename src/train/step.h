// One training step on a batch, in one process or as one rank of a distributed job: the batch
// on the device, the forward (under autocast with --amp), the loss, the backward (with the
// gradients reduced over the ranks) and the sums the epoch's metrics are made of; then the
// optimiser's step through the gradient scaler (update()).
#pragma once

#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>
#include <torch/optim/optimizer.h>

#include <memory>

#include "eelu/data/loader.h"
#include "eelu/distributed/distributed.h"
#include "eelu/models/models.h"
#include "train/amp.h"
#include "train/placement.h"

namespace eelu::train {

struct StepSums {
  double loss = 0;      // the step's mean loss over its (global) batch
  double loss_sum = 0;  // summed over the batch's images
  int64_t correct = 0, seen = 0;
  bool stop = false;  // a stop was asked for (on any rank)
};

struct StepOptions {
  double label_smoothing = 0;
  Placement where;                    // the network's device and memory format
  c10::optional<at::ScalarType> amp;  // autocast dtype of the forward; none: float32
};

class TrainStep {
 public:
  /// Single process when `group` is null. Otherwise the gradients are reduced in buckets
  /// over `group` (Note [Gradient buckets] in src/distributed/reducer.cpp). float16 (--amp
  /// fp16) scales the loss (GradScaler).
  TrainStep(models::Classifier& model, StepOptions options,
            std::shared_ptr<distributed::Group> group);

  /// The step of batch `index` (its global size from `loader` in a distributed job).
  /// `stop`: this process was asked to stop; a non-finite loss throws "training diverged"
  /// naming the epoch and batch (1-based in the message).
  StepSums run(const data::Batch& batch, const data::DataLoader& loader, int64_t epoch,
               int64_t index, bool stop);

  /// The optimiser's step with the gradients run() left: unscaled and checked for inf and
  /// NaN first under float16 (a step with one is skipped: returns false).
  bool update(torch::optim::Optimizer& optimizer) { return scaler_.step(optimizer); }

  /// Seconds spent waiting for gradients and the step's metrics after the backward.
  double communication_seconds() const { return comm_seconds_; }

  GradScaler& scaler() { return scaler_; }

 private:
  StepSums local(const at::Tensor& logits, const at::Tensor& labels);
  StepSums distributed(const at::Tensor& logits, const at::Tensor& labels, double global_n,
                       bool stop);

  models::Classifier& model_;
  StepOptions options_;
  GradScaler scaler_;
  std::shared_ptr<distributed::Group> group_;
  std::unique_ptr<distributed::GradientReducer> reducer_;
  double comm_seconds_ = 0;
};

}  // namespace eelu::train
