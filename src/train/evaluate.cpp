#include "train/evaluate.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>

#include "eelu/train/device.h"
#include "train/amp.h"
#include "train/checkpoint.h"
#include "train/recalibrate.h"
#include "train/settings.h"
#include "train/setup.h"

namespace eelu::train {

Eval run_eval(models::Classifier& model, data::DataLoader& loader, int64_t classes,
              int64_t max_batches, distributed::Group* group, const Placement& where) {
  torch::NoGradGuard no_grad;
  model.eval();
  Eval e;
  e.confusion = at::zeros({classes, classes}, at::kLong);
  double loss_sum = 0;
  int64_t seen = 0, correct = 0;
  loader.start_epoch(0);
  data::Batch b;
  for (int64_t i = 0; loader.next(b) && (max_batches == 0 || i < max_batches); ++i) {
    const at::Tensor logits = model.forward(where.images(b.images));
    loss_sum += at::cross_entropy_loss(logits, where.labels(b.labels), {}, at::Reduction::Sum)
                    .item<double>();
    const at::Tensor pred = logits.argmax(1).cpu();  // the confusion matrix stays on the CPU
    correct += (pred == b.labels).sum().item<int64_t>();
    seen += b.labels.numel();
    e.confusion.view({-1}).index_add_(0, b.labels * classes + pred, at::ones_like(b.labels));
  }
  if (group && group->world_size() > 1) {
    at::Tensor sums = at::tensor({loss_sum, double(correct), double(seen)}, at::kDouble);
    group->all_reduce_sum({sums, e.confusion});
    loss_sum = sums[0].item<double>();
    correct = static_cast<int64_t>(sums[1].item<double>());
    seen = static_cast<int64_t>(sums[2].item<double>());
  }
  e.loss = loss_sum / double(std::max<int64_t>(seen, 1));
  e.acc = double(correct) / double(std::max<int64_t>(seen, 1));
  return e;
}

models::ModelOptions model_options(const data::ImageDataset& d, const TrainConfig& c) {
  models::ModelOptions mo;
  mo.num_classes = d.num_classes();
  mo.in_channels = d.channels();
  mo.image_size = d.train.in_memory() ? d.height() : 224;
  mo.activation = c.activation;
  mo.init = c.init;
  mo.sync_batchnorm = c.sync_batchnorm;
  return mo;
}

namespace {

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out;
  for (int64_t v : s) out += (out.empty() ? "" : "x") + std::to_string(v);
  return out;
}

}  // namespace

TrainedModel load_trained_model(const std::string& checkpoint, const std::string& data_dir,
                                const std::string& device) {
  Placement where;
  where.device = choose_device(device).device;
  Checkpoint file(checkpoint, nullptr, where.device);
  TrainConfig c = config_from_json(file.field("config").dump());
  if (!data_dir.empty()) c.data_dir = data_dir;
  TrainedModel out{nullptr, c, data::load_dataset(c.dataset, c.data_dir)};
  if (file.meta().contains("input_shape")) {  // checkpoints from 2026-11-29 on
    const auto trained = file.meta().at("input_shape").get<std::vector<int64_t>>();
    const auto here = input_shape_of(out.dataset);
    TORCH_CHECK(trained == here, "the network in ", checkpoint, " was trained on ",
                shape_text(trained), " images, but ", out.dataset.source, " holds ",
                shape_text(here), " images");
  }
  out.model = models::make_model(c.model, model_options(out.dataset, c));
  where.place(*out.model);
  file.restore(out.model.get(), nullptr, 0);
  out.model->eval();
  return out;
}

void recalibrate_trained_model(TrainedModel& t) {
  Placement where;
  where.device = device_of(*t.model);
  const TrainingData data = training_data(t.dataset, t.config, 0, 1, where.pin_memory());
  recalibrate_batchnorm(*t.model, *data.train_loader, t.config.epochs, t.config.max_batches, where,
                        amp_dtype(t.config.amp));
}

Evaluation evaluate_checkpoint(const std::string& checkpoint, const std::string& data_dir,
                               const std::string& device, bool bn_recalibrate) {
  TrainedModel t = load_trained_model(checkpoint, data_dir, device);
  if (bn_recalibrate) recalibrate_trained_model(t);
  const data::ImageDataset& d = t.dataset;
  data::LoaderOptions lo;
  lo.shuffle = false;
  lo.batch_size = 256;
  Placement where;
  where.device = device_of(*t.model);
  lo.pin_memory = where.pin_memory();
  data::DataLoader loader(d.test, d.mean, d.std, lo);
  const Eval e = run_eval(*t.model, loader, d.num_classes(), 0, nullptr, where);
  Evaluation out;
  out.loss = e.loss;
  out.accuracy = e.acc;
  out.classes = d.classes;
  for (int64_t truth = 0; truth < d.num_classes(); ++truth) {
    std::vector<int64_t> row;
    int64_t total = 0;
    for (int64_t q = 0; q < d.num_classes(); ++q) {
      row.push_back(e.confusion[truth][q].item<int64_t>());
      total += row.back();
    }
    out.per_class.push_back(total ? double(row[truth]) / double(total) : 0.0);
    out.confusion.push_back(row);
  }
  return out;
}

}  // namespace eelu::train
