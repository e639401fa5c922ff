#include "activations_cmd.h"
#include "commands.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/modules/container/any.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "eelu/nn/registry.h"
#include "eelu/util/files.h"
#include "eelu/util/gnuplot.h"

namespace eelu::app {

using util::gnuplot_quote;
using util::run_gnuplot;

int list_activations() {
  for (const auto& info : eelu::nn::activation_names()) {
    std::printf("%-8s %s%s\n", info.name.c_str(), info.description.c_str(),
                info.noisy ? " [noisy in training]" : "");
    if (!info.aliases.empty()) {
      std::string aliases;
      for (const auto& a : info.aliases) aliases += (aliases.empty() ? "" : ", ") + a;
      std::printf("%-8s   aliases: %s\n", "", aliases.c_str());
    }
    for (const auto& s : info.settings) {
      std::string kind = s.kind;
      if (s.kind == "choice") {
        kind.clear();
        for (const auto& c : s.choices) kind += (kind.empty() ? "" : "|") + c;
      }
      std::printf("%-8s   %-12s %-34s default %-10s %s\n", "", s.name.c_str(), kind.c_str(),
                  s.default_value.c_str(), s.help.c_str());
    }
  }
  std::printf(
      "\nspec: name(setting=value, flag, ...), e.g. eelu(eps=0.6, alpha=1, beta=1), "
      "prelu(init=0.25, shared); names and settings are case-insensitive\n");
  return 0;
}

namespace {

struct Curves {
  at::Tensor y, dy;  // (points)
};

// Output and derivative of `act` on x (a column of points: N = points, C = 1). Each output
// depends only on its own input, so the gradient of the sum is the derivative.
Curves evaluate(torch::nn::AnyModule& act, const at::Tensor& x) {
  at::Tensor xr = x.clone().set_requires_grad(true);
  at::Tensor y = act.forward(xr.view({-1, 1})).view({-1});
  at::Tensor dy = torch::autograd::grad({y.sum()}, {xr})[0];
  return {y.detach(), dy};
}

// The spec whose every training call is one of `spec`'s noisy calls: the same activation
// with schedule=always_noisy where it alternates (its clean calls are the evaluation curve);
// nullopt when it has no noisy calls (not noisy, or schedule=never_noisy).
c10::optional<std::string> noisy_calls_spec(const eelu::nn::ActivationInfo& info,
                                            const std::string& spec) {
  if (!info.noisy) return c10::nullopt;
  eelu::nn::ActivationSpec parsed = eelu::nn::parse_activation_spec(spec);
  const auto it = parsed.settings.find("schedule");
  if (it == parsed.settings.end()) return spec;
  if (it->second == "never_noisy") return c10::nullopt;
  it->second = "always_noisy";
  return parsed.to_string();
}

// (points, 4): the 5% and 95% of f and of f' over `samples` noisy training calls.
at::Tensor noisy_band(const std::string& spec, const at::Tensor& x, int samples) {
  torch::nn::AnyModule act = eelu::nn::make_activation(spec, 1, c10::nullopt, at::kDouble);
  act.ptr()->train();
  std::vector<at::Tensor> ys, dys;
  for (int i = 0; i < samples; ++i) {
    const Curves c = evaluate(act, x);
    ys.push_back(c.y);
    dys.push_back(c.dy);
  }
  const at::Tensor q = at::tensor({0.05, 0.95}, at::kDouble);
  const at::Tensor yq = at::quantile(at::stack(ys), q, 0);  // (2, points)
  const at::Tensor dq = at::quantile(at::stack(dys), q, 0);
  return at::cat({yq, dq}, 0).t().contiguous();
}

std::string plot_one(const eelu::nn::ActivationInfo& info, const std::string& spec,
                     const PlotOptions& o) {
  // Parameters made in float64 (exact initial values); x on a grid that holds 0 exactly.
  torch::nn::AnyModule act = eelu::nn::make_activation(spec, 1, c10::nullopt, at::kDouble);
  const at::Tensor x = at::arange(-400, 401, at::kDouble) * (o.range / 400);
  act.ptr()->eval();
  const Curves eval = evaluate(act, x);
  const c10::optional<std::string> noisy = noisy_calls_spec(info, spec);
  const at::Tensor band = noisy ? noisy_band(*noisy, x, o.samples) : at::Tensor();

  std::ostringstream dat;
  dat << "# " << spec << ": x, f(x) eval, f'(x) eval"
      << (noisy ? ", f 5%, f 95%, f' 5%, f' 95% over noisy training calls" : "") << "\n";
  dat.precision(10);
  for (int64_t i = 0; i < x.numel(); ++i) {
    dat << x[i].item<double>() << ' ' << eval.y[i].item<double>() << ' '
        << eval.dy[i].item<double>();
    if (noisy) {
      for (int j = 0; j < 4; ++j) dat << ' ' << band[i][j].item<double>();
    }
    dat << '\n';
  }
  const std::filesystem::path dir(o.out_dir);
  const std::string dat_path = (dir / (info.name + ".dat")).string();
  const std::string png_path = (dir / (info.name + ".png")).string();
  util::write_file_atomically(dat_path, dat.str());

  const std::string png_tmp = png_path + ".tmp.png";
  std::ostringstream gp;
  gp << "set terminal pngcairo size " << o.width << "," << o.height
     << " noenhanced font 'sans,10'\n"
     << "set output " << gnuplot_quote(png_tmp) << "\n"
     << "set multiplot layout 1,2 title " << gnuplot_quote(spec + "\n" + info.description) << "\n"
     << "set grid\nset key top left\nset xlabel 'x'\nset xrange [" << -o.range << ":" << o.range
     << "]\n";
  const std::string file = gnuplot_quote(dat_path);
  for (int panel = 0; panel < 2; ++panel) {
    const int eval_col = panel == 0 ? 2 : 3;
    const int lo = panel == 0 ? 4 : 6;
    gp << "set title " << gnuplot_quote(panel == 0 ? "f(x)" : "f'(x)") << "\nplot ";
    if (noisy) {
      gp << file << " using 1:" << lo << ":" << lo + 1
         << " with filledcurves lc rgb '#c6dbef' title 'training, 5-95% of " << o.samples
         << " noisy calls', ";
    }
    gp << file << " using 1:" << eval_col << " with lines lw 2 lc rgb '#08519c' title '"
       << (noisy ? "eval (noise at its mean)" : "f") << "'\n";
  }
  gp << "unset multiplot\nset output\n";
  run_gnuplot(gp.str());
  std::filesystem::rename(png_tmp, png_path);
  return png_path;
}

}  // namespace

int plot_activations(const PlotOptions& o) {
  if (o.out_dir.empty()) throw std::invalid_argument("plot-activations: --out is required");
  std::filesystem::create_directories(o.out_dir);
  at::manual_seed(0);
  std::vector<std::string> specs;
  if (!o.only.empty()) {
    specs.push_back(o.only);
  } else {
    for (const auto& info : eelu::nn::activation_names()) specs.push_back(info.name);
  }
  for (const auto& spec : specs) {
    const auto parsed = eelu::nn::parse_activation_spec(spec);
    const auto& info = eelu::nn::activation_info(parsed.name);
    std::printf("%s\n", plot_one(info, parsed.to_string(), o).c_str());
  }
  return 0;
}

CommandRunner add_activation_commands(CLI::App& app) {
  auto* list =
      app.add_subcommand("activations", "list the activations, their aliases and settings");
  auto plot = std::make_shared<PlotOptions>();
  auto* plot_cmd = app.add_subcommand("plot-activations",
                                      "draw every activation and its derivative as PNG (gnuplot)");
  plot_cmd->add_option("--out", plot->out_dir, "output directory")->required();
  plot_cmd->add_option("--only", plot->only, "one activation spec instead of all");
  plot_cmd->add_option("--samples", plot->samples, "noisy training calls behind the noise band")
      ->check(CLI::Range(2, 100000));
  plot_cmd->add_option("--range", plot->range, "x runs over [-range, range]")
      ->check(CLI::Range(0.01, 1e6));
  plot_cmd->add_option("--width", plot->width, "image width in pixels")
      ->check(CLI::Range(100, 10000));
  plot_cmd->add_option("--height", plot->height, "image height in pixels")
      ->check(CLI::Range(100, 10000));
  return [=] {
    if (list->parsed()) return list_activations();
    if (plot_cmd->parsed()) return plot_activations(*plot);
    return -1;
  };
}

}  // namespace eelu::app
