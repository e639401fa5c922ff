#include "eelu/util/gnuplot.h"

#include "eelu/util/files.h"

#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace eelu::util {

std::string gnuplot_quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void run_gnuplot(const std::string& script) {
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    throw std::runtime_error(
        "gnuplot not found: install Debian's gnuplot-nox (apt-get install gnuplot-nox)");
  }
  const auto dir = std::filesystem::temp_directory_path();
  const std::string script_path =
      (dir / ("eelu-plot-" + std::to_string(::getpid()) + ".gp")).string();
  const std::string log_path = script_path + ".log";
  util::write_file_atomically(script_path, script);
  const std::string cmd = "gnuplot " + script_path + " > " + log_path + " 2>&1";
  const int status = std::system(cmd.c_str());
  std::string log;
  {
    std::ifstream in(log_path);
    log.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::filesystem::remove(script_path);
  std::filesystem::remove(log_path);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error("gnuplot failed: " + log);
  }
}

}  // namespace eelu::util
