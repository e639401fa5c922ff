#include "experiment/latent_cache.h"

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>

#include "eelu/util/files.h"

namespace eelu::experiment {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

// Note [Kept measures]
// The reproduction's grids train across sessions on machines that do not keep their files,
// so what is kept of a finished run is its records (config.json, metrics.jsonl, summary.json)
// without the weights, and latent.json: the measures of its network, taken by `eelu
// visualize --grid` while the checkpoint was there. The file records the options the numbers
// depend on and the digest of the network's state (what summary.json calls state_digest). A
// later `visualize --grid --no-plots` reads the file instead of measuring again when the
// checkpoint holds that network and the options are the same (measuring takes about half a
// minute a network on a core), measures again when either differs, and reads the file when
// the checkpoint is gone; then other options are refused rather than mixing numbers taken
// two ways. Pictures need the network itself: they are refused for a run without one.

// The measures' version: 2 added bn_recalibration_gain (2026-12-02).
constexpr int kMeasuresVersion = 2;

json options_json(const LatentOptions& o) {
  return json{{"measures_version", kMeasuresVersion},
              {"probe_train", o.probe_train},
              {"tsne_samples", o.tsne_samples},
              {"perplexity", o.perplexity},
              {"iterations", o.iterations},
              {"seed", o.seed},
              {"data_dir", o.data_dir}};
}

}  // namespace

std::string kept_measures_path(const std::string& checkpoint) {
  return (fs::path(checkpoint).parent_path() / "latent.json").string();
}

void keep_measures(const LatentMeasures& m, const LatentOptions& o, const std::string& digest) {
  const json j{{"options", options_json(o)},
               {"state_digest", digest},
               {"activation", m.activation},
               {"seed", m.seed},
               {"units", m.units},
               {"images", m.images},
               {"test_acc", m.test_acc},
               {"effective_rank", m.effective_rank},
               {"active_share", m.active_share},
               {"active_per_class", m.active_per_class},
               {"probe_acc", m.probe_acc},
               {"bn_recalibration_gain", m.bn_recalibration_gain},
               {"tsne_kl", m.tsne_kl}};
  util::write_file_atomically(kept_measures_path(m.checkpoint), j.dump(2) + "\n");
}

std::optional<LatentMeasures> kept_measures(const std::string& checkpoint, const std::string& label,
                                            const LatentOptions& o, const std::string& digest) {
  const std::string path = kept_measures_path(checkpoint);
  if (!fs::exists(path)) return std::nullopt;
  try {
    const json j = json::parse(util::read_text_file(path, "the run's latent measures"));
    if (!digest.empty() && j.at("state_digest").get<std::string>() != digest) return std::nullopt;
    const json want = options_json(o);
    for (const auto& [key, value] : want.items()) {
      const json had = j.at("options").value(key, json());  // null: an older version
      if (had == value) continue;
      if (!digest.empty()) return std::nullopt;  // measured again
      TORCH_CHECK(false, "visualize: ", checkpoint, " is gone and the measures kept in ", path,
                  " were taken with ", key, " ", had.dump(), ", not ", value.dump(),
                  ": measure with those options, or keep the checkpoints");
    }
    LatentMeasures m;
    m.checkpoint = checkpoint;
    m.activation = j.at("activation").get<std::string>();
    m.label = label.empty() ? m.activation : label;
    m.seed = j.at("seed").get<uint64_t>();
    m.units = j.at("units").get<int64_t>();
    m.images = j.at("images").get<int64_t>();
    m.test_acc = j.at("test_acc").get<double>();
    m.effective_rank = j.at("effective_rank").get<double>();
    m.active_share = j.at("active_share").get<double>();
    m.active_per_class = j.at("active_per_class").get<std::vector<double>>();
    m.probe_acc = j.at("probe_acc").get<double>();
    m.bn_recalibration_gain = j.at("bn_recalibration_gain").get<double>();
    const json& kl = j.at("tsne_kl");  // null: no t-SNE was run (JSON has no NaN)
    m.tsne_kl = kl.is_null() ? NAN : kl.get<double>();
    return m;
  } catch (const json::exception& e) {
    TORCH_CHECK(false, path, " is malformed: ", e.what());
  }
}

}  // namespace eelu::experiment
