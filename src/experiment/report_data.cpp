// What the report is made of: the runs and their epochs from the store, grouped by
// training-set size and condition, the ranks, and the comparisons with their tests.
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>
#include <tuple>

#include "eelu/nn/registry.h"
#include "eelu/util/pattern.h"
#include "experiment/report_parts.h"

namespace eelu::experiment::report {
namespace {
using json = nlohmann::json;

using Axes = std::vector<std::pair<std::string, std::vector<std::string>>>;

bool is_size_axis(const std::string& name) {
  return name == "train_fraction" || name == "train_per_class";
}

Axes read_axes(const Store& store) {
  Axes axes;
  for (const auto& a : json::parse(store.meta("axes"))) {
    axes.emplace_back(a["name"].get<std::string>(), a["values"].get<std::vector<std::string>>());
  }
  return axes;
}

// The training-set size a run's [train] settings fix, as (setting, value): ("train_per_class",
// "50"), ("train_fraction", "0.02"), or ("train_fraction", "1") for the whole set.
std::pair<std::string, std::string> fixed_size_of(const json& config) {
  const int64_t per_class = config.value("train_per_class", int64_t{0});
  if (per_class > 0) return {"train_per_class", std::to_string(per_class)};
  return {"train_fraction", fmt("%g", config.value("train_fraction", 1.0))};
}

// Every store's axes but the size must be the same (in any order): they name the conditions.
void check_same_axes(const std::vector<std::string>& dirs, const std::vector<Axes>& axes) {
  auto names = [](const Axes& a) {
    std::vector<std::string> n;
    for (const auto& [name, values] : a)
      if (!is_size_axis(name)) n.push_back(name);
    std::sort(n.begin(), n.end());
    return util::join(n);
  };
  for (size_t i = 1; i < axes.size(); ++i) {
    TORCH_CHECK(names(axes[i]) == names(axes[0]), "eelu report: ", dirs[i], " has the axes [",
                names(axes[i]), "] and ", dirs[0], " [", names(axes[0]),
                "]: grids reported together must have the same axes (the training-set size "
                "aside)");
  }
}

// The size axis of the report: a grid's train_fraction or train_per_class axis, or, when no
// grid has one, the setting whose fixed value tells the grids apart ("" when they agree).
std::string decide_size_axis(const std::vector<std::string>& dirs, const std::vector<Axes>& axes,
                             const std::vector<std::pair<std::string, std::string>>& fixed) {
  std::string axis;
  std::vector<bool> varies(axes.size(), false);
  for (size_t i = 0; i < axes.size(); ++i) {
    for (const auto& [name, values] : axes[i]) {
      if (!is_size_axis(name)) continue;
      TORCH_CHECK(axis.empty() || axis == name, "eelu report: ", dirs[i], " varies ", name,
                  " where another grid varies ", axis, ": one report puts its runs on one scale");
      axis = name;
      varies[i] = true;
    }
  }
  std::set<std::pair<std::string, std::string>> sizes;  // the fixed ones
  for (size_t i = 0; i < fixed.size(); ++i)
    if (!varies[i] && !fixed[i].first.empty()) sizes.insert(fixed[i]);
  if (axis.empty() && sizes.size() < 2) return "";
  for (size_t i = 0; i < fixed.size(); ++i) {
    if (varies[i] || fixed[i].first.empty()) continue;
    if (axis.empty()) axis = fixed[i].first;
    TORCH_CHECK(fixed[i].first == axis, "eelu report: ", dirs[i], " fixes ", fixed[i].first, " = ",
                fixed[i].second, " where the report's training-set size is ", axis,
                ": one report puts its runs on one scale");
  }
  return axis;
}

// The runs of one store (`records`, its runs()) with their axes' values and epochs, in the
// store's order.
void read_runs(const Store& store, const std::vector<RunRecord>& records, size_t source,
               const std::string& fixed_size, Gathered& g) {
  std::map<int64_t, size_t> by_id;
  for (const RunRecord& r : records) {
    Run run;
    run.rec = r;
    run.source = source;
    const json a = json::parse(r.axes_json);
    const json c = json::parse(r.config_json);
    run.activation = a.contains("activation") ? a["activation"].get<std::string>()
                                              : c["activation"].get<std::string>();
    run.seed = a.contains("seed") ? a["seed"].get<std::string>()
                                  : std::to_string(c["seed"].get<uint64_t>());
    if (!g.size_axis.empty()) {
      run.size = a.contains(g.size_axis) ? a[g.size_axis].get<std::string>() : fixed_size;
    } else {  // one size for all: the subset [train] fixes ("0.02", as an axis's value) or all
      run.size = g.fixed_size.empty() ? "all" : fixed_size;
    }
    run.condition = run.activation;
    for (const auto& [name, values] : g.axes) {
      if (name == "activation" || name == "seed" || name == g.size_axis) continue;
      run.condition += " [" + name + "=" + a[name].get<std::string>() + "]";
    }
    by_id[r.id] = g.runs.size();
    g.runs.push_back(std::move(run));
  }
  for (const EpochRecord& e : store.epochs()) {
    const auto it = by_id.find(e.run_id);
    if (it != by_id.end()) g.runs[it->second].epochs.push_back(e.m);
  }
}

// The same run (size, condition, seed) from two grids would be counted twice.
void check_no_run_twice(const Gathered& g) {
  std::map<std::tuple<std::string, std::string, std::string>, const Run*> seen;
  for (const Run& r : g.runs) {
    const auto [it, fresh] = seen.emplace(std::make_tuple(r.size, r.condition, r.seed), &r);
    TORCH_CHECK(fresh, "eelu report: run ", r.rec.key, " of ", g.sources[r.source].dir, " and run ",
                it->second->rec.key, " of ", g.sources[it->second->source].dir,
                " are the same run (", g.size_label(r.size), ", ", r.condition, ", seed ", r.seed,
                "): a grid given twice, or grids that overlap");
  }
}

// The settings of the sources' first runs that differ between them and are no axis.
std::vector<std::string> differing_settings(const Gathered& g) {
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> values;  // by setting
  size_t with_runs = 0;
  for (size_t s = 0; s < g.sources.size(); ++s) {
    const auto first =
        std::find_if(g.runs.begin(), g.runs.end(), [&](const Run& r) { return r.source == s; });
    if (first == g.runs.end()) continue;
    ++with_runs;
    const json config = json::parse(first->rec.config_json);  // alive through the loop
    for (const auto& [key, value] : config.items())
      values[key].emplace_back(value.dump(), g.sources[s].name);
  }
  std::vector<std::string> out;
  for (const auto& [key, vs] : values) {
    const bool axis = key == "seed" || std::any_of(g.axes.begin(), g.axes.end(),
                                                   [&](const auto& a) { return a.first == key; });
    const bool of_size =  // follow from the size
        !g.size_axis.empty() &&
        (key == "train_fraction" || key == "train_per_class" || key == "train_images");
    const bool same = vs.size() == with_runs &&
                      std::all_of(vs.begin(), vs.end(),
                                  [&](const auto& v) { return v.first == vs.front().first; });
    if (axis || of_size || same) continue;
    std::string line = key + ":";
    for (size_t i = 0; i < vs.size(); ++i)
      line += (i ? ", " : " ") + vs[i].first + " (" + vs[i].second + ")";
    out.push_back(line);
  }
  return out;
}

// Keeps the runs whose activation spec matches `only` (and those values of the activation
// axis), counting the others in n_left_out.
void keep_only(Gathered& g, const std::string& only) {
  const std::regex pattern = util::regular_expression(only, "eelu report: --only");
  const auto matches = [&](const std::string& spec) { return std::regex_search(spec, pattern); };
  std::vector<std::string> all;
  for (const Run& r : g.runs) {
    if (std::find(all.begin(), all.end(), r.activation) == all.end()) all.push_back(r.activation);
  }
  TORCH_CHECK(g.runs.empty() || std::any_of(all.begin(), all.end(), matches),
              "eelu report: --only '", only,
              "' matches none of the activations: ", util::join(all, ", "));
  const auto end = std::remove_if(g.runs.begin(), g.runs.end(),
                                  [&](const Run& r) { return !matches(r.activation); });
  g.n_left_out = std::distance(end, g.runs.end());
  g.runs.erase(end, g.runs.end());
  for (auto& [name, values] : g.axes) {
    if (name != "activation") continue;
    values.erase(std::remove_if(values.begin(), values.end(),
                                [&](const std::string& v) { return !matches(v); }),
                 values.end());
  }
  g.only = only;
}

// Sizes ascending by value, conditions by first appearance (the grid's order).
void order(Gathered& g) {
  for (const Run& r : g.runs) {
    if (std::find(g.sizes.begin(), g.sizes.end(), r.size) == g.sizes.end())
      g.sizes.push_back(r.size);
    if (std::find(g.conditions.begin(), g.conditions.end(), r.condition) == g.conditions.end()) {
      g.conditions.push_back(r.condition);
    }
  }
  std::stable_sort(g.sizes.begin(), g.sizes.end(), [](const std::string& a, const std::string& b) {
    const double x = size_number(a), y = size_number(b);
    return !std::isnan(x) && !std::isnan(y) ? x < y : a < b;
  });
}

void tally(Gathered& g) {
  for (const Run& r : g.runs) {
    Source& s = g.sources[r.source];
    ++s.n_runs;
    if (r.rec.status == "done") {
      g.cells[{r.size, r.condition}][r.seed] = {r.rec.final_test_acc, r.rec.best_test_acc};
      ++g.n_done, ++s.n_done;
    } else if (r.rec.status == "failed") {
      ++g.n_failed, ++s.n_failed;
    } else {
      ++g.n_left, ++s.n_left;
    }
  }
}

void rank(Gathered& g) {
  for (const std::string& size : g.sizes) {
    std::vector<std::string> present;
    std::vector<double> means;
    for (const std::string& cond : g.conditions) {
      const auto v = g.values(size, cond, false);
      if (v.empty()) continue;
      present.push_back(cond);
      means.push_back(stats::summarize(v).mean);
    }
    const auto r = stats::ranks_descending(means);
    for (size_t i = 0; i < present.size(); ++i) {
      g.rank[{size, present[i]}] = r[i];
      g.ranks_of[present[i]].push_back(r[i]);
    }
  }
}

// The comparison of `cond` with `ref` at `size`: paired over the seeds both have, Welch on
// all of each.
Comparison compare_one(const Gathered::Cell& cc, const Gathered::Cell& rc, const std::string& ref,
                       const std::string& size, const std::string& cond) {
  std::vector<double> x, y, xa, ya;
  for (const auto& [seed, fb] : cc) {
    xa.push_back(fb.first);
    const auto m = rc.find(seed);
    if (m != rc.end()) {
      x.push_back(fb.first);
      y.push_back(m->second.first);
    }
  }
  for (const auto& [seed, fb] : rc) ya.push_back(fb.first);
  Comparison c;
  c.reference = ref;
  c.size = size;
  c.condition = cond;
  c.paired = stats::paired_t_test(x, y);
  c.welch = stats::welch_t_test(xa, ya);
  return c;
}

// The difference a paired t-test of these pairs would detect with 80% power at two-sided
// level alpha: (t_{1-alpha/2} + t_{0.8}) * the standard error of the mean difference, with
// n - 1 degrees of freedom (the usual approximation by central t quantiles).
double minimum_detectable(const stats::TTest& t, double alpha) {
  if (!t.valid || t.n < 2) return std::numeric_limits<double>::quiet_NaN();
  const double df = double(t.n - 1);
  return (stats::t_quantile(1 - alpha / 2, df) + stats::t_quantile(0.8, df)) * t.se;
}

}  // namespace

bool Gathered::has_runs(const std::string& size, const std::string& cond) const {
  const auto it = cells.find({size, cond});
  return it != cells.end() && !it->second.empty();
}

std::vector<double> Gathered::values(const std::string& size, const std::string& cond,
                                     bool best) const {
  std::vector<double> v;
  const auto it = cells.find({size, cond});
  if (it == cells.end()) return v;
  for (const auto& [seed, fb] : it->second) v.push_back(best ? fb.second : fb.first);
  return v;
}

std::string Gathered::size_label(const std::string& size) const {
  if (!size_axis.empty()) return size_axis + " = " + size;
  return fixed_size.empty() ? std::string("all training data") : fixed_size;
}

Gathered gather(const std::vector<std::string>& dirs, const std::vector<Store>& stores,
                const std::string& only) {
  Gathered g;
  std::vector<Axes> axes;
  std::vector<std::pair<std::string, std::string>> fixed;  // each store's fixed size, if runs
  std::vector<std::vector<RunRecord>> records;             // each store's runs
  for (size_t i = 0; i < stores.size(); ++i) {
    const Store& store = stores[i];
    g.sources.push_back({dirs[i], store.meta("grid_name"), store.meta("description"),
                         store.meta("grid_digest"), store.meta("config_path")});
    axes.push_back(read_axes(store));
    records.push_back(store.runs());
    const std::vector<RunRecord>& runs = records.back();
    fixed.push_back(runs.empty() ? std::pair<std::string, std::string>{}
                                 : fixed_size_of(json::parse(runs.front().config_json)));
  }
  check_same_axes(dirs, axes);
  g.size_axis = decide_size_axis(dirs, axes, fixed);
  // The report's axes: the first grid's, with the others' values added (and the size, when
  // it tells the grids apart rather than being an axis of theirs).
  g.axes = axes.front();
  if (!g.size_axis.empty() && std::none_of(g.axes.begin(), g.axes.end(),
                                           [&](const auto& a) { return a.first == g.size_axis; }))
    g.axes.emplace_back(g.size_axis, std::vector<std::string>{});
  for (size_t i = 0; i < axes.size(); ++i) {
    for (auto& [name, values] : g.axes) {
      auto add = [&values = values](const std::string& v) {
        if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(v);
      };
      const auto it = std::find_if(axes[i].begin(), axes[i].end(),
                                   [&name = name](const auto& a) { return a.first == name; });
      if (it != axes[i].end()) {
        for (const std::string& v : it->second) add(v);
      } else if (name == g.size_axis && !fixed[i].first.empty()) {
        add(fixed[i].second);
      }
    }
  }
  const auto& [setting, value] = fixed.front();
  const bool whole_set = setting.empty() || (setting == "train_fraction" && value == "1");
  if (g.size_axis.empty() && !whole_set) g.fixed_size = setting + " = " + value;  // in [train]
  for (size_t i = 0; i < stores.size(); ++i)
    read_runs(stores[i], records[i], i, fixed[i].second, g);
  if (!only.empty()) keep_only(g, only);
  check_no_run_twice(g);
  if (g.sources.size() > 1) g.differing = differing_settings(g);
  order(g);
  tally(g);
  rank(g);
  return g;
}

Comparisons compare(const Gathered& g) {
  Comparisons out;
  for (const char* name : {"relu", "eelu"}) {
    for (const std::string& cond : g.conditions) {
      if (activation_name(cond.substr(0, cond.find(" ["))) == name) {
        out.references.push_back(cond);
        break;
      }
    }
  }
  for (const std::string& ref : out.references) {
    const size_t first = out.list.size();
    for (const std::string& size : g.sizes) {
      const auto rc = g.cells.find({size, ref});
      if (rc == g.cells.end()) continue;
      for (const std::string& cond : g.conditions) {
        if (cond == ref) continue;
        const auto cc = g.cells.find({size, cond});
        if (cc == g.cells.end()) continue;
        out.list.push_back(compare_one(cc->second, rc->second, ref, size, cond));
      }
    }
    std::vector<double> pp, pw;
    for (size_t i = first; i < out.list.size(); ++i) {
      pp.push_back(out.list[i].paired.p);
      pw.push_back(out.list[i].welch.p);
    }
    const auto hp = stats::holm(pp), hw = stats::holm(pw);
    const double family = double(out.list.size() - first);
    for (size_t i = first; i < out.list.size(); ++i) {
      out.list[i].paired_holm = hp[i - first];
      out.list[i].welch_holm = hw[i - first];
      out.list[i].mde = minimum_detectable(out.list[i].paired, 0.05);
      out.list[i].mde_family = minimum_detectable(out.list[i].paired, 0.05 / family);
    }
  }
  return out;
}

std::string pval(double p) {
  if (std::isnan(p)) return "–";
  if (p < 1e-4) return "<0.0001";
  return fmt("%.4f", p);
}

std::string interval(const stats::TTest& t, bool flip) {
  if (!t.valid) return "–";
  const double low = flip ? -t.ci_high : t.ci_low, high = flip ? -t.ci_low : t.ci_high;
  return "[" + fmt("%+.2f", 100 * low) + ", " + fmt("%+.2f", 100 * high) + "]";
}

std::string run_label(const Gathered& g, const Run& r) {
  return g.sources.size() > 1 ? g.sources[r.source].name + "/" + r.rec.key : r.rec.key;
}

std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string activation_name(const std::string& spec) {
  try {
    return nn::parse_activation_spec(spec).name;
  } catch (const std::exception&) {
    return spec;
  }
}

double size_number(const std::string& s) {
  try {
    return std::stod(s);
  } catch (const std::exception&) {
    return std::numeric_limits<double>::quiet_NaN();
  }
}

}  // namespace eelu::experiment::report
