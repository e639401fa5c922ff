// `eelu report DIR`: Markdown and CSV from an experiment database, with statistics and
// gnuplot figures (docs/experiments.md).
#pragma once

#include <string>

namespace eelu::experiment {

struct ReportOptions {
  std::string dir;      // the experiment directory (holds experiment.db)
  std::string out_dir;  // "" : DIR/report
  bool plots = true;    // PNGs through gnuplot
};

/// Writes report.md, runs.csv, summary.csv, comparisons.csv (and the figures) into the
/// output directory, each atomically. Returns the path of report.md.
std::string write_report(const ReportOptions& options);

}  // namespace eelu::experiment
