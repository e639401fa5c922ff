// Grid configs (TOML): a config is refused with a c10::Error naming the file, or expands to
// at most 100000 runs, each with a key and settings the trainer accepts (checked in
// parse_grid_config, which resolves every run).
#include <cstdlib>
#include <string>

#include "eelu/experiment/grid.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  eelu::fuzz::refuse_or_read([&] {
    const eelu::experiment::GridConfig g = eelu::experiment::parse_grid_config(text, "fuzz.toml");
    if (g.runs.empty() || g.runs.size() > 100000 || g.name.empty()) std::abort();
    for (const auto& run : g.runs) {
      if (run.key.empty() || run.config.epochs < 0) std::abort();  // 0: the default
    }
  });
  return 0;
}
