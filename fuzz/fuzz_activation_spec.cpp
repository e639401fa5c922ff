// Activation specs ("eelu(eps=0.6, alpha=1, beta=1)"): what a user types after --act and in a
// grid's activation axis. A spec is refused with a c10::Error or parses to a full spec and a
// canonical spelling that each parse to themselves, the canonical spelling builds a module
// that computes what the typed spec's does, and that keeps its input's shape and finiteness.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cstdlib>
#include <string>

#include "eelu/nn/registry.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 256) return 0;
  const int64_t channels = 1 + data[0] % 4;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  eelu::fuzz::refuse_or_read([&] {
    const eelu::nn::ActivationSpec spec = eelu::nn::parse_activation_spec(text);
    const std::string canonical = spec.to_string();
    if (eelu::nn::parse_activation_spec(canonical).to_string() != canonical) std::abort();
    const std::string shortest = spec.canonical();
    if (eelu::nn::canonical_activation(shortest) != shortest) std::abort();
    auto module = eelu::nn::make_activation(text, channels);
    auto twin = eelu::nn::make_activation(shortest, channels);
    module.ptr()->eval();  // no noise: the two must agree exactly
    twin.ptr()->eval();
    torch::NoGradGuard no_grad;
    const at::Tensor x = at::linspace(-3, 3, 2 * channels * 3).view({2, channels, 3});
    const at::Tensor y = module.forward(x);
    if (!y.sizes().equals(x.sizes()) || !at::isfinite(y).all().item<bool>()) std::abort();
    if (!at::equal(y, twin.forward(x))) std::abort();
  });
  return 0;
}
