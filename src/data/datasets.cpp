// The datasets by name: where their files are, their class names and statistics.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "data/text_file.h"
#include "eelu/data/images.h"

namespace eelu::data {
namespace fs = std::filesystem;
namespace {

const std::vector<std::string> kFashionClasses = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                  "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                  "Bag",         "Ankle boot"};

// `name` or `name.gz` in dir, whichever exists (the .gz first).
std::string idx_file(const fs::path& dir, const std::string& name) {
  for (const auto& candidate : {dir / (name + ".gz"), dir / name}) {
    if (fs::is_regular_file(candidate)) return candidate.string();
  }
  TORCH_CHECK(false, "data file not found: ", (dir / name).string(),
              "[.gz] (expected the four "
              "IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
              "t10k-labels-idx1-ubyte, gzip-compressed or not, in ",
              dir.string(), ")");
}

ImageDataset load_idx_dataset(const std::string& name, const fs::path& dir,
                              std::vector<std::string> classes) {
  TORCH_CHECK(fs::is_directory(dir), name, ": directory not found: ", dir.string(),
              " (expected the four IDX files train-images-idx3-ubyte, train-labels-idx1-ubyte, "
              "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally .gz)");
  ImageDataset d;
  d.name = name;
  d.classes = std::move(classes);
  const auto n = d.num_classes();
  // One at a time, so that a missing file is reported in a fixed order.
  const std::string train_images = idx_file(dir, "train-images-idx3-ubyte");
  const std::string train_labels = idx_file(dir, "train-labels-idx1-ubyte");
  const std::string test_images = idx_file(dir, "t10k-images-idx3-ubyte");
  const std::string test_labels = idx_file(dir, "t10k-labels-idx1-ubyte");
  d.train = read_idx_split(train_images, train_labels, n);
  d.test = read_idx_split(test_images, test_labels, n);
  TORCH_CHECK(d.train.images.sizes().slice(1) == d.test.images.sizes().slice(1), name,
              ": training images are ", d.train.images.sizes().slice(2), " but test images are ",
              d.test.images.sizes().slice(2));
  return d;
}

// Non-empty lines of a label-names file; exactly `count` of them.
std::vector<std::string> read_names(const fs::path& path, int64_t count) {
  const std::vector<std::string> names = detail::read_lines(path, "label names");
  TORCH_CHECK(static_cast<int64_t>(names.size()) == count, path.string(), " names ", names.size(),
              " classes, expected ", count);
  return names;
}

// `dir/sub` when it exists, else `dir` if it holds `probe`; else an error describing `layout`.
fs::path find_root(const std::string& name, const fs::path& dir, const std::string& sub,
                   const std::string& probe, const std::string& layout) {
  TORCH_CHECK(!dir.empty(), name, ": give the directory that holds ", sub, "/ (--data-dir)");
  if (fs::is_directory(dir / sub)) return dir / sub;
  if (fs::exists(dir / probe)) return dir;
  TORCH_CHECK(false, name, " not found in ", dir.string(), ": expected ", (dir / sub).string(),
              "/ with ", layout);
}

ImageDataset load_cifar10(const fs::path& dir) {
  const fs::path root = find_root("cifar10", dir, "cifar-10-batches-bin", "data_batch_1.bin",
                                  "data_batch_1.bin ... data_batch_5.bin, test_batch.bin and "
                                  "batches.meta.txt (the CIFAR-10 binary version)");
  ImageDataset d;
  d.name = "cifar10";
  d.classes = read_names(root / "batches.meta.txt", 10);
  std::vector<std::string> train;
  for (int i = 1; i <= 5; ++i)
    train.push_back((root / ("data_batch_" + std::to_string(i) + ".bin")).string());
  d.train = read_cifar_files(train, 1, 0, 10);
  d.test = read_cifar_files({(root / "test_batch.bin").string()}, 1, 0, 10);
  return d;
}

ImageDataset load_cifar100(const fs::path& dir, bool coarse) {
  const fs::path root = find_root("cifar100", dir, "cifar-100-binary", "train.bin",
                                  "train.bin, test.bin, fine_label_names.txt and "
                                  "coarse_label_names.txt (the CIFAR-100 binary version)");
  ImageDataset d;
  d.name = coarse ? "cifar100-coarse" : "cifar100";
  const int64_t n = coarse ? 20 : 100;
  d.classes = read_names(root / (coarse ? "coarse_label_names.txt" : "fine_label_names.txt"), n);
  const int label = coarse ? 0 : 1;
  d.train = read_cifar_files({(root / "train.bin").string()}, 2, label, n);
  d.test = read_cifar_files({(root / "test.bin").string()}, 2, label, n);
  return d;
}

std::string normalised(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
    return c == '_' ? '-' : static_cast<char>(std::tolower(c));
  });
  if (name == "fashionmnist") return "fashion-mnist";
  if (name == "cifar-10") return "cifar10";
  if (name == "cifar-100") return "cifar100";
  if (name == "tinyimagenet" || name == "tiny-imagenet-200") return "tiny-imagenet";
  return name;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> dataset_names() {
  return {
      {"fashion-mnist", std::string("IDX files; default directory ") + kFashionMnistDir +
                            " (Debian package dataset-fashion-mnist)"},
      {"mnist", "IDX files train-images-idx3-ubyte[.gz] ... t10k-labels-idx1-ubyte[.gz]"},
      {"cifar10", "cifar-10-batches-bin/ (binary version): data_batch_{1..5}.bin, test_batch.bin"},
      {"cifar100",
       "cifar-100-binary/: train.bin, test.bin (fine labels; --coarse for the 20 "
       "superclasses)"},
      {"tiny-imagenet",
       "tiny-imagenet-200/: wnids.txt, train/<wnid>/images/*.JPEG, "
       "val/images/*.JPEG with val/val_annotations.txt"},
      {"imagenet", "an image folder: train/<class>/*.JPEG and val/<class>/*.JPEG"},
  };
}

void check_dataset_name(const std::string& name_in) {
  const std::string name = normalised(name_in);
  for (const auto& [n, _] : dataset_names()) {
    if (n == name) return;
  }
  if (name == "image-folder") return;
  std::string valid;
  for (const auto& [n, _] : dataset_names()) valid += (valid.empty() ? "" : ", ") + n;
  TORCH_CHECK(false, "unknown dataset '", name_in, "'; valid: ", valid);
}

ImageDataset load_dataset(const std::string& name_in, const std::string& dir_in,
                          const LoadOptions& options) {
  const bool coarse = options.coarse;
  const std::string name = normalised(name_in);
  const fs::path dir(dir_in);
  ImageDataset d;
  if (name == "fashion-mnist") {
    d = load_idx_dataset(name, dir_in.empty() ? fs::path(kFashionMnistDir) : dir, kFashionClasses);
  } else if (name == "mnist") {
    TORCH_CHECK(!dir_in.empty(), "mnist: give the directory of its IDX files (--data-dir)");
    d = load_idx_dataset(name, dir, {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"});
  } else if (name == "cifar10") {
    d = load_cifar10(dir);
  } else if (name == "cifar100") {
    d = load_cifar100(dir, coarse);
  } else if (name == "tiny-imagenet") {
    d = load_tiny_imagenet(dir_in, options);
  } else if (name == "imagenet" || name == "image-folder") {
    d = load_image_folder(dir_in);
  } else {
    std::string valid;
    for (const auto& [n, _] : dataset_names()) valid += (valid.empty() ? "" : ", ") + n;
    TORCH_CHECK(false, "unknown dataset '", name_in, "'; valid: ", valid);
  }
  TORCH_CHECK(!coarse || name == "cifar100", "--coarse applies to cifar100 only");
  d.source = d.name == "fashion-mnist" && dir_in.empty() ? kFashionMnistDir : dir_in;
  if (d.train.in_memory()) std::tie(d.mean, d.std) = channel_statistics(d.train.images);
  return d;
}

std::pair<std::vector<double>, std::vector<double>> channel_statistics(const at::Tensor& images) {
  TORCH_CHECK(images.scalar_type() == at::kByte && images.dim() == 4,
              "channel_statistics: expected uint8 images (N, C, H, W), got ", images.sizes());
  const at::Tensor x = images.contiguous();
  const int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  std::vector<double> mean(static_cast<size_t>(c)), std(static_cast<size_t>(c));
  const uint8_t* p = x.data_ptr<uint8_t>();
  for (int64_t ch = 0; ch < c; ++ch) {
    // Integer sums are exact: no rounding whatever the dataset's size.
    uint64_t s = 0, s2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* q = p + (i * c + ch) * hw;
      for (int64_t j = 0; j < hw; ++j) {
        s += q[j];
        s2 += uint64_t(q[j]) * q[j];
      }
    }
    const double count = double(n) * double(hw);
    const double m = double(s) / count;
    mean[ch] = m / 255.0;
    std[ch] = std::sqrt(std::max(0.0, double(s2) / count - m * m)) / 255.0;
  }
  return {mean, std};
}

}  // namespace eelu::data
