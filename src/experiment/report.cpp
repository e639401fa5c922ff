// The experiment report (docs/experiments.md). Primary figure: the test accuracy after the
// last epoch ("final"). The best epoch's test accuracy is shown too, labelled: choosing the
// epoch on the test set flatters every activation. The parts are in report_*.cpp
// (report_parts.h): gathering, comparisons, CSV, figures, Markdown, the claims' verdicts.
#include "eelu/experiment/report.h"

#include <c10/util/Exception.h>

#include <filesystem>

#include "eelu/experiment/store.h"
#include "eelu/util/files.h"
#include "experiment/report_parts.h"
#include "experiment/run_folders.h"

namespace eelu::experiment {

std::string write_report(const ReportOptions& options) {
  namespace fs = std::filesystem;
  TORCH_CHECK(!options.dirs.empty(), "eelu report: no experiment directory given");
  TORCH_CHECK(options.dirs.size() == 1 || !options.out_dir.empty(),
              "eelu report: several experiment directories need --out (where the report goes)");
  std::vector<Store> stores;
  for (const std::string& dir : options.dirs) {
    stores.push_back(Store::open(dir, nullptr));
    sync_run_folders(stores.back(), dir);  // runs trained by tasks of a cluster (run_folders.h)
  }
  const report::Gathered gathered = report::gather(options.dirs, stores, options.only);
  const std::string out_dir = options.out_dir.empty()
                                  ? (fs::path(options.dirs.front()) / "report").string()
                                  : options.out_dir;
  fs::create_directories(out_dir);

  const report::Comparisons comparisons = report::compare(gathered);
  report::write_csv(out_dir, gathered, comparisons);
  const std::vector<std::string> figures =
      options.plots ? report::write_figures(out_dir, gathered, comparisons)
                    : std::vector<std::string>{};
  const std::string report_path = (fs::path(out_dir) / "report.md").string();
  util::write_file_atomically(report_path, report::markdown(gathered, comparisons, figures));
  return report_path;
}

}  // namespace eelu::experiment
