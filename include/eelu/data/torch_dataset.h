// An ImageSplit as a LibTorch torch::data dataset, for code built on torch::data's loaders.
// (eelu's own DataLoader, include/eelu/data/loader.h, gathers whole batches at once and is
// faster; both give the same normalised images.)
#pragma once

#include <torch/data/datasets/base.h>
#include <torch/data/example.h>

#include <vector>

#include "eelu/data/images.h"

namespace eelu::data {

class ImageSplitDataset : public torch::data::datasets::Dataset<ImageSplitDataset> {
 public:
  /// Images normalised with mean and std; image-folder images resized and centre-cropped to
  /// image_size.
  ImageSplitDataset(ImageSplit split, std::vector<double> mean, std::vector<double> std,
                    int64_t image_size = 224);
  /// (float32 (C, H, W) image, int64 label).
  torch::data::Example<> get(size_t index) override;
  c10::optional<size_t> size() const override;

 private:
  ImageSplit split_;
  std::vector<double> mean_, std_;
  int64_t image_size_;
};

}  // namespace eelu::data
