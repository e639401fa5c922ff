// Datasets: the real Fashion-MNIST of the Debian package, fixtures in the IDX and CIFAR
// formats written here (exact labels and pixels back), every bad input's error, stratified
// subsets, and the batch transforms.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include "common.h"
#include "eelu/data/images.h"
#include "eelu/data/jpeg.h"
#include "eelu/data/subsets.h"
#include "eelu/data/transforms.h"

namespace eelu::test {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

// A fresh directory under the test's temporary directory.
fs::path scratch(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / ("eelu_data_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write(const fs::path& path, const Bytes& bytes, bool gzip = false) {
  if (gzip) {
    gzFile f = gzopen(path.string().c_str(), "wb");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), int(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
  }
}

void put32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

// IDX images (n, h, w) with pixel (i, r, c) = (7i + 3r + c) % 256, and labels i % classes.
Bytes idx_images(uint32_t n, uint32_t h, uint32_t w) {
  Bytes b;
  put32(b, 0x803);
  put32(b, n);
  put32(b, h);
  put32(b, w);
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t r = 0; r < h; ++r)
      for (uint32_t c = 0; c < w; ++c) b.push_back(static_cast<uint8_t>((7 * i + 3 * r + c) % 256));
  return b;
}
Bytes idx_labels(uint32_t n, uint32_t classes) {
  Bytes b;
  put32(b, 0x801);
  put32(b, n);
  for (uint32_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(i % classes));
  return b;
}

void write_idx_set(const fs::path& dir, bool gzip, uint32_t n_train = 30, uint32_t n_test = 10) {
  const std::string gz = gzip ? ".gz" : "";
  write(dir / ("train-images-idx3-ubyte" + gz), idx_images(n_train, 5, 4), gzip);
  write(dir / ("train-labels-idx1-ubyte" + gz), idx_labels(n_train, 10), gzip);
  write(dir / ("t10k-images-idx3-ubyte" + gz), idx_images(n_test, 5, 4), gzip);
  write(dir / ("t10k-labels-idx1-ubyte" + gz), idx_labels(n_test, 10), gzip);
}

template <typename F>
void expect_error(F&& f, const std::vector<std::string>& fragments) {
  try {
    f();
    ADD_FAILURE() << "no error; expected '" << fragments[0] << "'";
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    for (const auto& frag : fragments) {
      EXPECT_NE(msg.find(frag), std::string::npos) << "'" << frag << "' not in: " << msg;
    }
  }
}

TEST(FashionMnist, TheDebianPackageReadsWithKnownValues) {
  if (!fs::exists(data::kFashionMnistDir)) GTEST_FAIL() << "install dataset-fashion-mnist";
  const data::ImageDataset d = data::load_dataset("fashion-mnist");
  ASSERT_EQ(d.train.images.sizes(), at::IntArrayRef({60000, 1, 28, 28}));
  ASSERT_EQ(d.test.images.sizes(), at::IntArrayRef({10000, 1, 28, 28}));
  EXPECT_TRUE(at::equal(data::class_counts(d.train.labels, 10), at::full({10}, 6000, at::kLong)));
  EXPECT_TRUE(at::equal(data::class_counts(d.test.labels, 10), at::full({10}, 1000, at::kLong)));
  EXPECT_TRUE(at::equal(d.train.labels.slice(0, 0, 10),
                        at::tensor({9, 0, 0, 3, 0, 2, 7, 2, 5, 5}, at::kLong)));
  // Known pixels (read independently with Python's gzip module).
  const std::vector<int64_t> row14 = {0,   0,   1,   4,   6,   7,   2,   0,   0,   0,
                                      0,   0,   237, 226, 217, 223, 222, 219, 222, 221,
                                      216, 223, 229, 215, 218, 255, 77,  0};
  EXPECT_TRUE(at::equal(d.train.images[0][0][14].to(at::kLong), at::tensor(row14, at::kLong)));
  EXPECT_EQ(d.train.images[59999].sum().item<int64_t>(), 16684);
  EXPECT_EQ(d.test.labels[0].item<int64_t>(), 9);
  EXPECT_EQ(d.test.images[0].sum().item<int64_t>(), 33456);
  EXPECT_TRUE(at::equal(d.test.images[9999][0][10].slice(0, 10, 14).to(at::kLong),
                        at::tensor({0, 56, 80, 45}, at::kLong)));
  EXPECT_NEAR(d.mean[0], 0.2860405969887955, 1e-12);
  EXPECT_NEAR(d.std[0], 0.3530242445149223, 1e-12);
  EXPECT_EQ(d.classes[9], "Ankle boot");
}

TEST(Idx, FixturesReadBackExactlyRawAndGzip) {
  for (bool gzip : {false, true}) {
    const fs::path dir = scratch(gzip ? "idx_gz" : "idx_raw");
    write_idx_set(dir, gzip);
    const data::ImageDataset d = data::load_dataset("mnist", dir.string());
    ASSERT_EQ(d.train.images.sizes(), at::IntArrayRef({30, 1, 5, 4}));
    ASSERT_EQ(d.test.size(), 10);
    for (int64_t i : {0, 7, 29}) {
      EXPECT_EQ(d.train.labels[i].item<int64_t>(), i % 10);
      for (int64_t r = 0; r < 5; ++r)
        for (int64_t c = 0; c < 4; ++c)
          EXPECT_EQ(d.train.images[i][0][r][c].item<int64_t>(), (7 * i + 3 * r + c) % 256);
    }
  }
}

TEST(Idx, BadFilesNameTheProblem) {
  const fs::path dir = scratch("idx_bad");
  const auto images = (dir / "im").string(), labels = (dir / "lb").string();
  auto read = [&] { data::read_idx_split(images, labels, 10); };

  write(labels, idx_labels(3, 10));
  expect_error(read, {"data file not found: " + images});

  Bytes wrong_magic = idx_images(3, 2, 2);
  wrong_magic[3] = 0x01;
  write(images, wrong_magic);
  expect_error(read, {images, "wrong magic number 0x00000801 (expected 0x00000803"});

  Bytes truncated = idx_images(3, 2, 2);
  truncated.resize(truncated.size() - 5);
  write(images, truncated);
  expect_error(
      read,
      {images, "truncated: the pixels needs 12 bytes from byte offset 16, the file ends after 7"});

  write(images, truncated, /*gzip=*/true);
  expect_error(read, {images, "truncated"});

  Bytes oversized = idx_images(3, 2, 2);
  oversized.push_back(0);
  write(images, oversized);
  expect_error(read, {images, "oversized: data continues after the 28 bytes"});

  // A header that claims 251,658,243 images of 4x5 pixels over a few bytes of data: refused
  // as truncated without allocating 5 GB first (a fuzzer's find).
  Bytes huge = idx_images(3, 4, 5);
  huge[4] = 0x0f;
  write(images, huge);
  expect_error(read, {images, "truncated: the pixels needs"});
  // Sizes whose product overflows 64 bits (another fuzzer's find).
  Bytes overflow = idx_images(3, 4, 5);
  for (int i : {4, 8, 12}) overflow[i] = 0x0f;
  write(images, overflow);
  expect_error(read, {images, "implausible size 251658243 images of 251658244x251658245 pixels"});

  Bytes zero = idx_images(3, 2, 2);
  zero[7] = 0;  // count 0
  write(images, zero);
  expect_error(read, {"implausible size 0 of dim 0"});

  write(images, idx_images(3, 2, 2));
  write(labels, idx_labels(4, 10));
  expect_error(read, {"holds 4 labels but", "holds 3 images"});

  Bytes bad_label = idx_labels(3, 10);
  bad_label[9] = 12;
  write(labels, bad_label);
  expect_error(read, {labels, "label 12 of image 1 (byte offset 9) is not in [0, 10)"});

  // A gzip stream whose compressed bytes are damaged.
  write(images, idx_images(300, 20, 20), true);
  {
    std::fstream f(images, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    const char junk[64] = {'x'};
    f.write(junk, sizeof junk);
  }
  write(labels, idx_labels(300, 10));
  expect_error(read, {images});

  expect_error([&] { data::load_dataset("mnist", (dir / "nowhere").string()); },
               {"directory not found", "train-images-idx3-ubyte"});
  expect_error([&] { data::load_dataset("mnist", dir.string()); },
               {"data file not found", "train-images-idx3-ubyte[.gz]"});
  expect_error([&] { data::load_dataset("imagenette", dir.string()); },
               {"unknown dataset 'imagenette'; valid: fashion-mnist, mnist, cifar10, cifar100, "
                "tiny-imagenet, imagenet"});
}

// CIFAR records: label byte(s), then 3072 pixels with pixel (i, ch, p) = (i + 5ch + p) % 256.
Bytes cifar_records(int first, int n, int label_bytes, int classes) {
  Bytes b;
  for (int i = first; i < first + n; ++i) {
    if (label_bytes == 2) b.push_back(static_cast<uint8_t>(i % 20));  // coarse
    b.push_back(static_cast<uint8_t>(i % classes));
    for (int ch = 0; ch < 3; ++ch)
      for (int p = 0; p < 1024; ++p) b.push_back(static_cast<uint8_t>((i + 5 * ch + p) % 256));
  }
  return b;
}

void write_names(const fs::path& path, int n) {
  std::ofstream out(path);
  for (int i = 0; i < n; ++i) out << "class_" << i << "\n";
}

TEST(Cifar, Cifar10FixtureReadsBack) {
  const fs::path root = scratch("cifar10");
  const fs::path dir = root / "cifar-10-batches-bin";
  fs::create_directories(dir);
  for (int b = 1; b <= 5; ++b) {
    write(dir / ("data_batch_" + std::to_string(b) + ".bin"), cifar_records((b - 1) * 4, 4, 1, 10));
  }
  write(dir / "test_batch.bin", cifar_records(100, 6, 1, 10));
  write_names(dir / "batches.meta.txt", 10);
  const data::ImageDataset d = data::load_dataset("CIFAR-10", root.string());
  ASSERT_EQ(d.train.images.sizes(), at::IntArrayRef({20, 3, 32, 32}));
  ASSERT_EQ(d.test.size(), 6);
  EXPECT_EQ(d.classes[3], "class_3");
  for (int64_t i : {0, 5, 19}) {
    EXPECT_EQ(d.train.labels[i].item<int64_t>(), i % 10);
    EXPECT_EQ(d.train.images[i][2][1][3].item<int64_t>(), (i + 10 + 35) % 256);  // ch 2, p 35
  }
  EXPECT_EQ(d.test.labels[5].item<int64_t>(), 105 % 10);
  // The directory itself works too.
  EXPECT_EQ(data::load_dataset("cifar10", dir.string()).train.size(), 20);

  // Bad input.
  Bytes truncated = cifar_records(0, 3, 1, 10);
  truncated.resize(truncated.size() - 100);
  write(dir / "data_batch_3.bin", truncated);
  expect_error([&] { data::load_dataset("cifar10", root.string()); },
               {"data_batch_3.bin", "is not a whole number of 3073-byte records",
                "at byte offset 6146, is truncated"});
  Bytes bad = cifar_records(0, 2, 1, 10);
  bad[3073] = 10;
  write(dir / "data_batch_3.bin", bad);
  expect_error([&] { data::load_dataset("cifar10", root.string()); },
               {"data_batch_3.bin: label 10 of record 1 (byte offset 3073) is not in [0, 10)"});
  fs::remove(dir / "data_batch_3.bin");
  expect_error([&] { data::load_dataset("cifar10", root.string()); },
               {"data file not found", "data_batch_3.bin"});
  expect_error([&] { data::load_dataset("cifar10", scratch("empty").string()); },
               {"cifar10 not found in", "cifar-10-batches-bin/ with data_batch_1.bin"});
  fs::remove(dir / "batches.meta.txt");
  expect_error([&] { data::load_dataset("cifar10", root.string()); },
               {"label names not found", "batches.meta.txt"});
}

TEST(Cifar, Cifar100FineAndCoarse) {
  const fs::path root = scratch("cifar100");
  const fs::path dir = root / "cifar-100-binary";
  fs::create_directories(dir);
  write(dir / "train.bin", cifar_records(0, 30, 2, 100));
  write(dir / "test.bin", cifar_records(50, 7, 2, 100));
  write_names(dir / "fine_label_names.txt", 100);
  write_names(dir / "coarse_label_names.txt", 20);
  const data::ImageDataset fine = data::load_dataset("cifar100", root.string());
  const data::ImageDataset coarse =
      data::load_dataset("cifar100", root.string(), {/*coarse=*/true});
  EXPECT_EQ(fine.num_classes(), 100);
  EXPECT_EQ(coarse.num_classes(), 20);
  EXPECT_EQ(fine.train.labels[29].item<int64_t>(), 29);
  EXPECT_EQ(coarse.train.labels[29].item<int64_t>(), 29 % 20);
  EXPECT_EQ(fine.test.images[6][0][0][0].item<int64_t>(), 56);
  EXPECT_TRUE(at::equal(fine.train.images, coarse.train.images));
  write_names(dir / "fine_label_names.txt", 99);
  expect_error([&] { data::load_dataset("cifar100", root.string()); },
               {"fine_label_names.txt names 99 classes, expected 100"});
}

TEST(Subsets, StratifiedSeededNestedAndDisjoint) {
  // 10 classes of unequal sizes: class c has 50 + 10c images, shuffled order.
  std::vector<int64_t> l;
  for (int c = 0; c < 10; ++c) l.insert(l.end(), 50 + 10 * c, c);
  at::Tensor labels = at::tensor(l, at::kLong).index_select(0, at::randperm(l.size(), at::kLong));

  const at::Tensor a = data::stratified_fraction(labels, 10, 0.1, 7);
  const at::Tensor counts = data::class_counts(labels.index_select(0, a), 10);
  for (int c = 0; c < 10; ++c)
    EXPECT_EQ(counts[c].item<int64_t>(), std::llround(0.1 * (50 + 10 * c)));
  EXPECT_TRUE(at::equal(a, data::stratified_fraction(labels, 10, 0.1, 7))) << "same seed";
  EXPECT_FALSE(at::equal(a, data::stratified_fraction(labels, 10, 0.1, 8))) << "another seed";
  EXPECT_TRUE(at::equal(a, std::get<0>(a.sort()))) << "sorted";
  EXPECT_EQ(std::get<0>(at::_unique(a)).numel(), a.numel()) << "no repeats";
  const at::Tensor big = data::stratified_fraction(labels, 10, 0.5, 7);
  EXPECT_TRUE(at::isin(a, big).all().item<bool>()) << "a smaller fraction is inside a larger one";

  const at::Tensor per = data::stratified_per_class(labels, 10, 55, 7);
  const at::Tensor pc = data::class_counts(labels.index_select(0, per), 10);
  EXPECT_EQ(pc[0].item<int64_t>(), 50) << "a class with fewer images gives all it has";
  EXPECT_EQ(pc[9].item<int64_t>(), 55);

  auto [train, val] = data::stratified_holdout(labels, 10, 0.2, 7);
  EXPECT_EQ(train.numel() + val.numel(), labels.numel());
  EXPECT_FALSE(at::isin(val, train).any().item<bool>()) << "disjoint";
  const at::Tensor vc = data::class_counts(labels.index_select(0, val), 10);
  EXPECT_EQ(vc[3].item<int64_t>(), 16);

  expect_error([&] { data::stratified_fraction(labels, 10, 0.0, 1); },
               {"train fraction must be in (0, 1]"});
  expect_error([&] { data::stratified_fraction(labels, 5, 0.5, 1); },
               {"subsets: label", "is not in [0, 5)"});
}

TEST(Transforms, CropFlipAndNormalise) {
  // One 1x3x4 image with distinct pixels 1..12.
  const at::Tensor img = at::arange(1, 13, at::kByte).view({1, 1, 3, 4});
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  EXPECT_TRUE(at::equal(data::random_horizontal_flip(img, 1.0, gen), img.flip({3})));
  EXPECT_TRUE(at::equal(data::random_horizontal_flip(img, 0.0, gen), img));
  EXPECT_TRUE(at::equal(data::random_crop(img, 0, gen), img));

  // Every crop is the padded image's window at some offset, and all 25 offsets occur.
  const at::Tensor batch = img.expand({2000, 1, 3, 4}).contiguous();
  const at::Tensor crops = data::random_crop(batch, 2, gen);
  const at::Tensor padded = at::constant_pad_nd(img, {2, 2, 2, 2}, 0)[0][0];
  std::set<std::pair<int, int>> seen;
  for (int64_t i = 0; i < crops.size(0); ++i) {
    bool found = false;
    for (int dy = 0; dy <= 4 && !found; ++dy)
      for (int dx = 0; dx <= 4 && !found; ++dx)
        if (at::equal(crops[i][0], padded.narrow(0, dy, 3).narrow(1, dx, 4))) {
          found = true;
          seen.insert({dy, dx});
        }
    ASSERT_TRUE(found) << "crop " << i << " is no window of the padded image";
  }
  EXPECT_EQ(seen.size(), 25u);
  const double flipped = (data::random_horizontal_flip(batch, 0.3, gen) != batch)
                             .flatten(1)
                             .any(1)
                             .to(at::kDouble)
                             .mean()
                             .item<double>();
  EXPECT_NEAR(flipped, 0.3, 6 * std::sqrt(0.3 * 0.7 / 2000));

  // Normalising a set with its own statistics gives mean 0 and std 1 per channel.
  const at::Tensor images = at::randint(0, 256, {64, 3, 8, 8}, at::kLong).to(at::kByte);
  auto [mean, std] = data::channel_statistics(images);
  const at::Tensor x = data::normalize(images, mean, std);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(x.select(1, c).mean().item<double>(), 0.0, 1e-5);
    EXPECT_NEAR(x.select(1, c).std(false).item<double>(), 1.0, 1e-5);
  }
  EXPECT_NEAR(x[0][1][2][3].item<double>(),
              (images[0][1][2][3].item<double>() / 255 - mean[1]) / std[1], 1e-5);
  expect_error([&] { data::normalize(images, {0.5}, {0.5}); }, {"3 channels but 1 means"});
}

}  // namespace
}  // namespace eelu::test

namespace eelu::test {
namespace {

// A 64x64 image made of 8x8 blocks of flat colour (which JPEG keeps nearly exactly):
// block (by, bx) of image `seed` has value (seed * 31 + by * 8 + bx * 3 + 40 * ch) % 256.
at::Tensor block_image(int seed, int channels, int h = 64, int w = 64) {
  at::Tensor img = at::empty({channels, h, w}, at::kByte);
  for (int ch = 0; ch < channels; ++ch)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        img[ch][y][x] =
            static_cast<uint8_t>((seed * 31 + (y / 8) * 8 + (x / 8) * 3 + 40 * ch) % 256);
  return img;
}

void write_jpeg_file(const fs::path& path, const at::Tensor& img) {
  const auto bytes = data::encode_jpeg(img, 100);
  write(path, Bytes(bytes.begin(), bytes.end()));
}

// The decoded image is within 3 levels of what was encoded (grayscale: on every channel).
::testing::AssertionResult near_image(const at::Tensor& got, const at::Tensor& want) {
  const at::Tensor w = want.size(0) == 1 ? want.expand({3, want.size(1), want.size(2)}) : want;
  const int64_t err = (got.to(at::kInt) - w.to(at::kInt)).abs().max().item<int64_t>();
  if (err <= 3) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max pixel error " << err;
}

fs::path tiny_imagenet_fixture() {
  const fs::path root = scratch("tiny") / "tiny-imagenet-200";
  const std::vector<std::string> wnids = {"n01", "n02", "n03"};
  fs::create_directories(root / "val" / "images");
  std::ofstream(root / "wnids.txt") << "n01\nn02\nn03\n";
  std::ofstream(root / "words.txt") << "n01\tgoldfish\nn02\tsalamander, eft\nn99\tunused\n";
  for (int c = 0; c < 3; ++c) {
    const fs::path dir = root / "train" / wnids[c] / "images";
    fs::create_directories(dir);
    for (int i = 0; i < 4; ++i) {
      // Every class has one grayscale image.
      write_jpeg_file(dir / (wnids[c] + "_" + std::to_string(i) + ".JPEG"),
                      block_image(10 * c + i, i == 2 ? 1 : 3));
    }
  }
  std::ofstream ann(root / "val" / "val_annotations.txt");
  for (int i = 0; i < 5; ++i) {
    const std::string file = "val_" + std::to_string(i) + ".JPEG";
    write_jpeg_file(root / "val" / "images" / file, block_image(100 + i, 3));
    ann << file << "\t" << wnids[i % 3] << "\t0\t0\t63\t63\n";
  }
  return root;
}

TEST(TinyImageNet, FixtureReadsBackLabelsAndPixels) {
  const fs::path root = tiny_imagenet_fixture();
  const data::ImageDataset d = data::load_dataset("tiny-imagenet", root.parent_path().string());
  ASSERT_EQ(d.train.images.sizes(), at::IntArrayRef({12, 3, 64, 64}));
  ASSERT_EQ(d.test.size(), 5);
  EXPECT_EQ(d.classes, (std::vector<std::string>{"goldfish", "salamander, eft", "n03"}));
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 4; ++i) {
      const int64_t k = 4 * c + i;  // classes in wnids order, files sorted
      EXPECT_EQ(d.train.labels[k].item<int64_t>(), c);
      EXPECT_TRUE(near_image(d.train.images[k], block_image(10 * c + i, i == 2 ? 1 : 3))) << k;
    }
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(d.test.labels[i].item<int64_t>(), i % 3);
    EXPECT_TRUE(near_image(d.test.images[i], block_image(100 + i, 3))) << i;
  }

  // A corrupt image: fatal by default, naming the file; skipped and counted on request.
  const fs::path bad = root / "train" / "n02" / "images" / "n02_1.JPEG";
  Bytes bytes = [&] {
    const auto b = data::encode_jpeg(block_image(5, 3), 100);
    return Bytes(b.begin(), b.begin() + static_cast<long>(b.size() / 2));
  }();
  write(bad, bytes);
  expect_error([&] { data::load_dataset("tiny-imagenet", root.string()); },
               {"corrupt JPEG", "n02_1.JPEG", "--skip-corrupt"});
  data::LoadOptions skip;
  skip.skip_corrupt = true;
  const data::ImageDataset s = data::load_dataset("tiny-imagenet", root.string(), skip);
  EXPECT_EQ(s.skipped, 1);
  EXPECT_EQ(s.train.size(), 11);
  EXPECT_EQ(data::class_counts(s.train.labels, 3)[1].item<int64_t>(), 3);

  write_jpeg_file(bad, block_image(5, 3, 32, 64));
  expect_error([&] { data::load_dataset("tiny-imagenet", root.string()); },
               {"n02_1.JPEG is 64x32, expected 64x64"});
  fs::remove_all(root / "train" / "n03");
  expect_error([&] { data::load_dataset("tiny-imagenet", root.string()); },
               {"missing", "n03/images"});
  expect_error([&] { data::load_dataset("tiny-imagenet", scratch("notiny").string()); },
               {"tiny-imagenet not found in", "wnids.txt, train/<wnid>/images/*.JPEG"});
}

TEST(ImageFolder, ListsFilesAndDecodesThem) {
  const fs::path root = scratch("folder");
  for (const char* split : {"train", "val"}) {
    for (const char* cls : {"cat", "dog"}) fs::create_directories(root / split / cls);
  }
  write_jpeg_file(root / "train" / "dog" / "b.JPEG", block_image(1, 3, 48, 80));
  write_jpeg_file(root / "train" / "dog" / "a.jpg", block_image(2, 1, 40, 40));
  write_jpeg_file(root / "train" / "cat" / "z.jpeg", block_image(3, 3, 64, 56));
  std::ofstream(root / "train" / "cat" / "notes.txt") << "not an image";
  write_jpeg_file(root / "val" / "cat" / "v.JPEG", block_image(4, 3, 32, 32));
  const data::ImageDataset d = data::load_dataset("imagenet", root.string());
  EXPECT_EQ(d.classes, (std::vector<std::string>{"cat", "dog"}));
  ASSERT_FALSE(d.train.in_memory());
  ASSERT_EQ(d.train.files.size(), 3u);
  EXPECT_EQ(fs::path(d.train.files[0]).filename(), "z.jpeg");
  EXPECT_EQ(fs::path(d.train.files[1]).filename(), "a.jpg");
  EXPECT_TRUE(at::equal(d.train.labels, at::tensor({0, 1, 1}, at::kLong)));
  EXPECT_TRUE(near_image(data::read_jpeg(d.train.files[2]), block_image(1, 3, 48, 80)));
  EXPECT_TRUE(near_image(data::read_jpeg(d.train.files[1]), block_image(2, 1, 40, 40)));
  EXPECT_EQ(d.test.size(), 1);

  fs::create_directories(root / "val" / "bird");
  expect_error([&] { data::load_dataset("imagenet", root.string()); },
               {"val/bird is a class that train/ does not have"});
  expect_error([&] { data::load_dataset("imagenet", (root / "train").string()); },
               {"image folder not found", "train/<class>/*.JPEG"});
  expect_error([&] { data::read_jpeg((root / "train" / "cat" / "notes.txt").string()); },
               {"corrupt JPEG", "notes.txt"});
}

}  // namespace
}  // namespace eelu::test

#include "eelu/data/loader.h"
#include "eelu/data/torch_dataset.h"

#include <torch/data/dataloader.h>
#include <torch/data/datasets/map.h>
#include <torch/data/samplers/sequential.h>
#include <torch/data/transforms/stack.h>

namespace eelu::test {
namespace {

data::ImageSplit numbered_images(int64_t n) {
  // Image i is filled with i % 256 in channel 0 and i / 256 in channel 1: recognisable.
  data::ImageSplit s;
  s.images = at::zeros({n, 2, 6, 6}, at::kByte);
  for (int64_t i = 0; i < n; ++i) {
    s.images[i][0].fill_(i % 256);
    s.images[i][1].fill_(i / 256);
  }
  s.labels = at::arange(n, at::kLong) % 7;
  return s;
}

std::vector<data::Batch> epoch(data::DataLoader& loader, int64_t e) {
  loader.start_epoch(e);
  std::vector<data::Batch> out;
  data::Batch b;
  while (loader.next(b)) out.push_back(b);
  return out;
}

TEST(Loader, WorkersChangeNothingButSpeed) {
  const data::ImageSplit split = numbered_images(1000);
  auto make = [&](int workers) {
    data::LoaderOptions o;
    o.batch_size = 64;
    o.workers = workers;
    o.seed = 5;
    o.augment.crop_padding = 2;
    o.augment.horizontal_flip = true;
    return std::make_unique<data::DataLoader>(split, std::vector<double>{0.5, 0.5},
                                              std::vector<double>{0.25, 0.25}, o);
  };
  auto l0 = make(0), l1 = make(1), l3 = make(3);
  EXPECT_EQ(l0->batches_per_epoch(), 16);
  for (int64_t e : {0, 1}) {
    const auto a = epoch(*l0, e), b = epoch(*l1, e), c = epoch(*l3, e);
    ASSERT_EQ(a.size(), 16u);
    ASSERT_EQ(b.size(), 16u);
    ASSERT_EQ(c.size(), 16u);
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].index, static_cast<int64_t>(i));
      EXPECT_TRUE(at::equal(a[i].images, b[i].images) && at::equal(a[i].images, c[i].images)) << i;
      EXPECT_TRUE(at::equal(a[i].labels, c[i].labels)) << i;
    }
    EXPECT_EQ(a.back().labels.numel(), 1000 - 15 * 64);
  }
}

// What a mid-epoch resume relies on: an epoch started at batch k gives batches k, k + 1, ...
// exactly as the epoch started at 0 gives them (order, augmentation, labels), with any
// number of workers, for every k, also in a sharded (distributed) loader.
TEST(Loader, AnEpochStartedMidwayGivesTheSameLaterBatches) {
  const data::ImageSplit split = numbered_images(700);
  for (int shards : {1, 2}) {
    for (int workers : {0, 2}) {
      data::LoaderOptions o;
      o.batch_size = 48;
      o.workers = workers;
      o.seed = 11;
      o.augment.crop_padding = 2;
      o.augment.horizontal_flip = true;
      o.shards = shards;
      o.shard = shards - 1;
      data::DataLoader loader(split, {0.5, 0.5}, {0.25, 0.25}, o);
      const int64_t e = 3;
      const auto whole = epoch(loader, e);
      ASSERT_EQ(static_cast<int64_t>(whole.size()), loader.batches_per_epoch());
      for (int64_t k : {int64_t{1}, int64_t{2}, loader.batches_per_epoch() - 1}) {
        loader.start_epoch(e, k);
        data::Batch b;
        for (int64_t i = k; i < static_cast<int64_t>(whole.size()); ++i) {
          ASSERT_TRUE(loader.next(b)) << "shards " << shards << ", from " << k << ", batch " << i;
          EXPECT_EQ(b.index, i);
          EXPECT_TRUE(at::equal(b.images, whole[i].images) && at::equal(b.labels, whole[i].labels))
              << "shards " << shards << ", workers " << workers << ", from " << k << ", batch "
              << i;
        }
        EXPECT_FALSE(loader.next(b)) << "the epoch ends where the whole one ended";
      }
    }
  }
}

TEST(Loader, EpochsCoverEveryImageOnceInAnOrderOfTheirOwn) {
  const data::ImageSplit split = numbered_images(300);
  data::LoaderOptions o;
  o.batch_size = 32;
  o.workers = 2;
  o.seed = 1;
  data::DataLoader loader(split, {0.0, 0.0}, {1.0 / 255, 1.0 / 255}, o);  // identity scale
  std::vector<std::vector<int64_t>> orders;
  for (int64_t e : {0, 1, 0}) {
    std::vector<int64_t> seen;
    for (const auto& b : epoch(loader, e)) {
      for (int64_t i = 0; i < b.images.size(0); ++i) {
        // Recover the image's number from its pixels (normalised with mean 0, std 1/255).
        const int64_t k =
            b.images[i][0][0][0].item<int64_t>() + 256 * b.images[i][1][0][0].item<int64_t>();
        EXPECT_EQ(b.labels[i].item<int64_t>(), k % 7) << "label travels with its image";
        seen.push_back(k);
      }
    }
    orders.push_back(seen);
    std::vector<int64_t> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> all(300);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(sorted, all) << "each image once";
  }
  EXPECT_NE(orders[0], orders[1]) << "another epoch, another order";
  EXPECT_EQ(orders[0], orders[2]) << "the same epoch, the same order";

  o.drop_last = true;
  o.shuffle = false;
  data::DataLoader last(split, {0.0, 0.0}, {1.0, 1.0}, o);
  EXPECT_EQ(last.batches_per_epoch(), 9);
  EXPECT_EQ(epoch(last, 0).size(), 9u);
}

TEST(Loader, ImageFoldersStreamWithCorruptFilesFatalOrSkipped) {
  const fs::path root = scratch("loader_folder");
  std::vector<std::string> files;
  for (int i = 0; i < 10; ++i) {
    const fs::path p = root / ("img" + std::to_string(i) + ".jpg");
    const at::Tensor img = block_image(i, i % 3 == 0 ? 1 : 3, 40 + 8 * i, 96 - 4 * i);
    const auto bytes = data::encode_jpeg(img, 95);
    write(p, Bytes(bytes.begin(), bytes.end()));
    files.push_back(p.string());
  }
  data::ImageSplit split;
  split.files = files;
  split.labels = at::arange(10, at::kLong) % 2;
  data::LoaderOptions o;
  o.batch_size = 4;
  o.workers = 2;
  o.shuffle = false;
  o.augment.image_size = 32;
  {
    data::DataLoader eval(split, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, o);
    const auto batches = epoch(eval, 0);
    ASSERT_EQ(batches.size(), 3u);
    EXPECT_EQ(batches[0].images.sizes(), at::IntArrayRef({4, 3, 32, 32}));
    EXPECT_TRUE(at::equal(batches[2].labels, at::tensor({0, 1}, at::kLong)));
    // Evaluation resizes and centre-crops deterministically.
    EXPECT_TRUE(at::equal(batches[1].images, eval.build(0, 1).images));
    o.augment.random_resize = true;
    data::DataLoader train(split, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, o);
    EXPECT_EQ(epoch(train, 0)[0].images.sizes(), at::IntArrayRef({4, 3, 32, 32}));
  }
  write(files[5], Bytes{0xFF, 0xD8, 0xFF, 0x00, 0x01});
  {
    data::DataLoader fatal(split, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, o);
    fatal.start_epoch(0);
    data::Batch b;
    EXPECT_TRUE(fatal.next(b));
    expect_error([&] { fatal.next(b); }, {"corrupt JPEG", "img5.jpg"});
  }
  o.skip_corrupt = true;
  data::DataLoader skip(split, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}, o);
  const auto batches = epoch(skip, 0);
  EXPECT_EQ(batches[1].labels.numel(), 3);
  EXPECT_EQ(skip.skipped(), 1);
}

TEST(Transforms, ResizedCropsHaveTheirSizeAndCentreCropIsCentred) {
  // A 3x100x200 image whose column index is its value (mod 256 would not matter here).
  const at::Tensor img = (at::arange(200, at::kLong) % 200)
                             .to(at::kByte)
                             .view({1, 1, 200})
                             .expand({3, 100, 200})
                             .contiguous();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(data::random_resized_crop(img, 24, gen).sizes(), at::IntArrayRef({3, 24, 24}));
  }
  // Shorter side 100 -> 50: width 200 -> 100, the centre 50 columns are 25..74 of the
  // half-size image, i.e. about 50..149 of the original.
  const at::Tensor c = data::resize_center_crop(img, 50, 50);
  EXPECT_EQ(c.sizes(), at::IntArrayRef({3, 50, 50}));
  EXPECT_NEAR(c[0][10][0].item<double>(), 50.5, 1.5);
  EXPECT_NEAR(c[0][10][49].item<double>(), 148.5, 1.5);
}

TEST(Loader, TorchDataDatasetGivesTheSameImages) {
  const data::ImageSplit split = numbered_images(50);
  auto dataset = data::ImageSplitDataset(split, {0.5, 0.5}, {0.25, 0.25})
                     .map(torch::data::transforms::Stack<>());
  auto loader = torch::data::make_data_loader<torch::data::samplers::SequentialSampler>(
      std::move(dataset), torch::data::DataLoaderOptions().batch_size(16));
  data::LoaderOptions o;
  o.batch_size = 16;
  o.shuffle = false;
  o.workers = 0;
  data::DataLoader ours(split, {0.5, 0.5}, {0.25, 0.25}, o);
  ours.start_epoch(0);
  int batches = 0;
  for (auto& batch : *loader) {
    data::Batch b;
    ASSERT_TRUE(ours.next(b));
    EXPECT_TRUE(at::equal(batch.data, b.images));
    EXPECT_TRUE(at::equal(batch.target, b.labels));
    ++batches;
  }
  EXPECT_EQ(batches, 4);
}

}  // namespace
}  // namespace eelu::test
