#include "eelu/data/loader.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>

#include <numeric>
#include <system_error>

#include "data/splitmix.h"
#include "eelu/data/jpeg.h"
#include "eelu/data/transforms.h"

namespace eelu::data {

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle) {
    detail::SplitMix64 rng{detail::stream_seed(seed, 0x0E90C4ull, static_cast<uint64_t>(epoch))};
    rng.shuffle(order);
  }
  return order;
}

DataLoader::DataLoader(ImageSplit split, std::vector<double> mean, std::vector<double> std,
                       LoaderOptions options)
    : split_(std::move(split)),
      mean_(std::move(mean)),
      std_(std::move(std)),
      options_(std::move(options)) {
  TORCH_CHECK(options_.batch_size >= 1, "loader: batch size must be >= 1, got ",
              options_.batch_size);
  TORCH_CHECK(options_.workers >= 0 && options_.prefetch >= 1,
              "loader: need workers >= 0 and prefetch >= 1");
  TORCH_CHECK(split_.size() > 0, "loader: the split holds no images");
  TORCH_CHECK(options_.shards >= 1 && options_.shard >= 0 && options_.shard < options_.shards,
              "loader: shard ", options_.shard, " of ", options_.shards, " is not a shard");
  TORCH_CHECK(split_.size() >= options_.shards, "loader: ", split_.size(),
              " images cannot be split into ", options_.shards, " non-empty shards");
  TORCH_CHECK(split_.in_memory() || static_cast<int64_t>(split_.files.size()) == split_.size(),
              "loader: ", split_.size(), " labels but ", split_.files.size(), " files");
  try {
    for (int i = 0; i < options_.workers; ++i) threads_.emplace_back([this] { worker_loop(); });
  } catch (const std::system_error& e) {  // the machine refused a thread: stop those started
    const size_t started = threads_.size();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    TORCH_CHECK(false, "loader: could not start worker thread ", started + 1, " of ",
                options_.workers, " (", e.what(), "); use fewer --workers");
  }
}

DataLoader::~DataLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = split_.size(), b = options_.batch_size * options_.shards;
  if (options_.drop_last) return n / b;
  const int64_t count = (n + b - 1) / b;
  // A last global batch too small to give every shard an image joins the one before it.
  if (count > 1 && n - (count - 1) * b < options_.shards) return count - 1;
  return count;
}

int64_t DataLoader::global_batch_images(int64_t index) const {
  const int64_t global = options_.batch_size * options_.shards, count = batches_per_epoch();
  TORCH_CHECK(index >= 0 && index < count, "loader: batch ", index,
              " is past the end of the epoch");
  return index + 1 == count && !options_.drop_last ? split_.size() - index * global : global;
}

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  std::unique_lock<std::mutex> lock(mutex_);
  // Let the previous epoch's batches in construction finish, then forget them.
  next_build_ = batches_;
  cv_.wait(lock, [&] { return in_flight_ == 0; });
  order_ = epoch_order(split_.size(), options_.seed, epoch, options_.shuffle);
  epoch_ = epoch;
  batches_ = batches_per_epoch();
  TORCH_CHECK(first_batch >= 0 && first_batch <= batches_, "loader: batch ", first_batch,
              " is not in an epoch of ", batches_, " batches");
  next_build_ = next_deliver_ = first_batch;
  ready_.clear();
  errors_.clear();
  lock.unlock();
  cv_.notify_all();
}

int64_t DataLoader::skipped() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return skipped_;
}

Batch DataLoader::build(int64_t epoch, int64_t index) const {
  const int64_t global = options_.batch_size * options_.shards;
  int64_t begin = index * global;
  int64_t end = begin + global_batch_images(index);
  if (options_.shards > 1) {  // this shard's slice of the global batch
    const int64_t m = end - begin;
    end = begin + m * (options_.shard + 1) / options_.shards;
    begin += m * options_.shard / options_.shards;
  }
  std::vector<int64_t> order_copy;
  const std::vector<int64_t>* order = &order_;
  if (epoch != epoch_) {
    order_copy = epoch_order(split_.size(), options_.seed, epoch, options_.shuffle);
    order = &order_copy;
  }
  // Each shard augments its slice with a stream of its own (shard 0's is the unsharded one).
  const uint64_t aug_seed =
      options_.shard == 0
          ? options_.seed
          : detail::stream_seed(options_.seed, 0x5AA2Dull, static_cast<uint64_t>(options_.shard));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(detail::stream_seed(
      aug_seed, static_cast<uint64_t>(epoch) + 1, static_cast<uint64_t>(index)));
  const Augmentation& aug = options_.augment;
  std::vector<int64_t> idx(order->begin() + begin, order->begin() + end);

  at::Tensor images;
  at::Tensor labels;
  if (split_.in_memory()) {
    const at::Tensor sel = at::tensor(idx, at::kLong);
    images = split_.images.index_select(0, sel);
    labels = split_.labels.index_select(0, sel);
    if (aug.crop_padding > 0) images = random_crop(images, aug.crop_padding, gen);
  } else {
    std::vector<at::Tensor> decoded;
    std::vector<int64_t> kept;
    const int64_t* lab = split_.labels.data_ptr<int64_t>();
    const bool random = aug.random_resize || aug.crop_padding > 0 || aug.horizontal_flip;
    for (int64_t i : idx) {
      at::Tensor img;
      try {
        img = read_jpeg(split_.files[static_cast<size_t>(i)]);
      } catch (const c10::Error&) {
        if (!options_.skip_corrupt) throw;
        std::lock_guard<std::mutex> lock(mutex_);
        ++skipped_;
        continue;
      }
      decoded.push_back(random
                            ? random_resized_crop(img, aug.image_size, gen)
                            : resize_center_crop(img, aug.image_size, aug.image_size * 256 / 224));
      kept.push_back(lab[i]);
    }
    TORCH_CHECK(!decoded.empty(), "loader: every image of batch ", index, " was corrupt");
    images = at::stack(decoded);
    labels = at::tensor(kept, at::kLong);
  }
  if (aug.horizontal_flip) images = random_horizontal_flip(images, 0.5, gen);
  images = normalize(images, mean_, std_);
  if (options_.pin_memory) return Batch{images.pin_memory(), labels.pin_memory(), index};
  return Batch{images, labels, index};
}

void DataLoader::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    cv_.wait(lock, [&] {
      return stop_ || (epoch_ >= 0 && next_build_ < batches_ &&
                       next_build_ < next_deliver_ + options_.prefetch);
    });
    if (stop_) return;
    const int64_t index = next_build_++;
    const int64_t epoch = epoch_;
    ++in_flight_;
    lock.unlock();
    Batch batch;
    std::exception_ptr error;
    try {
      batch = build(epoch, index);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    --in_flight_;
    if (epoch == epoch_) {
      if (error) {
        errors_[index] = error;
      } else {
        ready_[index] = std::move(batch);
      }
    }
    cv_.notify_all();
  }
}

bool DataLoader::next(Batch& out) {
  TORCH_CHECK(epoch_ >= 0, "loader: call start_epoch before next");
  if (threads_.empty()) {
    if (next_deliver_ >= batches_) return false;
    out = build(epoch_, next_deliver_++);
    return true;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  if (next_deliver_ >= batches_) return false;
  const int64_t want = next_deliver_;
  cv_.wait(lock, [&] { return ready_.count(want) || errors_.count(want); });
  if (errors_.count(want)) {
    const std::exception_ptr e = errors_[want];
    errors_.erase(want);
    ++next_deliver_;
    lock.unlock();
    cv_.notify_all();
    std::rethrow_exception(e);
  }
  out = std::move(ready_[want]);
  ready_.erase(want);
  ++next_deliver_;
  lock.unlock();
  cv_.notify_all();
  return true;
}

}  // namespace eelu::data
