// CIFAR reader: the first byte picks CIFAR-10 (1 label byte) or CIFAR-100 (2), the rest is
// the file.
#include <ATen/ATen.h>

#include "eelu/data/images.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int label_bytes = 1 + (data[0] & 1);
  const int64_t classes = label_bytes == 1 ? 10 : 100;
  const std::string file = eelu::fuzz::write_temp("cifar", data + 1, size - 1);
  eelu::fuzz::refuse_or_read([&] {
    const auto split = eelu::data::read_cifar_files({file}, label_bytes, label_bytes - 1, classes);
    if (split.labels.numel() && split.labels.max().item<int64_t>() >= classes) std::abort();
  });
  return 0;
}
