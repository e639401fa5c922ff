// CIFAR-10 and CIFAR-100, binary version: fixed-size records of label byte(s) and 3072 pixel
// bytes (1024 red, 1024 green, 1024 blue, row-major 32x32).
#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <filesystem>

#include "data/input_file.h"
#include "eelu/data/images.h"

namespace eelu::data {

ImageSplit read_cifar_files(const std::vector<std::string>& files, int label_bytes, int label_index,
                            int64_t num_classes) {
  constexpr int64_t kPixels = 3 * 32 * 32;
  const int64_t record = label_bytes + kPixels;
  std::vector<int64_t> counts;
  int64_t total = 0;
  for (const auto& path : files) {
    TORCH_CHECK(std::filesystem::is_regular_file(path), "data file not found: ", path);
    const auto bytes = static_cast<int64_t>(std::filesystem::file_size(path));
    TORCH_CHECK(bytes > 0 && bytes % record == 0, path, ": ", bytes,
                " bytes is not a whole number of ", record, "-byte records (", label_bytes,
                " label byte", label_bytes > 1 ? "s" : "",
                " + 3072 pixels); the last record, at byte offset ", (bytes / record) * record,
                ", is truncated");
    counts.push_back(bytes / record);
    total += bytes / record;
  }
  ImageSplit split;
  split.images = at::empty({total, 3, 32, 32}, at::kByte);
  split.labels = at::empty({total}, at::kLong);
  uint8_t* img = split.images.data_ptr<uint8_t>();
  int64_t* lab = split.labels.data_ptr<int64_t>();
  int64_t n = 0;
  for (size_t f = 0; f < files.size(); ++f) {
    detail::InputFile in(files[f]);
    unsigned char label[2];
    for (int64_t i = 0; i < counts[f]; ++i, ++n) {
      in.read_exact(label, static_cast<size_t>(label_bytes), "a record's label");
      const int value = label[label_index];
      TORCH_CHECK(value < num_classes, files[f], ": label ", value, " of record ", i,
                  " (byte offset ", i * record + label_index, ") is not in [0, ", num_classes, ")");
      lab[n] = value;
      in.read_exact(img + n * kPixels, kPixels, "a record's pixels");
    }
  }
  return split;
}

}  // namespace eelu::data
