// Records are never half-written: everything eelu writes goes through a temporary file in the
// same directory, flushed to the disk, and a rename. A write that fails (a full disk, a
// read-only folder) leaves the old file as it was, removes the temporary one and says which
// path failed and why.
#pragma once

#include <string>

namespace eelu::util {

/// Writes `content` to `path` atomically; throws std::runtime_error naming the path and the
/// cause ("No space left on device") when it cannot.
void write_file_atomically(const std::string& path, const std::string& content);

/// The whole content of a file; a missing or unreadable file is an error naming what it is
/// (`what`) and where.
std::string read_text_file(const std::string& path, const char* what);

/// An exclusive lock on a directory (the file DIR/.lock, which holds the owner's pid and
/// command), held while the object lives. The kernel drops it when the process ends, however
/// it ends, so a lock is never stale. Locking a directory another process holds is an error
/// naming that process.
class DirectoryLock {
 public:
  DirectoryLock(const std::string& dir, const std::string& owner);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace eelu::util
