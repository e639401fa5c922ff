// Numbers as text for reports and tables.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

namespace eelu::util {

/// `v` printed with the printf format `f` (one double conversion); NaN (a figure that does
/// not exist, e.g. a t-test of one run) as "–".
inline std::string format_number(const char* f, double v) {
  if (std::isnan(v)) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace eelu::util
