// IDX files (LeCun's MNIST format, also Fashion-MNIST's): a 4-byte magic (0, 0, type, dims),
// big-endian 32-bit sizes, then the data. Only unsigned bytes (type 0x08) are read.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cstdio>

#include "data/input_file.h"
#include "eelu/data/images.h"

namespace eelu::data {
namespace {

uint32_t big_endian(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// Reads the header of an IDX file with `dims` dimensions; returns the sizes.
std::vector<int64_t> read_header(detail::InputFile& f, int dims, const char* kind) {
  unsigned char head[4];
  f.read_exact(head, 4, "the IDX magic number");
  const uint32_t magic = big_endian(head);
  const uint32_t want = 0x00000800u | static_cast<uint32_t>(dims);
  TORCH_CHECK(magic == want, f.path(), ": wrong magic number ", hex(magic), " (expected ",
              hex(want), ", IDX unsigned-byte ", kind, " with ", dims, " dims)");
  std::vector<int64_t> sizes;
  for (int d = 0; d < dims; ++d) {
    f.read_exact(head, 4, "the IDX sizes");
    const int64_t s = big_endian(head);
    TORCH_CHECK(s > 0 && s <= (int64_t(1) << 28), f.path(), ": implausible size ", s, " of dim ", d,
                " in the header (byte offset ", 4 + 4 * d, ")");
    sizes.push_back(s);
  }
  return sizes;
}

// Reads `bytes` bytes into a uint8 tensor. Memory grows with the data actually read, never
// ahead of it by more than one chunk: a small file whose header claims a huge size is refused
// as truncated without first allocating that size (found by fuzz/fuzz_idx.cpp).
at::Tensor read_payload(detail::InputFile& f, int64_t bytes, const char* what) {
  constexpr int64_t kChunk = int64_t(64) << 20;
  if (bytes <= kChunk) {
    at::Tensor t = at::empty({bytes}, at::kByte);
    f.read_exact(t.data_ptr<uint8_t>(), static_cast<size_t>(bytes), what);
    return t;
  }
  std::vector<at::Tensor> chunks;
  for (int64_t done = 0; done < bytes; done += kChunk) {
    chunks.push_back(at::empty({std::min(kChunk, bytes - done)}, at::kByte));
    f.read_exact(chunks.back().data_ptr<uint8_t>(), static_cast<size_t>(chunks.back().numel()),
                 what);
  }
  return at::cat(chunks);
}

void expect_end(detail::InputFile& f) {
  TORCH_CHECK(f.at_end(), f.path(), ": oversized: data continues after the ", f.offset(),
              " bytes that the header describes");
}

}  // namespace

ImageSplit read_idx_split(const std::string& images_path, const std::string& labels_path,
                          int64_t num_classes) {
  ImageSplit split;
  {
    detail::InputFile f(images_path);
    const auto s = read_header(f, 3, "images");
    // s[1] * s[2] <= 2^56 cannot overflow; the product with s[0] is checked by division
    // (an overflow there was a fuzzer's find).
    const int64_t pixels = s[1] * s[2];
    TORCH_CHECK(s[0] <= (int64_t(1) << 34) / pixels, images_path, ": implausible size ", s[0],
                " images of ", s[1], "x", s[2], " pixels in the header");
    split.images = read_payload(f, s[0] * s[1] * s[2], "the pixels").view({s[0], 1, s[1], s[2]});
    expect_end(f);
  }
  {
    detail::InputFile f(labels_path);
    const auto s = read_header(f, 1, "labels");
    TORCH_CHECK(s[0] == split.images.size(0), labels_path, " holds ", s[0], " labels but ",
                images_path, " holds ", split.images.size(0), " images");
    const at::Tensor raw_labels = read_payload(f, s[0], "the labels");
    expect_end(f);
    const uint8_t* raw = raw_labels.data_ptr<uint8_t>();
    split.labels = at::empty({s[0]}, at::kLong);
    int64_t* out = split.labels.data_ptr<int64_t>();
    for (int64_t i = 0; i < s[0]; ++i) {
      TORCH_CHECK(raw[i] < num_classes, labels_path, ": label ", int(raw[i]), " of image ", i,
                  " (byte offset ", 8 + i, ") is not in [0, ", num_classes, ")");
      out[i] = raw[i];
    }
  }
  return split;
}

}  // namespace eelu::data
