#include "train/checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <sstream>

#include "eelu/util/files.h"
#include "train/placement.h"
#include "train/records.h"
#include "train/settings.h"

namespace eelu::train {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

at::Tensor generator_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_generator_state(const at::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// A GPU's default generator (EELU's noise and dropout on that GPU draw from it).
at::Tensor device_generator_state(c10::Device device) {
  at::Generator gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_device_generator_state(c10::Device device, const at::Tensor& state) {
  at::Generator gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// CRC-32 (zlib's) of `bytes`, as 8 hex digits.
std::string crc32_hex(const std::string& bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* data = reinterpret_cast<const Bytef*>(bytes.data());
  size_t left = bytes.size();
  while (left > 0) {  // crc32 takes at most a uInt at a time
    const uInt n = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
    crc = crc32(crc, data, n);
    data += n;
    left -= n;
  }
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08lx", static_cast<unsigned long>(crc));
  return buf;
}

at::Tensor bytes_tensor(const std::string& bytes) {
  at::Tensor t = at::empty({static_cast<int64_t>(bytes.size())}, at::kByte);
  if (!bytes.empty()) std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

}  // namespace

std::vector<int64_t> input_shape_of(const data::ImageDataset& d) {
  if (!d.train.in_memory()) return {3, 0, 0};
  return {d.train.images.size(1), d.train.images.size(2), d.train.images.size(3)};
}

std::string checkpoint_path(const std::string& dir) {
  return (fs::path(dir) / "checkpoint.pt").string();
}

void save_checkpoint(const std::string& dir, const TrainConfig& config, models::Classifier& model,
                     torch::optim::Optimizer& opt, const Progress& p, distributed::Group* group) {
  const at::Tensor rng = generator_state();
  const c10::Device device = device_of(model);
  const at::Tensor rng_cuda = device.is_cuda() ? device_generator_state(device) : at::Tensor();
  at::Tensor rng_ranks, rng_cuda_ranks;
  if (group && group->world_size() > 1) {
    rng_ranks = group->all_gather(rng.to(at::kDouble)).to(at::kByte);
    if (rng_cuda.defined()) {
      rng_cuda_ranks = group->all_gather(rng_cuda.to(at::kDouble)).to(at::kByte);
    }
    if (group->rank() != 0) return;
  }
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive, opt_archive;
  model.save(model_archive);
  opt.save(opt_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", opt_archive);
  json meta = {{"config", recorded_settings(config)},
               {"epoch", p.epoch},
               {"batch", p.batch},
               {"loss_sum", p.loss_sum},
               {"correct", p.correct},
               {"seen", p.seen},
               {"seconds", p.seconds},
               {"epoch_seconds", p.epoch_seconds},
               {"history", json::array()},
               {"format", 2},
               {"world_size", group ? group->world_size() : 1}};
  for (const auto& m : p.history) meta["history"].push_back(to_json(m));
  if (!p.input_shape.empty()) meta["input_shape"] = p.input_shape;
  if (p.skipped_steps > 0) meta["skipped_steps"] = p.skipped_steps;
  if (p.amp_scale > 0) {
    meta["amp_scale"] = p.amp_scale;
    meta["amp_growth"] = p.amp_growth;
  }
  archive.write("rng", rng);
  if (rng_ranks.defined()) archive.write("rng_ranks", rng_ranks);
  if (rng_cuda.defined()) archive.write("rng_cuda", rng_cuda);
  if (rng_cuda_ranks.defined()) archive.write("rng_cuda_ranks", rng_cuda_ranks);
  archive.write("meta", c10::IValue(meta.dump()));
  // Serialised in memory, so that no error can escape a destructor half-way through a file
  // (LibTorch's stream writer throws from its destructor on a full disk); then written
  // through util::write_file_atomically, which reports a failure and leaves the old file.
  std::ostringstream payload;
  archive.save_to(payload);
  const std::string bytes = payload.str();
  torch::serialize::OutputArchive outer;
  outer.write("format", c10::IValue(int64_t{2}));
  outer.write("checksum", c10::IValue(crc32_hex(bytes)));
  outer.write("payload", bytes_tensor(bytes));
  std::ostringstream file;
  outer.save_to(file);
  util::write_file_atomically(checkpoint_path(dir), file.str());
}

Checkpoint::Checkpoint(const std::string& path, const std::string* bytes, c10::Device device)
    : path_(path), device_(device) {
  TORCH_CHECK(bytes || fs::is_regular_file(path), "checkpoint not found: ", path);
  const std::string data = bytes ? *bytes : util::read_text_file(path, "checkpoint");
  torch::serialize::InputArchive outer;
  try {
    outer.load_from(data.data(), data.size());
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "cannot read checkpoint ", path, ": ", e.what_without_backtrace());
  }
  c10::IValue format;
  if (outer.try_read("format", format) && format.isInt() && format.toInt() == 2) {
    c10::IValue checksum;
    at::Tensor payload;
    TORCH_CHECK(outer.try_read("checksum", checksum) && checksum.isString() &&
                    outer.try_read("payload", payload) && payload.scalar_type() == at::kByte,
                "checkpoint ", path, " is damaged: it lacks its payload or checksum");
    const std::string inner(static_cast<const char*>(payload.contiguous().data_ptr()),
                            static_cast<size_t>(payload.numel()));
    const std::string actual = crc32_hex(inner);
    TORCH_CHECK(actual == checksum.toStringRef(), "checkpoint ", path,
                " is corrupted: its contents have CRC-32 ", actual, " but were written with ",
                checksum.toStringRef(),
                " (the file changed on the disk; resume from a copy, or "
                "start the run again)");
    archive_.load_from(inner.data(), inner.size(), device_);
  } else {
    archive_.load_from(data.data(), data.size(), device_);  // format 1: the inner archive alone
  }
  c10::IValue meta;
  TORCH_CHECK(archive_.try_read("meta", meta) && meta.isString(), "checkpoint ", path,
              " has no metadata (not a checkpoint written by eelu train?)");
  try {
    meta_ = json::parse(meta.toStringRef());
  } catch (const json::exception& e) {
    TORCH_CHECK(false, "checkpoint ", path, " has malformed metadata: ", e.what());
  }
  TORCH_CHECK(meta_.is_object(), "checkpoint ", path, " has malformed metadata");
}

const json& Checkpoint::field(const char* key) const {
  TORCH_CHECK(meta_.contains(key), "checkpoint ", path_, " lacks '", key, "' in its metadata");
  return meta_.at(key);
}

void Checkpoint::check_world(int world) const {
  const int64_t saved_world = meta_.value("world_size", int64_t{1});
  if (world == 1) {
    TORCH_CHECK(saved_world == 1, "--resume: ", path_, " was written by a job of ", saved_world,
                " ranks; this is a single process. Resume with the same world size (--nproc ",
                saved_world, ")");
  } else if (world > 1) {
    TORCH_CHECK(saved_world == world, "--resume: ", path_, " was written by a job of ", saved_world,
                " rank(s); this job has ", world, ". Resume with the same world size (--nproc ",
                saved_world, ")");
  }
}

void Checkpoint::restore(models::Classifier* model, torch::optim::Optimizer* opt, int rank) {
  try {
    if (model) {
      torch::serialize::InputArchive m;
      archive_.read("model", m);
      model->load(m);
    }
    if (opt) {
      torch::serialize::InputArchive o;
      archive_.read("optimizer", o);
      opt->load(o);
    }
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "checkpoint ", path_,
                " does not fit this network: ", e.what_without_backtrace());
  }
  if (!opt) return;
  at::Tensor rng;
  if (rank == 0) {
    TORCH_CHECK(archive_.try_read("rng", rng), "checkpoint ", path_, " holds no generator state");
  } else {
    at::Tensor all;
    TORCH_CHECK(archive_.try_read("rng_ranks", all) && rank < all.size(0), "checkpoint ", path_,
                " holds no generator state for rank ", rank);
    rng = all[rank].contiguous();
  }
  set_generator_state(rng.cpu());  // loaded onto the run's device with the rest
  // A GPU run's GPU generator (each rank's in a distributed job); a checkpoint written on
  // the CPU has none, and then the GPU's generator keeps the state the seed gave it.
  at::Tensor rng_cuda, all_cuda;
  if (device_.is_cuda() && rank > 0 && archive_.try_read("rng_cuda_ranks", all_cuda) &&
      rank < all_cuda.size(0)) {
    set_device_generator_state(device_, all_cuda[rank].contiguous().cpu());
  } else if (device_.is_cuda() && rank == 0 && archive_.try_read("rng_cuda", rng_cuda)) {
    set_device_generator_state(device_, rng_cuda.cpu());
  }
}

Progress resume_from_checkpoint(const TrainConfig& c, models::Classifier& model,
                                torch::optim::Optimizer& opt, distributed::Group* group, int rank,
                                int world) {
  const std::string path = checkpoint_path(c.out_dir);
  const bool lead = rank == 0;
  std::string bytes;  // a distributed job: rank 0's file, sent to every rank
  if (group) {
    TORCH_CHECK(!lead || fs::is_regular_file(path), "checkpoint not found: ", path);
    bytes = group->broadcast_bytes(lead ? util::read_text_file(path, "checkpoint") : "");
  }
  Checkpoint checkpoint(path, group ? &bytes : nullptr, device_of(model));
  checkpoint.check_world(world);
  // The settings first: a checkpoint of another network is refused by its settings, not by
  // a failed load of its weights.
  const std::vector<std::string> differ = differing_settings(c, checkpoint.field("config"));
  TORCH_CHECK(differ.empty(), "--resume: the settings differ from the checkpoint's in ",
              json(differ).dump(), "; resume with the settings of ", c.out_dir, "/config.json");
  checkpoint.restore(&model, &opt, rank);
  Progress p;
  try {
    p.epoch = checkpoint.field("epoch").get<int64_t>();
    p.batch = checkpoint.field("batch").get<int64_t>();
    p.loss_sum = checkpoint.field("loss_sum").get<double>();
    p.correct = checkpoint.field("correct").get<int64_t>();
    p.seen = checkpoint.field("seen").get<int64_t>();
    p.seconds = checkpoint.field("seconds").get<double>();
    p.epoch_seconds = checkpoint.field("epoch_seconds").get<double>();
    for (const auto& m : checkpoint.field("history")) p.history.push_back(metrics_from_json(m));
    p.skipped_steps = checkpoint.meta().value("skipped_steps", int64_t{0});
    p.amp_scale = checkpoint.meta().value("amp_scale", 0.0);
    p.amp_growth = checkpoint.meta().value("amp_growth", int64_t{0});
    if (checkpoint.meta().contains("input_shape")) {
      p.input_shape = checkpoint.meta().at("input_shape").get<std::vector<int64_t>>();
    }
  } catch (const json::exception& e) {
    TORCH_CHECK(false, "checkpoint ", path, " has malformed metadata: ", e.what());
  }
  TORCH_CHECK(p.epoch >= 0 && p.epoch <= c.epochs && p.batch >= 0, "checkpoint ", path,
              " says epoch ", p.epoch, ", batch ", p.batch, ": not a point of this run");
  return p;
}

}  // namespace eelu::train
