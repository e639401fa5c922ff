#include "train/recalibrate.h"

#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/batchnorm.h>

#include <vector>

#include "eelu/distributed/sync_batchnorm.h"
#include "train/amp.h"

namespace eelu::train {
namespace {

// A BatchNorm layer's options and running statistics, for either kind of layer.
struct Norm {
  torch::nn::Module* module;
  torch::nn::BatchNormOptions* options;
  at::Tensor running_mean, running_var, num_batches_tracked;
};

std::vector<Norm> batchnorms(models::Classifier& model) {
  std::vector<Norm> out;
  for (const auto& m : model.modules(/*include_self=*/false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      out.push_back({bn, &bn->options, bn->running_mean, bn->running_var, bn->num_batches_tracked});
    } else if (auto* sbn = m->as<distributed::SyncBatchNorm2d>()) {
      out.push_back(
          {sbn, &sbn->options, sbn->running_mean, sbn->running_var, sbn->num_batches_tracked});
    }
  }
  return out;
}

}  // namespace

void recalibrate_batchnorm(models::Classifier& model, data::DataLoader& loader, int64_t epoch,
                           int64_t max_batches, const Placement& where,
                           c10::optional<at::ScalarType> amp) {
  const std::vector<Norm> norms = batchnorms(model);
  if (norms.empty()) return;
  torch::NoGradGuard no_grad;
  model.eval();
  std::vector<c10::optional<double>> momentum;
  for (const Norm& n : norms) {
    momentum.push_back(n.options->momentum());
    n.options->momentum(c10::nullopt);  // a cumulative average over the pass
    n.running_mean.zero_();
    n.running_var.fill_(1);
    n.num_batches_tracked.zero_();
    n.module->train();  // batch statistics, and the running ones updated
  }
  loader.start_epoch(epoch);
  data::Batch b;
  for (int64_t i = 0; (max_batches == 0 || i < max_batches) && loader.next(b); ++i) {
    const AutocastScope autocast(where.device.type(), amp);
    (void)model.forward(where.images(b.images));
  }
  for (size_t i = 0; i < norms.size(); ++i) {
    norms[i].options->momentum(momentum[i]);
    norms[i].module->eval();
  }
}

}  // namespace eelu::train
