#include "eelu/data/jpeg.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <turbojpeg.h>

#include <fstream>
#include <memory>

namespace eelu::data {
namespace {

struct Handle {
  tjhandle h;
  explicit Handle(bool compress) : h(compress ? tjInitCompress() : tjInitDecompress()) {
    TORCH_CHECK(h != nullptr, "libjpeg-turbo: cannot create a handle: ", tjGetErrorStr2(nullptr));
  }
  ~Handle() { tjDestroy(h); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
};

}  // namespace

at::Tensor decode_jpeg(const uint8_t* data, size_t size, const std::string& name,
                       int64_t max_pixels) {
  TORCH_CHECK(size > 0 && size < (size_t(1) << 31), "corrupt JPEG ", name, ": size ", size);
  Handle d(false);
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  if (tjDecompressHeader3(d.h, data, static_cast<unsigned long>(size), &width, &height, &subsamp,
                          &colorspace) != 0) {
    TORCH_CHECK(false, "corrupt JPEG ", name, ": ", tjGetErrorStr2(d.h));
  }
  TORCH_CHECK(width > 0 && height > 0, "corrupt JPEG ", name, ": the header gives a size of ",
              width, "x", height);
  TORCH_CHECK(int64_t(width) * height <= max_pixels, "JPEG ", name, ": refusing an image of ",
              width, "x", height, " pixels (more than ", max_pixels, ")");
  at::Tensor hwc = at::empty({height, width, 3}, at::kByte);
  // Warnings (a truncated scan, bad data) stop the decode: a half-gray image is no image.
  if (tjDecompress2(d.h, data, static_cast<unsigned long>(size), hwc.data_ptr<uint8_t>(), width, 0,
                    height, TJPF_RGB, TJFLAG_STOPONWARNING) != 0) {
    TORCH_CHECK(false, "corrupt JPEG ", name, ": ", tjGetErrorStr2(d.h));
  }
  return hwc.permute({2, 0, 1}).contiguous();
}

at::Tensor read_jpeg(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  TORCH_CHECK(in, "image not found or unreadable: ", path);
  const std::streamsize n = in.tellg();
  TORCH_CHECK(n > 0, "corrupt JPEG ", path, ": empty file");
  std::vector<uint8_t> bytes(static_cast<size_t>(n));
  in.seekg(0);
  TORCH_CHECK(in.read(reinterpret_cast<char*>(bytes.data()), n), "cannot read ", path);
  return decode_jpeg(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> encode_jpeg(const at::Tensor& image, int quality) {
  TORCH_CHECK(image.dim() == 3 && (image.size(0) == 1 || image.size(0) == 3) &&
                  image.scalar_type() == at::kByte,
              "encode_jpeg: expected uint8 (1 or 3, H, W), got ", image.sizes(), " ",
              image.scalar_type());
  const bool gray = image.size(0) == 1;
  const at::Tensor hwc = image.permute({1, 2, 0}).contiguous();
  Handle c(true);
  unsigned char* out = nullptr;
  unsigned long out_size = 0;
  const int rc = tjCompress2(c.h, hwc.data_ptr<uint8_t>(), static_cast<int>(image.size(2)), 0,
                             static_cast<int>(image.size(1)), gray ? TJPF_GRAY : TJPF_RGB, &out,
                             &out_size, gray ? TJSAMP_GRAY : TJSAMP_444, quality, 0);
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> guard(out, tjFree);
  TORCH_CHECK(rc == 0, "encode_jpeg: ", tjGetErrorStr2(c.h));
  return std::vector<uint8_t>(out, out + out_size);
}

}  // namespace eelu::data
