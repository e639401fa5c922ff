#include "eelu/data/subsets.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "data/splitmix.h"

namespace eelu::data {
namespace {

// The indices of each class, each list shuffled by a stream of its own (seed, class).
std::vector<std::vector<int64_t>> shuffled_by_class(const at::Tensor& labels, int64_t num_classes,
                                                    uint64_t seed) {
  TORCH_CHECK(labels.dim() == 1 && labels.scalar_type() == at::kLong,
              "subsets: labels must be a 1-D int64 tensor, got ", labels.sizes(), " ",
              labels.scalar_type());
  TORCH_CHECK(num_classes >= 1, "subsets: num_classes must be >= 1");
  const at::Tensor l = labels.contiguous();
  const int64_t* p = l.data_ptr<int64_t>();
  std::vector<std::vector<int64_t>> by_class(static_cast<size_t>(num_classes));
  for (int64_t i = 0; i < l.numel(); ++i) {
    TORCH_CHECK(p[i] >= 0 && p[i] < num_classes, "subsets: label ", p[i], " at ", i,
                " is not in [0, ", num_classes, ")");
    by_class[static_cast<size_t>(p[i])].push_back(i);
  }
  for (size_t c = 0; c < by_class.size(); ++c) {
    detail::SplitMix64 rng{seed * 0x100000001B3ull + c * 0xD6E8FEB86659FD93ull + 1};
    rng.shuffle(by_class[c]);
  }
  return by_class;
}

at::Tensor sorted_tensor(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  at::Tensor t = at::empty({static_cast<int64_t>(v.size())}, at::kLong);
  std::copy(v.begin(), v.end(), t.data_ptr<int64_t>());
  return t;
}

int64_t share(double fraction, size_t n) {
  if (n == 0) return 0;
  return std::max<int64_t>(1, std::llround(fraction * static_cast<double>(n)));
}

}  // namespace

namespace {
// Sorted indices of the first count(n_c) images of each class's seeded permutation (at most
// n_c): what both kinds of reduced training set take.
template <typename Count>
at::Tensor first_of_each_class(const at::Tensor& labels, int64_t num_classes, uint64_t seed,
                               Count&& count) {
  std::vector<int64_t> out;
  for (const auto& v : shuffled_by_class(labels, num_classes, seed)) {
    const int64_t k = std::min<int64_t>(count(v.size()), static_cast<int64_t>(v.size()));
    out.insert(out.end(), v.begin(), v.begin() + k);
  }
  return sorted_tensor(std::move(out));
}
}  // namespace

at::Tensor stratified_fraction(const at::Tensor& labels, int64_t num_classes, double fraction,
                               uint64_t seed) {
  TORCH_CHECK(fraction > 0 && fraction <= 1, "train fraction must be in (0, 1], got ", fraction);
  return first_of_each_class(labels, num_classes, seed,
                             [&](size_t n) { return share(fraction, n); });
}

at::Tensor stratified_per_class(const at::Tensor& labels, int64_t num_classes, int64_t per_class,
                                uint64_t seed) {
  TORCH_CHECK(per_class >= 1, "train images per class must be >= 1, got ", per_class);
  return first_of_each_class(labels, num_classes, seed, [&](size_t) { return per_class; });
}

std::pair<at::Tensor, at::Tensor> stratified_holdout(const at::Tensor& labels, int64_t num_classes,
                                                     double val_fraction, uint64_t seed) {
  TORCH_CHECK(val_fraction > 0 && val_fraction < 1, "validation fraction must be in (0, 1), got ",
              val_fraction);
  std::vector<int64_t> train, val;
  // The holdout uses a stream of its own, so the training subset drawn from what remains is
  // not tied to the held-out images by the same seed.
  for (const auto& v : shuffled_by_class(labels, num_classes, ~seed)) {
    const int64_t k =
        std::min<int64_t>(share(val_fraction, v.size()), static_cast<int64_t>(v.size()) - 1);
    val.insert(val.end(), v.begin(), v.begin() + std::max<int64_t>(k, 0));
    train.insert(train.end(), v.begin() + std::max<int64_t>(k, 0), v.end());
  }
  return {sorted_tensor(std::move(train)), sorted_tensor(std::move(val))};
}

ImageSplit take(const ImageSplit& split, const at::Tensor& indices) {
  ImageSplit out;
  out.labels = split.labels.index_select(0, indices);
  if (split.in_memory()) {
    out.images = split.images.index_select(0, indices);
  } else {
    const at::Tensor idx = indices.contiguous();
    for (int64_t i = 0; i < idx.numel(); ++i) {
      out.files.push_back(split.files.at(static_cast<size_t>(idx.data_ptr<int64_t>()[i])));
    }
  }
  return out;
}

at::Tensor class_counts(const at::Tensor& labels, int64_t num_classes) {
  return at::bincount(labels, {}, num_classes);
}

}  // namespace eelu::data
