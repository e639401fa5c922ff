// A regular expression given on the command line (e.g. `--only`), compiled once.
#pragma once

#include <regex>
#include <stdexcept>
#include <string>

namespace eelu::util {

/// `text` as an ECMAScript regular expression; one that does not compile is refused with an
/// error naming where it came from (`given_as`, e.g. "visualize: --only") and why.
inline std::regex regular_expression(const std::string& text, const std::string& given_as) {
  try {
    return std::regex(text, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw std::invalid_argument(given_as + " '" + text +
                                "' is not a regular expression: " + e.what());
  }
}

}  // namespace eelu::util
