#include "eelu/nn/registry.h"

#include <c10/util/Exception.h>
#include <torch/nn/modules/activation.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>

#include "eelu/nn/activations.h"
#include "eelu/nn/eelu.h"
#include "eelu/util/text.h"
#include "nn/parameters.h"

namespace eelu::nn {
namespace {

using util::join;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n") - b + 1);
}

// A number setting's value: a decimal ("0.25", "1e-3") or a fraction of two ("1/3", exact to
// the double 1.0 / 3.0, as RReLU's published bound); nullopt unless the whole text is one.
c10::optional<double> number_value(const std::string& text) {
  auto decimal = [](const std::string& s) -> c10::optional<double> {
    size_t used = 0;
    try {
      const double v = std::stod(s, &used);
      if (used == s.size() && !s.empty()) return v;
    } catch (const std::exception&) {
    }
    return c10::nullopt;
  };
  const auto slash = text.find('/');
  if (slash == std::string::npos) return decimal(text);
  const auto p = decimal(text.substr(0, slash)), q = decimal(text.substr(slash + 1));
  if (!p || !q) return c10::nullopt;
  return *p / *q;
}

// The shortest decimal that reads back as `v` ("0.6", "1e-06", "0.3333333333333333").
std::string shortest_decimal(double v) {
  char text[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, v);
    if (std::strtod(text, nullptr) == v) break;
  }
  return text;
}

// No activation's number setting means anything beyond this in magnitude (slopes, noise
// levels, initial parameters); larger values only overflow later, after a run has started.
constexpr double kMaxSetting = 1e6;

// The settings of one parsed spec, with the activation's defaults filled in.
class Settings {
 public:
  Settings(const ActivationInfo& info, const ActivationSpec& spec) : info_(info), spec_(spec) {}
  const std::string& raw(const std::string& key) const {
    const auto it = spec_.settings.find(key);
    if (it != spec_.settings.end()) return it->second;
    for (const auto& s : info_.settings) {
      if (s.name == key) return s.default_value;
    }
    TORCH_CHECK(false, "activation '", info_.name, "' has no setting '", key, "'");
  }
  double number(const std::string& key) const { return parse_number(raw(key)); }
  bool flag(const std::string& key) const { return raw(key) == "true"; }

 private:
  const ActivationInfo& info_;
  const ActivationSpec& spec_;
};

// What a builder gets besides the settings: the channels, the generator of the noise and the
// dtype in which parameters are made (their initial values exact in it).
struct Context {
  int64_t channels;
  c10::optional<at::Generator> generator;
  c10::optional<at::ScalarType> dtype;
};
using Builder = std::function<torch::nn::AnyModule(const Settings&, const Context&)>;

struct Entry {
  ActivationInfo info;
  Builder build;
};

ActivationSetting number(std::string name, std::string def, std::string help) {
  return {std::move(name), "number", std::move(def), {}, std::move(help)};
}
ActivationSetting flag(std::string name, std::string def, std::string help) {
  return {std::move(name), "flag", std::move(def), {}, std::move(help)};
}
ActivationSetting schedule_setting() {
  return {"schedule",
          "choice",
          "alternate",
          {"alternate", "always_noisy", "never_noisy"},
          "which training calls are noisy"};
}
ActivationSetting shared_setting() {
  return flag("shared", "false", "one parameter for the layer, not one per channel (channelwise)");
}

int64_t parameter_count(const Settings& s, int64_t channels) {
  return s.flag("shared") ? 1 : channels;
}

// The table of every activation: one entry each, in the CLI's order. It reads better whole
// (a table, not a procedure), so it is one function however long it grows.
const std::vector<Entry>& registry() {
  static const std::vector<Entry> entries = [] {
    std::vector<Entry> e;
    e.push_back(
        {{"relu", {}, "max(0, x) (Nair and Hinton 2010)", {}, false},
         [](const Settings&, const Context&) { return torch::nn::AnyModule(torch::nn::ReLU()); }});
    e.push_back({{"lrelu",
                  {"leaky_relu", "leakyrelu"},
                  "x for x >= 0, slope*x below (Maas et al. 2013)",
                  {number("slope", "0.01", "negative slope")},
                  false},
                 [](const Settings& s, const Context&) {
                   return torch::nn::AnyModule(torch::nn::LeakyReLU(
                       torch::nn::LeakyReLUOptions().negative_slope(s.number("slope"))));
                 }});
    e.push_back({{"prelu",
                  {},
                  "x for x >= 0, a*x below, a trainable (He et al. 2015)",
                  {number("init", "0.25", "initial a"), shared_setting()},
                  false},
                 [](const Settings& s, const Context& c) {
                   const int64_t n = parameter_count(s, c.channels);
                   torch::nn::PReLU m(
                       torch::nn::PReLUOptions().num_parameters(n).init(s.number("init")));
                   // LibTorch makes it in the default dtype; remade exactly in the one asked for
                   m->weight.set_data(detail::initial_value(n, s.number("init"), c.dtype));
                   return torch::nn::AnyModule(m);
                 }});
    e.push_back(
        {{"rrelu",
          {},
          "x for x >= 0, r*x below, r ~ U(lower, upper) in training (Xu et al. 2015)",
          {number("lower", "1/8", "lower bound of r"), number("upper", "1/3", "upper bound of r")},
          true},
         [](const Settings& s, const Context& c) {
           return torch::nn::AnyModule(RReLU(RReLUOptions()
                                                 .lower(s.number("lower"))
                                                 .upper(s.number("upper"))
                                                 .generator(c.generator)));
         }});
    e.push_back({{"erelu",
                  {"elastic_relu"},
                  "k*x for x >= 0, 0 below, k ~ U(1-eps, 1+eps) in training (Jiang et al. 2018)",
                  {number("eps", "0.4", "noise level")},
                  true},
                 [](const Settings& s, const Context& c) {
                   return torch::nn::AnyModule(
                       EReLU(EReLUOptions().epsilon(s.number("eps")).generator(c.generator)));
                 }});
    e.push_back({{"eprelu",
                  {"elastic_prelu"},
                  "k*x for x >= 0, a*x below, k as EReLU, a trainable (Jiang et al. 2018)",
                  {number("eps", "0.4", "noise level"), number("init", "0.1", "initial a"),
                   schedule_setting(), shared_setting()},
                  true},
                 [](const Settings& s, const Context& c) {
                   return torch::nn::AnyModule(
                       EPReLU(EPReLUOptions(parameter_count(s, c.channels))
                                  .init(s.number("init"))
                                  .epsilon(s.number("eps"))
                                  .schedule(parse_schedule(s.raw("schedule")))
                                  .generator(c.generator)
                                  .dtype(c.dtype)));
                 }});
    e.push_back({{"elu",
                  {},
                  "x for x >= 0, alpha*(exp(x)-1) below (Clevert et al. 2016)",
                  {number("alpha", "1", "saturation value")},
                  false},
                 [](const Settings& s, const Context&) {
                   return torch::nn::AnyModule(
                       torch::nn::ELU(torch::nn::ELUOptions().alpha(s.number("alpha"))));
                 }});
    e.push_back({{"pelu",
                  {},
                  "(a/b)*x for x >= 0, a*(exp(x/b)-1) below, a, b >= 0.1 trainable "
                  "(Trottier et al. 2017)",
                  {number("a", "1", "initial a"), number("b", "1", "initial b"),
                   number("min", "0.1", "lower bound of a and b"), shared_setting()},
                  false},
                 [](const Settings& s, const Context& c) {
                   return torch::nn::AnyModule(PELU(PELUOptions(parameter_count(s, c.channels))
                                                        .a_init(s.number("a"))
                                                        .b_init(s.number("b"))
                                                        .min_value(s.number("min"))
                                                        .dtype(c.dtype)));
                 }});
    e.push_back({{"mpelu",
                  {},
                  "x for x >= 0, alpha*(exp(beta*x)-1) below, alpha, beta trainable "
                  "(Li et al. 2018)",
                  {number("alpha", "0.25", "initial alpha"), number("beta", "1", "initial beta"),
                   shared_setting()},
                  false},
                 [](const Settings& s, const Context& c) {
                   return torch::nn::AnyModule(MPELU(MPELUOptions(parameter_count(s, c.channels))
                                                         .alpha_init(s.number("alpha"))
                                                         .beta_init(s.number("beta"))
                                                         .dtype(c.dtype)));
                 }});
    e.push_back(
        {{"selu",
          {},
          "lambda*x for x >= 0, lambda*alpha*(exp(x)-1) below (Klambauer et al. 2017)",
          {},
          false},
         [](const Settings&, const Context&) { return torch::nn::AnyModule(torch::nn::SELU()); }});
    e.push_back({{"swish",
                  {},
                  "x*sigmoid(beta*x) (Ramachandran et al. 2017)",
                  {number("beta", "1", "initial or fixed beta"),
                   flag("trainable", "false", "learn beta"), shared_setting()},
                  false},
                 [](const Settings& s, const Context& c) {
                   const bool trainable = s.flag("trainable");
                   return torch::nn::AnyModule(
                       Swish(SwishOptions(trainable ? parameter_count(s, c.channels) : 1)
                                 .beta(s.number("beta"))
                                 .trainable(trainable)
                                 .dtype(c.dtype)));
                 }});
    e.push_back({{"gelu",
                  {},
                  "x*Phi(x) (Hendrycks and Gimpel 2016)",
                  {{"approximate", "choice", "none", {"none", "tanh"}, "tanh approximation"}},
                  false},
                 [](const Settings& s, const Context&) {
                   return torch::nn::AnyModule(
                       torch::nn::GELU(torch::nn::GELUOptions().approximate(s.raw("approximate"))));
                 }});
    e.push_back(
        {{"silu", {}, "x*sigmoid(x), Swish with beta = 1 (Elfwing et al. 2018)", {}, false},
         [](const Settings&, const Context&) { return torch::nn::AnyModule(torch::nn::SiLU()); }});
    e.push_back({{"mish", {}, "x*tanh(softplus(x)) (Misra 2019)", {}, false},
                 [](const Settings&, const Context&) { return torch::nn::AnyModule(Mish()); }});
    e.push_back({{"eelu",
                  {"elastic_elu"},
                  "k*x for x >= 0, alpha*(exp(beta*x)-1) below, k = clamp(N(1, sigma^2), 0, 2) in "
                  "training (Kim et al. 2020)",
                  {number("eps", "1", "noise level: sigma ~ U(0, eps) per call"),
                   number("alpha", "0.25", "initial alpha"), number("beta", "1", "initial beta"),
                   schedule_setting(), shared_setting()},
                  true},
                 [](const Settings& s, const Context& c) {
                   return torch::nn::AnyModule(EELU(EELUOptions(parameter_count(s, c.channels))
                                                        .alpha_init(s.number("alpha"))
                                                        .beta_init(s.number("beta"))
                                                        .epsilon(s.number("eps"))
                                                        .schedule(parse_schedule(s.raw("schedule")))
                                                        .generator(c.generator)
                                                        .dtype(c.dtype)));
                 }});
    return e;
  }();
  return entries;
}

const Entry& entry(const std::string& name) {
  const std::string key = lower(trim(name));
  for (const auto& e : registry()) {
    if (e.info.name == key ||
        std::find(e.info.aliases.begin(), e.info.aliases.end(), key) != e.info.aliases.end()) {
      return e;
    }
  }
  std::vector<std::string> names;
  for (const auto& e : registry()) names.push_back(e.info.name);
  TORCH_CHECK(false, "unknown activation '", trim(name), "'; valid: ", join(names));
}

// Checks one value against its setting; returns it normalised.
std::string checked_value(const ActivationInfo& info, const ActivationSetting& setting,
                          const std::string& value) {
  const std::string where = "activation '" + info.name + "': setting '" + setting.name + "'";
  if (setting.kind == "number") {
    const auto v = number_value(value);
    TORCH_CHECK(v && std::isfinite(*v), where, " must be a finite number, got '", value,
                "' (a decimal, or a fraction such as 1/3)");
    TORCH_CHECK(std::abs(*v) <= kMaxSetting, where, " must be between -", kMaxSetting, " and ",
                kMaxSetting, ", got '", value, "'");
    return value;
  }
  if (setting.kind == "flag") {
    const std::string v = lower(value);
    TORCH_CHECK(v == "true" || v == "false", where, " is a flag: true or false, got '", value, "'");
    return v;
  }
  const std::string v = lower(value);
  TORCH_CHECK(std::find(setting.choices.begin(), setting.choices.end(), v) != setting.choices.end(),
              where, " must be one of ", join(setting.choices), ", got '", value, "'");
  return v;
}

std::string valid_settings(const ActivationInfo& info) {
  if (info.settings.empty()) return "it has none";
  std::vector<std::string> names;
  for (const auto& s : info.settings) names.push_back(s.name);
  if (std::find(names.begin(), names.end(), "shared") != names.end()) {
    names.push_back("channelwise");
  }
  return "valid: " + join(names);
}

}  // namespace

double parse_number(const std::string& text) {
  const auto v = number_value(text);
  TORCH_CHECK(v && std::isfinite(*v), "not a finite number: '", text, "'");
  return *v;
}

const std::vector<ActivationInfo>& activation_names() {
  static const std::vector<ActivationInfo> infos = [] {
    std::vector<ActivationInfo> out;
    for (const auto& e : registry()) out.push_back(e.info);
    return out;
  }();
  return infos;
}

const ActivationInfo& activation_info(const std::string& name) { return entry(name).info; }

ActivationSpec parse_activation_spec(const std::string& text) {
  const std::string spec = trim(text);
  TORCH_CHECK(!spec.empty(), "empty activation spec");
  const auto open = spec.find('(');
  ActivationSpec out;
  const ActivationInfo& info = entry(spec.substr(0, open)).info;
  out.name = info.name;
  if (open == std::string::npos) return out;
  TORCH_CHECK(spec.back() == ')', "activation spec '", spec, "': missing ')' at the end");
  const std::string inner = spec.substr(open + 1, spec.size() - open - 2);
  TORCH_CHECK(inner.find_first_of("()") == std::string::npos, "activation spec '", spec,
              "': nested parentheses");
  std::stringstream items(inner);
  std::string item;
  while (std::getline(items, item, ',')) {
    item = trim(item);
    if (item.empty()) {
      TORCH_CHECK(trim(inner).empty(), "activation spec '", spec, "': empty setting");
      continue;
    }
    const auto eq = item.find('=');
    std::string key = lower(trim(item.substr(0, eq)));
    std::string value = eq == std::string::npos ? "true" : trim(item.substr(eq + 1));
    if (key == "channelwise" || key == "channel_wise") {
      TORCH_CHECK(eq == std::string::npos, "activation '", info.name,
                  "': channelwise is a flag and takes no value");
      key = "shared";
      value = "false";
    }
    if (key == "epsilon") key = "eps";
    const auto it = std::find_if(info.settings.begin(), info.settings.end(),
                                 [&](const ActivationSetting& s) { return s.name == key; });
    TORCH_CHECK(it != info.settings.end(), "activation '", info.name, "' has no setting '",
                trim(item.substr(0, eq)), "'; ", valid_settings(info));
    TORCH_CHECK(out.settings.count(key) == 0, "activation '", info.name, "': setting '", key,
                "' given twice");
    out.settings[key] = checked_value(info, *it, value);
  }
  return out;
}

std::string ActivationSpec::to_string() const {
  const ActivationInfo& info = activation_info(name);
  if (info.settings.empty()) return name;
  std::vector<std::string> parts;
  for (const auto& s : info.settings) {
    const auto it = settings.find(s.name);
    parts.push_back(s.name + "=" + (it == settings.end() ? s.default_value : it->second));
  }
  return name + "(" + join(parts) + ")";
}

std::string ActivationSpec::canonical() const {
  const ActivationInfo& info = activation_info(name);
  std::vector<std::string> parts;
  for (const auto& s : info.settings) {
    const auto it = settings.find(s.name);
    if (it == settings.end()) continue;
    if (s.kind == "number") {
      const double v = parse_number(it->second);
      if (v == parse_number(s.default_value)) continue;
      parts.push_back(s.name + "=" + shortest_decimal(v));
    } else if (it->second != s.default_value) {
      parts.push_back(s.kind == "flag" && it->second == "true" ? s.name
                                                               : s.name + "=" + it->second);
    }
  }
  return parts.empty() ? name : name + "(" + join(parts) + ")";
}

std::string canonical_activation(const std::string& spec) {
  return parse_activation_spec(spec).canonical();
}

torch::nn::AnyModule make_activation(const std::string& spec, int64_t channels,
                                     c10::optional<at::Generator> generator,
                                     c10::optional<at::ScalarType> dtype) {
  TORCH_CHECK(channels >= 1, "make_activation: channels must be >= 1, got ", channels);
  const ActivationSpec parsed = parse_activation_spec(spec);
  const Entry& e = entry(parsed.name);
  return e.build(Settings(e.info, parsed), Context{channels, std::move(generator), dtype});
}

bool is_parametric_activation(const torch::nn::Module& m) {
  return dynamic_cast<const EELUImpl*>(&m) || dynamic_cast<const EPReLUImpl*>(&m) ||
         dynamic_cast<const PELUImpl*>(&m) || dynamic_cast<const MPELUImpl*>(&m) ||
         dynamic_cast<const SwishImpl*>(&m) || dynamic_cast<const torch::nn::PReLUImpl*>(&m);
}

}  // namespace eelu::nn
