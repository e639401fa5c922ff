// JPEG datasets: Tiny ImageNet (decoded into memory) and image folders (file lists).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "data/text_file.h"
#include "eelu/data/images.h"
#include "eelu/data/jpeg.h"

namespace eelu::data {
namespace fs = std::filesystem;
namespace {

bool is_jpeg_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpeg" || ext == ".jpg";
}

// JPEG files directly in dir, sorted by name.
std::vector<std::string> jpegs_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && is_jpeg_name(e.path())) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Decodes `files` into (N, 3, size, size) in parallel. Corrupt files are fatal, or with
// `skip` left out: the returned keep-mask says which were decoded.
at::Tensor decode_all(const std::vector<std::string>& files, int64_t size, bool skip,
                      std::vector<bool>& keep) {
  const int64_t n = static_cast<int64_t>(files.size());
  at::Tensor out = at::empty({n, 3, size, size}, at::kByte);
  keep.assign(files.size(), true);
  std::mutex m;
  std::string first_error;
  at::parallel_for(0, n, 64, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      try {
        const at::Tensor img = read_jpeg(files[i]);
        TORCH_CHECK(img.size(1) == size && img.size(2) == size, "image ", files[i], " is ",
                    img.size(2), "x", img.size(1), ", expected ", size, "x", size);
        out[i].copy_(img);
      } catch (const c10::Error& err) {
        std::lock_guard<std::mutex> lock(m);
        keep[i] = false;
        if (first_error.empty()) first_error = err.what_without_backtrace();
      }
    }
  });
  TORCH_CHECK(skip || first_error.empty(), first_error,
              " (use --skip-corrupt to leave corrupt images out)");
  return out;
}

ImageSplit compact(at::Tensor images, const std::vector<int64_t>& labels,
                   const std::vector<bool>& keep, int64_t& skipped) {
  std::vector<int64_t> idx, lab;
  for (size_t i = 0; i < keep.size(); ++i) {
    if (keep[i]) {
      idx.push_back(static_cast<int64_t>(i));
      lab.push_back(labels[i]);
    }
  }
  skipped += static_cast<int64_t>(keep.size() - idx.size());
  ImageSplit s;
  s.labels = at::tensor(lab, at::kLong);
  s.images =
      idx.size() == keep.size() ? images : images.index_select(0, at::tensor(idx, at::kLong));
  return s;
}

}  // namespace

ImageDataset load_tiny_imagenet(const std::string& dir_in, const LoadOptions& options) {
  const std::string layout =
      "wnids.txt, train/<wnid>/images/*.JPEG, val/images/*.JPEG and val/val_annotations.txt";
  TORCH_CHECK(!dir_in.empty(),
              "tiny-imagenet: give the directory that holds tiny-imagenet-200/ (--data-dir)");
  fs::path root(dir_in);
  if (fs::is_directory(root / "tiny-imagenet-200")) root /= "tiny-imagenet-200";
  TORCH_CHECK(fs::is_regular_file(root / "wnids.txt"), "tiny-imagenet not found in ", dir_in,
              ": expected tiny-imagenet-200/ with ", layout);
  ImageDataset d;
  d.name = "tiny-imagenet";
  const std::vector<std::string> wnids = detail::read_lines(root / "wnids.txt", "class list");
  TORCH_CHECK(!wnids.empty(), (root / "wnids.txt").string(), " lists no classes");
  std::map<std::string, int64_t> index;
  for (size_t i = 0; i < wnids.size(); ++i) {
    TORCH_CHECK(index.emplace(wnids[i], i).second, "wnids.txt lists ", wnids[i], " twice");
  }
  // Class names from words.txt when present ("wnid<TAB>names"), else the wnid.
  d.classes = wnids;
  if (fs::is_regular_file(root / "words.txt")) {
    for (const auto& line : detail::read_lines(root / "words.txt", "class names")) {
      const auto tab = line.find('\t');
      if (tab == std::string::npos) continue;
      const auto it = index.find(line.substr(0, tab));
      if (it != index.end()) d.classes[it->second] = line.substr(tab + 1);
    }
  }

  std::vector<std::string> files;
  std::vector<int64_t> labels;
  for (size_t c = 0; c < wnids.size(); ++c) {
    const fs::path images = root / "train" / wnids[c] / "images";
    TORCH_CHECK(fs::is_directory(images), "tiny-imagenet: missing ", images.string(), " (expected ",
                layout, ")");
    for (auto& f : jpegs_in(images)) {
      files.push_back(std::move(f));
      labels.push_back(static_cast<int64_t>(c));
    }
  }
  std::vector<bool> keep;
  at::Tensor train = decode_all(files, 64, options.skip_corrupt, keep);
  d.train = compact(train, labels, keep, d.skipped);

  files.clear();
  labels.clear();
  const fs::path annotations = root / "val" / "val_annotations.txt";
  for (const auto& line : detail::read_lines(annotations, "validation labels")) {
    std::istringstream fields(line);
    std::string file, wnid;
    fields >> file >> wnid;
    const auto it = index.find(wnid);
    TORCH_CHECK(it != index.end(), annotations.string(), ": ", file, " has class ", wnid,
                ", which wnids.txt does not list");
    files.push_back((root / "val" / "images" / file).string());
    labels.push_back(it->second);
  }
  at::Tensor val = decode_all(files, 64, options.skip_corrupt, keep);
  d.test = compact(val, labels, keep, d.skipped);
  return d;
}

ImageDataset load_image_folder(const std::string& dir_in) {
  TORCH_CHECK(!dir_in.empty(), "imagenet: give the image folder's directory (--data-dir)");
  const fs::path root(dir_in);
  TORCH_CHECK(fs::is_directory(root / "train") && fs::is_directory(root / "val"),
              "image folder not found in ", dir_in,
              ": expected train/<class>/*.JPEG and val/<class>/*.JPEG");
  ImageDataset d;
  d.name = "imagenet";
  for (const auto& e : fs::directory_iterator(root / "train")) {
    if (e.is_directory()) d.classes.push_back(e.path().filename().string());
  }
  std::sort(d.classes.begin(), d.classes.end());
  TORCH_CHECK(!d.classes.empty(), (root / "train").string(), " has no class folders");
  auto list = [&](const char* split) {
    ImageSplit s;
    std::vector<int64_t> labels;
    for (const auto& e : fs::directory_iterator(root / split)) {
      if (!e.is_directory()) continue;
      const std::string cls = e.path().filename().string();
      const auto it = std::lower_bound(d.classes.begin(), d.classes.end(), cls);
      TORCH_CHECK(it != d.classes.end() && *it == cls, (root / split / cls).string(),
                  " is a class that train/ does not have");
    }
    for (size_t c = 0; c < d.classes.size(); ++c) {
      const fs::path folder = root / split / d.classes[c];
      if (!fs::is_directory(folder)) continue;
      for (auto& f : jpegs_in(folder)) {
        s.files.push_back(std::move(f));
        labels.push_back(static_cast<int64_t>(c));
      }
    }
    TORCH_CHECK(!s.files.empty(), (root / split).string(), " holds no JPEG images");
    s.labels = at::tensor(labels, at::kLong);
    return s;
  };
  d.train = list("train");
  d.test = list("val");
  d.mean = {0.485, 0.456, 0.406};
  d.std = {0.229, 0.224, 0.225};
  return d;
}

}  // namespace eelu::data
