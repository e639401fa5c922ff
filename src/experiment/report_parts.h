// The parts of the experiment report (report.cpp puts them together): what is gathered from
// the store, the comparisons, the CSV files, the figures and the Markdown with the claims'
// verdicts. Internal to the library.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "eelu/experiment/report.h"
#include "eelu/experiment/stats.h"
#include "eelu/experiment/store.h"
#include "eelu/train/trainer.h"
#include "eelu/util/text.h"

namespace eelu::experiment::report {

// One experiment directory of the report.
struct Source {
  std::string dir, name, description, digest, config_path;
  int64_t n_runs = 0, n_done = 0, n_failed = 0, n_left = 0;
};

struct Run {
  RunRecord rec;
  size_t source = 0;      // index into Gathered::sources
  std::string size;       // value of the training-set size axis ("all" without one)
  std::string condition;  // the activation, plus any other axis that is not seed or size
  std::string activation;
  std::string seed;
  std::vector<train::EpochMetrics> epochs;
};

// Everything the report shows, gathered once from the store (report_data.cpp).
struct Gathered {
  std::vector<Source> sources;  // the experiment directories, in the order given
  // Several sources: the [train] settings that differ between them but are no axis, each as
  // "name: value (grid), value (grid)" (e.g. the epochs of a 2% grid and of a 10% one).
  std::vector<std::string> differing;
  std::vector<std::pair<std::string, std::vector<std::string>>> axes;  // the grid's order
  // train_fraction or train_per_class; empty without one. An axis of a grid, or the setting
  // that tells several grids apart, each with its own fixed size.
  std::string size_axis;
  std::string fixed_size;  // without one: "train_fraction = 0.02" (as [train] fixed it), or ""
  std::vector<Run> runs;
  std::vector<std::string> sizes;       // ascending by value
  std::vector<std::string> conditions;  // by first appearance (the grid's order)
  // Final and best accuracies of the finished runs, by (size, condition) and seed.
  using Cell = std::map<std::string, std::pair<double, double>>;  // seed -> (final, best)
  std::map<std::pair<std::string, std::string>, Cell> cells;
  int64_t n_done = 0, n_failed = 0, n_left = 0;
  std::string only;        // ReportOptions::only
  int64_t n_left_out = 0;  // runs of the grids whose activation it does not match
  // Ranks of the conditions within each size (by mean final accuracy), and per condition.
  std::map<std::pair<std::string, std::string>, double> rank;
  std::map<std::string, std::vector<double>> ranks_of;

  /// What a size's heading says: "train_fraction = 0.1" (the axis's value or the fixed
  /// setting), or "all training data".
  std::string size_label(const std::string& size) const;
  /// Whether (size, condition) has a finished run.
  bool has_runs(const std::string& size, const std::string& condition) const;
  /// The final (or best) accuracies of the finished runs of (size, condition), by seed.
  std::vector<double> values(const std::string& size, const std::string& condition,
                             bool best) const;
};
/// Gathers the runs of every store (stores[i] opened from dirs[i]) whose activation matches
/// `only` (every run when empty). Throws c10::Error when they cannot be reported together
/// (other axes, a different kind of size, the same run twice), or when `only` is no regular
/// expression or matches none of the activations.
Gathered gather(const std::vector<std::string>& dirs, const std::vector<Store>& stores,
                const std::string& only = "");

struct Comparison {
  std::string reference, size, condition;
  stats::TTest paired, welch;
  double paired_holm = std::numeric_limits<double>::quiet_NaN();
  double welch_holm = std::numeric_limits<double>::quiet_NaN();
  // The smallest true difference the paired test finds with 80% power, given its pairs and
  // the spread of their differences: at a two-sided 0.05, and at 0.05 / (the table's
  // comparisons), Holm's strictest step (minimum_detectable in report_data.cpp).
  double mde = std::numeric_limits<double>::quiet_NaN();
  double mde_family = std::numeric_limits<double>::quiet_NaN();
};
// Every condition against ReLU and against EELU, Holm-corrected per reference and test.
struct Comparisons {
  std::vector<std::string> references;  // the ReLU condition, then the EELU one (if present)
  std::vector<Comparison> list;
};
Comparisons compare(const Gathered& g);

/// runs.csv, summary.csv, comparisons.csv (report_csv.cpp).
void write_csv(const std::string& out_dir, const Gathered& g, const Comparisons& c);
/// The figures (PNG with their .dat), in the order the report shows them (report_figures.cpp).
std::vector<std::string> write_figures(const std::string& out_dir, const Gathered& g,
                                       const Comparisons& c);
/// report.md's text (report_markdown.cpp).
std::string markdown(const Gathered& g, const Comparisons& c,
                     const std::vector<std::string>& figures);
/// The paper's claims as the comparisons against EELU see them (report_claims.cpp).
std::string claims_section(const Gathered& g, const Comparisons& c);

// Formatting shared by the parts.
inline std::string fmt(const char* f, double v) { return util::format_number(f, v); }
inline std::string pct(double v) { return fmt("%.2f", 100 * v); }
std::string pval(double p);
/// A paired difference's 95% interval in percentage points, "[low, high]", of (other − reference)
/// or, with `flip`, of (reference − other); "–" when there is none (fewer than two pairs, or
/// no spread).
std::string interval(const stats::TTest& t, bool flip = false);
std::string md_cell(const std::string& s);
/// A run's name in tables: its key, prefixed with its grid's name when there are several.
std::string run_label(const Gathered& g, const Run& r);
/// The activation's canonical name of a spec ("eelu(eps=0.6)" -> "eelu"); the spec itself
/// when it does not parse.
std::string activation_name(const std::string& spec);
/// The training-set size value as a number, for ordering and plotting (NaN if none).
double size_number(const std::string& s);

}  // namespace eelu::experiment::report
