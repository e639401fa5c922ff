#include "eelu/util/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace eelu::util {
namespace {

std::runtime_error io_error(const std::string& what, const std::string& path, int err) {
  return std::runtime_error(what + " " + path + ": " + std::strerror(err));
}

// All of `n` bytes to `fd`, through short writes and signals.
bool write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

void write_file_atomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw io_error("cannot write", path, errno);
  const bool written = write_all(fd, content.data(), content.size()) && ::fsync(fd) == 0;
  const int err = errno;
  const bool closed = ::close(fd) == 0;
  if (!written || !closed) {
    const int cause = written ? errno : err;
    ::unlink(tmp.c_str());
    throw io_error("cannot write", path, cause);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int cause = errno;
    ::unlink(tmp.c_str());
    throw io_error("cannot replace", path, cause);
  }
}

std::string read_text_file(const std::string& path, const char* what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw std::runtime_error(std::string(what) + " " + path + " is a directory, not a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string(what) + " not found or unreadable: " + path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error(std::string("error reading ") + what + " " + path);
  return text;
}

DirectoryLock::DirectoryLock(const std::string& dir, const std::string& owner) {
  const std::string path = (std::filesystem::path(dir) / ".lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw io_error("cannot create the lock file", path, errno);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder;
    char buf[512];
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    if (n > 0) holder.assign(buf, static_cast<size_t>(n));
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK) {
      throw std::runtime_error(dir + " is in use by another process (" +
                               (holder.empty() ? std::string("unknown") : holder) +
                               "): one run folder, one process at a time");
    }
    throw io_error("cannot lock", path, err);
  }
  const std::string me = "pid " + std::to_string(::getpid()) + ", " + owner + "\n";
  if (::ftruncate(fd_, 0) != 0 || !write_all(fd_, me.data(), me.size())) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    throw io_error("cannot write the lock file", path, err);
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing drops the lock; the file stays (harmless, reused)
}

}  // namespace eelu::util
