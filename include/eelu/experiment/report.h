// `eelu report DIR [DIR...]`: Markdown and CSV from one or more experiment databases, with
// statistics and gnuplot figures (docs/experiments.md).
#pragma once

#include <string>
#include <vector>

namespace eelu::experiment {

struct ReportOptions {
  // The experiment directories (each holds experiment.db). Several grids are reported as one
  // when they share their axes but the training-set size: e.g. one grid on 2% of a set and
  // one on 10%, each with its own schedule. The same run (size, condition, seed) in two of
  // them is refused.
  std::vector<std::string> dirs;
  std::string out_dir;  // "" : DIR/report for one directory; required for several
  bool plots = true;    // PNGs through gnuplot
  // A regular expression (ECMAScript, searched): only the runs whose activation spec
  // matches are reported, e.g. "^relu$|^eelu" for an ablation and its anchors out of a grid
  // of twelve; "" keeps every run. Holm's correction then counts only their comparisons.
  std::string only;
};

/// Writes report.md, runs.csv, summary.csv, comparisons.csv (and the figures) into the
/// output directory, each atomically. Returns the path of report.md. Throws c10::Error naming
/// the problem when the directories cannot be reported together.
std::string write_report(const ReportOptions& options);

}  // namespace eelu::experiment
