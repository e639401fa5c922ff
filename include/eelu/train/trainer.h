// Training a classifier on one dataset with one activation, with records a user can trust:
// config.json (every setting, versions, threads, commit), metrics.jsonl (one line an epoch),
// summary.json, and atomic checkpoints that resume bitwise.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "eelu/data/images.h"
#include "eelu/models/models.h"

namespace eelu::train {

struct TrainConfig {
  std::string dataset = "fashion-mnist";
  std::string data_dir;
  std::string model = "simple-cnn4";
  std::string activation = "relu";
  std::string init = "kaiming";   // or taylor
  int64_t epochs = 0;             // 0: the dataset's default
  int64_t batch_size = 0;         // 0: the dataset's default (64 MNIST-like, 128 else)
  std::string optimizer = "sgd";  // sgd or adamw
  double lr = 0;                  // 0: the default (sgd 0.1 MNIST-like, 0.05 else; adamw 0.001)
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 5e-4;
  double act_weight_decay = 0;         // for the activations' own parameters
  std::string lr_schedule = "cosine";  // cosine, step or constant
  std::vector<int64_t> milestones;     // step: epochs where lr *= gamma
  double gamma = 0.1;
  int64_t warmup_epochs = 0;  // linear warm-up, per step
  double label_smoothing = 0;
  uint64_t seed = 0;
  double train_fraction = 1.0;
  int64_t train_per_class = 0;
  double val_fraction = 0;
  int64_t crop_padding = -1;  // -1: the dataset's default augmentation
  int flip = -1;              // -1: the dataset's default; 0 or 1
  int workers = 2;
  int threads = 0;  // intra-op threads; 0: LibTorch's default
  std::string out_dir;
  bool resume = false;      // continue from out_dir/checkpoint.pt
  bool overwrite = false;   // replace a run already in out_dir (else: refused)
  bool quiet = false;       // no progress output
  int64_t max_batches = 0;  // at most this many batches per epoch and per evaluation
                            // (tests, smoke runs: accuracies then cover only those)
  int64_t eval_every = 1;   // test (and validation) after every N-th epoch and the last one
                            // (not a setting: the weights do not depend on it)
  // Data parallelism (docs/distributed.md). train() is one rank of the job that RANK,
  // WORLD_SIZE, MASTER_ADDR and MASTER_PORT describe (none: a single process). batch_size is
  // per rank; the global batch is batch_size * world size.
  int64_t nproc = 1;            // ranks `eelu train --nproc` and grids start on this machine
  bool sync_batchnorm = false;  // BatchNorm statistics over the global batch
  // After the last epoch, BatchNorm's running statistics re-estimated over one pass of the
  // training set with the activations' noise (and dropout) off (src/train/recalibrate.h).
  bool bn_recalibrate = false;
  double dist_timeout = 300;  // seconds: rendezvous and every collective (not recorded)
  // Where and how the arithmetic runs (docs/training.md, "Devices and precision").
  std::string device = "auto";  // auto, cpu, cuda, cuda:N (not a setting: a run moves)
  std::string amp = "none";     // autocast of the forward: none, bf16 or fp16 (a setting)
  bool channels_last = false;   // NHWC convolutions and activations (not recorded as a setting)
  bool deterministic = false;   // cuDNN's deterministic algorithms, no autotuning
};

struct EpochMetrics {
  int64_t epoch = 0;
  double train_loss = 0, train_acc = 0;
  double test_loss = -1, test_acc = -1;  // -1: not evaluated after this epoch (--eval-every)
  double val_loss = -1, val_acc = -1;    // -1: no validation split, or not evaluated
  double lr = 0, seconds = 0, images_per_second = 0;
  double data_seconds = 0;    // of `seconds`, waiting for the loader's next batch
  int64_t skipped_steps = 0;  // --amp fp16: steps skipped for inf/NaN gradients
};

struct TrainResult {
  std::vector<EpochMetrics> epochs;
  double final_test_acc = 0, best_test_acc = 0;
  int64_t best_epoch = 0;
  double seconds = 0;
  bool interrupted = false;  // stopped by a signal: a checkpoint was written, resume with --resume
  int world_size = 1;
  double communication_seconds = 0;  // waiting for gradients and metrics after backward
};

/// Fills the dataset's defaults (epochs, augmentation, lr) into `config` and checks every
/// setting; errors name the setting.
TrainConfig resolved(TrainConfig config);

/// Trains as `config` says, writing the records into config.out_dir, which it locks (one
/// process per run folder; another is refused by name). A folder that holds a run already is
/// refused unless `resume` (continue it) or `overwrite` (its records are removed first).
/// `stop` (set by a signal handler) ends training after the current batch with a checkpoint.
/// `on_epoch` is called after each epoch's records and checkpoint are written. A non-finite
/// training loss throws ("training diverged: ..."). In a distributed job every rank calls train();
/// rank 0 alone writes records and checkpoints and calls `on_epoch`; a stop on any rank stops all.
TrainResult train(const TrainConfig& config, const std::atomic<bool>* stop = nullptr,
                  const std::function<void(const EpochMetrics&)>& on_epoch = {});

/// The result of a finished run, from its summary.json (what `eelu compare --resume` shows
/// for a run done before it was stopped).
TrainResult finished_result(const std::string& out_dir);

/// Every setting of `config` as one JSON object (what config.json holds), with the options a
/// grid carries to its runs that are not settings (loader `workers`, `eval_every`) when they
/// are not their defaults: what a grid stores for each run.
std::string config_json(const TrainConfig& config);
/// The inverse of config_json (threads, out_dir and the flags keep their defaults).
TrainConfig config_from_json(const std::string& json);

/// A trained network from a checkpoint, in eval mode, on `device` (auto, cpu, cuda, cuda:N:
/// wherever it was trained), with its settings and its dataset (read from `data_dir` when
/// given, else from where it was in training).
struct TrainedModel {
  std::shared_ptr<models::Classifier> model;
  TrainConfig config;
  data::ImageDataset dataset;
};
TrainedModel load_trained_model(const std::string& checkpoint, const std::string& data_dir = "",
                                const std::string& device = "cpu");

/// BatchNorm's running statistics of a trained network re-estimated as `--bn-recalibrate`
/// does after the last epoch (src/train/recalibrate.h): one pass over the run's own training
/// subset in the order and augmentation of the epoch after the last, the rest of the network
/// in evaluation mode. For a run of one process the statistics are those the same run trained
/// with --bn-recalibrate has; for a data-parallel run the pass is one process's, over the
/// whole subset. The network is changed, and left in evaluation mode.
void recalibrate_trained_model(TrainedModel& t);

/// Test accuracy, per-class accuracy and confusion matrix of a checkpoint, computed on
/// `device`; with `bn_recalibrate`, of the network recalibrated first.
struct Evaluation {
  double loss = 0, accuracy = 0;
  std::vector<double> per_class;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  std::vector<std::string> classes;
};
Evaluation evaluate_checkpoint(const std::string& checkpoint, const std::string& data_dir = "",
                               const std::string& device = "cpu", bool bn_recalibrate = false);

}  // namespace eelu::train
