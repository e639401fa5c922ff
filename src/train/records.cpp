#include "train/records.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include <sys/resource.h>

#include <cstdio>
#include <filesystem>

#include "eelu/ops.h"
#include "eelu/util/files.h"
#include "train/settings.h"

#include "eelu_git_commit.h"  // generated at configure time
#ifndef EELU_GIT_COMMIT
#define EELU_GIT_COMMIT "unknown"
#endif

namespace eelu::train {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

int64_t peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<int64_t>(u.ru_maxrss) * 1024;
}

void write_json(const std::string& path, const json& j) {
  util::write_file_atomically(path, j.dump(2) + "\n");
}

}  // namespace

json to_json(const EpochMetrics& m) {
  json j{{"epoch", m.epoch},
         {"train_loss", m.train_loss},
         {"train_acc", m.train_acc},
         {"lr", m.lr},
         {"seconds", m.seconds},
         {"images_per_second", m.images_per_second},
         {"data_seconds", m.data_seconds}};
  if (m.skipped_steps > 0) j["skipped_steps"] = m.skipped_steps;
  if (m.test_acc >= 0) {  // evaluated after this epoch (--eval-every)
    j["test_loss"] = m.test_loss;
    j["test_acc"] = m.test_acc;
  }
  if (m.val_acc >= 0) {
    j["val_loss"] = m.val_loss;
    j["val_acc"] = m.val_acc;
  }
  return j;
}

EpochMetrics metrics_from_json(const json& j) {
  EpochMetrics m;
  m.epoch = j.at("epoch");
  m.train_loss = j.at("train_loss");
  m.train_acc = j.at("train_acc");
  if (j.contains("test_acc")) {
    m.test_loss = j.at("test_loss");
    m.test_acc = j.at("test_acc");
  }
  m.lr = j.at("lr");
  m.seconds = j.at("seconds");
  m.images_per_second = j.at("images_per_second");
  m.data_seconds = j.value("data_seconds", 0.0);  // absent before 2026-11-29
  m.skipped_steps = j.value("skipped_steps", int64_t{0});
  if (j.contains("val_acc")) {
    m.val_loss = j.at("val_loss");
    m.val_acc = j.at("val_acc");
  }
  return m;
}

void write_config_record(const TrainConfig& c, const RunFacts& f) {
  json full = recorded_settings(c);
  full["versions"] = {{"eelu", eelu::version()}, {"libtorch", TORCH_VERSION}};
  full["git_commit"] = EELU_GIT_COMMIT;
  full["threads"] = at::get_num_threads();
  full["device"] = f.device;
  if (!f.device_name.empty()) full["device_name"] = f.device_name;
  full["channels_last"] = c.channels_last;
  full["deterministic"] = c.deterministic;
  full["world_size"] = f.world_size;
  full["global_batch_size"] = c.batch_size * f.world_size;
  full["workers"] = c.workers;
  full["train_images"] = f.train_images;
  full["val_images"] = f.val_images;
  full["test_images"] = f.test_images;
  full["classes"] = f.classes;
  full["normalisation"] = {{"mean", f.mean}, {"std", f.std}};
  full["parameters"] = {{"total", f.parameters}, {"activation", f.activation_parameters}};
  write_json((fs::path(c.out_dir) / "config.json").string(), full);
}

void check_config_record(const TrainConfig& c) {
  const std::string path = (fs::path(c.out_dir) / "config.json").string();
  json record;
  try {
    record = json::parse(util::read_text_file(path, "the run's config.json"));
  } catch (const json::exception& e) {
    TORCH_CHECK(false, "--resume: ", path, " is malformed: ", e.what());
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "--resume: ", e.what());
  }
  const std::vector<std::string> differ = differing_settings(c, record);
  TORCH_CHECK(differ.empty(), "--resume: ", path, " differs from the run's checkpoint in ",
              json(differ).dump(), ": the record was changed after the run started");
}

void remove_records(const std::string& dir) {
  for (const char* name :
       {"summary.json", "metrics.jsonl", "config.json", "checkpoint.pt", "latent.json"}) {
    std::error_code ec;
    fs::remove(fs::path(dir) / name, ec);
    TORCH_CHECK(!ec, "--overwrite: cannot remove ", (fs::path(dir) / name).string(), ": ",
                ec.message());
  }
}

TrainResult finished_result(const std::string& out_dir) {
  const std::string path = (fs::path(out_dir) / "summary.json").string();
  try {
    const json s = json::parse(util::read_text_file(path, "summary"));
    TrainResult r;
    r.final_test_acc = s.at("final_test_acc").get<double>();
    r.best_test_acc = s.at("best_test_acc").get<double>();
    r.best_epoch = s.at("best_epoch").get<int64_t>();
    r.seconds = s.at("train_seconds").get<double>();
    r.world_size = s.value("world_size", 1);
    return r;
  } catch (const json::exception& e) {
    TORCH_CHECK(false, path, " is malformed: ", e.what());
  }
}

void write_metrics(const std::string& dir, const std::vector<EpochMetrics>& history) {
  std::string lines;
  for (const auto& m : history) lines += to_json(m).dump() + "\n";
  util::write_file_atomically((fs::path(dir) / "metrics.jsonl").string(), lines);
}

void write_summary(const TrainConfig& c, const TrainResult& r, torch::nn::Module& model) {
  write_json((fs::path(c.out_dir) / "summary.json").string(),
             json{{"final_test_acc", r.final_test_acc},
                  {"best_test_acc", r.best_test_acc},
                  {"best_epoch", r.best_epoch},
                  {"epochs", r.epochs.size()},
                  {"train_seconds", r.seconds},
                  {"peak_memory_bytes", peak_rss_bytes()},
                  {"state_digest", state_digest(model)},
                  {"world_size", r.world_size},
                  {"communication_seconds", r.communication_seconds},
                  {"activation", c.activation},
                  {"model", c.model},
                  {"dataset", c.dataset}});
}

std::string state_digest(torch::nn::Module& model) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const void* data, size_t n) {
    const auto* b = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  };
  auto add = [&](const std::string& name, const at::Tensor& t) {
    mix(name.data(), name.size());
    const at::Tensor c = t.to(at::kCPU).contiguous();  // a CUDA network too
    mix(c.data_ptr(), static_cast<size_t>(c.numel() * c.element_size()));
  };
  for (const auto& p : model.named_parameters()) add(p.key(), p.value());
  for (const auto& b : model.named_buffers()) add(b.key(), b.value());
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace eelu::train
