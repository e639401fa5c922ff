// The latent-feature claim over seeds (issue 19): the checkpoints of a grid's finished runs,
// labelled by condition, and the measures of each label's networks summarised with 95%
// intervals and compared with a reference label.
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "eelu/experiment/latent.h"
#include "eelu/experiment/stats.h"
#include "eelu/experiment/store.h"
#include "eelu/util/csv.h"
#include "eelu/util/files.h"
#include "eelu/util/text.h"
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
  double LatentMeasures::*field;
  double scale;  // 100 for shares, shown in percent
};
const Measure kMeasures[] = {
    {"test_acc", &LatentMeasures::test_acc, 100},
    {"effective_rank", &LatentMeasures::effective_rank, 1},
    {"active_share", &LatentMeasures::active_share, 100},
    {"probe_acc", &LatentMeasures::probe_acc, 100},
    {"bn_recalibration_gain", &LatentMeasures::bn_recalibration_gain, 100}};

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

// The difference of a label's measure to the reference's: paired by seed when both labels
// hold one network per seed and the same seeds, else Welch's test.
stats::TTest difference(const std::vector<const LatentMeasures*>& a,
                        const std::vector<const LatentMeasures*>& b, double LatentMeasures::*f,
                        bool& paired) {
  auto by_seed = [](const std::vector<const LatentMeasures*>& v) {
    std::map<uint64_t, double> out;
    for (const auto* m : v) out[m->seed] = 0;
    return out;
  };
  std::map<uint64_t, double> sa = by_seed(a), sb = by_seed(b);
  paired = sa.size() == a.size() && sb.size() == b.size() && sa.size() == sb.size() &&
           std::equal(sa.begin(), sa.end(), sb.begin(),
                      [](const auto& x, const auto& y) { return x.first == y.first; });
  std::vector<double> x, y;
  if (paired) {
    for (const auto* m : a) sa[m->seed] = m->*f;
    for (const auto* m : b) sb[m->seed] = m->*f;
    for (const auto& [seed, v] : sa) x.push_back(v);
    for (const auto& [seed, v] : sb) y.push_back(v);
    return stats::paired_t_test(x, y);
  }
  for (const auto* m : a) x.push_back(m->*f);
  for (const auto* m : b) y.push_back(m->*f);
  return stats::welch_t_test(x, y);
}

std::string ci_text(double scale, double low, double high) {
  if (std::isnan(low)) return "";
  return " [" + fmt("%.2f", scale * low) + ", " + fmt("%.2f", scale * high) + "]";
}

}  // namespace

std::vector<std::pair<std::string, std::string>> grid_checkpoints(
    const std::string& grid_dir, const std::vector<std::string>& where) {
  const std::map<std::string, std::string> filters = parse_where(where);
  Store store = Store::open(grid_dir, nullptr);
  sync_run_folders(store, grid_dir);  // runs trained by tasks of a cluster (run_folders.h)
  std::vector<std::pair<std::string, std::string>> out;
  std::set<std::string> axes_seen;
  for (const RunRecord& r : store.runs()) {
    const json a = json::parse(r.axes_json);
    for (const auto& [k, v] : a.items()) axes_seen.insert(k);
    bool selected = r.status == "done";
    for (const auto& [k, v] : filters) {
      selected = selected && a.contains(k) && a[k].get<std::string>() == v;
    }
    if (!selected) continue;
    std::string label = a.contains("activation")
                            ? a["activation"].get<std::string>()
                            : json::parse(r.config_json)["activation"].get<std::string>();
    for (const auto& [k, v] : a.items()) {
      if (k == "activation" || k == "seed" || filters.count(k)) continue;
      label += " [" + k + "=" + v.get<std::string>() + "]";
    }
    out.emplace_back(label, (fs::path(grid_dir) / "runs" / r.key / "checkpoint.pt").string());
  }
  for (const auto& [k, v] : filters) {
    TORCH_CHECK(axes_seen.count(k), "visualize: the grid in ", grid_dir, " has no axis '", k, "'");
  }
  TORCH_CHECK(!out.empty(), "visualize: no finished run in ", grid_dir,
              filters.empty() ? std::string() : " matches the --where filters");
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
         "p,test\n";
  md << "# Latent features over networks\n\n"
     << "Each label's networks (one per seed): mean and 95% t-interval of each measure "
        "(latent.md defines them; accuracies and shares in %), and the difference to **"
     << reference
     << "** with its 95% interval and two-sided p: paired by seed when both labels have the "
        "same seeds, else Welch's test. No correction for the number of labels. **BN recal.**: "
        "the points of test accuracy each network gains with its BatchNorm statistics "
        "re-estimated with the noise off (its interval is the paired effect of recalibration "
        "for that label).\n\n"
     << "| label | networks | test acc. | effective rank | active | linear probe | BN recal. |\n"
     << "|---|---|---|---|---|---|---|\n";
  std::ostringstream diffs;
  diffs << "\n| label − " << reference
        << " | test acc. | effective rank | active | linear probe | BN recal. |\n"
           "|---|---|---|---|---|---|\n";
  for (const std::string& label : order) {
    const auto& g = groups[label];
    md << "| " << label << " | " << g.size();
    if (label != reference) diffs << "| " << label;
    for (const Measure& ms : kMeasures) {
      std::vector<double> v;
      for (const auto* m : g) v.push_back(m->*ms.field);
      const Interval i = interval(v);
      md << " | " << fmt("%.2f", ms.scale * i.mean) << ci_text(ms.scale, i.low, i.high);
      csv << util::csv_field(label) << "," << g.size() << "," << ms.name << ","
          << fmt("%.6g", i.mean) << "," << fmt("%.6g", i.low) << "," << fmt("%.6g", i.high);
      if (label == reference) {
        csv << ",,,,,\n";
        continue;
      }
      bool paired = false;
      const stats::TTest t = difference(g, groups[reference], ms.field, paired);
      csv << "," << fmt("%.6g", t.diff) << "," << fmt("%.6g", t.ci_low) << ","
          << fmt("%.6g", t.ci_high) << "," << fmt("%.4g", t.p) << ","
          << (paired ? "paired" : "welch") << "\n";
      diffs << " | " << fmt("%+.2f", ms.scale * t.diff)
            << (t.valid ? ci_text(ms.scale, t.ci_low, t.ci_high) + ", p " + fmt("%.3g", t.p)
                        : std::string(" (undefined)"));
    }
    md << " |\n";
    if (label != reference) diffs << " |\n";
  }
  md << diffs.str();
  util::write_file_atomically((fs::path(o.out_dir) / "latent_by_label.csv").string(), csv.str());
  util::write_file_atomically((fs::path(o.out_dir) / "latent_by_label.md").string(), md.str());
}

}  // namespace eelu::experiment
