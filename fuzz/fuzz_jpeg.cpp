// JPEG decoder, with a pixel limit small enough for the fuzzer's memory.
#include <ATen/ATen.h>

#include "eelu/data/jpeg.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  eelu::fuzz::refuse_or_read([&] {
    const at::Tensor img = eelu::data::decode_jpeg(data, size, "fuzz input", 1 << 22);
    if (img.size(0) != 3) std::abort();
  });
  return 0;
}
