#include "train/console.h"

#include <unistd.h>

#include <algorithm>
#include <string>

namespace eelu::train {
namespace {

std::string clock_text(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, seconds));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", (long)(s / 3600), (long)(s / 60 % 60),
                (long)(s % 60));
  return buf;
}

}  // namespace

Console::Console(bool quiet, bool lead)
    : speak_(!quiet && lead), bar_(!quiet && lead && isatty(STDERR_FILENO)) {}

void Console::progress(int64_t epoch, int64_t epochs, int64_t batch, int64_t steps, double loss,
                       double accuracy, double images_per_second, double eta_seconds) const {
  if (!bar_) return;
  const int width = 24, done = static_cast<int>(width * batch / steps);
  std::fprintf(stderr, "\r epoch %ld/%ld [%s%s] %ld/%ld loss %.4f acc %.2f%% %.0f img/s ETA %s ",
               (long)epoch, (long)epochs, std::string(done, '=').c_str(),
               std::string(width - done, ' ').c_str(), (long)batch, (long)steps, loss,
               100.0 * accuracy, images_per_second, clock_text(eta_seconds).c_str());
}

void Console::erase_progress() const {
  if (bar_) std::fprintf(stderr, "\r%*s\r", 110, "");
}

void Console::end_progress() const {
  if (bar_) std::fprintf(stderr, "\n");
}

}  // namespace eelu::train
