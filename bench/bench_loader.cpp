// Loader throughput against the training step it feeds: for each data format, images per
// second the DataLoader delivers (0, 1 and 2 workers) next to images per second of a small
// CNN's training step (forward, backward, SGD) on batches of the same shape. A loader faster
// than the step never starves training. Medians of repeated runs; this is a benchmark, not
// a test: its numbers depend on the machine.
//   build/bench/eelu_bench_loader [--repeats N]
#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "eelu/data/images.h"
#include "eelu/data/jpeg.h"
#include "eelu/data/loader.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// Images per second over `batches` batches of an epoch, median of `repeats` epochs.
double loader_rate(eelu::data::DataLoader& loader, int64_t batches, int repeats) {
  std::vector<double> rates;
  for (int r = 0; r < repeats + 1; ++r) {  // the first is warm-up
    loader.start_epoch(r);
    const auto t0 = Clock::now();
    int64_t images = 0;
    eelu::data::Batch b;
    for (int64_t i = 0; i < batches && loader.next(b); ++i) images += b.labels.numel();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r > 0) rates.push_back(double(images) / s);
  }
  return median(rates);
}

// Images per second of a small CNN's training step on (batch, c, h, w) inputs.
double step_rate(int64_t batch, int64_t c, int64_t h, int64_t w, int repeats) {
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(c, 32, 3).padding(1)),
                            torch::nn::ReLU(), torch::nn::MaxPool2d(2),
                            torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3).padding(1)),
                            torch::nn::ReLU(), torch::nn::AdaptiveAvgPool2d(4),
                            torch::nn::Flatten(), torch::nn::Linear(64 * 16, 10));
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  const at::Tensor x = at::randn({batch, c, h, w});
  const at::Tensor y = at::randint(0, 10, {batch}, at::kLong);
  std::vector<double> rates;
  for (int r = 0; r < repeats + 1; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < 3; ++i) {
      opt.zero_grad();
      at::cross_entropy_loss(net->forward(x), y).backward();
      opt.step();
    }
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r > 0) rates.push_back(3.0 * double(batch) / s);
  }
  return median(rates);
}

void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// A photo-like test image: smooth gradients plus noise, so JPEG has real work to do.
at::Tensor textured(int64_t h, int64_t w, int seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor yy = at::linspace(0, 1, h).view({1, h, 1}),
                   xx = at::linspace(0, 1, w).view({1, 1, w});
  const at::Tensor base =
      at::stack({yy * 200 + xx * 30, xx * 180 + 20 + yy * 0, (xx + yy) * 100}).squeeze(1);
  return (base.expand({3, h, w}) + at::randn({3, h, w}, gen) * 25).clamp(0, 255).to(at::kByte);
}

struct Row {
  std::string format;
  eelu::data::ImageSplit split;
  std::vector<double> mean, std;
  eelu::data::Augmentation aug;
  int64_t c, h, w;
};

}  // namespace

int main(int argc, char** argv) {
  int repeats = 5;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--repeats") repeats = std::max(1, std::stoi(argv[i + 1]));
  }
  const fs::path tmp = fs::temp_directory_path() / "eelu-bench-loader";
  fs::remove_all(tmp);
  fs::create_directories(tmp / "cifar-10-batches-bin");
  std::vector<Row> rows;

  // Fashion-MNIST: the real files of the Debian package.
  {
    const auto d = eelu::data::load_dataset("fashion-mnist");
    rows.push_back({"fashion-mnist 28x28 (memory)", d.train, d.mean, d.std, {}, 1, 28, 28});
  }
  // CIFAR-10 format: 10,000 synthetic records per batch file, read through the real reader.
  {
    const fs::path dir = tmp / "cifar-10-batches-bin";
    const at::Tensor imgs = at::randint(0, 256, {10000, 3073}, at::kLong).to(at::kByte);
    imgs.select(1, 0).remainder_(10);
    std::vector<uint8_t> bytes(imgs.data_ptr<uint8_t>(), imgs.data_ptr<uint8_t>() + imgs.numel());
    for (int b = 1; b <= 5; ++b)
      write_bytes(dir / ("data_batch_" + std::to_string(b) + ".bin"), bytes);
    write_bytes(dir / "test_batch.bin", bytes);
    std::ofstream names(dir / "batches.meta.txt");
    for (int c = 0; c < 10; ++c) names << "c" << c << "\n";
    names.close();
    const auto d = eelu::data::load_dataset("cifar10", tmp.string());
    eelu::data::Augmentation aug;
    aug.crop_padding = 4;
    aug.horizontal_flip = true;
    rows.push_back({"cifar10 32x32 crop+flip (memory)", d.train, d.mean, d.std, aug, 3, 32, 32});
  }
  // Tiny ImageNet layout: 20 classes x 100 JPEGs of 64x64, decoded into memory at load.
  double tiny_decode_rate = 0;
  {
    const fs::path root = tmp / "tiny-imagenet-200";
    fs::create_directories(root / "val" / "images");
    std::ofstream wnids(root / "wnids.txt"), ann(root / "val" / "val_annotations.txt");
    std::vector<std::vector<uint8_t>> pool;
    for (int i = 0; i < 32; ++i)
      pool.push_back(eelu::data::encode_jpeg(textured(64, 64, 100 + i), 90));
    for (int c = 0; c < 20; ++c) {
      const std::string wnid = "n" + std::to_string(1000 + c);
      wnids << wnid << "\n";
      fs::create_directories(root / "train" / wnid / "images");
      for (int i = 0; i < 100; ++i) {
        write_bytes(root / "train" / wnid / "images" / (wnid + "_" + std::to_string(i) + ".JPEG"),
                    pool[(c * 7 + i) % pool.size()]);
      }
      write_bytes(root / "val" / "images" / ("val_" + std::to_string(c) + ".JPEG"),
                  pool[c % pool.size()]);
      ann << "val_" << c << ".JPEG\t" << wnid << "\t0\t0\t63\t63\n";
    }
    wnids.close();
    ann.close();
    std::vector<double> rates;
    eelu::data::ImageDataset d;
    for (int r = 0; r < std::min(repeats, 3); ++r) {
      const auto t0 = Clock::now();
      d = eelu::data::load_dataset("tiny-imagenet", tmp.string());
      rates.push_back(double(d.train.size() + d.test.size()) /
                      std::chrono::duration<double>(Clock::now() - t0).count());
    }
    tiny_decode_rate = median(rates);
    eelu::data::Augmentation aug;
    aug.crop_padding = 8;
    aug.horizontal_flip = true;
    rows.push_back(
        {"tiny-imagenet 64x64 crop+flip (memory)", d.train, d.mean, d.std, aug, 3, 64, 64});
  }
  // An image folder of 768 JPEGs of 500x375 (ImageNet's typical size), decoded per batch.
  {
    eelu::data::ImageSplit split;
    std::vector<int64_t> labels;
    fs::create_directories(tmp / "folder");
    for (int i = 0; i < 768; ++i) {
      const fs::path p = tmp / "folder" / ("img" + std::to_string(i) + ".jpg");
      if (i < 64)
        write_bytes(p, eelu::data::encode_jpeg(textured(375, 500, i), 90));
      else
        fs::copy_file(tmp / "folder" / ("img" + std::to_string(i % 64) + ".jpg"), p);
      split.files.push_back(p.string());
      labels.push_back(i % 10);
    }
    split.labels = at::tensor(labels, at::kLong);
    eelu::data::Augmentation aug;
    aug.image_size = 224;
    aug.random_resize = true;
    aug.horizontal_flip = true;
    rows.push_back({"image folder JPEG 500x375 -> RRC 224",
                    split,
                    {0.485, 0.456, 0.406},
                    {0.229, 0.224, 0.225},
                    aug,
                    3,
                    224,
                    224});
  }

  std::printf(
      "loader images/s (median of %d) against a small CNN's training step, batch 128, "
      "%d intra-op threads\n\n",
      repeats, at::get_num_threads());
  std::printf("%-38s %10s %10s %10s %10s %12s\n", "format", "0 workers", "1 worker", "2 workers",
              "step", "2w / step");
  for (const Row& r : rows) {
    double rates[3];
    const int64_t batches = r.split.in_memory() ? 40 : 4;
    for (int w = 0; w < 3; ++w) {
      eelu::data::LoaderOptions o;
      o.batch_size = 128;
      o.workers = w;
      o.augment = r.aug;
      eelu::data::DataLoader loader(r.split, r.mean, r.std, o);
      rates[w] = loader_rate(loader, batches, repeats);
    }
    const double step = step_rate(128, r.c, r.h, r.w, std::min(repeats, 3));
    std::printf("%-38s %10.0f %10.0f %10.0f %10.0f %11.1fx\n", r.format.c_str(), rates[0], rates[1],
                rates[2], step, rates[2] / step);
  }
  std::printf(
      "\ntiny-imagenet: JPEG decoding into memory at load, %.0f images/s (%d intra-op "
      "threads)\n",
      tiny_decode_rate, at::get_num_threads());
  fs::remove_all(tmp);
  return 0;
}
