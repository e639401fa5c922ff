// report.md: where it comes from, the accuracy tables and ranks, the comparisons against ReLU
// and EELU, the claims' verdicts (report_claims.cpp), failed runs and the figures.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "experiment/report_parts.h"

namespace eelu::experiment::report {
namespace {
namespace fs = std::filesystem;

std::string runs_line(int64_t runs, int64_t done, int64_t failed, int64_t left) {
  return std::to_string(runs) + " — " + std::to_string(done) + " done, " + std::to_string(failed) +
         " failed, " + std::to_string(left) + " not finished";
}

void header(std::ostringstream& md, const Gathered& g) {
  const Source& first = g.sources.front();
  if (g.sources.size() == 1) {
    md << "# Experiment report: " << first.name << "\n\n";
    if (!first.description.empty()) md << first.description << "\n\n";
    md << "Made by `eelu report` from `" << (fs::path(first.dir) / "experiment.db").string()
       << "` (grid digest " << first.digest << ", config `" << first.config_path << "`). Runs: ";
  } else {
    md << "# Experiment report:";
    for (size_t i = 0; i < g.sources.size(); ++i) md << (i ? " + " : " ") << g.sources[i].name;
    md << "\n\nMade by `eelu report` from " << g.sources.size() << " experiment databases:\n\n";
    for (const Source& s : g.sources) {
      md << "- `" << (fs::path(s.dir) / "experiment.db").string() << "`: **" << s.name << "**"
         << (s.description.empty() ? "" : " — " + s.description) << " (grid digest " << s.digest
         << ", config `" << s.config_path
         << "`). Runs: " << runs_line(s.n_runs, s.n_done, s.n_failed, s.n_left) << ".\n";
    }
    md << "\n";
    if (!g.differing.empty()) {
      md << "Settings that differ between the grids and are no axis (every comparison below "
            "is within one training-set size, so within one grid):\n\n";
      for (const std::string& d : g.differing) md << "- " << md_cell(d) << "\n";
      md << "\n";
    }
    md << "Runs in all: ";
  }
  md << runs_line(static_cast<int64_t>(g.runs.size()), g.n_done, g.n_failed, g.n_left)
     << (g.n_left ? " (the figures below cover the finished runs only)" : "") << ".\n\n";
  if (!g.only.empty()) {
    md << "Only the activations matching `" << g.only << "` (`--only`): " << g.n_left_out
       << " runs of the others are left out, and Holm's correction counts only the "
          "comparisons below.\n\n";
  }
  md << "Axes:";
  for (const auto& [name, vals] : g.axes) {
    md << " `" << name << "` (" << vals.size() << ")";
  }
  md << ". Accuracies are in percent. **final** = test accuracy after the last epoch (the "
        "primary figure); **best epoch** = the highest test accuracy over the epochs, which "
        "chooses the epoch on the test set and so flatters every activation.\n\n";
}

void accuracy_tables(std::ostringstream& md, const Gathered& g) {
  md << "## Test accuracy\n\n";
  // one seed has no spread: its sd is shown as missing, not as 0
  const auto sd = [](const stats::Summary& x) { return x.n > 1 ? pct(x.sd) : "–"; };
  for (const std::string& size : g.sizes) {
    md << "### " << g.size_label(size) << "\n\n";
    const bool any = std::any_of(g.conditions.begin(), g.conditions.end(),
                                 [&](const auto& c) { return g.has_runs(size, c); });
    if (!any) {  // a grid of this size not started, or all its runs still training
      md << "No run of this size has finished yet.\n\n";
      continue;
    }
    md << "| activation | seeds | final mean ± sd | median | min | max | best epoch mean ± sd | "
          "rank |\n"
       << "|---|---|---|---|---|---|---|---|\n";
    for (const std::string& cond : g.conditions) {
      const auto f = stats::summarize(g.values(size, cond, false));
      if (f.n == 0) continue;
      const auto b = stats::summarize(g.values(size, cond, true));
      md << "| " << md_cell(cond) << " | " << f.n << " | " << pct(f.mean) << " ± " << sd(f) << " | "
         << pct(f.median) << " | " << pct(f.min) << " | " << pct(f.max) << " | " << pct(b.mean)
         << " ± " << sd(b) << " | " << fmt("%.1f", g.rank.at({size, cond})) << " |\n";
    }
    md << "\n";
  }
  if (g.sizes.size() > 1) {
    md << "Mean rank over the training-set sizes (1 = best mean final accuracy):\n\n"
       << "| activation | mean rank |\n|---|---|\n";
    std::vector<std::pair<double, std::string>> order;
    for (const auto& [cond, rs] : g.ranks_of) order.push_back({stats::summarize(rs).mean, cond});
    std::sort(order.begin(), order.end());
    for (const auto& [r, cond] : order)
      md << "| " << md_cell(cond) << " | " << fmt("%.2f", r) << " |\n";
    md << "\n";
  }
}

// The tail of each curve: the mean test accuracy over seeds at the size's last four
// evaluations, and the last epoch's training loss and accuracy (with the training noise,
// dropout and augmentation on): how far from converged the networks stopped.
void convergence_tables(std::ostringstream& md, const Gathered& g) {
  md << "## Convergence: the tail of the curves\n\n"
     << "Mean over the finished seeds of the test accuracy at the last four evaluations, and "
        "of the training loss and accuracy in the last epoch (measured while training: with "
        "the activation's noise, dropout and augmentation). A curve that still climbs over "
        "its last evaluations has not converged.\n\n";
  for (const std::string& size : g.sizes) {
    std::map<std::string, std::map<int64_t, std::vector<double>>> tail;  // cond -> epoch -> accs
    std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> train;
    std::set<int64_t> evaluated;
    for (const Run& r : g.runs) {
      if (r.size != size || r.rec.status != "done" || r.epochs.empty()) continue;
      for (const auto& m : r.epochs) {
        if (m.test_acc < 0) continue;
        tail[r.condition][m.epoch].push_back(m.test_acc);
        evaluated.insert(m.epoch);
      }
      train[r.condition].first.push_back(r.epochs.back().train_loss);
      train[r.condition].second.push_back(r.epochs.back().train_acc);
    }
    if (tail.empty()) continue;
    std::vector<int64_t> last(evaluated.begin(), evaluated.end());
    if (last.size() > 4) last.erase(last.begin(), last.end() - 4);
    md << "### " << g.size_label(size) << "\n\n| activation |";
    for (int64_t e : last) md << " test, epoch " << e << " |";
    md << " train loss | train acc |\n|---|";
    for (size_t i = 0; i < last.size() + 2; ++i) md << "---|";
    md << "\n";
    for (const std::string& cond : g.conditions) {
      const auto t = tail.find(cond);
      if (t == tail.end()) continue;
      md << "| " << md_cell(cond) << " |";
      for (int64_t e : last) {
        const auto a = t->second.find(e);
        md << " "
           << (a == t->second.end() ? std::string("–") : pct(stats::summarize(a->second).mean))
           << " |";
      }
      md << " " << fmt("%.4f", stats::summarize(train[cond].first).mean) << " | "
         << pct(stats::summarize(train[cond].second).mean) << " |\n";
    }
    md << "\n";
  }
}

void comparison_tables(std::ostringstream& md, const Comparisons& comparisons) {
  for (const std::string& ref : comparisons.references) {
    md << "## Against " << ref << "\n\n"
       << "Difference of the final test accuracy, activation − " << ref
       << ", in percentage points. Paired over seeds (a seed fixes the training subset and the "
          "initialisation stream): mean difference, its 95% confidence interval and the paired "
          "t-test; Welch's t-test on the two groups as they are. p-values are two-sided; "
          "Holm's correction runs over every comparison in this table. **Detectable**: the "
          "smallest true difference the paired test would find with 80% power, given the "
          "pairs and the spread of their differences, at a two-sided 0.05 / at 0.05 divided "
          "by the table's comparisons (Holm's strictest step).\n\n"
       << "| size | activation | pairs | diff | 95% CI | paired p | Holm | Welch p | Holm | "
          "detectable |\n"
       << "|---|---|---|---|---|---|---|---|---|---|\n";
    for (const Comparison& c : comparisons.list) {
      if (c.reference != ref) continue;
      md << "| " << c.size << " | " << md_cell(c.condition) << " | " << c.paired.n << " | "
         << fmt("%+.2f", 100 * c.paired.diff) << " | " << interval(c.paired) << " | "
         << pval(c.paired.p) << " | " << pval(c.paired_holm) << " | " << pval(c.welch.p) << " | "
         << pval(c.welch_holm) << " | "
         << (std::isnan(c.mde) ? std::string("–") : fmt("%.2f", 100 * c.mde)) << " / "
         << (std::isnan(c.mde_family) ? std::string("–") : fmt("%.2f", 100 * c.mde_family))
         << " |\n";
    }
    md << "\n";
  }
}

void failures_and_figures(std::ostringstream& md, const Gathered& g,
                          const std::vector<std::string>& figures) {
  if (g.n_failed > 0) {
    md << "## Failed runs\n\n| run | error |\n|---|---|\n";
    for (const Run& r : g.runs) {
      if (r.rec.status == "failed")
        md << "| " << run_label(g, r) << " | " << md_cell(r.rec.error) << " |\n";
    }
    md << "\n";
  }
  if (!figures.empty()) {
    md << "## Figures\n\n";
    for (const std::string& f : figures) md << "![" << f << "](" << f << ")\n\n";
  }
  md << "Files: `runs.csv` (one row per run), `summary.csv` (per size and activation), "
        "`comparisons.csv` (every test above, unrounded).\n";
}

}  // namespace

std::string markdown(const Gathered& g, const Comparisons& c,
                     const std::vector<std::string>& figures) {
  std::ostringstream md;
  header(md, g);
  accuracy_tables(md, g);
  convergence_tables(md, g);
  comparison_tables(md, c);
  md << claims_section(g, c);
  failures_and_figures(md, g, figures);
  return md.str();
}

}  // namespace eelu::experiment::report
