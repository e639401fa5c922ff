// Reduced and held-out training sets, stratified by class and fixed by a seed: every
// activation trained with the same seed sees the same images. The permutations come from a
// generator written here (SplitMix64 + Fisher-Yates), so a seed means the same subset on
// every platform and LibTorch version. For one seed, a smaller fraction is a subset of a
// larger one.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <utility>

#include "eelu/data/images.h"

namespace eelu::data {

/// Sorted indices (int64) of round(fraction * n_c) images of each class c (at least 1 of a
/// class that has any), chosen by `seed`. 0 < fraction <= 1.
at::Tensor stratified_fraction(const at::Tensor& labels, int64_t num_classes, double fraction,
                               uint64_t seed);

/// Sorted indices of min(per_class, n_c) images of each class, chosen by `seed`.
at::Tensor stratified_per_class(const at::Tensor& labels, int64_t num_classes, int64_t per_class,
                                uint64_t seed);

/// (training indices, validation indices): round(val_fraction * n_c) of each class held out.
std::pair<at::Tensor, at::Tensor> stratified_holdout(const at::Tensor& labels, int64_t num_classes,
                                                     double val_fraction, uint64_t seed);

/// The images and labels at `indices`.
ImageSplit take(const ImageSplit& split, const at::Tensor& indices);

/// Images per class (int64, num_classes).
at::Tensor class_counts(const at::Tensor& labels, int64_t num_classes);

}  // namespace eelu::data
