// The experiment report (docs/experiments.md). Primary figure: the test accuracy after the
// last epoch ("final"). The best epoch's test accuracy is shown too, labelled: choosing the
// epoch on the test set flatters every activation.
#include "eelu/experiment/report.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>
#include <torch/nn/modules/container/any.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>

#include "eelu/experiment/stats.h"
#include "eelu/experiment/store.h"
#include "eelu/nn/registry.h"
#include "eelu/util/csv.h"
#include "eelu/util/files.h"
#include "eelu/util/gnuplot.h"
#include "eelu/util/text.h"

namespace eelu::experiment {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

struct Run {
  RunRecord rec;
  std::string size;       // value of the training-set size axis ("all" without one)
  std::string condition;  // the activation, plus any other axis that is not seed or size
  std::string activation;
  std::string seed;
  std::vector<train::EpochMetrics> epochs;
};

std::string fmt(const char* f, double v) { return util::format_number(f, v); }
std::string pct(double v) { return fmt("%.2f", 100 * v); }
std::string pval(double p) {
  if (std::isnan(p)) return "–";
  if (p < 1e-4) return "<0.0001";
  return fmt("%.4f", p);
}
using util::csv_field;
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

struct Comparison {
  std::string reference, size, condition;
  stats::TTest paired, welch;
  double paired_holm = std::numeric_limits<double>::quiet_NaN();
  double welch_holm = std::numeric_limits<double>::quiet_NaN();
};

// The training-set size value as a number, for ordering and plotting.
double size_number(const std::string& s) {
  try {
    return std::stod(s);
  } catch (const std::exception&) {
    return std::numeric_limits<double>::quiet_NaN();
  }
}

// Writes the data blocks (one per series, gnuplot's "index") to DIR/<dat> and draws them
// into DIR/<png>: `settings` are extra gnuplot lines (title, labels), `style` how each
// series is drawn ("using 1:2 with lines", ...).
void plot_series(const std::string& out_dir, const std::string& dat, const std::string& data,
                 const std::string& png, const std::string& settings,
                 const std::vector<std::string>& titles, const std::string& style) {
  const std::string dat_path = (fs::path(out_dir) / dat).string();
  util::write_file_atomically(dat_path, data);
  std::ostringstream gp;
  gp << "set terminal pngcairo noenhanced size 1000,600\n"
     << "set offsets graph 0.03, graph 0.03, 0, 0\n"
     << "set output " << util::gnuplot_quote((fs::path(out_dir) / png).string()) << "\n"
     << settings << "set key outside right\nset grid\nplot ";
  for (size_t i = 0; i < titles.size(); ++i) {
    gp << (i ? ", " : "") << util::gnuplot_quote(dat_path) << " index " << i << " " << style
       << " lw 2 title " << util::gnuplot_quote(titles[i]);
  }
  gp << "\n";
  util::run_gnuplot(gp.str());
}

}  // namespace

std::string write_report(const ReportOptions& options) {
  const Store store = Store::open(options.dir, nullptr);
  const std::string out_dir =
      options.out_dir.empty() ? (fs::path(options.dir) / "report").string() : options.out_dir;
  fs::create_directories(out_dir);

  // Axes as the grid defined them (run order).
  std::vector<std::pair<std::string, std::vector<std::string>>> axes;
  for (const auto& a : json::parse(store.meta("axes"))) {
    axes.emplace_back(a["name"].get<std::string>(), a["values"].get<std::vector<std::string>>());
  }
  std::string size_axis;
  for (const auto& [name, values] : axes) {
    if (name == "train_fraction" || name == "train_per_class") size_axis = name;
  }

  std::vector<Run> runs;
  std::map<int64_t, size_t> by_id;
  for (const RunRecord& r : store.runs()) {
    Run run;
    run.rec = r;
    const json a = json::parse(r.axes_json);
    const json c = json::parse(r.config_json);
    run.activation = a.contains("activation") ? a["activation"].get<std::string>()
                                              : c["activation"].get<std::string>();
    run.seed = a.contains("seed") ? a["seed"].get<std::string>() : std::to_string(c["seed"].get<uint64_t>());
    run.size = size_axis.empty() ? "all" : a[size_axis].get<std::string>();
    run.condition = run.activation;
    for (const auto& [name, values] : axes) {
      if (name == "activation" || name == "seed" || name == size_axis) continue;
      run.condition += " [" + name + "=" + a[name].get<std::string>() + "]";
    }
    by_id[r.id] = runs.size();
    runs.push_back(std::move(run));
  }
  for (const EpochRecord& e : store.epochs()) {
    const auto it = by_id.find(e.run_id);
    if (it != by_id.end()) runs[it->second].epochs.push_back(e.m);
  }

  // Orders: sizes ascending by value, conditions by first appearance (the grid's order).
  std::vector<std::string> sizes, conditions;
  for (const Run& r : runs) {
    if (std::find(sizes.begin(), sizes.end(), r.size) == sizes.end()) sizes.push_back(r.size);
    if (std::find(conditions.begin(), conditions.end(), r.condition) == conditions.end()) {
      conditions.push_back(r.condition);
    }
  }
  std::stable_sort(sizes.begin(), sizes.end(), [](const std::string& a, const std::string& b) {
    const double x = size_number(a), y = size_number(b);
    return !std::isnan(x) && !std::isnan(y) ? x < y : a < b;
  });

  // Final and best accuracies of the finished runs, by (size, condition) and seed.
  using Cell = std::map<std::string, std::pair<double, double>>;  // seed -> (final, best)
  std::map<std::pair<std::string, std::string>, Cell> cells;
  int64_t n_done = 0, n_failed = 0, n_left = 0;
  for (const Run& r : runs) {
    if (r.rec.status == "done") {
      cells[{r.size, r.condition}][r.seed] = {r.rec.final_test_acc, r.rec.best_test_acc};
      ++n_done;
    } else if (r.rec.status == "failed") {
      ++n_failed;
    } else {
      ++n_left;
    }
  }
  auto values = [&](const std::string& size, const std::string& cond, bool best) {
    std::vector<double> v;
    const auto it = cells.find({size, cond});
    if (it == cells.end()) return v;
    for (const auto& [seed, fb] : it->second) v.push_back(best ? fb.second : fb.first);
    return v;
  };

  // Ranks of the conditions within each size (by mean final accuracy), and their mean.
  std::map<std::pair<std::string, std::string>, double> rank;
  std::map<std::string, std::vector<double>> ranks_of;
  for (const std::string& size : sizes) {
    std::vector<std::string> present;
    std::vector<double> means;
    for (const std::string& cond : conditions) {
      const auto v = values(size, cond, false);
      if (v.empty()) continue;
      present.push_back(cond);
      means.push_back(stats::summarize(v).mean);
    }
    const auto r = stats::ranks_descending(means);
    for (size_t i = 0; i < present.size(); ++i) {
      rank[{size, present[i]}] = r[i];
      ranks_of[present[i]].push_back(r[i]);
    }
  }

  // Comparisons against ReLU and against EELU, Holm-corrected per reference and test.
  std::vector<std::string> references;
  for (const char* name : {"relu", "eelu"}) {
    for (const std::string& cond : conditions) {
      if (activation_name(cond.substr(0, cond.find(" ["))) == name) {
        references.push_back(cond);
        break;
      }
    }
  }
  std::vector<Comparison> comparisons;
  for (const std::string& ref : references) {
    const size_t first = comparisons.size();
    for (const std::string& size : sizes) {
      const auto rc = cells.find({size, ref});
      if (rc == cells.end()) continue;
      for (const std::string& cond : conditions) {
        if (cond == ref) continue;
        const auto cc = cells.find({size, cond});
        if (cc == cells.end()) continue;
        std::vector<double> x, y, xa, ya;
        for (const auto& [seed, fb] : cc->second) {
          xa.push_back(fb.first);
          const auto m = rc->second.find(seed);
          if (m != rc->second.end()) {
            x.push_back(fb.first);
            y.push_back(m->second.first);
          }
        }
        for (const auto& [seed, fb] : rc->second) ya.push_back(fb.first);
        Comparison c;
        c.reference = ref;
        c.size = size;
        c.condition = cond;
        c.paired = stats::paired_t_test(x, y);
        c.welch = stats::welch_t_test(xa, ya);
        comparisons.push_back(c);
      }
    }
    std::vector<double> pp, pw;
    for (size_t i = first; i < comparisons.size(); ++i) {
      pp.push_back(comparisons[i].paired.p);
      pw.push_back(comparisons[i].welch.p);
    }
    const auto hp = stats::holm(pp), hw = stats::holm(pw);
    for (size_t i = first; i < comparisons.size(); ++i) {
      comparisons[i].paired_holm = hp[i - first];
      comparisons[i].welch_holm = hw[i - first];
    }
  }

  // ---- CSV ---------------------------------------------------------------------------
  {
    std::ostringstream s;
    s << "key,status,size,activation,condition,seed,final_test_acc,best_test_acc,best_epoch,"
         "seconds,attempts,error\n";
    for (const Run& r : runs) {
      s << csv_field(r.rec.key) << "," << r.rec.status << "," << csv_field(r.size) << ","
        << csv_field(r.activation) << "," << csv_field(r.condition) << "," << csv_field(r.seed)
        << "," << (r.rec.status == "done" ? fmt("%.6f", r.rec.final_test_acc) : "") << ","
        << (r.rec.status == "done" ? fmt("%.6f", r.rec.best_test_acc) : "") << ","
        << (r.rec.status == "done" ? std::to_string(r.rec.best_epoch) : "") << ","
        << (r.rec.seconds >= 0 ? fmt("%.1f", r.rec.seconds) : "") << "," << r.rec.attempts << ","
        << csv_field(r.rec.error) << "\n";
    }
    util::write_file_atomically((fs::path(out_dir) / "runs.csv").string(), s.str());
  }
  {
    std::ostringstream s;
    s << "size,condition,n,final_mean,final_sd,final_median,final_min,final_max,best_mean,"
         "best_sd,rank\n";
    for (const std::string& size : sizes) {
      for (const std::string& cond : conditions) {
        const auto f = stats::summarize(values(size, cond, false));
        if (f.n == 0) continue;
        const auto b = stats::summarize(values(size, cond, true));
        s << csv_field(size) << "," << csv_field(cond) << "," << f.n << "," << fmt("%.6f", f.mean)
          << "," << fmt("%.6f", f.sd) << "," << fmt("%.6f", f.median) << "," << fmt("%.6f", f.min)
          << "," << fmt("%.6f", f.max) << "," << fmt("%.6f", b.mean) << "," << fmt("%.6f", b.sd)
          << "," << fmt("%.1f", rank[{size, cond}]) << "\n";
      }
    }
    util::write_file_atomically((fs::path(out_dir) / "summary.csv").string(), s.str());
  }
  {
    std::ostringstream s;
    s << "reference,size,condition,n_pairs,diff,ci_low,ci_high,paired_p,paired_p_holm,"
         "welch_diff,welch_ci_low,welch_ci_high,welch_p,welch_p_holm\n";
    for (const Comparison& c : comparisons) {
      s << csv_field(c.reference) << "," << csv_field(c.size) << "," << csv_field(c.condition)
        << "," << c.paired.n << "," << fmt("%.6f", c.paired.diff) << ","
        << fmt("%.6f", c.paired.ci_low) << "," << fmt("%.6f", c.paired.ci_high) << ","
        << fmt("%.6g", c.paired.p) << "," << fmt("%.6g", c.paired_holm) << ","
        << fmt("%.6f", c.welch.diff) << "," << fmt("%.6f", c.welch.ci_low) << ","
        << fmt("%.6f", c.welch.ci_high) << "," << fmt("%.6g", c.welch.p) << ","
        << fmt("%.6g", c.welch_holm) << "\n";
    }
    util::write_file_atomically((fs::path(out_dir) / "comparisons.csv").string(), s.str());
  }

  // ---- figures -----------------------------------------------------------------------
  std::vector<std::string> figures;
  if (options.plots) {
    // Test accuracy per epoch, mean over the finished seeds, one figure per size.
    for (size_t si = 0; si < sizes.size(); ++si) {
      const std::string dat = "epochs_" + std::to_string(si) + ".dat";
      std::ostringstream d;
      std::vector<std::string> plotted;
      for (const std::string& cond : conditions) {
        std::map<int64_t, std::vector<double>> per_epoch;
        for (const Run& r : runs) {
          if (r.size != sizes[si] || r.condition != cond || r.rec.status != "done") continue;
          for (const auto& m : r.epochs) per_epoch[m.epoch].push_back(m.test_acc);
        }
        if (per_epoch.empty()) continue;
        d << "# " << cond << "\n";
        for (const auto& [epoch, accs] : per_epoch) {
          d << epoch << " " << 100 * stats::summarize(accs).mean << "\n";
        }
        d << "\n\n";
        plotted.push_back(cond);
      }
      if (plotted.empty()) continue;
      const std::string png = "accuracy_per_epoch_" + std::to_string(si) + ".png";
      plot_series(out_dir, dat, d.str(), png,
                  "set title " + util::gnuplot_quote("test accuracy per epoch (mean over seeds), " +
                                                     (size_axis.empty() ? "all data" : size_axis + " = " + sizes[si])) +
                      "\nset xlabel 'epoch'\nset ylabel 'test accuracy (%)'\n",
                  plotted, "using 1:2 with linespoints");
      figures.push_back(png);
    }
    // Final accuracy against the training-set size (mean ± sd over seeds).
    if (!size_axis.empty() && sizes.size() >= 2) {
      std::ostringstream d;
      std::vector<std::string> plotted;
      for (const std::string& cond : conditions) {
        std::ostringstream block;
        int points = 0;
        for (const std::string& size : sizes) {
          const auto f = stats::summarize(values(size, cond, false));
          if (f.n == 0 || std::isnan(size_number(size))) continue;
          block << size_number(size) << " " << 100 * f.mean << " " << 100 * f.sd << "\n";
          ++points;
        }
        if (!points) continue;
        d << "# " << cond << "\n" << block.str() << "\n\n";
        plotted.push_back(cond);
      }
      if (!plotted.empty()) {
        plot_series(out_dir, "sizes.dat", d.str(), "accuracy_vs_size.png",
                    "set title 'final test accuracy against training-set size (mean and sd over "
                    "seeds)'\nset xlabel " + util::gnuplot_quote(size_axis) +
                        "\nset logscale x\nset ylabel 'test accuracy (%)'\n",
                    plotted, "using 1:2:3 with yerrorlines");
        figures.push_back("accuracy_vs_size.png");
      }
    }
    // The shapes of the compared activations (eval mode, initial parameters).
    {
      std::ostringstream d;
      std::vector<std::string> plotted;
      const at::Tensor x = at::linspace(-4, 4, 161, at::kFloat).reshape({161, 1});
      std::vector<std::string> acts;
      for (const Run& r : runs) {
        if (std::find(acts.begin(), acts.end(), r.activation) == acts.end()) acts.push_back(r.activation);
      }
      for (const std::string& act : acts) {
        try {
          torch::nn::AnyModule m = nn::make_activation(act, 1);
          m.ptr()->eval();
          const at::Tensor y = m.forward(x).reshape({-1});
          d << "# " << act << "\n";
          for (int64_t i = 0; i < 161; ++i) {
            d << x[i][0].item<float>() << " " << y[i].item<float>() << "\n";
          }
          d << "\n\n";
          plotted.push_back(act);
        } catch (const std::exception&) {
          // an activation this build cannot make is left out of the picture
        }
      }
      if (!plotted.empty()) {
        plot_series(out_dir, "activations.dat", d.str(), "activations.png",
                    "set title 'the compared activations (eval mode, initial parameters)'\n"
                    "set xlabel 'x'\nset ylabel 'f(x)'\nset yrange [-2:4]\n",
                    plotted, "using 1:2 with lines");
        figures.push_back("activations.png");
      }
    }
  }

  // ---- Markdown ----------------------------------------------------------------------
  std::ostringstream md;
  md << "# Experiment report: " << store.meta("grid_name") << "\n\n";
  if (!store.meta("description").empty()) md << store.meta("description") << "\n\n";
  md << "Made by `eelu report` from `" << (fs::path(options.dir) / "experiment.db").string()
     << "` (grid digest " << store.meta("grid_digest") << ", config `"
     << store.meta("config_path") << "`). Runs: " << runs.size() << " — " << n_done
     << " done, " << n_failed << " failed, " << n_left << " not finished"
     << (n_left ? " (the figures below cover the finished runs only)" : "") << ".\n\n";
  md << "Axes:";
  for (const auto& [name, vals] : axes) {
    md << " `" << name << "` (" << vals.size() << ")";
  }
  md << ". Accuracies are in percent. **final** = test accuracy after the last epoch (the "
        "primary figure); **best epoch** = the highest test accuracy over the epochs, which "
        "chooses the epoch on the test set and so flatters every activation.\n\n";

  md << "## Test accuracy\n\n";
  for (const std::string& size : sizes) {
    md << "### " << (size_axis.empty() ? std::string("all training data") : size_axis + " = " + size) << "\n\n";
    md << "| activation | seeds | final mean ± sd | median | min | max | best epoch mean ± sd | rank |\n"
       << "|---|---|---|---|---|---|---|---|\n";
    for (const std::string& cond : conditions) {
      const auto f = stats::summarize(values(size, cond, false));
      if (f.n == 0) continue;
      const auto b = stats::summarize(values(size, cond, true));
      md << "| " << md_cell(cond) << " | " << f.n << " | " << pct(f.mean) << " ± " << pct(f.sd)
         << " | " << pct(f.median) << " | " << pct(f.min) << " | " << pct(f.max) << " | "
         << pct(b.mean) << " ± " << pct(b.sd) << " | " << fmt("%.1f", rank[{size, cond}]) << " |\n";
    }
    md << "\n";
  }
  if (sizes.size() > 1) {
    md << "Mean rank over the training-set sizes (1 = best mean final accuracy):\n\n"
       << "| activation | mean rank |\n|---|---|\n";
    std::vector<std::pair<double, std::string>> order;
    for (const auto& [cond, rs] : ranks_of) order.push_back({stats::summarize(rs).mean, cond});
    std::sort(order.begin(), order.end());
    for (const auto& [r, cond] : order) md << "| " << md_cell(cond) << " | " << fmt("%.2f", r) << " |\n";
    md << "\n";
  }

  for (const std::string& ref : references) {
    md << "## Against " << ref << "\n\n"
       << "Difference of the final test accuracy, activation − " << ref
       << ", in percentage points. Paired over seeds (a seed fixes the training subset and the "
          "initialisation stream): mean difference, its 95% confidence interval and the paired "
          "t-test; Welch's t-test on the two groups as they are. p-values are two-sided; "
          "Holm's correction runs over every comparison in this table.\n\n"
       << "| size | activation | pairs | diff | 95% CI | paired p | Holm | Welch p | Holm |\n"
       << "|---|---|---|---|---|---|---|---|---|\n";
    for (const Comparison& c : comparisons) {
      if (c.reference != ref) continue;
      md << "| " << c.size << " | " << md_cell(c.condition) << " | " << c.paired.n << " | "
         << fmt("%+.2f", 100 * c.paired.diff) << " | ["
         << fmt("%+.2f", 100 * c.paired.ci_low) << ", " << fmt("%+.2f", 100 * c.paired.ci_high)
         << "] | " << pval(c.paired.p) << " | " << pval(c.paired_holm) << " | "
         << pval(c.welch.p) << " | " << pval(c.welch_holm) << " |\n";
    }
    md << "\n";
  }

  // The paper's claims, one sentence each, from the comparisons against EELU.
  md << "## The paper's claims, as these runs see them\n\n";
  const std::string eelu_ref = references.size() == 2 ? references[1]
                               : (!references.empty() && activation_name(references[0]) == "eelu" ? references[0] : "");
  if (eelu_ref.empty()) {
    md << "No EELU activation in this grid: the claims are not tested here.\n\n";
  } else {
    md << "A claim counts as **supported** when the paired difference favours EELU and its "
          "Holm-corrected p-value is below 0.05, **contradicted** when it favours the other "
          "activation at that level, and **not shown** otherwise (too few seeds or too small "
          "a difference to tell).\n\n";
    for (const std::string& size : sizes) {
      int sup = 0, con = 0, none = 0;
      std::string detail;
      for (const Comparison& c : comparisons) {
        if (c.reference != eelu_ref || c.size != size) continue;
        const double d = -c.paired.diff;  // EELU - other
        const bool sig = !std::isnan(c.paired_holm) && c.paired_holm < 0.05;
        std::string verdict = "not shown";
        if (sig && d > 0) verdict = "supported", ++sup;
        else if (sig && d < 0) verdict = "contradicted", ++con;
        else ++none;
        detail += "  - over " + c.condition + ": EELU " + fmt("%+.2f", 100 * d) + " pp (Holm p " +
                  pval(c.paired_holm) + "): " + verdict + "\n";
      }
      md << "- *EELU is more accurate than the other activations* ("
         << (size_axis.empty() ? std::string("all data") : size_axis + " = " + size) << "): "
         << "supported by " << sup << ", contradicted by " << con << ", undecided in " << none
         << " of the comparisons.\n" << detail;
    }
    if (sizes.size() >= 2) {
      const std::string small = sizes.front(), large = sizes.back();
      md << "- *EELU's advantage is largest with few training samples* (" << size_axis << " "
         << small << " against " << large << "), per competitor: EELU's mean paired advantage at "
         << "each size, and Welch's test of the per-seed advantages between the two sizes:\n";
      for (const std::string& cond : conditions) {
        if (cond == eelu_ref) continue;
        auto advantages = [&](const std::string& size) {
          std::vector<double> adv;
          const auto e = cells.find({size, eelu_ref}), o = cells.find({size, cond});
          if (e == cells.end() || o == cells.end()) return adv;
          for (const auto& [seed, fb] : e->second) {
            const auto m = o->second.find(seed);
            if (m != o->second.end()) adv.push_back(fb.first - m->second.first);
          }
          return adv;
        };
        const auto a = advantages(small), b = advantages(large);
        if (a.empty() || b.empty()) continue;
        const auto t = stats::welch_t_test(a, b);
        const double ma = stats::summarize(a).mean, mb = stats::summarize(b).mean;
        const char* verdict = !t.valid ? "not shown (too few seeds)"
                              : t.p < 0.05 && ma > mb ? "supported"
                              : t.p < 0.05 && ma < mb ? "contradicted"
                                                      : "not shown";
        md << "  - over " << cond << ": " << fmt("%+.2f", 100 * ma) << " pp at " << small << ", "
           << fmt("%+.2f", 100 * mb) << " pp at " << large << " (p " << pval(t.p) << "): " << verdict << "\n";
      }
    }
    md << "- *EELU's noise makes the latent features more varied*: not measured by this report; "
          "see `eelu visualize` (docs/experiments.md).\n\n";
  }

  if (n_failed > 0) {
    md << "## Failed runs\n\n| run | error |\n|---|---|\n";
    for (const Run& r : runs) {
      if (r.rec.status == "failed") md << "| " << r.rec.key << " | " << md_cell(r.rec.error) << " |\n";
    }
    md << "\n";
  }
  if (!figures.empty()) {
    md << "## Figures\n\n";
    for (const std::string& f : figures) md << "![" << f << "](" << f << ")\n\n";
  }
  md << "Files: `runs.csv` (one row per run), `summary.csv` (per size and activation), "
        "`comparisons.csv` (every test above, unrounded).\n";
  const std::string report_path = (fs::path(out_dir) / "report.md").string();
  util::write_file_atomically(report_path, md.str());
  return report_path;
}

}  // namespace eelu::experiment
