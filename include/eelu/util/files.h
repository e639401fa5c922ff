// Records are never half-written: everything eelu writes goes through a temporary file in the
// same directory and a rename.
#pragma once

#include <functional>
#include <string>

namespace eelu::util {

/// Writes `content` to `path` atomically.
void write_file_atomically(const std::string& path, const std::string& content);

/// Calls `write(tmp)` to produce the file under a temporary name, then renames it to `path`;
/// the temporary file is removed if `write` throws.
void replace_file_atomically(const std::string& path,
                             const std::function<void(const std::string& tmp)>& write);

/// The whole content of a text file; a missing or unreadable file is an error naming what
/// it is (`what`) and where.
std::string read_text_file(const std::string& path, const char* what);

}  // namespace eelu::util
