// Batch transforms for image classification. Augmentations work on uint8 batches (N, C, H, W)
// before normalisation, as torchvision's do on images: the padding of a random crop is black.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

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
