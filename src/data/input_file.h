// Reading a data file that may be gzip-compressed, with errors that name the file and the
// byte offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace eelu::data::detail {

class InputFile {
 public:
  explicit InputFile(const std::string& path);  // throws when it cannot be opened
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  /// Reads exactly n bytes; a short read is a "truncated" error saying what was being read.
  void read_exact(void* out, size_t n, const char* what);
  /// True when the (decompressed) file has no byte left.
  bool at_end();
  /// Bytes of (decompressed) data consumed so far.
  uint64_t offset() const { return offset_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  void* gz_ = nullptr;
  uint64_t offset_ = 0;
};

}  // namespace eelu::data::detail
