#include "eelu/data/transforms.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

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
