// Small text files of datasets (class names, annotations).
#pragma once

#include <c10/util/Exception.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace eelu::data::detail {

/// The non-empty lines of a text file, without trailing spaces or carriage returns; a
/// missing file is an error that says what it is (`what`) and where.
inline std::vector<std::string> read_lines(const std::filesystem::path& path, const char* what) {
  std::ifstream in(path);
  TORCH_CHECK(in, what, " not found: ", path.string());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

}  // namespace eelu::data::detail
