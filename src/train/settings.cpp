#include "train/settings.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <initializer_list>
#include <thread>
#include <utility>

#include "eelu/data/images.h"
#include "eelu/models/models.h"
#include "eelu/nn/registry.h"
#include "eelu/train/device.h"

namespace eelu::train {
using json = nlohmann::json;

namespace {

// The recorded settings of TrainConfig, one list for both directions (config.json, the
// checkpoint's copy, grid databases).
// clang-format off
#define EELU_RECORDED_SETTINGS(X)                                                              \
  X(dataset) X(data_dir) X(model) X(activation) X(init) X(epochs) X(batch_size) X(optimizer)   \
  X(lr) X(momentum) X(nesterov) X(weight_decay) X(act_weight_decay) X(lr_schedule)             \
  X(milestones) X(gamma) X(warmup_epochs) X(label_smoothing) X(seed) X(train_fraction)         \
  X(train_per_class) X(val_fraction) X(crop_padding) X(flip) X(max_batches)
// clang-format on

constexpr int64_t kMaxBatch = int64_t{1} << 20;

// Threads (intra-op, or the loader's) a machine can honour: 4 per core, at least 16.
int max_threads() {
  return static_cast<int>(std::max(16u, 4 * std::thread::hardware_concurrency()));
}

void check_model_name(const std::string& name) {
  std::string valid;
  for (const auto& [n, _] : models::model_names()) {
    if (n == name) return;
    valid += (valid.empty() ? "" : ", ") + n;
  }
  TORCH_CHECK(false, "unknown model '", name, "'; valid: ", valid);
}

bool member(const std::string& v, std::initializer_list<const char*> options) {
  for (const char* o : options) {
    if (v == o) return true;
  }
  return false;
}

// The default length of an MNIST-like run (docs/training.md, "Defaults"): 30 epochs on the
// whole training set, and on a subset 30 * sqrt(whole / subset) (213 on 2%, 95 on 10%): what
// the validation runs of docs/reproduction/ found a subset needs to converge. The images are
// counted from the sets' 6,000 per class less the validation split, as the subsets are
// drawn; the rule needs no data.
int64_t mnist_like_epochs(const TrainConfig& c) {
  // (not yet checked: a fraction out of range or not finite is refused after this)
  auto share = [](double v, double fallback) {
    return std::isfinite(v) ? std::clamp(v, 0.0, 1.0) : fallback;
  };
  const double per_class = std::round(6000 * (1 - share(c.val_fraction, 0)));
  const double subset = c.train_per_class > 0 ? std::min(double(c.train_per_class), per_class)
                                              : std::round(per_class * share(c.train_fraction, 1));
  const double epochs = std::ceil(30 * std::sqrt(per_class / std::max(subset, 1.0)) - 1e-9);
  return std::clamp<int64_t>(int64_t(epochs), 30, 1000);
}

}  // namespace

json recorded_settings(const TrainConfig& c) {
  json j = json::object();
#define EELU_TO_JSON(field) j[#field] = c.field;
  EELU_RECORDED_SETTINGS(EELU_TO_JSON)
#undef EELU_TO_JSON
  // The distributed settings only when they are not the defaults: the records (and grid
  // digests) of single-process runs stay what they were before distributed training.
  if (c.nproc != 1) j["nproc"] = c.nproc;
  if (c.sync_batchnorm) j["sync_batchnorm"] = true;
  if (c.bn_recalibrate) j["bn_recalibrate"] = true;
  if (c.amp != "none") j["amp"] = c.amp;  // likewise for mixed precision
  return j;
}

// A recorded activation in its canonical spelling (records older than canonical spellings
// hold the spelling the user typed); one that no longer parses is compared as it is.
std::string canonical_or_as_is(const json& activation) {
  if (!activation.is_string()) return activation.dump();
  try {
    return nn::canonical_activation(activation.get<std::string>());
  } catch (const c10::Error&) {
    return activation.get<std::string>();
  }
}

std::vector<std::string> differing_settings(const TrainConfig& config, const json& record) {
  std::vector<std::string> differ;
  const json settings = recorded_settings(config);
  for (const auto& [key, value] : settings.items()) {
    if (!record.contains(key)) {
      differ.push_back(key);
    } else if (key == "activation") {
      if (canonical_or_as_is(record.at(key)) != canonical_or_as_is(value)) differ.push_back(key);
    } else if (record.at(key) != value) {
      differ.push_back(key);
    }
  }
  // The settings recorded only when not their defaults: one the record holds and this
  // config leaves at its default differs too.
  for (const char* key : {"nproc", "sync_batchnorm", "amp", "bn_recalibrate"}) {
    if (record.contains(key) && !settings.contains(key)) differ.push_back(key);
  }
  return differ;
}

std::string config_json(const TrainConfig& config) {
  json j = recorded_settings(config);
  const TrainConfig defaults;
  if (config.workers != defaults.workers) j["workers"] = config.workers;
  if (config.eval_every != defaults.eval_every) j["eval_every"] = config.eval_every;
  return j.dump();
}

TrainConfig config_from_json(const std::string& text) {
  TrainConfig c;
  try {
    const json j = json::parse(text);
#define EELU_FROM_JSON(field) j.at(#field).get_to(c.field);
    EELU_RECORDED_SETTINGS(EELU_FROM_JSON)
#undef EELU_FROM_JSON
    c.nproc = j.value("nproc", int64_t{1});  // absent in records older than distributed training
    c.sync_batchnorm = j.value("sync_batchnorm", false);
    c.bn_recalibrate = j.value("bn_recalibrate", false);
    c.workers = j.value("workers", c.workers);  // run options a grid carries (config_json)
    c.eval_every = j.value("eval_every", c.eval_every);
    c.amp = j.value("amp", std::string("none"));
  } catch (const json::exception& e) {
    TORCH_CHECK(false, "a training configuration in JSON is incomplete or malformed: ", e.what());
  }
  return c;
}

TrainConfig resolved(TrainConfig c) {
  std::string ds = c.dataset;
  for (auto& ch : ds) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const bool mnist_like = ds == "fashion-mnist" || ds == "mnist" || ds == "fashionmnist";
  const bool cifar = ds.rfind("cifar", 0) == 0;
  const bool tiny = ds.rfind("tiny", 0) == 0;
  if (c.epochs == 0) {
    c.epochs = mnist_like ? mnist_like_epochs(c) : cifar ? 100 : tiny ? 60 : 90;
  }
  // -1 (and lr 0) are "the dataset's (optimiser's) default"; anything else is checked below.
  if (c.crop_padding == -1) c.crop_padding = mnist_like ? 2 : cifar ? 4 : tiny ? 8 : 0;
  if (c.flip == -1) c.flip = ds == "mnist" ? 0 : 1;  // digits are not mirror images
  if (c.batch_size == 0) c.batch_size = mnist_like ? 64 : 128;
  if (c.lr == 0) c.lr = c.optimizer == "adamw" ? 1e-3 : mnist_like ? 0.1 : 0.05;
  data::check_dataset_name(c.dataset);
  check_model_name(c.model);
  TORCH_CHECK(member(c.init, {"kaiming", "taylor"}), "--init must be kaiming or taylor, got '",
              c.init, "'");
  try {  // the activation as the network would make it: the module's own checks too
    nn::make_activation(c.activation, 4);
    c.activation = nn::canonical_activation(c.activation);  // one spelling in every record
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "--act '", c.activation, "': ", e.what_without_backtrace());
  }
  TORCH_CHECK(c.epochs >= 1 && c.epochs <= 100000, "--epochs must be in [1, 100000], got ",
              c.epochs);
  TORCH_CHECK(c.batch_size >= 1 && c.batch_size <= kMaxBatch, "--batch-size must be in [1, ",
              kMaxBatch, "], got ", c.batch_size);
  for (const auto& [name, value] : {std::pair<const char*, double>{"--lr", c.lr},
                                    {"--momentum", c.momentum},
                                    {"--weight-decay", c.weight_decay},
                                    {"--act-weight-decay", c.act_weight_decay},
                                    {"--gamma", c.gamma},
                                    {"--label-smoothing", c.label_smoothing},
                                    {"--train-fraction", c.train_fraction},
                                    {"--val-fraction", c.val_fraction},
                                    {"--dist-timeout", c.dist_timeout}}) {
    TORCH_CHECK(std::isfinite(value), name, " must be a finite number, got ", value);
  }
  TORCH_CHECK(member(c.optimizer, {"sgd", "adamw"}), "--optimizer must be sgd or adamw, got '",
              c.optimizer, "'");
  TORCH_CHECK(c.lr > 0 && std::isfinite(c.lr), "--lr must be > 0, got ", c.lr);
  TORCH_CHECK(c.momentum >= 0 && c.momentum < 1, "--momentum must be in [0, 1), got ", c.momentum);
  TORCH_CHECK(!c.nesterov || c.momentum > 0, "--nesterov needs a momentum > 0");
  TORCH_CHECK(c.weight_decay >= 0 && c.act_weight_decay >= 0, "weight decays must be >= 0");
  TORCH_CHECK(member(c.lr_schedule, {"cosine", "step", "constant"}),
              "--lr-schedule must be cosine, step or constant, got '", c.lr_schedule, "'");
  for (size_t i = 0; i < c.milestones.size(); ++i) {
    TORCH_CHECK(c.milestones[i] > 0 && c.milestones[i] < c.epochs &&
                    (i == 0 || c.milestones[i] > c.milestones[i - 1]),
                "--milestones must increase within (0, epochs), got ", c.milestones[i]);
  }
  TORCH_CHECK(c.lr_schedule != "step" || !c.milestones.empty(),
              "--lr-schedule step needs --milestones");
  TORCH_CHECK(c.gamma > 0 && c.gamma <= 1, "--gamma must be in (0, 1], got ", c.gamma);
  TORCH_CHECK(c.warmup_epochs >= 0 && c.warmup_epochs < c.epochs,
              "--warmup-epochs must be in [0, epochs), got ", c.warmup_epochs);
  TORCH_CHECK(c.label_smoothing >= 0 && c.label_smoothing < 1,
              "--label-smoothing must be in [0, 1), got ", c.label_smoothing);
  TORCH_CHECK(c.train_fraction > 0 && c.train_fraction <= 1,
              "--train-fraction must be in (0, 1], got ", c.train_fraction);
  TORCH_CHECK(c.train_per_class >= 0, "--train-per-class must be >= 0");
  TORCH_CHECK(c.train_per_class == 0 || c.train_fraction == 1,
              "give --train-fraction or --train-per-class, not both");
  TORCH_CHECK(c.val_fraction >= 0 && c.val_fraction < 1, "--val-fraction must be in [0, 1)");
  TORCH_CHECK(c.workers >= 0 && c.workers <= max_threads(), "--workers must be in [0, ",
              max_threads(), "] (4 per core of this machine), got ", c.workers);
  TORCH_CHECK(c.threads >= 0 && c.threads <= max_threads(), "--threads must be in [0, ",
              max_threads(), "] (4 per core of this machine; 0: LibTorch's default), got ",
              c.threads);
  TORCH_CHECK(c.flip == 0 || c.flip == 1, "--flip must be 0 or 1, got ", c.flip);
  TORCH_CHECK(c.crop_padding >= 0 && c.crop_padding <= 1024,
              "--crop-padding must be in [0, 1024], got ", c.crop_padding);
  TORCH_CHECK(c.max_batches >= 0, "--max-batches must be >= 0");
  TORCH_CHECK(c.eval_every >= 1 && c.eval_every <= 100000,
              "--eval-every must be in [1, 100000], got ", c.eval_every);
  TORCH_CHECK(c.nproc >= 1 && c.nproc <= 1024, "--nproc must be in [1, 1024], got ", c.nproc);
  TORCH_CHECK(c.dist_timeout > 0, "--dist-timeout must be > 0 seconds, got ", c.dist_timeout);
  TORCH_CHECK(member(c.amp, {"none", "bf16", "fp16"}), "--amp must be none, bf16 or fp16, got '",
              c.amp, "'");
  check_device_spec(c.device);
  TORCH_CHECK(!c.out_dir.empty(), "--out is required: the directory for the run's records");
  return c;
}

double learning_rate(const TrainConfig& c, int64_t step, int64_t steps_per_epoch) {
  const double epoch = double(step) / double(steps_per_epoch);
  if (c.warmup_epochs > 0 && epoch < c.warmup_epochs) {
    return c.lr * (double(step) + 1) / double(c.warmup_epochs * steps_per_epoch);
  }
  if (c.lr_schedule == "constant") return c.lr;
  if (c.lr_schedule == "step") {
    double lr = c.lr;
    for (int64_t m : c.milestones) {
      if (epoch >= double(m)) lr *= c.gamma;
    }
    return lr;
  }
  // cosine from the end of the warm-up to 0 at the end of training
  const double start = double(c.warmup_epochs * steps_per_epoch);
  const double total = double(c.epochs * steps_per_epoch) - start;
  const double t = total > 0 ? (double(step) - start) / total : 1.0;
  return 0.5 * c.lr * (1.0 + std::cos(M_PI * std::min(1.0, std::max(0.0, t))));
}

}  // namespace eelu::train
