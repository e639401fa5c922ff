// The latent-feature claim over seeds (issue 19): the checkpoints of a grid's finished runs,
// labelled by condition, and the measures of each label's networks summarised with 95%
// intervals and compared with a reference label.
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "eelu/experiment/latent.h"
#include "eelu/experiment/stats.h"
#include "eelu/experiment/store.h"
#include "eelu/util/csv.h"
#include "eelu/util/files.h"
#include "eelu/util/gnuplot.h"
#include "eelu/util/pattern.h"
#include "eelu/util/text.h"
#include "experiment/latent_cache.h"
#include "experiment/run_folders.h"

namespace eelu::experiment {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

std::string fmt(const char* f, double v) { return util::format_number(f, v); }

// "axis=value" filters of --where, by axis.
std::map<std::string, std::string> parse_where(const std::vector<std::string>& where) {
  std::map<std::string, std::string> out;
  for (const std::string& w : where) {
    const auto eq = w.find('=');
    TORCH_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < w.size(),
                "visualize: --where takes AXIS=VALUE (e.g. train_fraction=0.02), got '", w, "'");
    out[w.substr(0, eq)] = w.substr(eq + 1);
  }
  return out;
}

struct Measure {
  const char* name;
  double (*value)(const LatentMeasures&);
  double scale;       // 100 for shares, shown in percent
  const char* title;  // the figure's panel
};
const Measure kMeasures[] = {
    {"test_acc", [](const LatentMeasures& m) { return m.test_acc; }, 100, "test accuracy (%)"},
    // the network's accuracy with its BatchNorm statistics re-estimated with the noise off:
    // activations compared as --bn-recalibrate would have left them
    {"recalibrated_acc",
     [](const LatentMeasures& m) { return m.test_acc + m.bn_recalibration_gain; }, 100,
     "test acc., BN recalibrated (%)"},
    {"effective_rank", [](const LatentMeasures& m) { return m.effective_rank; }, 1,
     "effective rank"},
    {"active_share", [](const LatentMeasures& m) { return m.active_share; }, 100,
     "active units (%)"},
    {"probe_acc", [](const LatentMeasures& m) { return m.probe_acc; }, 100, "linear probe (%)"},
    {"bn_recalibration_gain", [](const LatentMeasures& m) { return m.bn_recalibration_gain; }, 100,
     "BN recalibration gain (points)"}};
constexpr size_t kMeasureCount = sizeof(kMeasures) / sizeof(kMeasures[0]);

// Mean and 95% t-interval of the mean.
struct Interval {
  double mean = 0, low = NAN, high = NAN;
};
Interval interval(const std::vector<double>& x) {
  const stats::Summary s = stats::summarize(x);
  Interval i{s.mean, NAN, NAN};
  if (s.n >= 2) {
    const double h = stats::t_quantile(0.975, double(s.n - 1)) * s.sd / std::sqrt(double(s.n));
    i.low = s.mean - h;
    i.high = s.mean + h;
  }
  return i;
}

// The seeds two labels are paired over, as the report pairs its comparisons: those both have,
// when each label holds one network per seed and they share at least two; else none.
std::vector<uint64_t> shared_seeds(const std::vector<const LatentMeasures*>& a,
                                   const std::vector<const LatentMeasures*>& b) {
  std::set<uint64_t> sa, sb;
  for (const auto* m : a) sa.insert(m->seed);
  for (const auto* m : b) sb.insert(m->seed);
  std::vector<uint64_t> out;
  if (sa.size() != a.size() || sb.size() != b.size()) return out;
  std::set_intersection(sa.begin(), sa.end(), sb.begin(), sb.end(), std::back_inserter(out));
  if (out.size() < 2) out.clear();
  return out;
}

// The difference of a label's measure to the reference's: paired over `seeds` (shared_seeds),
// else, when there are none, Welch's test on all their networks.
stats::TTest difference(const std::vector<const LatentMeasures*>& a,
                        const std::vector<const LatentMeasures*>& b,
                        double (*f)(const LatentMeasures&), const std::vector<uint64_t>& seeds) {
  std::vector<double> x, y;
  if (!seeds.empty()) {
    std::map<uint64_t, double> va, vb;
    for (const auto* m : a) va[m->seed] = f(*m);
    for (const auto* m : b) vb[m->seed] = f(*m);
    for (uint64_t seed : seeds) {
      x.push_back(va.at(seed));
      y.push_back(vb.at(seed));
    }
    return stats::paired_t_test(x, y);
  }
  for (const auto* m : a) x.push_back(f(*m));
  for (const auto* m : b) y.push_back(f(*m));
  return stats::welch_t_test(x, y);
}

// NaN as gnuplot's missing value, so that a label of one network has a point but no bar.
std::string dat_number(double v) { return std::isnan(v) ? "NaN" : fmt("%.6g", v); }

// A round step (1, 2 or 5 times a power of ten) giving three to six tics across [lo, hi]:
// gnuplot's own choice crowds the narrow panels.
double tic_step(double lo, double hi) {
  const double rough = std::max(hi - lo, 1e-9) / 4;
  const double power = std::pow(10.0, std::floor(std::log10(rough)));
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * power >= rough) return m * power;
  }
  return 10 * power;
}

// The smallest and largest value the panel of measure k shows (interval ends or means).
std::pair<double, double> panel_range(
    size_t k, const std::map<std::string, std::array<Interval, kMeasureCount>>& at) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& [label, intervals] : at) {
    for (double v : {intervals[k].mean, intervals[k].low, intervals[k].high}) {
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  }
  return {lo * kMeasures[k].scale, hi * kMeasures[k].scale};
}

// latent_by_label.png (and the .dat behind it): a panel per measure, each label's mean with
// its 95% interval over its networks, the first label on top; a dashed line at the
// reference's mean (at 0 for the BN recalibration gain, whose interval is its paired effect).
void plot_label_summary(const std::string& out_dir, const std::vector<std::string>& order,
                        const std::string& reference,
                        const std::map<std::string, std::array<Interval, kMeasureCount>>& at) {
  const fs::path dat = fs::path(out_dir) / "latent_by_label.dat";
  std::ostringstream d;
  d << "# row label, then mean ci_low ci_high of each measure:";
  for (const Measure& ms : kMeasures) d << " " << ms.name;
  d << "\n";
  for (size_t row = 0; row < order.size(); ++row) {
    d << order.size() - row << " " << util::gnuplot_quote(order[row]);
    for (const Interval& i : at.at(order[row])) {
      d << " " << dat_number(i.mean) << " " << dat_number(i.low) << " " << dat_number(i.high);
    }
    d << "\n";
  }
  util::write_file_atomically(dat.string(), d.str());

  const double left = 0.24, right = 0.99, width = (right - left) / double(kMeasureCount);
  const double height = 180 + 30 * double(order.size());
  std::ostringstream gp;
  gp << "set terminal pngcairo noenhanced size 2100," << height << "\n"
     << "set output " << util::gnuplot_quote((fs::path(out_dir) / "latent_by_label.png").string())
     << "\nset multiplot title "
     << util::gnuplot_quote(
            "latent measures over seeds: mean and 95% interval per label; "
            "dashed: " +
            reference + " (BN recalibration: no gain)")
     << "\nset yrange [0.5:" << order.size() + 0.5 << "]\nset grid x\nunset key\n"
     << "set tmargin at screen " << 1 - 60 / height << "\nset bmargin at screen " << 70 / height
     << "\n";
  for (size_t k = 0; k < kMeasureCount; ++k) {
    const Measure& ms = kMeasures[k];
    const int c = 3 + 3 * int(k);  // the measure's mean column
    const double line = k + 1 == kMeasureCount ? 0 : at.at(reference)[k].mean * ms.scale;
    gp << "set lmargin at screen " << left + width * double(k) + 0.01 << "\nset rmargin at screen "
       << left + width * double(k + 1) - 0.01 << "\nset xlabel " << util::gnuplot_quote(ms.title)
       << "\n"
       << (k == 0 ? "set ytics scale 0\n" : "set ytics format \"\"\n") << "unset arrow\n";
    const auto [lo, hi] = panel_range(k, at);
    if (lo < hi) gp << "set xtics " << tic_step(lo, hi) << "\n";
    if (std::isfinite(line)) {
      gp << "set arrow from " << line << ", graph 0 to " << line << ", graph 1 nohead dashtype 2\n";
    }
    // a label of one network has no interval: its point without a bar
    gp << "plot " << util::gnuplot_quote(dat.string()) << " using ($" << c + 1 << "==$" << c + 1
       << " ? $" << c << "*" << ms.scale << " : NaN):1:($" << c + 1 << "*" << ms.scale << "):($"
       << c + 2 << "*" << ms.scale << ") with xerrorbars lw 2 pt 7, '' using ($" << c << "*"
       << ms.scale << "):1" << (k == 0 ? ":ytic(2)" : "") << " with points pt 7 ps 1.2\n";
  }
  gp << "unset multiplot\n";
  util::run_gnuplot(gp.str());
}

std::string ci_text(double scale, double low, double high) {
  if (std::isnan(low)) return "";
  return " [" + fmt("%.2f", scale * low) + ", " + fmt("%.2f", scale * high) + "]";
}

}  // namespace

GridNetworks grid_networks(const std::vector<std::string>& grid_dirs,
                           const std::vector<std::string>& where, const std::string& only,
                           bool skip_unmeasured) {
  const std::map<std::string, std::string> filters = parse_where(where);
  const std::regex pattern = util::regular_expression(only, "visualize: --only");
  GridNetworks out;
  std::map<std::pair<std::string, uint64_t>, std::string> seen;  // (label, seed) -> its grid
  for (const std::string& grid_dir : grid_dirs) {
    Store store = Store::open(grid_dir, nullptr);
    sync_run_folders(store, grid_dir);  // runs trained by tasks of a cluster (run_folders.h)
    std::set<std::string> axes_seen;
    for (const RunRecord& r : store.runs()) {
      const json a = json::parse(r.axes_json);
      for (const auto& [k, v] : a.items()) axes_seen.insert(k);
      bool selected = r.status == "done";
      for (const auto& [k, v] : filters) {
        selected = selected && a.contains(k) && a[k].get<std::string>() == v;
      }
      if (!selected) continue;
      const json config = json::parse(r.config_json);
      const std::string activation = a.contains("activation")
                                         ? a["activation"].get<std::string>()
                                         : config["activation"].get<std::string>();
      if (!std::regex_search(activation, pattern)) continue;
      std::string label = activation;
      for (const auto& [k, v] : a.items()) {
        if (k == "activation" || k == "seed" || filters.count(k)) continue;
        label += " [" + k + "=" + v.get<std::string>() + "]";
      }
      const std::string checkpoint =
          (fs::path(grid_dir) / "runs" / r.key / "checkpoint.pt").string();
      if (skip_unmeasured && !fs::exists(checkpoint) &&
          !fs::exists(kept_measures_path(checkpoint))) {
        out.left_out.push_back((fs::path(grid_dir) / "runs" / r.key).string());
        continue;
      }
      const auto key = std::make_pair(label, config.value("seed", uint64_t(0)));
      TORCH_CHECK(!seen.count(key), "visualize: ", label, " with seed ", key.second,
                  " is a run of both ", seen[key], " and ", grid_dir,
                  ": give one of the grids, or --only to keep one of them");
      seen[key] = grid_dir;
      out.labels.push_back(label);
      out.checkpoints.push_back(checkpoint);
    }
    for (const auto& [k, v] : filters) {
      TORCH_CHECK(axes_seen.count(k), "visualize: the grid in ", grid_dir, " has no axis '", k,
                  "'");
    }
  }
  TORCH_CHECK(!out.checkpoints.empty(), "visualize: no finished run in ",
              util::join(grid_dirs, ", "),
              filters.empty() && only.empty() ? "" : " matches --where and --only",
              out.left_out.empty() ? "" : " with its network kept or measured");
  return out;
}

void write_label_summary(const LatentOptions& o, const std::vector<LatentMeasures>& all) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<const LatentMeasures*>> groups;
  for (const LatentMeasures& m : all) {
    if (!groups.count(m.label)) order.push_back(m.label);
    groups[m.label].push_back(&m);
  }
  size_t largest = 0;
  for (const auto& [label, v] : groups) largest = std::max(largest, v.size());
  if (largest < 2) return;  // one network per label: latent.md says all there is
  const std::string reference = o.reference.empty() ? order.front() : o.reference;
  TORCH_CHECK(groups.count(reference), "visualize: --reference '", reference,
              "' is not one of the labels");
  std::ostringstream csv, md;
  csv << "label,networks,measure,mean,ci_low,ci_high,diff_to_reference,diff_ci_low,diff_ci_high,"
         "p,test,pairs\n";
  md << "# Latent features over networks\n\n"
     << "Each label's networks (one per seed): mean and 95% t-interval of each measure "
        "(latent.md defines them; accuracies and shares in %), and the difference to **"
     << reference
     << "** with its 95% interval and two-sided p: paired by seed over the seeds both labels "
        "have (**pairs**), else (no two seeds in common) Welch's test. No correction for the "
        "number of labels. **BN recal.**: "
        "the points of test accuracy each network gains with its BatchNorm statistics "
        "re-estimated with the noise off (its interval is the paired effect of recalibration "
        "for that label); **recal. acc.**: the test accuracy after it, so that its difference "
        "compares the activations as if each had been trained with `--bn-recalibrate`.\n\n"
     << "| label | networks | test acc. | recal. acc. | effective rank | active | linear probe "
        "| BN recal. |\n"
     << "|---|---|---|---|---|---|---|---|\n";
  std::map<std::string, std::array<Interval, kMeasureCount>> intervals;
  std::ostringstream diffs;
  diffs << "\n| label − " << reference
        << " | pairs | test acc. | recal. acc. | effective rank | active | linear probe | BN "
           "recal. |\n"
           "|---|---|---|---|---|---|---|---|\n";
  for (const std::string& label : order) {
    const auto& g = groups[label];
    md << "| " << label << " | " << g.size();
    const std::vector<uint64_t> seeds = shared_seeds(g, groups[reference]);
    const size_t pairs = seeds.size();
    if (label != reference)
      diffs << "| " << label << " | " << (pairs ? std::to_string(pairs) : "Welch");
    for (size_t k = 0; k < kMeasureCount; ++k) {
      const Measure& ms = kMeasures[k];
      std::vector<double> v;
      for (const auto* m : g) v.push_back(ms.value(*m));
      const Interval i = interval(v);
      intervals[label][k] = i;
      md << " | " << fmt("%.2f", ms.scale * i.mean) << ci_text(ms.scale, i.low, i.high);
      csv << util::csv_field(label) << "," << g.size() << "," << ms.name << ","
          << fmt("%.6g", i.mean) << "," << fmt("%.6g", i.low) << "," << fmt("%.6g", i.high);
      if (label == reference) {
        csv << ",,,,,,\n";
        continue;
      }
      const stats::TTest t = difference(g, groups[reference], ms.value, seeds);
      csv << "," << fmt("%.6g", t.diff) << "," << fmt("%.6g", t.ci_low) << ","
          << fmt("%.6g", t.ci_high) << "," << fmt("%.4g", t.p) << ","
          << (pairs ? "paired" : "welch") << "," << pairs << "\n";
      diffs << " | " << fmt("%+.2f", ms.scale * t.diff)
            << (t.valid ? ci_text(ms.scale, t.ci_low, t.ci_high) + ", p " + fmt("%.3g", t.p)
                        : std::string(" (undefined)"));
    }
    md << " |\n";
    if (label != reference) diffs << " |\n";
  }
  md << diffs.str() << "\n![latent measures over seeds](latent_by_label.png)\n";
  util::write_file_atomically((fs::path(o.out_dir) / "latent_by_label.csv").string(), csv.str());
  util::write_file_atomically((fs::path(o.out_dir) / "latent_by_label.md").string(), md.str());
  plot_label_summary(o.out_dir, order, reference, intervals);
}

}  // namespace eelu::experiment
