#include "data/input_file.h"

#include <c10/util/Exception.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace eelu::data::detail {

// gzread reads gzip-compressed and plain files alike, so one reader serves `x.gz` and `x`.
InputFile::InputFile(const std::string& path) : path_(path) {
  TORCH_CHECK(std::filesystem::is_regular_file(path), "data file not found: ", path);
  gz_ = gzopen(path.c_str(), "rb");
  TORCH_CHECK(gz_ != nullptr, "cannot open ", path, ": ", std::strerror(errno));
  gzbuffer(static_cast<gzFile>(gz_), 1 << 17);
}

InputFile::~InputFile() {
  if (gz_) gzclose(static_cast<gzFile>(gz_));
}

void InputFile::read_exact(void* out, size_t n, const char* what) {
  auto* dst = static_cast<unsigned char*>(out);
  size_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    const int got = gzread(static_cast<gzFile>(gz_), dst + done, chunk);
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(static_cast<gzFile>(gz_), &code);
      TORCH_CHECK(false, path_, ": corrupt or unreadable at byte offset ", offset_ + done,
                  " of the decompressed data (", msg, ")");
    }
    if (got == 0) {
      TORCH_CHECK(false, path_, ": truncated: ", what, " needs ", n, " bytes from byte offset ",
                  offset_, ", the file ends after ", done);
    }
    done += static_cast<size_t>(got);
  }
  offset_ += n;
}

bool InputFile::at_end() {
  unsigned char byte;
  const int got = gzread(static_cast<gzFile>(gz_), &byte, 1);
  if (got < 0) {
    int code = 0;
    TORCH_CHECK(false, path_, ": corrupt or unreadable at byte offset ", offset_, " (",
                gzerror(static_cast<gzFile>(gz_), &code), ")");
  }
  return got == 0;
}

}  // namespace eelu::data::detail
