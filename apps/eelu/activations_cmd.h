// `eelu activations` and `eelu plot-activations`.
#pragma once

#include <string>

namespace eelu::app {

/// Prints every registered activation with its aliases, description and settings.
int list_activations();

struct PlotOptions {
  std::string out_dir;
  std::string only;    // one activation spec, or empty for all
  int samples = 300;   // training calls that make the noise band
  double range = 4.0;  // x in [-range, range]
  int width = 1000, height = 420;
};

/// Draws each activation and its derivative as DIR/<name>.png (with DIR/<name>.dat, the
/// numbers behind it): the eval curve and, for noisy activations, the 5-95% band of
/// training-time outputs.
int plot_activations(const PlotOptions& options);

}  // namespace eelu::app
