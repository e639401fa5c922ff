// One registry of activations: every part of eelu (models, the CLI, experiment grids,
// benchmarks) picks an activation by a spec string through make_activation.
//
//   spec := name [ "(" setting { "," setting } ")" ]
//   setting := key [ "=" value ]          a bare key is a flag: key=true
//
// Names and keys are case-insensitive; `channelwise` is the flag `shared=false`. Examples:
//   eelu    eelu(eps=0.6, alpha=1, beta=1, schedule=always_noisy)
//   prelu(init=0.25, shared)    lrelu(slope=0.1)    swish(beta=1.5, trainable)
#pragma once

#include <ATen/core/Generator.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>
#include <torch/nn/modules/container/any.h>

#include <map>
#include <string>
#include <vector>

namespace eelu::nn {

struct ActivationSetting {
  std::string name;
  std::string kind;                  // "number", "flag" or "choice"
  std::string default_value;         // as it would be written in a spec
  std::vector<std::string> choices;  // for "choice"
  std::string help;
};

struct ActivationInfo {
  std::string name;                  // canonical, lower case
  std::vector<std::string> aliases;  // lower case
  std::string description;           // one line: f(x) and its origin
  std::vector<ActivationSetting> settings;
  bool noisy = false;  // behaves differently in training (noise)
};

/// Every activation, in the order the CLI lists them.
const std::vector<ActivationInfo>& activation_names();

/// The info of a name or alias (any case); an unknown name is an error listing the valid ones.
const ActivationInfo& activation_info(const std::string& name);

/// A spec split into its canonical name and settings (keys lower case, values as written,
/// flags as "true", `channelwise` as shared=false), checked against the activation's
/// settings: an unknown setting or a bad value is an error that lists what is valid.
struct ActivationSpec {
  std::string name;
  std::map<std::string, std::string> settings;
  std::string to_string() const;  // the name and every setting, defaults included
  // The one spelling of this activation: its name and the settings whose values differ from
  // their defaults, in the order `eelu activations` lists them, numbers as their shortest
  // round-trip decimal, flags bare: "RELU" -> "relu", "eelu(eps=1)" -> "eelu",
  // "EELU(beta=1, alpha=1.0, eps=0.60)" -> "eelu(eps=0.6, alpha=1)", "prelu(shared)" ->
  // "prelu(shared)". Two specs make the same activation exactly when these are equal.
  std::string canonical() const;
};
ActivationSpec parse_activation_spec(const std::string& spec);

/// parse_activation_spec(spec).canonical(): what records hold and what is compared.
std::string canonical_activation(const std::string& spec);

/// Builds the activation of `spec` for inputs with `channels` channels (dim 1): per-channel
/// parameters get `channels` entries unless the spec says `shared`; pass 1 for shared
/// parameters (as after fully connected layers). Noise comes from `generator`, or from
/// LibTorch's default CPU generator when absent. Parameters are made in `dtype` (LibTorch's
/// default dtype when absent), their initial values exact in it.
torch::nn::AnyModule make_activation(const std::string& spec, int64_t channels = 1,
                                     c10::optional<at::Generator> generator = c10::nullopt,
                                     c10::optional<at::ScalarType> dtype = c10::nullopt);

/// The value of a number setting: a decimal ("0.25") or a fraction ("1/3"); an error for
/// anything else or a value that is not finite.
double parse_number(const std::string& text);

/// True for the modules make_activation builds that hold trainable parameters (EELU,
/// EPReLU, PELU, MPELU, Swish, PReLU): what the trainer gives its own weight decay.
bool is_parametric_activation(const torch::nn::Module& module);

}  // namespace eelu::nn
