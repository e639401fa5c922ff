// What a run prints: lines on standard output (rank 0, unless quiet) and, on a terminal, a
// progress bar on standard error that the epoch's line replaces.
#pragma once

#include <cstdint>
#include <cstdio>

namespace eelu::train {

class Console {
 public:
  Console(bool quiet, bool lead);

  /// printf to standard output, flushed.
  template <typename... Args>
  void say(const char* format, Args... args) const {
    if (!speak_) return;
    std::printf(format, args...);
    std::fflush(stdout);
  }

  /// The bar of batch `batch` of `steps` in epoch `epoch` (1-based) of `epochs`.
  void progress(int64_t epoch, int64_t epochs, int64_t batch, int64_t steps, double loss,
                double accuracy, double images_per_second, double eta_seconds) const;
  /// Erases the bar (the epoch's line follows), or ends its line (a message follows).
  void erase_progress() const;
  void end_progress() const;

 private:
  bool speak_;
  bool bar_;
};

}  // namespace eelu::train
