// The report's figures (gnuplot, pngcairo), each with the .dat file behind it: test accuracy
// per epoch for each training-set size, final accuracy against the size, each condition's
// paired difference to each reference with its 95% interval, and the shapes of the compared
// activations.
#include <ATen/ATen.h>
#include <torch/nn/modules/container/any.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "eelu/nn/registry.h"
#include "eelu/util/files.h"
#include "eelu/util/gnuplot.h"
#include "experiment/report_parts.h"

namespace eelu::experiment::report {
namespace {
namespace fs = std::filesystem;

// Writes the data blocks (one per series, gnuplot's "index") to DIR/<dat> and draws them
// into DIR/<png>, `height` pixels high: `settings` are extra gnuplot lines (title, labels;
// they may replace the key's place, outside right), `style` how each series is drawn
// ("using 1:2 with lines", ...). The picture widens with the longest title (10 pixels a
// character), so that a key of long labels (an EELU with its settings) leaves the plot about
// 600 pixels. gnuplot has eight colours: the ninth series and on take them again, dashed,
// so that twelve activations stay twelve lines.
void plot_series(const std::string& out_dir, const std::string& dat, const std::string& data,
                 const std::string& png, const std::string& settings,
                 const std::vector<std::string>& titles, const std::string& style,
                 int height = 600) {
  const std::string dat_path = (fs::path(out_dir) / dat).string();
  util::write_file_atomically(dat_path, data);
  size_t longest = 0;
  for (const std::string& t : titles) longest = std::max(longest, t.size());
  const int width = std::max(1000, 700 + 10 * static_cast<int>(longest));
  std::ostringstream gp;
  gp << "set terminal pngcairo noenhanced size " << width << "," << height << "\n"
     << "set offsets graph 0.03, graph 0.03, 0, 0\n"
     << "set output " << util::gnuplot_quote((fs::path(out_dir) / png).string()) << "\n"
     << "set key outside right\nset grid\n"
     << settings << "plot ";
  for (size_t i = 0; i < titles.size(); ++i) {
    gp << (i ? ", " : "") << util::gnuplot_quote(dat_path) << " index " << i << " " << style
       << " lw 2 lc " << i % 8 + 1 << " dt " << i / 8 + 1 << " title "
       << util::gnuplot_quote(titles[i]);
  }
  gp << "\n";
  util::run_gnuplot(gp.str());
}

// Test accuracy per epoch, mean over the finished seeds, one figure per size.
void accuracy_per_epoch(const std::string& out_dir, const Gathered& g,
                        std::vector<std::string>& figures) {
  for (size_t si = 0; si < g.sizes.size(); ++si) {
    const std::string dat = "epochs_" + std::to_string(si) + ".dat";
    std::ostringstream d;
    std::vector<std::string> plotted;
    for (const std::string& cond : g.conditions) {
      std::map<int64_t, std::vector<double>> per_epoch;
      for (const Run& r : g.runs) {
        if (r.size != g.sizes[si] || r.condition != cond || r.rec.status != "done") continue;
        for (const auto& m : r.epochs) {
          if (m.test_acc >= 0) per_epoch[m.epoch].push_back(m.test_acc);  // --eval-every
        }
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
                "set title " +
                    util::gnuplot_quote("test accuracy per epoch (mean over seeds), " +
                                        g.size_label(g.sizes[si])) +
                    "\nset xlabel 'epoch'\nset ylabel 'test accuracy (%)'\n",
                plotted, "using 1:2 with linespoints");
    figures.push_back(png);
  }
}

// Final accuracy against the training-set size (mean ± sd over seeds).
void accuracy_vs_size(const std::string& out_dir, const Gathered& g,
                      std::vector<std::string>& figures) {
  if (g.size_axis.empty() || g.sizes.size() < 2) return;
  std::ostringstream d;
  std::vector<std::string> plotted;
  for (const std::string& cond : g.conditions) {
    std::ostringstream block;
    int points = 0;
    for (const std::string& size : g.sizes) {
      const auto f = stats::summarize(g.values(size, cond, false));
      if (f.n == 0 || std::isnan(size_number(size))) continue;
      block << size_number(size) << " " << 100 * f.mean << " " << 100 * f.sd << "\n";
      ++points;
    }
    if (!points) continue;
    d << "# " << cond << "\n" << block.str() << "\n\n";
    plotted.push_back(cond);
  }
  if (plotted.empty()) return;
  plot_series(out_dir, "sizes.dat", d.str(), "accuracy_vs_size.png",
              "set title 'final test accuracy against training-set size (mean and sd over "
              "seeds)'\nset xlabel " +
                  util::gnuplot_quote(g.size_axis) +
                  "\nset logscale x\nset ylabel 'test accuracy (%)'\n",
              plotted, "using 1:2:3 with yerrorlines");
  figures.push_back("accuracy_vs_size.png");
}

// Each condition's paired difference to a reference with its 95% interval, one row per
// (size, condition), one colour per size: a forest plot for each reference, its key below so
// that long labels (an EELU with its settings) leave the plot its width, and 30 pixels a row.
void differences(const std::string& out_dir, const Gathered& g, const Comparisons& c,
                 std::vector<std::string>& figures) {
  for (size_t ri = 0; ri < c.references.size(); ++ri) {
    const std::string& ref = c.references[ri];
    std::ostringstream d;
    std::vector<std::string> plotted;
    int row = 0;
    for (const std::string& size : g.sizes) {
      std::ostringstream block;
      for (auto it = c.list.rbegin(); it != c.list.rend(); ++it) {  // the first at the top
        if (it->reference != ref || it->size != size || !it->paired.valid) continue;
        std::string label = it->condition + (g.sizes.size() > 1 ? " (" + size + ")" : "");
        std::replace(label.begin(), label.end(), '"', '\'');
        block << ++row << " " << 100 * it->paired.diff << " " << 100 * it->paired.ci_low << " "
              << 100 * it->paired.ci_high << " \"" << label << "\"\n";
      }
      if (block.str().empty()) continue;
      d << "# " << g.size_label(size) << "\n" << block.str() << "\n\n";
      plotted.push_back(g.size_label(size));
    }
    if (plotted.empty()) continue;
    const std::string stem = "differences_" + std::to_string(ri);
    plot_series(out_dir, stem + ".dat", d.str(), stem + ".png",
                "set title " +
                    util::gnuplot_quote("final test accuracy − " + ref +
                                        "\nmean paired difference over seeds and its 95% "
                                        "interval") +
                    "\nset xlabel 'difference (percentage points)'\nset yrange [0.5:" +
                    std::to_string(row) +
                    ".5]\nset arrow from 0, graph 0 to 0, graph 1 nohead\nset key below\n",
                plotted, "using 2:1:3:4:yticlabels(5) with xerrorbars pt 7",
                std::max(400, 160 + 30 * row));
    figures.push_back(stem + ".png");
  }
}

// The shapes of the compared activations (eval mode, initial parameters).
void activation_shapes(const std::string& out_dir, const Gathered& g,
                       std::vector<std::string>& figures) {
  std::ostringstream d;
  std::vector<std::string> plotted;
  const at::Tensor x = at::linspace(-4, 4, 161, at::kFloat).reshape({161, 1});
  std::vector<std::string> acts;
  for (const Run& r : g.runs) {
    if (std::find(acts.begin(), acts.end(), r.activation) == acts.end())
      acts.push_back(r.activation);
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
  if (plotted.empty()) return;
  plot_series(out_dir, "activations.dat", d.str(), "activations.png",
              "set title 'the compared activations (eval mode, initial parameters)'\n"
              "set xlabel 'x'\nset ylabel 'f(x)'\nset yrange [-2:4]\n",
              plotted, "using 1:2 with lines");
  figures.push_back("activations.png");
}

}  // namespace

std::vector<std::string> write_figures(const std::string& out_dir, const Gathered& g,
                                       const Comparisons& c) {
  std::vector<std::string> figures;
  accuracy_per_epoch(out_dir, g, figures);
  accuracy_vs_size(out_dir, g, figures);
  differences(out_dir, g, c, figures);
  activation_shapes(out_dir, g, figures);
  return figures;
}

}  // namespace eelu::experiment::report
