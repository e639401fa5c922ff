// The registry of activation names for Python: eelu.create_activation parses a spec through
// the C++ parser (the same names, aliases, settings, defaults, checks and messages) and builds
// its Python twin of each module from the canonical spec this returns.
#include <torch/library.h>

#include "eelu/nn/registry.h"

namespace eelu::nn {
namespace {

// "lrelu(slope=0.1)" -> "lrelu(slope=0.1)"; "LeakyReLU" -> "lrelu(slope=0.01)": the name and
// every setting, defaults filled in.
std::string canonical_spec(const std::string& spec) {
  return parse_activation_spec(spec).to_string();
}

// One line per activation: "name<TAB>alias,alias<TAB>setting=default,..." (no settings: empty).
std::string catalogue() {
  std::string out;
  for (const auto& info : activation_names()) {
    out += info.name + "\t";
    for (size_t i = 0; i < info.aliases.size(); ++i) out += (i ? "," : "") + info.aliases[i];
    out += "\t";
    for (size_t i = 0; i < info.settings.size(); ++i) {
      out += (i ? "," : "") + info.settings[i].name + "=" + info.settings[i].default_value;
    }
    out += "\n";
  }
  return out;
}

TORCH_LIBRARY_FRAGMENT(eelu, m) {
  m.def("activation_spec(str spec) -> str", &canonical_spec);
  m.def("activation_catalogue() -> str", &catalogue);
}

}  // namespace
}  // namespace eelu::nn
