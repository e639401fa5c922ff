// Image-classification datasets read from their published formats: IDX (MNIST,
// Fashion-MNIST), CIFAR-10 and CIFAR-100 binary and Tiny ImageNet, held in memory as uint8;
// image folders in the ImageNet layout, kept on disk as a list of JPEG files. Bad files are
// errors that name the file and what is wrong (c10::Error), never a crash or a silent wrong
// label.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <string>
#include <vector>

namespace eelu::data {

/// One split: labels (N) int64 in [0, classes), and either the images in memory,
/// (N, C, H, W) uint8, or the JPEG files they are read from (`files`, images undefined).
struct ImageSplit {
  at::Tensor images;
  at::Tensor labels;
  std::vector<std::string> files;
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  bool in_memory() const { return images.defined(); }
};

struct ImageDataset {
  std::string name;                  // as load_dataset knows it
  std::vector<std::string> classes;  // class names, index = label
  ImageSplit train;
  ImageSplit test;  // Tiny ImageNet and image folders: the labelled validation split
  /// Per-channel mean and standard deviation of the training split, in [0, 1] units
  /// (image folders: ImageNet's published statistics).
  std::vector<double> mean, std;
  std::string source;   // the directory it was read from
  int64_t skipped = 0;  // corrupt images left out (LoadOptions::skip_corrupt)
  int64_t channels() const { return train.in_memory() ? train.images.size(1) : 3; }
  /// Image height and width in memory; 0 for image folders, whose sizes vary.
  int64_t height() const { return train.in_memory() ? train.images.size(2) : 0; }
  int64_t width() const { return train.in_memory() ? train.images.size(3) : 0; }
  int64_t num_classes() const { return static_cast<int64_t>(classes.size()); }
};

struct LoadOptions {
  bool coarse = false;        // CIFAR-100: the 20 superclasses instead of the 100 classes
  bool skip_corrupt = false;  // leave corrupt JPEGs out (counted) instead of failing
};

/// Where Debian's dataset-fashion-mnist package puts Fashion-MNIST.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// Names load_dataset knows, with a line on the layout each expects.
std::vector<std::pair<std::string, std::string>> dataset_names();

/// Refuses a name load_dataset does not know (any case, '_' for '-', the aliases), with the
/// list of valid ones, before anything is read.
void check_dataset_name(const std::string& name);

/// Loads a dataset by name from `dir` (Fashion-MNIST: the Debian package's directory when
/// `dir` is empty).
ImageDataset load_dataset(const std::string& name, const std::string& dir = "",
                          const LoadOptions& options = {});

/// Tiny ImageNet (`tiny-imagenet-200/`): 200 classes of 64x64 JPEGs, decoded into memory in
/// parallel; the labelled val/ split is the test split.
ImageDataset load_tiny_imagenet(const std::string& dir, const LoadOptions& options = {});

/// An image folder in the ImageNet layout (`train/<class>/*.JPEG`, `val/<class>/*.JPEG`):
/// the file lists, classes in sorted order of the training folders. Nothing is decoded.
ImageDataset load_image_folder(const std::string& dir);

/// IDX files (gzip-compressed or raw): `images` of magic 0x00000803 (N, H, W), `labels` of
/// magic 0x00000801 (N), labels below `num_classes`.
ImageSplit read_idx_split(const std::string& images, const std::string& labels,
                          int64_t num_classes);

/// CIFAR binary files: records of `label_bytes` label bytes (1 for CIFAR-10; 2 for CIFAR-100:
/// coarse then fine) and 3072 pixel bytes (R, G, B planes of 32x32). `label_index` picks the
/// label byte used.
ImageSplit read_cifar_files(const std::vector<std::string>& files, int label_bytes, int label_index,
                            int64_t num_classes);

/// Per-channel mean and standard deviation of uint8 images (N, C, H, W), in [0, 1] units.
std::pair<std::vector<double>, std::vector<double>> channel_statistics(const at::Tensor& images);

}  // namespace eelu::data
