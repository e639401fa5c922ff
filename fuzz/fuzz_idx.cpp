// IDX reader: the first two bytes give the length of the images file, the rest is the labels
// file (either may be gzip-compressed: the reader sees the gzip magic).
#include <ATen/ATen.h>

#include "eelu/data/images.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t n = std::min<size_t>(size - 2, data[0] | (size_t(data[1]) << 8));
  const std::string images = eelu::fuzz::write_temp("images", data + 2, n);
  const std::string labels = eelu::fuzz::write_temp("labels", data + 2 + n, size - 2 - n);
  eelu::fuzz::refuse_or_read([&] {
    const auto split = eelu::data::read_idx_split(images, labels, 10);
    if (split.labels.numel() && split.labels.max().item<int64_t>() >= 10) std::abort();
  });
  return 0;
}
