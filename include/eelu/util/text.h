// Numbers and lists as text for reports, tables and messages.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace eelu::util {

/// `v` printed with the printf format `f` (one double conversion); NaN (a figure that does
/// not exist, e.g. a t-test of one run) as "–".
inline std::string format_number(const char* f, double v) {
  if (std::isnan(v)) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

/// The items with `sep` between them: "a, b, c".
inline std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace eelu::util
