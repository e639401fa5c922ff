// The report's numbers as CSV, unrounded: runs.csv (one row per run), summary.csv (per size
// and condition), comparisons.csv (every test).
#include <filesystem>
#include <sstream>

#include "eelu/util/csv.h"
#include "eelu/util/files.h"
#include "experiment/report_parts.h"

namespace eelu::experiment::report {
namespace {
namespace fs = std::filesystem;
using util::csv_field;

std::string runs_csv(const Gathered& g) {
  std::ostringstream s;
  s << "key,status,size,activation,condition,seed,final_test_acc,best_test_acc,best_epoch,"
       "seconds,attempts,error\n";
  for (const Run& r : g.runs) {
    s << csv_field(run_label(g, r)) << "," << r.rec.status << "," << csv_field(r.size) << ","
      << csv_field(r.activation) << "," << csv_field(r.condition) << "," << csv_field(r.seed) << ","
      << (r.rec.status == "done" ? fmt("%.6f", r.rec.final_test_acc) : "") << ","
      << (r.rec.status == "done" ? fmt("%.6f", r.rec.best_test_acc) : "") << ","
      << (r.rec.status == "done" ? std::to_string(r.rec.best_epoch) : "") << ","
      << (r.rec.seconds >= 0 ? fmt("%.1f", r.rec.seconds) : "") << "," << r.rec.attempts << ","
      << csv_field(r.rec.error) << "\n";
  }
  return s.str();
}

std::string summary_csv(const Gathered& g) {
  std::ostringstream s;
  s << "size,condition,n,final_mean,final_sd,final_median,final_min,final_max,best_mean,"
       "best_sd,rank\n";
  for (const std::string& size : g.sizes) {
    for (const std::string& cond : g.conditions) {
      const auto f = stats::summarize(g.values(size, cond, false));
      if (f.n == 0) continue;
      const auto b = stats::summarize(g.values(size, cond, true));
      s << csv_field(size) << "," << csv_field(cond) << "," << f.n << "," << fmt("%.6f", f.mean)
        << "," << fmt("%.6f", f.sd) << "," << fmt("%.6f", f.median) << "," << fmt("%.6f", f.min)
        << "," << fmt("%.6f", f.max) << "," << fmt("%.6f", b.mean) << "," << fmt("%.6f", b.sd)
        << "," << fmt("%.1f", g.rank.at({size, cond})) << "\n";
    }
  }
  return s.str();
}

std::string comparisons_csv(const Comparisons& comparisons) {
  std::ostringstream s;
  s << "reference,size,condition,n_pairs,diff,ci_low,ci_high,paired_p,paired_p_holm,"
       "welch_diff,welch_ci_low,welch_ci_high,welch_p,welch_p_holm,mde_80,mde_80_family\n";
  for (const Comparison& c : comparisons.list) {
    s << csv_field(c.reference) << "," << csv_field(c.size) << "," << csv_field(c.condition) << ","
      << c.paired.n << "," << fmt("%.6f", c.paired.diff) << "," << fmt("%.6f", c.paired.ci_low)
      << "," << fmt("%.6f", c.paired.ci_high) << "," << fmt("%.6g", c.paired.p) << ","
      << fmt("%.6g", c.paired_holm) << "," << fmt("%.6f", c.welch.diff) << ","
      << fmt("%.6f", c.welch.ci_low) << "," << fmt("%.6f", c.welch.ci_high) << ","
      << fmt("%.6g", c.welch.p) << "," << fmt("%.6g", c.welch_holm) << "," << fmt("%.6f", c.mde)
      << "," << fmt("%.6f", c.mde_family) << "\n";
  }
  return s.str();
}

}  // namespace

void write_csv(const std::string& out_dir, const Gathered& g, const Comparisons& c) {
  util::write_file_atomically((fs::path(out_dir) / "runs.csv").string(), runs_csv(g));
  util::write_file_atomically((fs::path(out_dir) / "summary.csv").string(), summary_csv(g));
  util::write_file_atomically((fs::path(out_dir) / "comparisons.csv").string(), comparisons_csv(c));
}

}  // namespace eelu::experiment::report
