// Runs gnuplot (Debian's gnuplot-nox) on a script.
#pragma once

#include <string>

namespace eelu::util {

/// Runs `gnuplot` on `script`; throws with gnuplot's own message when it fails or is missing.
void run_gnuplot(const std::string& script);

/// `text` as a gnuplot string literal (double quotes; a newline becomes a line break).
std::string gnuplot_quote(const std::string& text);

}  // namespace eelu::util
