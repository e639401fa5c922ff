#include "eelu/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>
#include <torch/version.h>

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "eelu/data/images.h"
#include "eelu/data/loader.h"
#include "eelu/data/subsets.h"
#include "eelu/distributed/distributed.h"
#include "eelu/models/models.h"
#include "eelu/nn/registry.h"
#include "eelu/ops.h"
#include "eelu/util/files.h"

#include "eelu_git_commit.h"  // generated at configure time
#ifndef EELU_GIT_COMMIT
#define EELU_GIT_COMMIT "unknown"
#endif

namespace eelu::train {
namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// The recorded settings of TrainConfig, one list for both directions (config.json, the
// checkpoint's copy, grid databases): runtime settings (workers, threads, out_dir, the flags,
// dist_timeout) are not among them.
#define EELU_RECORDED_SETTINGS(X)                                                        \
  X(dataset) X(data_dir) X(model) X(activation) X(init) X(epochs) X(batch_size) X(optimizer) \
  X(lr) X(momentum) X(nesterov) X(weight_decay) X(act_weight_decay) X(lr_schedule)           \
  X(milestones) X(gamma) X(warmup_epochs) X(label_smoothing) X(seed) X(train_fraction)       \
  X(train_per_class) X(val_fraction) X(crop_padding) X(flip) X(max_batches)

json to_json(const TrainConfig& c) {
  json j = json::object();
#define EELU_TO_JSON(field) j[#field] = c.field;
  EELU_RECORDED_SETTINGS(EELU_TO_JSON)
#undef EELU_TO_JSON
  // The distributed settings only when they are not the defaults: the records (and grid
  // digests) of single-process runs stay what they were before distributed training.
  if (c.nproc != 1) j["nproc"] = c.nproc;
  if (c.sync_batchnorm) j["sync_batchnorm"] = true;
  return j;
}

json to_json(const EpochMetrics& m) {
  json j{{"epoch", m.epoch},
         {"train_loss", m.train_loss},
         {"train_acc", m.train_acc},
         {"test_loss", m.test_loss},
         {"test_acc", m.test_acc},
         {"lr", m.lr},
         {"seconds", m.seconds},
         {"images_per_second", m.images_per_second}};
  if (m.val_acc >= 0) {
    j["val_loss"] = m.val_loss;
    j["val_acc"] = m.val_acc;
  }
  return j;
}

EpochMetrics metrics_from_json(const json& j) {
  EpochMetrics m;
  m.epoch = j.at("epoch");
  m.train_loss = j.at("train_loss");
  m.train_acc = j.at("train_acc");
  m.test_loss = j.at("test_loss");
  m.test_acc = j.at("test_acc");
  m.lr = j.at("lr");
  m.seconds = j.at("seconds");
  m.images_per_second = j.at("images_per_second");
  if (j.contains("val_acc")) {
    m.val_loss = j.at("val_loss");
    m.val_acc = j.at("val_acc");
  }
  return m;
}

int64_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

bool member(const std::string& v, std::initializer_list<const char*> options) {
  for (const char* o : options) {
    if (v == o) return true;
  }
  return false;
}

// The learning rate of step `step` (0-based, of `steps_per_epoch` per epoch).
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

struct Eval {
  double loss = 0, acc = 0;
  at::Tensor confusion;  // (classes, classes) int64
};

// Evaluates on `loader` (this rank's shard in a distributed job: the sums are reduced over
// the ranks, so every rank returns the figures of the whole split).
Eval run_eval(models::Classifier& model, data::DataLoader& loader, int64_t classes,
              int64_t max_batches, distributed::Group* group = nullptr) {
  torch::NoGradGuard no_grad;
  model.eval();
  Eval e;
  e.confusion = at::zeros({classes, classes}, at::kLong);
  double loss_sum = 0;
  int64_t seen = 0, correct = 0;
  loader.start_epoch(0);
  data::Batch b;
  for (int64_t i = 0; loader.next(b) && (max_batches == 0 || i < max_batches); ++i) {
    const at::Tensor logits = model.forward(b.images);
    loss_sum += at::cross_entropy_loss(logits, b.labels, {}, at::Reduction::Sum).item<double>();
    const at::Tensor pred = logits.argmax(1);
    correct += (pred == b.labels).sum().item<int64_t>();
    seen += b.labels.numel();
    e.confusion.view({-1}).index_add_(0, b.labels * classes + pred,
                                      at::ones_like(b.labels));
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

// The network's shape for a dataset: its classes and channels, and its image size (image
// folders are cropped to 224).
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

// What a checkpoint holds besides the model and optimiser.
struct Progress {
  int64_t epoch = 0;       // the epoch in progress (or the next one)
  int64_t batch = 0;       // the next batch of that epoch
  double loss_sum = 0;     // partial sums of the epoch in progress
  int64_t correct = 0, seen = 0;
  double seconds = 0;      // training time so far (all sessions)
  double epoch_seconds = 0;
  std::vector<EpochMetrics> history;
};

std::string checkpoint_path(const std::string& dir) { return (fs::path(dir) / "checkpoint.pt").string(); }

at::Tensor generator_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_generator_state(const at::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// Writes the checkpoint (rank 0). In a distributed job every rank must call it: the
// checkpoint holds every rank's generator state (rank r's EELU noise and dropout continue
// exactly on resume).
void save_checkpoint(const std::string& dir, const TrainConfig& config, models::Classifier& model,
                     torch::optim::Optimizer& opt, const Progress& p,
                     distributed::Group* group = nullptr) {
  const at::Tensor rng = generator_state();
  at::Tensor rng_ranks;
  if (group && group->world_size() > 1) {
    rng_ranks = group->all_gather(rng.to(at::kDouble)).to(at::kByte);
    if (group->rank() != 0) return;
  }
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive, opt_archive;
  model.save(model_archive);
  opt.save(opt_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", opt_archive);
  json meta = {{"config", to_json(config)}, {"epoch", p.epoch}, {"batch", p.batch},
               {"loss_sum", p.loss_sum}, {"correct", p.correct}, {"seen", p.seen},
               {"seconds", p.seconds}, {"epoch_seconds", p.epoch_seconds},
               {"history", json::array()}, {"format", 1},
               {"world_size", group ? group->world_size() : 1}};
  for (const auto& m : p.history) meta["history"].push_back(to_json(m));
  archive.write("meta", c10::IValue(meta.dump()));
  archive.write("rng", rng);
  if (rng_ranks.defined()) archive.write("rng_ranks", rng_ranks);
  util::replace_file_atomically(checkpoint_path(dir),
                                [&](const std::string& tmp) { archive.save_to(tmp); });
}

// Loads meta (and, with a model and optimiser, their states and rank `rank`'s generator
// state) from a checkpoint: the file at `path`, or its bytes when `bytes` is given (a
// distributed job reads the file on rank 0 and broadcasts it, so no shared file system is
// needed).
// With `world` > 0 a checkpoint written by a job of another world size is refused first,
// before anything else is read from it.
json load_checkpoint(const std::string& path, models::Classifier* model,
                     torch::optim::Optimizer* opt, const std::string* bytes = nullptr,
                     int rank = 0, int world = 0) {
  TORCH_CHECK(bytes || fs::is_regular_file(path), "checkpoint not found: ", path);
  torch::serialize::InputArchive archive;
  try {
    if (bytes) {
      archive.load_from(bytes->data(), bytes->size());
    } else {
      archive.load_from(path);
    }
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "cannot read checkpoint ", path, ": ", e.what_without_backtrace());
  }
  c10::IValue meta;
  archive.read("meta", meta);
  json j = json::parse(meta.toStringRef());
  const int64_t saved_world = j.value("world_size", 1);
  if (world == 1) {
    TORCH_CHECK(saved_world == 1, "--resume: ", path, " was written by a job of ", saved_world,
                " ranks; this is a single process. Resume with the same world size (--nproc ",
                saved_world, ")");
  } else if (world > 1) {
    TORCH_CHECK(saved_world == world, "--resume: ", path, " was written by a job of ", saved_world,
                " rank(s); this job has ", world, ". Resume with the same world size (--nproc ",
                saved_world, ")");
  }
  if (model) {
    torch::serialize::InputArchive m;
    archive.read("model", m);
    model->load(m);
  }
  if (opt) {
    torch::serialize::InputArchive o;
    archive.read("optimizer", o);
    opt->load(o);
    at::Tensor rng;
    if (rank == 0) {
      archive.read("rng", rng);
    } else {
      at::Tensor all;
      TORCH_CHECK(archive.try_read("rng_ranks", all) && rank < all.size(0), "checkpoint ", path,
                  " holds no generator state for rank ", rank);
      rng = all[rank].contiguous();
    }
    set_generator_state(rng);
  }
  return j;
}

void write_json(const std::string& path, const json& j) {
  util::write_file_atomically(path, j.dump(2) + "\n");
}

void write_metrics(const std::string& dir, const std::vector<EpochMetrics>& history) {
  std::string lines;
  for (const auto& m : history) lines += to_json(m).dump() + "\n";
  util::write_file_atomically((fs::path(dir) / "metrics.jsonl").string(), lines);
}

// FNV-1a over the bytes of every parameter and buffer, in name order: two runs that end with
// the same weights bit for bit have the same digest (what resume is tested against).
std::string state_digest(torch::nn::Module& model) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* data, size_t n) {
    const auto* b = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  auto add = [&](const std::string& name, const at::Tensor& t) {
    mix(name.data(), name.size());
    const at::Tensor c = t.contiguous();
    mix(c.data_ptr(), static_cast<size_t>(c.numel() * c.element_size()));
  };
  for (const auto& p : model.named_parameters()) add(p.key(), p.value());
  for (const auto& b : model.named_buffers()) add(b.key(), b.value());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string clock_text(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, seconds));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", (long)(s / 3600), (long)(s / 60 % 60), (long)(s % 60));
  return buf;
}

}  // namespace

TrainConfig resolved(TrainConfig c) {
  std::string ds = c.dataset;
  for (auto& ch : ds) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const bool mnist_like = ds == "fashion-mnist" || ds == "mnist" || ds == "fashionmnist";
  const bool cifar = ds.rfind("cifar", 0) == 0;
  const bool tiny = ds.rfind("tiny", 0) == 0;
  if (c.epochs == 0) c.epochs = mnist_like ? 10 : cifar ? 100 : tiny ? 60 : 90;
  if (c.crop_padding < 0) c.crop_padding = mnist_like ? 0 : cifar ? 4 : tiny ? 8 : 0;
  if (c.flip < 0) c.flip = mnist_like ? 0 : 1;
  if (c.lr == 0) c.lr = c.optimizer == "adamw" ? 1e-3 : 0.05;
  TORCH_CHECK(c.epochs >= 1, "--epochs must be >= 1, got ", c.epochs);
  TORCH_CHECK(c.batch_size >= 1, "--batch-size must be >= 1, got ", c.batch_size);
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
  TORCH_CHECK(c.lr_schedule != "step" || !c.milestones.empty(), "--lr-schedule step needs --milestones");
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
  TORCH_CHECK(c.workers >= 0 && c.threads >= 0, "--workers and --threads must be >= 0");
  TORCH_CHECK(c.max_batches >= 0, "--max-batches must be >= 0");
  TORCH_CHECK(c.nproc >= 1 && c.nproc <= 1024, "--nproc must be in [1, 1024], got ", c.nproc);
  TORCH_CHECK(c.dist_timeout > 0, "--dist-timeout must be > 0 seconds, got ", c.dist_timeout);
  TORCH_CHECK(!c.out_dir.empty(), "--out is required: the directory for the run's records");
  return c;
}

TrainResult train(const TrainConfig& config_in, const std::atomic<bool>* stop,
                  const std::function<void(const EpochMetrics&)>& on_epoch) {
  const TrainConfig c = resolved(config_in);
  if (c.threads > 0) at::set_num_threads(c.threads);

  // The job: one process, or one rank of several (Note [Distributed training]).
  const distributed::Environment env = distributed::environment_from_env();
  TORCH_CHECK(c.nproc == 1 || env.world_size == c.nproc, "--nproc ", c.nproc,
              ": train() is one rank of a job; start the ranks with `eelu train --nproc ", c.nproc,
              "` (or set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), here WORLD_SIZE is ",
              env.world_size);
  std::shared_ptr<distributed::Group> group;
  if (env.distributed()) {
    group = distributed::Group::connect(
        env, std::chrono::milliseconds(static_cast<int64_t>(c.dist_timeout * 1000)));
  }
  const int rank = env.rank, world = env.world_size;
  const bool lead = rank == 0;
  // SyncBatchNorm2d layers synchronise over this job's group while train() runs.
  struct BatchNormGroup {
    explicit BatchNormGroup(std::shared_ptr<distributed::Group> g) { distributed::set_batchnorm_group(std::move(g)); }
    ~BatchNormGroup() { distributed::set_batchnorm_group(nullptr); }
  } bn_group(c.sync_batchnorm ? group : nullptr);

  if (lead) fs::create_directories(c.out_dir);
  const auto say = [&](const char* fmt, auto... args) {
    if (!c.quiet && lead) {
      std::printf(fmt, args...);
      std::fflush(stdout);
    }
  };

  // Data: the held-out validation split first, then the reduced training set from what is
  // left, both stratified and chosen by the seed (the same for every activation).
  data::LoadOptions load;
  const data::ImageDataset d = data::load_dataset(c.dataset, c.data_dir, load);
  data::ImageSplit train_split = d.train, val_split;
  if (c.val_fraction > 0) {
    auto [tr, va] = data::stratified_holdout(d.train.labels, d.num_classes(), c.val_fraction, c.seed);
    val_split = data::take(d.train, va);
    train_split = data::take(d.train, tr);
  }
  if (c.train_per_class > 0) {
    train_split = data::take(train_split, data::stratified_per_class(train_split.labels, d.num_classes(),
                                                                     c.train_per_class, c.seed));
  } else if (c.train_fraction < 1) {
    train_split = data::take(train_split, data::stratified_fraction(train_split.labels, d.num_classes(),
                                                                    c.train_fraction, c.seed));
  }
  const bool folder = !d.train.in_memory();
  data::LoaderOptions lo;
  lo.batch_size = c.batch_size;
  lo.workers = c.workers;
  lo.seed = c.seed;
  lo.augment.crop_padding = c.crop_padding;
  lo.augment.horizontal_flip = c.flip == 1;
  lo.augment.random_resize = folder;
  lo.shard = rank;
  lo.shards = world;
  TORCH_CHECK(train_split.size() >= world, "the training set (", train_split.size(),
              " images) is smaller than the world size ", world);
  data::DataLoader train_loader(train_split, d.mean, d.std, lo);
  data::LoaderOptions eval_lo = lo;
  eval_lo.shuffle = false;
  eval_lo.augment = data::Augmentation{};
  data::DataLoader test_loader(d.test, d.mean, d.std, eval_lo);
  std::unique_ptr<data::DataLoader> val_loader;
  if (val_split.size() > 0) val_loader = std::make_unique<data::DataLoader>(val_split, d.mean, d.std, eval_lo);

  // Model and optimiser; the activations' own parameters in a group of their own.
  at::manual_seed(c.seed);
  auto model = models::make_model(c.model, model_options(d, c));
  if (group) {
    distributed::broadcast_module(*group, *model);  // every rank starts from rank 0's weights
    // Each rank its own EELU noise and dropout, reproducible from (seed, rank).
    if (rank > 0) at::manual_seed(c.seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(rank));
  }
  std::vector<at::Tensor> act_params, other_params;
  for (const auto& m : model->modules(false)) {
    const bool act = nn::is_parametric_activation(*m);
    for (const auto& p : m->parameters(/*recurse=*/false)) (act ? act_params : other_params).push_back(p);
  }
  // Two parameter groups with the optimiser's options, differing only in weight decay.
  auto groups_of = [&](auto base) {
    using Options = decltype(base);
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(other_params, std::make_unique<Options>(Options(base).weight_decay(c.weight_decay)));
    if (!act_params.empty()) {
      groups.emplace_back(act_params, std::make_unique<Options>(Options(base).weight_decay(c.act_weight_decay)));
    }
    return groups;
  };
  std::unique_ptr<torch::optim::Optimizer> opt;
  if (c.optimizer == "sgd") {
    const auto base = torch::optim::SGDOptions(c.lr).momentum(c.momentum).nesterov(c.nesterov);
    opt = std::make_unique<torch::optim::SGD>(groups_of(base), base);
  } else {
    const auto base = torch::optim::AdamWOptions(c.lr);
    opt = std::make_unique<torch::optim::AdamW>(groups_of(base), base);
  }

  Progress p;
  const json config_json = to_json(c);
  if (c.resume) {
    const std::string path = checkpoint_path(c.out_dir);
    std::string bytes;  // a distributed job: rank 0's file, sent to every rank
    if (group) {
      TORCH_CHECK(!lead || fs::is_regular_file(path), "checkpoint not found: ", path);
      bytes = group->broadcast_bytes(lead ? util::read_text_file(path, "checkpoint") : "");
    }
    const json meta = load_checkpoint(path, model.get(), opt.get(), group ? &bytes : nullptr, rank, world);
    std::vector<std::string> differ;
    for (const auto& [key, value] : config_json.items()) {
      if (!meta["config"].contains(key) || meta["config"][key] != value) differ.push_back(key);
    }
    TORCH_CHECK(differ.empty(), "--resume: the settings differ from the checkpoint's in ",
                json(differ).dump(), "; resume with the settings of ", c.out_dir, "/config.json");
    p.epoch = meta["epoch"];
    p.batch = meta["batch"];
    p.loss_sum = meta["loss_sum"];
    p.correct = meta["correct"];
    p.seen = meta["seen"];
    p.seconds = meta["seconds"];
    p.epoch_seconds = meta["epoch_seconds"];
    for (const auto& m : meta["history"]) p.history.push_back(metrics_from_json(m));
    if (lead) write_metrics(c.out_dir, p.history);  // what a kill after the last checkpoint left is dropped
    say("resuming %s at epoch %ld, batch %ld\n", c.out_dir.c_str(), (long)p.epoch + 1, (long)p.batch);
  } else if (lead) {
    json full = config_json;
    full["versions"] = {{"eelu", eelu::version()}, {"libtorch", TORCH_VERSION}};
    full["git_commit"] = EELU_GIT_COMMIT;
    full["threads"] = at::get_num_threads();
    full["world_size"] = world;
    full["global_batch_size"] = c.batch_size * world;
    full["workers"] = c.workers;
    full["train_images"] = train_split.size();
    full["val_images"] = val_split.size();
    full["test_images"] = d.test.size();
    full["classes"] = d.num_classes();
    full["normalisation"] = {{"mean", d.mean}, {"std", d.std}};
    full["parameters"] = {{"total", [&] { int64_t n = 0; for (auto& t : model->parameters()) n += t.numel(); return n; }()},
                          {"activation", [&] { int64_t n = 0; for (auto& t : act_params) n += t.numel(); return n; }()}};
    write_json((fs::path(c.out_dir) / "config.json").string(), full);
    write_metrics(c.out_dir, {});
  }
  if (!c.resume) save_checkpoint(c.out_dir, c, *model, *opt, p, group.get());  // --resume works from the first moment

  const int64_t steps = c.max_batches > 0 ? std::min(c.max_batches, train_loader.batches_per_epoch())
                                          : train_loader.batches_per_epoch();
  const bool tty = !c.quiet && lead && isatty(STDERR_FILENO);
  say("%s: %s with %s on %s, %ld training images, %ld epochs of %ld batches, %d threads%s\n",
      c.out_dir.c_str(), c.model.c_str(), c.activation.c_str(), d.name.c_str(),
      (long)train_split.size(), (long)c.epochs, (long)steps, at::get_num_threads(),
      world > 1 ? (", " + std::to_string(world) + " ranks (global batch " +
                   std::to_string(c.batch_size * world) + (c.sync_batchnorm ? ", synchronised BatchNorm)" : ")")).c_str()
                : "");
  std::unique_ptr<distributed::GradientReducer> reducer;
  if (group) reducer = std::make_unique<distributed::GradientReducer>(group, model->parameters());
  double comm_seconds = 0;
  TrainResult result;
  result.world_size = world;
  for (; p.epoch < c.epochs; ++p.epoch, p.batch = 0, p.loss_sum = 0, p.correct = 0, p.seen = 0,
                             p.epoch_seconds = 0) {
    model->train();
    train_loader.start_epoch(p.epoch, p.batch);
    auto t0 = Clock::now();
    double lr = 0;
    data::Batch b;
    while (p.batch < steps && train_loader.next(b)) {
      lr = learning_rate(c, p.epoch * steps + p.batch, steps);
      for (auto& g : opt->param_groups()) g.options().set_lr(lr);
      opt->zero_grad();
      const at::Tensor logits = model->forward(b.images);
      bool stop_now = stop && stop->load();
      if (!group) {
        const at::Tensor loss = at::cross_entropy_loss(logits, b.labels, {}, at::Reduction::Mean,
                                                       -100, c.label_smoothing);
        const double loss_value = loss.item<double>();
        TORCH_CHECK(std::isfinite(loss_value), "training diverged: the loss is ", loss_value,
                    " at epoch ", p.epoch + 1, ", batch ", p.batch + 1,
                    " (a smaller --lr may help)");
        loss.backward();
        p.loss_sum += loss_value * double(b.labels.numel());
        p.correct += (logits.argmax(1) == b.labels).sum().item<int64_t>();
        p.seen += b.labels.numel();
      } else {
        // The loss of the global batch is the sum over the ranks of (this rank's summed
        // loss / global batch size): summing the gradients gives the gradient of the mean.
        const double global_n = double(train_loader.global_batch_images(p.batch));
        const at::Tensor loss = at::cross_entropy_loss(logits, b.labels, {}, at::Reduction::Sum,
                                                       -100, c.label_smoothing) / global_n;
        reducer->prepare();
        loss.backward();
        const auto t_comm = Clock::now();
        reducer->finish();
        // One small reduction: the stop flag (a signal on any rank stops every rank at the
        // same batch) and the batch's loss and accuracy (every rank checks the same loss).
        at::Tensor control = at::tensor({stop_now ? 1.0 : 0.0, loss.item<double>() * global_n,
                                         double((logits.argmax(1) == b.labels).sum().item<int64_t>()),
                                         double(b.labels.numel())}, at::kDouble);
        group->all_reduce_sum({control});
        comm_seconds += std::chrono::duration<double>(Clock::now() - t_comm).count();
        const auto ctl = control.accessor<double, 1>();
        stop_now = ctl[0] > 0;
        const double loss_value = ctl[1] / ctl[3];
        TORCH_CHECK(std::isfinite(loss_value), "training diverged: the loss is ", loss_value,
                    " at epoch ", p.epoch + 1, ", batch ", p.batch + 1,
                    " (a smaller --lr may help)");
        p.loss_sum += ctl[1];
        p.correct += static_cast<int64_t>(ctl[2]);
        p.seen += static_cast<int64_t>(ctl[3]);
      }
      opt->step();
      ++p.batch;
      const double elapsed = p.epoch_seconds + std::chrono::duration<double>(Clock::now() - t0).count();
      if (tty) {
        const int width = 24, done = static_cast<int>(width * p.batch / steps);
        std::fprintf(stderr, "\r epoch %ld/%ld [%s%s] %ld/%ld loss %.4f acc %.2f%% %.0f img/s ETA %s ",
                     (long)p.epoch + 1, (long)c.epochs, std::string(done, '=').c_str(),
                     std::string(width - done, ' ').c_str(), (long)p.batch, (long)steps,
                     p.loss_sum / p.seen, 100.0 * p.correct / p.seen, p.seen / elapsed,
                     clock_text(elapsed / p.batch * (steps - p.batch)).c_str());
      }
      if (stop_now) {
        p.epoch_seconds = elapsed;
        p.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
        save_checkpoint(c.out_dir, c, *model, *opt, p, group.get());
        if (tty) std::fprintf(stderr, "\n");
        say("interrupted: checkpoint written to %s; continue with --resume\n",
            checkpoint_path(c.out_dir).c_str());
        result.interrupted = true;
        result.epochs = p.history;
        return result;
      }
    }
    const double train_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    if (tty) std::fprintf(stderr, "\r%*s\r", 110, "");
    EpochMetrics m;
    m.epoch = p.epoch + 1;
    m.train_loss = p.loss_sum / double(std::max<int64_t>(p.seen, 1));
    m.train_acc = double(p.correct) / double(std::max<int64_t>(p.seen, 1));
    m.lr = lr;
    m.seconds = p.epoch_seconds + train_seconds;
    m.images_per_second = double(p.seen) / std::max(m.seconds, 1e-9);
    // Per-rank BatchNorm: every rank evaluates with rank 0's running statistics, the ones
    // the checkpoint holds (DistributedDataParallel's broadcast_buffers).
    if (group && !c.sync_batchnorm) distributed::broadcast_buffers(*group, *model);
    const Eval test = run_eval(*model, test_loader, d.num_classes(), c.max_batches, group.get());
    m.test_loss = test.loss;
    m.test_acc = test.acc;
    if (val_loader) {
      const Eval val = run_eval(*model, *val_loader, d.num_classes(), c.max_batches, group.get());
      m.val_loss = val.loss;
      m.val_acc = val.acc;
    }
    p.seconds += train_seconds;
    p.history.push_back(m);
    // The checkpoint first: it is the record a resume trusts, and it holds the metrics too.
    Progress next = p;
    next.epoch = p.epoch + 1;
    next.batch = next.seen = next.correct = 0;
    next.loss_sum = next.epoch_seconds = 0;
    save_checkpoint(c.out_dir, c, *model, *opt, next, group.get());
    if (lead) write_metrics(c.out_dir, p.history);
    if (on_epoch && lead) on_epoch(m);
    say("epoch %ld/%ld  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%%s  lr %.4g  %.1f s, %.0f img/s%s\n",
        (long)m.epoch, (long)c.epochs, m.train_loss, 100 * m.train_acc, m.test_loss, 100 * m.test_acc,
        val_loader ? (" val acc " + std::to_string(100 * m.val_acc).substr(0, 5) + "%").c_str() : "",
        m.lr, m.seconds, m.images_per_second,
        group ? (", communication " + std::to_string(comm_seconds).substr(0, 5) + " s so far").c_str() : "");
  }

  result.epochs = p.history;
  result.seconds = p.seconds;
  for (const auto& m : p.history) {
    if (m.test_acc > result.best_test_acc) {
      result.best_test_acc = m.test_acc;
      result.best_epoch = m.epoch;
    }
  }
  result.final_test_acc = p.history.empty() ? 0 : p.history.back().test_acc;
  result.communication_seconds = comm_seconds;
  if (!lead) return result;
  write_json((fs::path(c.out_dir) / "summary.json").string(),
             json{{"final_test_acc", result.final_test_acc},
                  {"best_test_acc", result.best_test_acc},
                  {"best_epoch", result.best_epoch},
                  {"epochs", p.history.size()},
                  {"train_seconds", result.seconds},
                  {"peak_memory_bytes", peak_rss_bytes()},
                  {"state_digest", state_digest(*model)},
                  {"world_size", world},
                  {"communication_seconds", comm_seconds},
                  {"activation", c.activation},
                  {"model", c.model},
                  {"dataset", c.dataset}});
  return result;
}

TrainedModel load_trained_model(const std::string& checkpoint, const std::string& data_dir) {
  const json meta = load_checkpoint(checkpoint, nullptr, nullptr);
  TrainConfig c = config_from_json(meta["config"].dump());
  if (!data_dir.empty()) c.data_dir = data_dir;
  TrainedModel out{nullptr, c, data::load_dataset(c.dataset, c.data_dir)};
  out.model = models::make_model(c.model, model_options(out.dataset, c));
  load_checkpoint(checkpoint, out.model.get(), nullptr);
  out.model->eval();
  return out;
}

Evaluation evaluate_checkpoint(const std::string& checkpoint, const std::string& data_dir) {
  TrainedModel t = load_trained_model(checkpoint, data_dir);
  const data::ImageDataset& d = t.dataset;
  auto& model = t.model;
  data::LoaderOptions lo;
  lo.shuffle = false;
  lo.batch_size = 256;
  data::DataLoader loader(d.test, d.mean, d.std, lo);
  const Eval e = run_eval(*model, loader, d.num_classes(), 0);
  Evaluation out;
  out.loss = e.loss;
  out.accuracy = e.acc;
  out.classes = d.classes;
  for (int64_t t = 0; t < d.num_classes(); ++t) {
    std::vector<int64_t> row;
    int64_t total = 0;
    for (int64_t q = 0; q < d.num_classes(); ++q) {
      row.push_back(e.confusion[t][q].item<int64_t>());
      total += row.back();
    }
    out.per_class.push_back(total ? double(row[t]) / double(total) : 0.0);
    out.confusion.push_back(row);
  }
  return out;
}

std::string config_json(const TrainConfig& config) { return to_json(config).dump(); }

TrainConfig config_from_json(const std::string& text) {
  TrainConfig c;
  try {
    const json j = json::parse(text);
#define EELU_FROM_JSON(field) j.at(#field).get_to(c.field);
    EELU_RECORDED_SETTINGS(EELU_FROM_JSON)
#undef EELU_FROM_JSON
    c.nproc = j.value("nproc", int64_t{1});  // absent in records older than distributed training
    c.sync_batchnorm = j.value("sync_batchnorm", false);
  } catch (const json::exception& e) {
    TORCH_CHECK(false, "a training configuration in JSON is incomplete or malformed: ", e.what());
  }
  return c;
}

}  // namespace eelu::train
