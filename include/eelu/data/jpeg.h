// JPEG through libjpeg-turbo: decoding to RGB uint8 (grayscale images come out as RGB), and
// encoding (for fixtures and pictures).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace eelu::data {

/// Decodes JPEG bytes to (3, H, W) uint8 RGB. A corrupt or truncated image (libjpeg-turbo's
/// errors and warnings alike) is an error naming `name`; images larger than `max_pixels` are
/// refused before decoding.
at::Tensor decode_jpeg(const uint8_t* data, size_t size, const std::string& name,
                       int64_t max_pixels = int64_t(1) << 28);

/// Reads and decodes a JPEG file.
at::Tensor read_jpeg(const std::string& path);

/// Encodes (1, H, W) grayscale or (3, H, W) RGB uint8 as JPEG.
std::vector<uint8_t> encode_jpeg(const at::Tensor& image, int quality = 90);

}  // namespace eelu::data
