#include "data_cmd.h"
#include "commands.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "eelu/data/images.h"
#include "eelu/data/subsets.h"

namespace eelu::app {
namespace {

void print_split(const char* name, const at::Tensor& labels, int64_t num_classes) {
  const at::Tensor counts = data::class_counts(labels, num_classes);
  std::printf("  %-10s %7ld images, per class min %ld, max %ld\n", name, (long)labels.numel(),
              (long)counts.min().item<int64_t>(), (long)counts.max().item<int64_t>());
}

}  // namespace

int data_info(const DataInfoOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  data::LoadOptions load;
  load.coarse = o.coarse;
  load.skip_corrupt = o.skip_corrupt;
  const data::ImageDataset d = data::load_dataset(o.dataset, o.data_dir, load);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%s from %s (read in %.2f s)\n", d.name.c_str(), d.source.c_str(), seconds);
  if (d.train.in_memory()) {
    std::printf("  images     %ld x %ld x %ld (channels x height x width), uint8 in memory\n",
                (long)d.channels(), (long)d.height(), (long)d.width());
  } else {
    std::printf("  images     JPEG files of varying size, read from disk while training\n");
  }
  if (d.skipped > 0) std::printf("  skipped    %ld corrupt images\n", (long)d.skipped);
  std::printf("  classes    %ld:", (long)d.num_classes());
  for (int64_t c = 0; c < d.num_classes(); ++c) {
    if (c == 8 && d.num_classes() > 10) {
      std::printf(" ...");
      break;
    }
    std::printf(" %ld %s%s", (long)c, d.classes[c].c_str(), c + 1 < d.num_classes() ? "," : "");
  }
  std::printf("\n  mean       ");
  for (double m : d.mean) std::printf(" %.4f", m);
  std::printf("   std");
  for (double s : d.std) std::printf(" %.4f", s);
  std::printf(d.train.in_memory() ? "   (training split, [0, 1] units)\n"
                                  : "   (ImageNet's published statistics)\n");
  print_split("train", d.train.labels, d.num_classes());
  print_split("test", d.test.labels, d.num_classes());

  at::Tensor train_labels = d.train.labels;
  if (o.val_fraction > 0) {
    auto [train_idx, val_idx] =
        data::stratified_holdout(d.train.labels, d.num_classes(), o.val_fraction, o.seed);
    print_split("validation", d.train.labels.index_select(0, val_idx), d.num_classes());
    train_labels = d.train.labels.index_select(0, train_idx);
  }
  if (o.train_per_class > 0 || o.train_fraction < 1) {
    const at::Tensor idx =
        o.train_per_class > 0
            ? data::stratified_per_class(train_labels, d.num_classes(), o.train_per_class, o.seed)
            : data::stratified_fraction(train_labels, d.num_classes(), o.train_fraction, o.seed);
    print_split("subset", train_labels.index_select(0, idx), d.num_classes());
  }
  return 0;
}

CommandRunner add_data_commands(CLI::App& app) {
  auto* data_cmd = app.add_subcommand("data", "datasets");
  data_cmd->require_subcommand(1);
  auto info = std::make_shared<DataInfoOptions>();
  auto* info_cmd = data_cmd->add_subcommand(
      "info", "read a dataset and print its splits, image size and images per class");
  info_cmd->add_option(
      "--dataset", info->dataset,
      "fashion-mnist (default), mnist, cifar10, cifar100, tiny-imagenet, imagenet");
  info_cmd->add_option("--data-dir", info->data_dir,
                       "where the files are (default for fashion-mnist: the Debian package's)");
  info_cmd->add_flag("--coarse", info->coarse, "cifar100: the 20 coarse labels");
  info_cmd->add_flag("--skip-corrupt", info->skip_corrupt,
                     "leave corrupt JPEGs out (counted) instead of failing");
  info_cmd
      ->add_option("--train-fraction", info->train_fraction,
                   "show the stratified subset of this fraction of the training set")
      ->check(CLI::Range(1e-9, 1.0));
  info_cmd
      ->add_option("--train-per-class", info->train_per_class,
                   "show the stratified subset of this many images per class")
      ->check(CLI::PositiveNumber);
  info_cmd
      ->add_option("--val-fraction", info->val_fraction,
                   "show a stratified validation split of this fraction")
      ->check(CLI::Range(0.0, 0.99));
  info_cmd->add_option("--seed", info->seed, "seed of the subsets");
  return [=] { return info_cmd->parsed() ? data_info(*info) : -1; };
}

}  // namespace eelu::app
