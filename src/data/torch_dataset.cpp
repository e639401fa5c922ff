#include "eelu/data/torch_dataset.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "eelu/data/jpeg.h"
#include "eelu/data/transforms.h"

namespace eelu::data {

ImageSplitDataset::ImageSplitDataset(ImageSplit split, std::vector<double> mean,
                                     std::vector<double> std, int64_t image_size)
    : split_(std::move(split)),
      mean_(std::move(mean)),
      std_(std::move(std)),
      image_size_(image_size) {}

torch::data::Example<> ImageSplitDataset::get(size_t index) {
  const auto i = static_cast<int64_t>(index);
  TORCH_CHECK(i < split_.size(), "ImageSplitDataset: index ", i, " out of range (size ",
              split_.size(), ")");
  const at::Tensor image = split_.in_memory()
                               ? split_.images[i]
                               : resize_center_crop(read_jpeg(split_.files[index]), image_size_,
                                                    image_size_ * 256 / 224);
  return {normalize(image.unsqueeze(0), mean_, std_).squeeze(0), split_.labels[i]};
}

c10::optional<size_t> ImageSplitDataset::size() const { return static_cast<size_t>(split_.size()); }

}  // namespace eelu::data
