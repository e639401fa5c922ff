// A loader of batches with worker threads and prefetching. The batches are a pure function
// of (seed, epoch, batch index): the order is a permutation drawn from (seed, epoch), each
// batch's augmentation from a generator seeded with (seed, epoch, batch), so the number of
// workers changes the speed and nothing else.
#pragma once

#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "eelu/data/images.h"

namespace eelu::data {

struct Augmentation {
  int64_t crop_padding = 0;      // in-memory images: random crop with this zero padding
  bool horizontal_flip = false;  // mirror each image with probability 1/2
  /// Image folders: the output size. Training (random_crop or flip set, or `random_resize`):
  /// random_resized_crop; otherwise resize to size*256/224 and centre crop.
  int64_t image_size = 224;
  bool random_resize = false;
};

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;
  int workers = 2;   // 0: batches are built in the calling thread
  int prefetch = 4;  // batches built ahead of the consumer
  uint64_t seed = 0;
  Augmentation augment;
  bool skip_corrupt = false;  // image folders: leave a corrupt JPEG out of its batch
  bool pin_memory = false;    // batches in page-locked memory, for copies to a GPU that do
                              // not block (needs a LibTorch with CUDA)
  /// Data parallelism: this loader is shard `shard` of `shards`. Batch i of an epoch is then
  /// the `shard`-th of `shards` near-equal contiguous slices of the epoch's global batch i
  /// (batch_size * shards images of the same permutation), so the shards are disjoint, cover
  /// the epoch, and together form exactly the batches of one loader with batch_size *
  /// shards. A last global batch with fewer images than shards joins the one before it, so
  /// no shard is ever empty.
  int64_t shard = 0;
  int64_t shards = 1;
};

struct Batch {
  at::Tensor images;  // float32 (B, C, H, W), normalised
  at::Tensor labels;  // int64 (B)
  int64_t index = 0;  // position in the epoch
};

class DataLoader {
 public:
  DataLoader(ImageSplit split, std::vector<double> mean, std::vector<double> std,
             LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  int64_t size() const { return split_.size(); }
  /// Batches per epoch (global batches when sharded: the same number on every shard).
  int64_t batches_per_epoch() const;
  /// Images in global batch `index` (all shards together; with skip_corrupt, before any
  /// corrupt image is left out).
  int64_t global_batch_images(int64_t index) const;
  /// Starts an epoch at batch `first_batch` (a resumed run skips what it has done); waits for
  /// the workers to finish the previous epoch's batches.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  /// The next batch of the epoch, in order; false when the epoch is over. A worker's error
  /// is rethrown here.
  bool next(Batch& batch);
  /// Images left out of batches because their JPEG was corrupt (skip_corrupt).
  int64_t skipped() const;
  /// Builds batch `index` of `epoch` in the calling thread (what the workers run).
  Batch build(int64_t epoch, int64_t index) const;

 private:
  void worker_loop();

  ImageSplit split_;
  std::vector<double> mean_, std_;
  LoaderOptions options_;
  std::vector<int64_t> order_;
  int64_t epoch_ = -1;
  int64_t batches_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  int64_t next_build_ = 0, next_deliver_ = 0, in_flight_ = 0;
  std::map<int64_t, Batch> ready_;
  std::map<int64_t, std::exception_ptr> errors_;
  mutable int64_t skipped_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

/// The order of an epoch: 0..n-1, or its permutation drawn from (seed, epoch) (SplitMix64).
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle);

}  // namespace eelu::data
