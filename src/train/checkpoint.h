// checkpoint.pt: the model, the optimiser, where training stands and every rank's generator
// state, written atomically (rank 0) so that a resumed run continues bit for bit.
#pragma once

#include <torch/optim/optimizer.h>
#include <torch/serialize/input-archive.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "eelu/data/images.h"
#include "eelu/distributed/distributed.h"
#include "eelu/models/models.h"
#include "eelu/train/trainer.h"

namespace eelu::train {

/// What a checkpoint holds besides the model and optimiser.
struct Progress {
  int64_t epoch = 0;    // the epoch in progress (or the next one)
  int64_t batch = 0;    // the next batch of that epoch
  double loss_sum = 0;  // partial sums of the epoch in progress
  int64_t correct = 0, seen = 0;
  double seconds = 0;  // training time so far (all sessions)
  double epoch_seconds = 0;
  std::vector<EpochMetrics> history;
  std::vector<int64_t> input_shape;  // C, H, W of the training images (H = W = 0: folders)
  double data_seconds = 0;           // of epoch_seconds, waiting for batches (not saved)
  int64_t skipped_steps = 0;         // of the epoch in progress (--amp fp16)
  double amp_scale = 0;              // --amp fp16: the gradient scaler's state (0: none)
  int64_t amp_growth = 0;
};

/// C, H, W of a dataset's images (H = W = 0 for image folders, whose sizes vary).
std::vector<int64_t> input_shape_of(const data::ImageDataset& dataset);

std::string checkpoint_path(const std::string& dir);

/// Writes the checkpoint (rank 0). In a distributed job every rank must call it: the
/// checkpoint holds every rank's generator state (rank r's EELU noise and dropout continue
/// exactly on resume).
void save_checkpoint(const std::string& dir, const TrainConfig& config, models::Classifier& model,
                     torch::optim::Optimizer& opt, const Progress& progress,
                     distributed::Group* group = nullptr);

/// Note [Checkpoint format]
/// checkpoint.pt is a LibTorch archive holding `format` (2), `payload` (the bytes of an inner
/// archive: model, optimizer, meta, rng, rng_ranks) and `checksum` (CRC-32 of the payload,
/// hex). The payload is verified before anything is read from it, so a checkpoint whose bytes
/// changed on the disk is refused by name instead of loading NaN weights. Format 1 (before
/// 2026-11-29) is the inner archive alone, read without a check.
class Checkpoint {
 public:
  /// Reads and verifies the file at `path`, or `bytes` when given (a distributed job reads
  /// the file on rank 0 and broadcasts it, so no shared file system is needed). Its tensors
  /// are loaded onto `device`, wherever they were saved from (a GPU's checkpoint resumes
  /// and evaluates on the CPU, and the other way).
  explicit Checkpoint(const std::string& path, const std::string* bytes = nullptr,
                      c10::Device device = c10::kCPU);

  const nlohmann::json& meta() const { return meta_; }
  /// A field of meta; its absence is an error naming the checkpoint and the field.
  const nlohmann::json& field(const char* key) const;
  /// Refuses a checkpoint written by a job of another world size (world > 0).
  void check_world(int world) const;
  /// Loads the model's and the optimiser's states (either may be null) and, with an
  /// optimiser, rank `rank`'s generator state (and the GPU's, for a run on one, when the
  /// checkpoint was written on one).
  void restore(models::Classifier* model, torch::optim::Optimizer* opt, int rank);

 private:
  std::string path_;
  c10::Device device_;
  torch::serialize::InputArchive archive_;
  nlohmann::json meta_;
};

/// --resume: the checkpoint of config.out_dir (read on rank 0 and sent to every rank); its
/// world size and settings are compared with this job's before any weight is loaded; then the
/// model, optimiser and generator state are restored onto the model's device. Returns where
/// training stands.
Progress resume_from_checkpoint(const TrainConfig& config, models::Classifier& model,
                                torch::optim::Optimizer& opt, distributed::Group* group, int rank,
                                int world);

}  // namespace eelu::train
