// Shared by the fuzz targets: inputs go through real files, as the readers read files.
#pragma once

#include <c10/util/Exception.h>

#include <unistd.h>
#include <cstdint>
#include <cstdio>
#include <string>

namespace eelu::fuzz {

// A file of this process's own in /tmp holding `size` bytes of `data`.
inline std::string write_temp(const char* tag, const uint8_t* data, size_t size) {
  const std::string path = "/tmp/eelu-fuzz-" + std::to_string(::getpid()) + "-" + tag;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

// Runs `f`: a c10::Error is the readers' way to refuse bad input, so it is fine; anything
// else escapes and libFuzzer reports it.
template <typename F>
void refuse_or_read(F&& f) {
  try {
    f();
  } catch (const c10::Error&) {
  }
}

}  // namespace eelu::fuzz
