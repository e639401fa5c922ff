#include "train/checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <filesystem>
#include <mutex>

#include "eelu/util/files.h"
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

}  // namespace

std::string checkpoint_path(const std::string& dir) {
  return (fs::path(dir) / "checkpoint.pt").string();
}

void save_checkpoint(const std::string& dir, const TrainConfig& config, models::Classifier& model,
                     torch::optim::Optimizer& opt, const Progress& p, distributed::Group* group) {
  const at::Tensor rng = generator_state();
  at::Tensor rng_ranks;
  if (group && group->world_size() > 1) {
    rng_ranks = group->all_gather(rng.to(at::kDouble)).to(at::kByte);
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
               {"format", 1},
               {"world_size", group ? group->world_size() : 1}};
  for (const auto& m : p.history) meta["history"].push_back(to_json(m));
  archive.write("meta", c10::IValue(meta.dump()));
  archive.write("rng", rng);
  if (rng_ranks.defined()) archive.write("rng_ranks", rng_ranks);
  util::replace_file_atomically(checkpoint_path(dir),
                                [&](const std::string& tmp) { archive.save_to(tmp); });
}

json load_checkpoint(const std::string& path, models::Classifier* model,
                     torch::optim::Optimizer* opt, const std::string* bytes, int rank, int world) {
  TORCH_CHECK(bytes || fs::is_regular_file(path), "checkpoint not found: ", path);
  torch::serialize::InputArchive archive;
  try {
    if (bytes) {
      archive.load_from(bytes->data(), bytes->size());
    } else {
      archive.load_from(path);
    }
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "cannot read checkpoint ", path, ": ", e.what_without_backtrace());
  }
  c10::IValue meta;
  archive.read("meta", meta);
  json j = json::parse(meta.toStringRef());
  const int64_t saved_world = j.value("world_size", 1);
  if (world == 1) {
    TORCH_CHECK(saved_world == 1, "--resume: ", path, " was written by a job of ", saved_world,
                " ranks; this is a single process. Resume with the same world size (--nproc ",
                saved_world, ")");
  } else if (world > 1) {
    TORCH_CHECK(saved_world == world, "--resume: ", path, " was written by a job of ", saved_world,
                " rank(s); this job has ", world, ". Resume with the same world size (--nproc ",
                saved_world, ")");
  }
  if (model) {
    torch::serialize::InputArchive m;
    archive.read("model", m);
    model->load(m);
  }
  if (opt) {
    torch::serialize::InputArchive o;
    archive.read("optimizer", o);
    opt->load(o);
    at::Tensor rng;
    if (rank == 0) {
      archive.read("rng", rng);
    } else {
      at::Tensor all;
      TORCH_CHECK(archive.try_read("rng_ranks", all) && rank < all.size(0), "checkpoint ", path,
                  " holds no generator state for rank ", rank);
      rng = all[rank].contiguous();
    }
    set_generator_state(rng);
  }
  return j;
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
  const json meta = load_checkpoint(path, &model, &opt, group ? &bytes : nullptr, rank, world);
  std::vector<std::string> differ;
  const json settings = recorded_settings(c);
  for (const auto& [key, value] : settings.items()) {
    if (!meta["config"].contains(key) || meta["config"][key] != value) differ.push_back(key);
  }
  TORCH_CHECK(differ.empty(), "--resume: the settings differ from the checkpoint's in ",
              json(differ).dump(), "; resume with the settings of ", c.out_dir, "/config.json");
  Progress p;
  p.epoch = meta["epoch"];
  p.batch = meta["batch"];
  p.loss_sum = meta["loss_sum"];
  p.correct = meta["correct"];
  p.seen = meta["seen"];
  p.seconds = meta["seconds"];
  p.epoch_seconds = meta["epoch_seconds"];
  for (const auto& m : meta["history"]) p.history.push_back(metrics_from_json(m));
  return p;
}

}  // namespace eelu::train
