// The eelu command-line tool.
#include <CLI/CLI.hpp>

#include <c10/util/Exception.h>

#include <cstdio>
#include <exception>

#include "eelu/ops.h"
#include "selfcheck.h"

int main(int argc, char** argv) {
  CLI::App app{"eelu: the Elastic Exponential Linear Unit for LibTorch, and the tools to "
               "test it against other activations"};
  app.set_version_flag("--version", std::string("eelu ") + eelu::version());
  app.require_subcommand(1);

  eelu::app::SelfcheckOptions check;
  auto* selfcheck = app.add_subcommand(
      "selfcheck", "check the EELU operator against its composite reference and time it");
  selfcheck->add_option("--shape", check.shape, "input shape N C [spatial...]")
      ->expected(2, 5)
      ->check(CLI::PositiveNumber);
  selfcheck->add_option("--seed", check.seed, "random seed");
  selfcheck->add_option("--threads", check.threads, "intra-op threads (0: LibTorch default)")
      ->check(CLI::NonNegativeNumber);
  selfcheck->add_option("--repeats", check.repeats, "timed runs per measurement")
      ->check(CLI::Range(1, 1000));

  CLI11_PARSE(app, argc, argv);
  try {
    if (selfcheck->parsed()) return eelu::app::run_selfcheck(check);
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "eelu: %s\n", e.what_without_backtrace());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eelu: %s\n", e.what());
    return 1;
  }
  return 0;
}
