// Grid configs in TOML (docs/experiments.md):
//
//   [experiment]  name = "...", description = "...", dir = "..."
//   [train]       fixed settings: any of setting_names()
//   [grid]        axes: a setting name = [values...]; every combination is a run
//
// Every error names the file and the line, and every value is checked (including the
// activation specs and each combination's training settings) before anything runs.
#include <c10/util/Exception.h>

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

#include "eelu/experiment/grid.h"
#include "eelu/nn/registry.h"
#include "eelu/util/files.h"
#include "eelu/util/text.h"

namespace eelu::experiment {
namespace {

using train::TrainConfig;

std::string where(const std::string& path, const toml::node& node) {
  std::ostringstream s;
  s << path << ":" << node.source().begin.line;
  return s.str();
}

[[noreturn]] void fail_at(const std::string& path, const toml::node& node,
                          const std::string& message) {
  TORCH_CHECK(false, where(path, node), ": ", message);
}

// A value as the text that names it in run keys and reports.
std::string value_text(const toml::node& v) {
  if (auto s = v.as_string()) return s->get();
  if (auto i = v.as_integer()) return std::to_string(i->get());
  if (auto f = v.as_floating_point()) {
    std::ostringstream o;
    o << f->get();
    return o.str();
  }
  if (auto b = v.as_boolean()) return b->get() ? "true" : "false";
  if (auto a = v.as_array()) {
    std::string out;
    for (const auto& e : *a) out += (out.empty() ? "" : ",") + value_text(e);
    return out;
  }
  return "?";
}

const char* type_name(const toml::node& v) {
  switch (v.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::table:
      return "a table";
    default:
      return "a date or time";
  }
}

using Setter = std::function<void(TrainConfig&, const toml::node&, const std::string& path)>;

Setter string_setting(std::string TrainConfig::*field) {
  return [field](TrainConfig& c, const toml::node& v, const std::string& path) {
    const auto* s = v.as_string();
    if (!s) fail_at(path, v, std::string("expected a string, got ") + type_name(v));
    c.*field = s->get();
  };
}

template <typename I>
Setter int_setting(I TrainConfig::*field, int64_t lo, int64_t hi) {
  return [field, lo, hi](TrainConfig& c, const toml::node& v, const std::string& path) {
    const auto* i = v.as_integer();
    if (!i) fail_at(path, v, std::string("expected an integer, got ") + type_name(v));
    if (i->get() < lo || i->get() > hi) {
      fail_at(path, v,
              "expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                  "], got " + std::to_string(i->get()));
    }
    c.*field = static_cast<I>(i->get());
  };
}

Setter real_setting(double TrainConfig::*field, bool positive = false) {
  return [field, positive](TrainConfig& c, const toml::node& v, const std::string& path) {
    double x;
    if (const auto* f = v.as_floating_point()) {
      x = f->get();
    } else if (const auto* i = v.as_integer()) {
      x = static_cast<double>(i->get());
    } else {
      fail_at(path, v, std::string("expected a number, got ") + type_name(v));
    }
    if (!std::isfinite(x)) fail_at(path, v, "expected a finite number");
    if (positive && !(x > 0)) fail_at(path, v, "expected a number > 0, got " + value_text(v));
    c.*field = x;
  };
}

Setter bool_setting(bool TrainConfig::*field) {
  return [field](TrainConfig& c, const toml::node& v, const std::string& path) {
    const auto* b = v.as_boolean();
    if (!b) fail_at(path, v, std::string("expected true or false, got ") + type_name(v));
    c.*field = b->get();
  };
}

const std::vector<std::pair<std::string, Setter>>& settings() {
  static const std::vector<std::pair<std::string, Setter>> table = {
      {"dataset", string_setting(&TrainConfig::dataset)},
      {"data_dir", string_setting(&TrainConfig::data_dir)},
      {"model", string_setting(&TrainConfig::model)},
      {"activation", string_setting(&TrainConfig::activation)},
      {"init", string_setting(&TrainConfig::init)},
      {"epochs", int_setting(&TrainConfig::epochs, 1, 100000)},
      {"batch_size", int_setting(&TrainConfig::batch_size, 1, 1 << 20)},
      {"optimizer", string_setting(&TrainConfig::optimizer)},
      {"lr", real_setting(&TrainConfig::lr, /*positive=*/true)},  // 0 is not "the default"
      {"momentum", real_setting(&TrainConfig::momentum)},
      {"nesterov", bool_setting(&TrainConfig::nesterov)},
      {"weight_decay", real_setting(&TrainConfig::weight_decay)},
      {"act_weight_decay", real_setting(&TrainConfig::act_weight_decay)},
      {"lr_schedule", string_setting(&TrainConfig::lr_schedule)},
      {"milestones",
       [](TrainConfig& c, const toml::node& v, const std::string& path) {
         const auto* a = v.as_array();
         if (!a) fail_at(path, v, std::string("expected an array of epochs, got ") + type_name(v));
         c.milestones.clear();
         for (const auto& e : *a) {
           const auto* i = e.as_integer();
           if (!i || i->get() < 1) fail_at(path, e, "milestones must be epochs >= 1");
           c.milestones.push_back(i->get());
         }
       }},
      {"gamma", real_setting(&TrainConfig::gamma)},
      {"warmup_epochs", int_setting(&TrainConfig::warmup_epochs, 0, 100000)},
      {"label_smoothing", real_setting(&TrainConfig::label_smoothing)},
      {"seed", int_setting(&TrainConfig::seed, 0, INT64_MAX)},
      {"train_fraction", real_setting(&TrainConfig::train_fraction)},
      {"train_per_class", int_setting(&TrainConfig::train_per_class, 0, INT64_MAX)},
      {"val_fraction", real_setting(&TrainConfig::val_fraction)},
      {"crop_padding", int_setting(&TrainConfig::crop_padding, -1, 1024)},
      {"flip", int_setting(&TrainConfig::flip, -1, 1)},
      {"workers", int_setting(&TrainConfig::workers, 0, 256)},
      {"threads", int_setting(&TrainConfig::threads, 0, 4096)},
      {"max_batches", int_setting(&TrainConfig::max_batches, 0, INT64_MAX)},
      {"eval_every", int_setting(&TrainConfig::eval_every, 1, 100000)},
      {"nproc", int_setting(&TrainConfig::nproc, 1, 1024)},
      {"sync_batchnorm", bool_setting(&TrainConfig::sync_batchnorm)},
      {"bn_recalibrate", bool_setting(&TrainConfig::bn_recalibrate)},
      {"amp", string_setting(&TrainConfig::amp)},
  };
  return table;
}

const Setter* find_setting(const std::string& name) {
  for (const auto& [n, s] : settings()) {
    if (n == name) return &s;
  }
  return nullptr;
}

std::string known_settings() {
  std::string out;
  for (const auto& [n, s] : settings()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

void apply(TrainConfig& c, const std::string& key, const toml::node& value,
           const std::string& path) {
  const Setter* s = find_setting(key);
  if (!s) {
    fail_at(path, value, "unknown setting '" + key + "'; valid: " + known_settings());
  }
  (*s)(c, value, path);
}

// The checks the trainer makes at start (train::resolved, which builds the activation too),
// for one config.
void check_config(TrainConfig c, const std::string& context) {
  try {
    c.out_dir = "unused";
    (void)train::resolved(c);
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, context, ": ", e.what_without_backtrace());
  } catch (const std::exception& e) {
    TORCH_CHECK(false, context, ": ", e.what());
  }
}

// Axes in run order: seed and the training-set size outermost, then the rest by name, the
// activation fastest, so that every early slice of the grid compares all activations.
int axis_rank(const std::string& name) {
  if (name == "seed") return 0;
  if (name == "train_fraction" || name == "train_per_class") return 1;
  if (name == "activation") return 3;
  return 2;
}

// Letters, digits, '.', '=' and '-' (the rest become single '-', none at the ends).
std::string sanitized(const std::string& text) {
  std::string out;
  for (char ch : text) {
    const bool keep =
        std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '=' || ch == '-';
    const char c = keep ? ch : '-';
    if (c == '-' && (out.empty() || out.back() == '-')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

uint64_t fnv1a(const std::string& s, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ull;
  return h;
}

}  // namespace

std::vector<std::string> setting_names() {
  std::vector<std::string> out;
  for (const auto& [n, s] : settings()) out.push_back(n);
  return out;
}

namespace {

// [slurm]: how the grid runs as a Slurm array (`eelu grid --slurm`).
void read_slurm_table(const toml::table& table, const std::string& path, SlurmOptions& s) {
  const std::vector<std::pair<std::string, std::string*>> texts = {
      {"partition", &s.partition}, {"account", &s.account}, {"qos", &s.qos},
      {"time", &s.time},           {"mem", &s.mem},         {"gres", &s.gres}};
  const std::vector<std::pair<std::string, int*>> counts = {
      {"cpus_per_task", &s.cpus_per_task}, {"nodes", &s.nodes}, {"max_parallel", &s.max_parallel}};
  for (const auto& [key, v] : table) {
    const std::string k(key.str());
    bool known = false;
    for (const auto& [name, field] : texts) {
      if (name != k) continue;
      known = true;
      const auto* text = v.as_string();
      if (!text || text->get().empty() || text->get().find('\n') != std::string::npos)
        fail_at(path, v, "[slurm] '" + k + "' must be a non-empty string of one line");
      *field = text->get();
    }
    for (const auto& [name, field] : counts) {
      if (name != k) continue;
      known = true;
      const auto* n = v.as_integer();
      if (!n || n->get() < 1 || n->get() > 100000)
        fail_at(path, v, "[slurm] '" + k + "' must be an integer in [1, 100000]");
      *field = static_cast<int>(n->get());
    }
    if (k == "extra") {
      known = true;
      const auto* list = v.as_array();
      if (!list) fail_at(path, v, "[slurm] 'extra' must be an array of sbatch options");
      for (const auto& item : *list) {
        const auto* text = item.as_string();
        if (!text || text->get().rfind("--", 0) != 0 || text->get().find('\n') != std::string::npos)
          fail_at(path, item,
                  "[slurm] 'extra' holds sbatch options of one line, like "
                  "\"--constraint=a100\"");
        s.extra.push_back(text->get());
      }
    }
    if (!known)
      fail_at(path, v,
              "unknown key '" + k +
                  "' in [slurm]; valid: partition, account, qos, time, mem, gres, "
                  "cpus_per_task, nodes, max_parallel, extra");
  }
}

// [experiment]: name, description, dir; [slurm]. Returns the [train] and [grid] tables (null
// if absent).
std::pair<const toml::table*, const toml::table*> read_tables(const toml::table& root,
                                                              const std::string& path,
                                                              GridConfig& g) {
  const toml::table* train_table = nullptr;
  const toml::table* grid_table = nullptr;
  for (const auto& [key, node] : root) {
    const std::string k(key.str());
    if (k != "experiment" && k != "train" && k != "grid" && k != "slurm") {
      fail_at(path, node,
              "unknown table or key '" + k + "'; valid: [experiment], [train], [grid], [slurm]");
    }
    if (!node.is_table()) fail_at(path, node, "'" + k + "' must be a table ([" + k + "])");
    if (k == "train") train_table = node.as_table();
    if (k == "grid") grid_table = node.as_table();
    if (k == "slurm") read_slurm_table(*node.as_table(), path, g.slurm);
    if (k == "experiment") {
      for (const auto& [ek, ev] : *node.as_table()) {
        const std::string e(ek.str());
        const auto* s = ev.as_string();
        if (e != "name" && e != "description" && e != "dir") {
          fail_at(path, ev,
                  "unknown key '" + e + "' in [experiment]; valid: name, description, dir");
        }
        if (!s) fail_at(path, ev, "'" + e + "' must be a string");
        (e == "name" ? g.name : e == "description" ? g.description : g.dir) = s->get();
      }
    }
  }
  TORCH_CHECK(!g.name.empty(), path, ": [experiment] needs a name");
  TORCH_CHECK(sanitized(g.name) == g.name, path, ": the experiment name '", g.name,
              "' may hold only letters, digits, '.', '=' and '-'");
  return {train_table, grid_table};
}

using Axes = std::vector<std::pair<std::string, std::vector<const toml::node*>>>;

// [grid]: the axes, each value checked on its own first so that an error points at its
// line; in the order the runs vary (the activation fastest).
Axes read_axes(const toml::table* grid_table, const toml::table* train_table,
               const TrainConfig& base, const std::string& path) {
  Axes axes;
  if (grid_table) {
    for (const auto& [key, value] : *grid_table) {
      const std::string k(key.str());
      if (!find_setting(k)) {
        fail_at(path, value, "unknown setting '" + k + "' in [grid]; valid: " + known_settings());
      }
      if (train_table && train_table->contains(k)) {
        fail_at(path, value, "'" + k + "' is both fixed in [train] and an axis in [grid]");
      }
      if (k == "out_dir" || k == "resume" || k == "quiet" || k == "eval_every") {
        fail_at(path, value, "'" + k + "' cannot be an axis");
      }
      const auto* arr = value.as_array();
      if (!arr || arr->empty()) {
        fail_at(path, value, "the axis '" + k + "' must be a non-empty array of values");
      }
      std::vector<const toml::node*> values;
      std::vector<std::string> seen, canonical;
      for (const auto& v : *arr) {
        TrainConfig c = base;
        apply(c, k, v, path);
        check_config(c, where(path, v));
        const std::string t = value_text(v);
        if (std::find(seen.begin(), seen.end(), t) != seen.end()) {
          fail_at(path, v, "the value " + t + " appears twice in the axis '" + k + "'");
        }
        // One activation spelled two ways ("relu" and "RELU", "eelu" and "eelu(eps=1)")
        // would be two conditions of the comparison.
        const std::string same = k == "activation" ? nn::canonical_activation(c.activation) : t;
        const auto twin = std::find(canonical.begin(), canonical.end(), same);
        if (twin != canonical.end()) {
          fail_at(path, v,
                  "the values " + seen[twin - canonical.begin()] + " and " + t +
                      " of the axis 'activation' are the same activation (" + same + ")");
        }
        seen.push_back(t);
        canonical.push_back(same);
        values.push_back(&v);
      }
      axes.emplace_back(k, std::move(values));
    }
  }
  std::stable_sort(axes.begin(), axes.end(), [](const auto& a, const auto& b) {
    return axis_rank(a.first) != axis_rank(b.first) ? axis_rank(a.first) < axis_rank(b.first)
                                                    : a.first < b.first;
  });
  return axes;
}

// The number of runs (the product of the axes' sizes, taken in long double so that no
// product overflows), refused above the limit.
int64_t run_count(const Axes& axes, const std::string& path) {
  constexpr int64_t kMaxRuns = 100000;
  long double total = 1;
  std::string sizes;
  for (const auto& [k, values] : axes) {
    sizes += (sizes.empty() ? "" : " x ") + std::to_string(values.size());
    total *= static_cast<long double>(values.size());
  }
  TORCH_CHECK(total <= kMaxRuns, path, ": the grid has ", sizes, " = ",
              util::format_number("%.4g", static_cast<double>(total)), " runs; at most ", kMaxRuns);
  return static_cast<int64_t>(total);
}

// The runs: the product of the axes, the last axis fastest, each with its key; and the
// grid's digest over the runs' keys and settings.
void expand(GridConfig& g, const Axes& axes, const std::string& path) {
  const int64_t total = run_count(axes, path);
  std::vector<size_t> index(axes.size(), 0);
  uint64_t digest = fnv1a(g.name);
  for (int64_t r = 0; r < total; ++r) {
    RunSpec run;
    run.config = g.base;
    std::string key = std::to_string(r);
    key = "r" + std::string(key.size() < 4 ? 4 - key.size() : 0, '0') + key;
    for (size_t a = 0; a < axes.size(); ++a) {
      const toml::node& v = *axes[a].second[index[a]];
      apply(run.config, axes[a].first, v, path);
      run.axes.emplace_back(axes[a].first, value_text(v));
      key += "_" + sanitized(value_text(v));
    }
    if (key.size() > 96) key = key.substr(0, 96);
    run.key = key;
    check_config(run.config, path + ": run " + run.key);
    digest = fnv1a(run.key + train::config_json(run.config), digest);
    g.runs.push_back(std::move(run));
    for (size_t a = axes.size(); a-- > 0;) {
      if (++index[a] < axes[a].second.size()) break;
      index[a] = 0;
    }
  }
  std::ostringstream hex;
  hex << std::hex << digest;
  g.digest = hex.str();
}

}  // namespace

GridConfig parse_grid_config(const std::string& text, const std::string& path) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    TORCH_CHECK(false, path, ":", e.source().begin.line, ": ", e.description());
  }
  GridConfig g;
  g.path = path;
  const auto [train_table, grid_table] = read_tables(root, path, g);
  if (train_table) {
    for (const auto& [key, value] : *train_table) {
      const std::string k(key.str());
      if (k == "out_dir" || k == "resume" || k == "quiet") {
        fail_at(path, value, "'" + k + "' is set by the grid itself, not by the config");
      }
      apply(g.base, k, value, path);
    }
  }
  check_config(g.base, path + ": [train]");
  const Axes axes = read_axes(grid_table, train_table, g.base, path);
  for (const auto& [k, values] : axes) {
    std::vector<std::string> texts;
    for (const auto* v : values) texts.push_back(value_text(*v));
    g.axes.emplace_back(k, texts);
  }
  expand(g, axes, path);
  return g;
}

GridConfig load_grid_config(const std::string& path) {
  return parse_grid_config(util::read_text_file(path, "grid config"), path);
}

}  // namespace eelu::experiment
