#include "train/step.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <chrono>
#include <cmath>

namespace eelu::train {
using Clock = std::chrono::steady_clock;

TrainStep::TrainStep(models::Classifier& model, StepOptions options,
                     std::shared_ptr<distributed::Group> group)
    : model_(model),
      options_(std::move(options)),
      scaler_(options_.amp == at::kHalf),
      group_(std::move(group)) {
  if (group_)
    reducer_ = std::make_unique<distributed::GradientReducer>(group_, model_.parameters());
}

StepSums TrainStep::run(const data::Batch& b, const data::DataLoader& loader, int64_t epoch,
                        int64_t index, bool stop) {
  const at::Tensor images = options_.where.images(b.images);
  const at::Tensor labels = options_.where.labels(b.labels);
  at::Tensor logits;
  {
    const AutocastScope autocast(options_.where.device.type(), options_.amp);
    logits = model_.forward(images);
  }
  logits = logits.to(at::kFloat);  // the loss in float32 (a no-op without --amp)
  StepSums s = group_ ? distributed(logits, labels, double(loader.global_batch_images(index)), stop)
                      : local(logits, labels);
  if (!group_) s.stop = stop;
  TORCH_CHECK(std::isfinite(s.loss), "training diverged: the loss is ", s.loss, " at epoch ",
              epoch + 1, ", batch ", index + 1, " (a smaller --lr may help)");
  return s;
}

StepSums TrainStep::local(const at::Tensor& logits, const at::Tensor& labels) {
  const at::Tensor loss = at::cross_entropy_loss(logits, labels, {}, at::Reduction::Mean, -100,
                                                 options_.label_smoothing);
  StepSums s;
  s.loss = loss.item<double>();
  if (std::isfinite(s.loss)) scaler_.scale(loss).backward();  // a diverged step is refused by run()
  s.loss_sum = s.loss * double(labels.numel());
  s.correct = (logits.argmax(1) == labels).sum().item<int64_t>();
  s.seen = labels.numel();
  return s;
}

// The loss of the global batch is the sum over the ranks of (this rank's summed loss /
// global batch size): summing the gradients gives the gradient of the mean.
StepSums TrainStep::distributed(const at::Tensor& logits, const at::Tensor& labels, double global_n,
                                bool stop) {
  const at::Tensor loss = at::cross_entropy_loss(logits, labels, {}, at::Reduction::Sum, -100,
                                                 options_.label_smoothing) /
                          global_n;
  reducer_->prepare();
  scaler_.scale(loss).backward();
  const auto t_comm = Clock::now();
  reducer_->finish();
  // One small reduction: the stop flag (a signal on any rank stops every rank at the same
  // batch) and the batch's loss and accuracy (every rank checks the same loss).
  at::Tensor control = at::tensor(
      {stop ? 1.0 : 0.0, loss.item<double>() * global_n,
       double((logits.argmax(1) == labels).sum().item<int64_t>()), double(labels.numel())},
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
