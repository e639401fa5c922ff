#include "train/step.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <chrono>
#include <cmath>

namespace eelu::train {
using Clock = std::chrono::steady_clock;

TrainStep::TrainStep(models::Classifier& model, double label_smoothing,
                     std::shared_ptr<distributed::Group> group)
    : model_(model), label_smoothing_(label_smoothing), group_(std::move(group)) {
  if (group_)
    reducer_ = std::make_unique<distributed::GradientReducer>(group_, model_.parameters());
}

StepSums TrainStep::run(const data::Batch& b, const data::DataLoader& loader, int64_t epoch,
                        int64_t index, bool stop) {
  const at::Tensor logits = model_.forward(b.images);
  StepSums s = group_ ? distributed(logits, b, double(loader.global_batch_images(index)), stop)
                      : local(logits, b);
  if (!group_) s.stop = stop;
  TORCH_CHECK(std::isfinite(s.loss), "training diverged: the loss is ", s.loss, " at epoch ",
              epoch + 1, ", batch ", index + 1, " (a smaller --lr may help)");
  return s;
}

StepSums TrainStep::local(const at::Tensor& logits, const data::Batch& b) {
  const at::Tensor loss =
      at::cross_entropy_loss(logits, b.labels, {}, at::Reduction::Mean, -100, label_smoothing_);
  StepSums s;
  s.loss = loss.item<double>();
  if (std::isfinite(s.loss)) loss.backward();  // a diverged step is refused by run()
  s.loss_sum = s.loss * double(b.labels.numel());
  s.correct = (logits.argmax(1) == b.labels).sum().item<int64_t>();
  s.seen = b.labels.numel();
  return s;
}

// The loss of the global batch is the sum over the ranks of (this rank's summed loss /
// global batch size): summing the gradients gives the gradient of the mean.
StepSums TrainStep::distributed(const at::Tensor& logits, const data::Batch& b, double global_n,
                                bool stop) {
  const at::Tensor loss =
      at::cross_entropy_loss(logits, b.labels, {}, at::Reduction::Sum, -100, label_smoothing_) /
      global_n;
  reducer_->prepare();
  loss.backward();
  const auto t_comm = Clock::now();
  reducer_->finish();
  // One small reduction: the stop flag (a signal on any rank stops every rank at the same
  // batch) and the batch's loss and accuracy (every rank checks the same loss).
  at::Tensor control = at::tensor(
      {stop ? 1.0 : 0.0, loss.item<double>() * global_n,
       double((logits.argmax(1) == b.labels).sum().item<int64_t>()), double(b.labels.numel())},
      at::kDouble);
  group_->all_reduce_sum({control});
  comm_seconds_ += std::chrono::duration<double>(Clock::now() - t_comm).count();
  const auto ctl = control.accessor<double, 1>();
  StepSums s;
  s.stop = ctl[0] > 0;
  s.loss = ctl[1] / ctl[3];
  s.loss_sum = ctl[1];
  s.correct = static_cast<int64_t>(ctl[2]);
  s.seen = static_cast<int64_t>(ctl[3]);
  return s;
}

}  // namespace eelu::train
