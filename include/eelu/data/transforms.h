// Batch transforms for image classification. Augmentations work on uint8 batches (N, C, H, W)
// before normalisation, as torchvision's do on images: the padding of a random crop is black.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <utility>
#include <vector>

namespace eelu::data {

/// float32 (x / 255 - mean[c]) / std[c] of a uint8 batch.
at::Tensor normalize(const at::Tensor& images, const std::vector<double>& mean,
                     const std::vector<double>& std);

/// Each image padded by `padding` zero pixels on every side, then cropped back to its size at
/// an offset drawn uniformly from [0, 2·padding]² (per image).
at::Tensor random_crop(const at::Tensor& images, int64_t padding, at::Generator& generator);

/// Each image mirrored left-right with probability p (per image).
at::Tensor random_horizontal_flip(const at::Tensor& images, double p, at::Generator& generator);

}  // namespace eelu::data

namespace eelu::data {

/// torchvision's RandomResizedCrop for one (C, H, W) uint8 image: a crop of area share in
/// `scale` and aspect ratio in `ratio` (log-uniform), 10 tries, else a centre crop; resized
/// to size x size (bilinear).
at::Tensor random_resized_crop(const at::Tensor& image, int64_t size, at::Generator& generator,
                               std::pair<double, double> scale = {0.08, 1.0},
                               std::pair<double, double> ratio = {3.0 / 4.0, 4.0 / 3.0});

/// Evaluation-time: the shorter side resized to `resize`, then the centre size x size crop.
at::Tensor resize_center_crop(const at::Tensor& image, int64_t size, int64_t resize);

}  // namespace eelu::data
