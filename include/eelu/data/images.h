// Image-classification datasets held in memory as uint8, read from their published formats:
// IDX (MNIST, Fashion-MNIST), CIFAR-10 and CIFAR-100 binary. Bad files are errors that name
// the file and what is wrong (c10::Error), never a crash or a silent wrong label.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <string>
#include <vector>

namespace eelu::data {

/// One split: images (N, C, H, W) uint8, labels (N) int64 in [0, classes).
struct ImageSplit {
  at::Tensor images;
  at::Tensor labels;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct ImageDataset {
  std::string name;                  // "fashion-mnist", "mnist", "cifar10", "cifar100"
  std::vector<std::string> classes;  // class names, index = label
  ImageSplit train;
  ImageSplit test;
  /// Per-channel mean and standard deviation of the training split, in [0, 1] units.
  std::vector<double> mean, std;
  std::string source;  // the directory it was read from
  int64_t channels() const { return train.images.size(1); }
  int64_t height() const { return train.images.size(2); }
  int64_t width() const { return train.images.size(3); }
  int64_t num_classes() const { return static_cast<int64_t>(classes.size()); }
};

/// Where Debian's dataset-fashion-mnist package puts Fashion-MNIST.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// Names load_dataset knows, with a line on the layout each expects.
std::vector<std::pair<std::string, std::string>> dataset_names();

/// Loads a dataset by name from `dir` (Fashion-MNIST: the Debian package's directory when
/// `dir` is empty). `coarse` picks CIFAR-100's 20 coarse labels.
ImageDataset load_dataset(const std::string& name, const std::string& dir = "",
                          bool coarse = false);

/// IDX files (gzip-compressed or raw): `images` of magic 0x00000803 (N, H, W), `labels` of
/// magic 0x00000801 (N), labels below `num_classes`.
ImageSplit read_idx_split(const std::string& images, const std::string& labels,
                          int64_t num_classes);

/// CIFAR binary files: records of `label_bytes` label bytes (1 for CIFAR-10; 2 for CIFAR-100:
/// coarse then fine) and 3072 pixel bytes (R, G, B planes of 32x32). `label_index` picks the
/// label byte used.
ImageSplit read_cifar_files(const std::vector<std::string>& files, int label_bytes,
                            int label_index, int64_t num_classes);

/// Per-channel mean and standard deviation of uint8 images (N, C, H, W), in [0, 1] units.
std::pair<std::vector<double>, std::vector<double>> channel_statistics(const at::Tensor& images);

}  // namespace eelu::data
