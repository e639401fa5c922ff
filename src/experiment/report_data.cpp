// What the report is made of: the runs and their epochs from the store, grouped by
// training-set size and condition, the ranks, and the comparisons with their tests.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

#include "eelu/nn/registry.h"
#include "experiment/report_parts.h"

namespace eelu::experiment::report {
namespace {
using json = nlohmann::json;

// The runs with their axes' values and epochs, in the store's order.
std::vector<Run> read_runs(const Store& store, const Gathered& g) {
  std::vector<Run> runs;
  std::map<int64_t, size_t> by_id;
  for (const RunRecord& r : store.runs()) {
    Run run;
    run.rec = r;
    const json a = json::parse(r.axes_json);
    const json c = json::parse(r.config_json);
    run.activation = a.contains("activation") ? a["activation"].get<std::string>()
                                              : c["activation"].get<std::string>();
    run.seed = a.contains("seed") ? a["seed"].get<std::string>()
                                  : std::to_string(c["seed"].get<uint64_t>());
    run.size = g.size_axis.empty() ? "all" : a[g.size_axis].get<std::string>();
    run.condition = run.activation;
    for (const auto& [name, values] : g.axes) {
      if (name == "activation" || name == "seed" || name == g.size_axis) continue;
      run.condition += " [" + name + "=" + a[name].get<std::string>() + "]";
    }
    by_id[r.id] = runs.size();
    runs.push_back(std::move(run));
  }
  for (const EpochRecord& e : store.epochs()) {
    const auto it = by_id.find(e.run_id);
    if (it != by_id.end()) runs[it->second].epochs.push_back(e.m);
  }
  return runs;
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
    if (r.rec.status == "done") {
      g.cells[{r.size, r.condition}][r.seed] = {r.rec.final_test_acc, r.rec.best_test_acc};
      ++g.n_done;
    } else if (r.rec.status == "failed") {
      ++g.n_failed;
    } else {
      ++g.n_left;
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
  const double se = (t.ci_high - t.diff) / stats::t_quantile(0.975, df);
  return (stats::t_quantile(1 - alpha / 2, df) + stats::t_quantile(0.8, df)) * se;
}

}  // namespace

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

Gathered gather(const Store& store) {
  Gathered g;
  for (const auto& a : json::parse(store.meta("axes"))) {
    g.axes.emplace_back(a["name"].get<std::string>(), a["values"].get<std::vector<std::string>>());
  }
  for (const auto& [name, values] : g.axes) {
    if (name == "train_fraction" || name == "train_per_class") g.size_axis = name;
  }
  g.runs = read_runs(store, g);
  if (g.size_axis.empty() && !g.runs.empty()) {  // a subset fixed in [train]: say which
    const json c = json::parse(g.runs.front().rec.config_json);
    const int64_t per_class = c.value("train_per_class", int64_t{0});
    const double fraction = c.value("train_fraction", 1.0);
    if (per_class > 0) {
      g.fixed_size = "train_per_class = " + std::to_string(per_class);
    } else if (fraction < 1) {
      g.fixed_size = "train_fraction = " + fmt("%g", fraction);
    }
  }
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
