#include "eelu/data/transforms.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cmath>

namespace eelu::data {
namespace {
void check_batch(const at::Tensor& images, const char* who) {
  TORCH_CHECK(images.dim() == 4, who, ": expected a batch (N, C, H, W), got ", images.sizes());
}
}  // namespace

at::Tensor normalize(const at::Tensor& images, const std::vector<double>& mean,
                     const std::vector<double>& std) {
  check_batch(images, "normalize");
  TORCH_CHECK(images.scalar_type() == at::kByte, "normalize: expected uint8 images, got ",
              images.scalar_type());
  const int64_t c = images.size(1);
  TORCH_CHECK(static_cast<int64_t>(mean.size()) == c && static_cast<int64_t>(std.size()) == c,
              "normalize: ", c, " channels but ", mean.size(), " means and ", std.size(),
              " standard deviations");
  std::vector<float> scale(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
  for (int64_t i = 0; i < c; ++i) {
    TORCH_CHECK(std[i] > 0, "normalize: standard deviation of channel ", i, " is ", std[i]);
    scale[i] = static_cast<float>(1.0 / (255.0 * std[i]));
    shift[i] = static_cast<float>(-mean[i] / std[i]);
  }
  const at::Tensor s = at::from_blob(scale.data(), {1, c, 1, 1}, at::kFloat).clone();
  const at::Tensor b = at::from_blob(shift.data(), {1, c, 1, 1}, at::kFloat).clone();
  return at::addcmul(b, images.to(at::kFloat), s);
}

at::Tensor random_crop(const at::Tensor& images, int64_t padding, at::Generator& generator) {
  check_batch(images, "random_crop");
  TORCH_CHECK(padding >= 0, "random_crop: padding must be >= 0, got ", padding);
  if (padding == 0 || images.size(0) == 0) return images;
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3);
  const at::Tensor padded = at::constant_pad_nd(images, {padding, padding, padding, padding}, 0);
  const at::Tensor offsets =
      at::randint(0, 2 * padding + 1, {n, 2}, generator, at::TensorOptions().dtype(at::kLong));
  const int64_t* o = offsets.data_ptr<int64_t>();
  at::Tensor out = at::empty_like(images);
  for (int64_t i = 0; i < n; ++i) {
    out[i].copy_(padded[i].narrow(1, o[2 * i], h).narrow(2, o[2 * i + 1], w));
  }
  return out;
}

at::Tensor random_horizontal_flip(const at::Tensor& images, double p, at::Generator& generator) {
  check_batch(images, "random_horizontal_flip");
  TORCH_CHECK(p >= 0 && p <= 1, "random_horizontal_flip: p must be in [0, 1], got ", p);
  const at::Tensor u = at::empty({images.size(0)}, at::kDouble).uniform_(0, 1, generator);
  const at::Tensor flip = (u < p).view({-1, 1, 1, 1});
  return at::where(flip, images.flip({3}), images);
}

}  // namespace eelu::data

namespace eelu::data {
namespace {

// Bilinear resize of a (C, H, W) uint8 image, rounded back to uint8.
at::Tensor resize(const at::Tensor& image, int64_t h, int64_t w) {
  if (image.size(1) == h && image.size(2) == w) return image;
  const at::Tensor f = image.to(at::kFloat).unsqueeze(0);
  const at::Tensor r = at::upsample_bilinear2d(f, {h, w}, /*align_corners=*/false);
  return r.squeeze(0).round_().clamp_(0, 255).to(at::kByte);
}

void check_image(const at::Tensor& image, const char* who) {
  TORCH_CHECK(image.dim() == 3 && image.scalar_type() == at::kByte && image.size(1) > 0 &&
                  image.size(2) > 0,
              who, ": expected a uint8 image (C, H, W), got ", image.sizes(), " ",
              image.scalar_type());
}

}  // namespace

at::Tensor random_resized_crop(const at::Tensor& image, int64_t size, at::Generator& generator,
                               std::pair<double, double> scale, std::pair<double, double> ratio) {
  check_image(image, "random_resized_crop");
  TORCH_CHECK(size > 0, "random_resized_crop: size must be > 0");
  const int64_t H = image.size(1), W = image.size(2);
  const double area = double(H) * double(W);
  const at::Tensor u = at::empty({10, 4}, at::kDouble).uniform_(0, 1, generator);
  const double* p = u.data_ptr<double>();
  const double log_lo = std::log(ratio.first), log_hi = std::log(ratio.second);
  for (int t = 0; t < 10; ++t) {
    const double target = area * (scale.first + (scale.second - scale.first) * p[4 * t]);
    const double r = std::exp(log_lo + (log_hi - log_lo) * p[4 * t + 1]);
    const int64_t w = std::llround(std::sqrt(target * r));
    const int64_t h = std::llround(std::sqrt(target / r));
    if (w > 0 && h > 0 && w <= W && h <= H) {
      const int64_t i =
          std::min<int64_t>(H - h, static_cast<int64_t>(p[4 * t + 2] * double(H - h + 1)));
      const int64_t j =
          std::min<int64_t>(W - w, static_cast<int64_t>(p[4 * t + 3] * double(W - w + 1)));
      return resize(image.narrow(1, i, h).narrow(2, j, w), size, size);
    }
  }
  // Fallback: the centre crop with the ratio clamped into range.
  const double in_ratio = double(W) / double(H);
  int64_t w = W, h = H;
  if (in_ratio < ratio.first) {
    h = std::llround(double(W) / ratio.first);
  } else if (in_ratio > ratio.second) {
    w = std::llround(double(H) * ratio.second);
  }
  return resize(image.narrow(1, (H - h) / 2, h).narrow(2, (W - w) / 2, w), size, size);
}

at::Tensor resize_center_crop(const at::Tensor& image, int64_t size, int64_t resize_to) {
  check_image(image, "resize_center_crop");
  TORCH_CHECK(size > 0 && resize_to >= size, "resize_center_crop: need resize >= size > 0");
  const int64_t H = image.size(1), W = image.size(2);
  int64_t h = resize_to, w = resize_to;
  if (H < W) {
    w = std::llround(double(W) * double(resize_to) / double(H));
  } else {
    h = std::llround(double(H) * double(resize_to) / double(W));
  }
  const at::Tensor r = resize(image, h, w);
  return r.narrow(1, (h - size) / 2, size).narrow(2, (w - size) / 2, size);
}

}  // namespace eelu::data
