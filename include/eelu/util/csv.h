// CSV fields (RFC 4180): quoted when they hold a comma, a quote or a line break.
#pragma once

#include <string>

namespace eelu::util {

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace eelu::util
