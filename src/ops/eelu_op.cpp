// The operator schema (declared once), the composite entry point `eelu::eelu` that draws the
// noise, and the C++ API, which calls every operator through the dispatcher.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "eelu/ops.h"
#include "ops/eelu_checks.h"
#include "ops/noise.h"

namespace eelu {
namespace {

// Note [The EELU operators]
// eelu            what users call. Autograd kernel (eelu_autograd.cpp) over eelu_forward,
//                 saving the noise state tensor; a CompositeExplicitAutograd kernel for calls
//                 without autograd.
// eelu_forward    checks the arguments, draws the noise of a training call and calls
//                 eelu_with_noise; returns the output and the noise it drew as a tensor
//                 (Note [The noise state tensor]). An operator of its own so that a traced
//                 graph (torch.compile, AOTAutograd) keeps the draw as a node that runs on
//                 every call, rather than running it once while tracing and baking its
//                 numbers into the graph as constants.
// eelu_with_noise the fused forward with explicit noise (sigma, seed, offset). CPU and CUDA
//                 kernels; Autograd kernel that saves the input, alpha, beta and the three
//                 numbers (never k) and calls eelu_backward.
// eelu_backward   the fused backward, k regenerated. Not differentiable again.
// eelu_backward_state  eelu_backward with the noise as eelu_forward's state tensor.
// eelu_noise      materialises the k of given noise, for tests and for inspection.
// eelu_with_noise.out, eelu_backward.grad_input, eelu_noise.out
//                 the same into tensors the caller allocated (benchmarks, inference): kernels
//                 for the CPU key; any other device is refused by the composite below.
// draw_noise      what eelu draws from the generator for a training call.
// The shapes and dtypes of every operator's outputs for FakeTensor, torch.compile and
// torch.export are registered from Python (python/eelu/_fake.py).
TORCH_LIBRARY(eelu, m) {
  m.def(
      "eelu(Tensor self, Tensor alpha, Tensor beta, float epsilon=1.0, bool training=False, "
      "bool param_grad=True, Generator? generator=None) -> Tensor");
  m.def(
      "eelu_forward(Tensor self, Tensor alpha, Tensor beta, float epsilon=1.0, "
      "bool training=False, Generator? generator=None) -> (Tensor, Tensor)");
  m.def(
      "eelu_with_noise(Tensor self, Tensor alpha, Tensor beta, float sigma, int seed, "
      "int offset, bool param_grad=True) -> Tensor");
  m.def(
      "eelu_backward(Tensor grad_output, Tensor self, Tensor alpha, Tensor beta, float sigma, "
      "int seed, int offset, bool[3] output_mask) -> (Tensor, Tensor, Tensor)");
  m.def(
      "eelu_backward_state(Tensor grad_output, Tensor self, Tensor alpha, Tensor beta, "
      "Tensor noise_state, bool[3] output_mask) -> (Tensor, Tensor, Tensor)");
  m.def("eelu_noise(Tensor self, float sigma, int seed, int offset) -> Tensor");
  // out= forms: backend kernels only (the CPU's); no autograd history.
  m.def(
      "eelu_with_noise.out(Tensor self, Tensor alpha, Tensor beta, float sigma, int seed, "
      "int offset, *, Tensor(a!) out) -> Tensor(a!)");
  m.def(
      "eelu_backward.grad_input(Tensor grad_output, Tensor self, Tensor alpha, Tensor beta, "
      "float sigma, int seed, int offset, bool[2] param_mask, *, Tensor(a!) grad_input) "
      "-> (Tensor, Tensor)");
  m.def(
      "eelu_noise.out(Tensor self, float sigma, int seed, int offset, *, Tensor(a!) out) "
      "-> Tensor(a!)");
  m.def("draw_noise(float epsilon, Generator? generator=None) -> (float, int, int)",
        [](double epsilon, c10::optional<at::Generator> generator) {
          const NoiseState s = draw_noise(epsilon, std::move(generator));
          return std::make_tuple(s.sigma, static_cast<int64_t>(s.seed),
                                 static_cast<int64_t>(s.offset));
        });
}

// The checks, the draw of a training call and the fused forward: what eelu_forward and eelu
// without autograd share (the latter needs no state tensor).
std::pair<at::Tensor, NoiseState> forward_with_drawn_noise(const at::Tensor& input,
                                                           const at::Tensor& alpha,
                                                           const at::Tensor& beta, double epsilon,
                                                           bool training,
                                                           c10::optional<at::Generator> generator) {
  detail::check_inputs(input, alpha, beta);
  detail::check_epsilon(epsilon);
  const NoiseState noise =
      training ? detail::draw_noise_on(input.device(), epsilon, std::move(generator))
               : NoiseState{};
  return {eelu_with_noise(input, alpha, beta, noise, /*param_grad=*/true), noise};
}

std::tuple<at::Tensor, at::Tensor> eelu_forward_composite(const at::Tensor& input,
                                                          const at::Tensor& alpha,
                                                          const at::Tensor& beta, double epsilon,
                                                          bool training,
                                                          c10::optional<at::Generator> generator) {
  auto [out, noise] =
      forward_with_drawn_noise(input, alpha, beta, epsilon, training, std::move(generator));
  return std::make_tuple(std::move(out), detail::noise_to_tensor(noise));
}

// eelu without autograd (no input requires a gradient, or inference mode).
at::Tensor eelu_composite(const at::Tensor& input, const at::Tensor& alpha, const at::Tensor& beta,
                          double epsilon, bool training, bool param_grad,
                          c10::optional<at::Generator> generator) {
  return forward_with_drawn_noise(input, alpha, beta, epsilon, training, std::move(generator))
      .first;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> eelu_backward_state_composite(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& alpha,
    const at::Tensor& beta, const at::Tensor& noise_state, std::array<bool, 3> output_mask) {
  return eelu_backward(grad_output, input, alpha, beta, detail::noise_from_tensor(noise_state),
                       output_mask);
}

// A device with no out= kernel gets this message rather than the dispatcher's.
[[noreturn]] void no_out_kernel(const char* op, const at::Tensor& input) {
  TORCH_CHECK(false, op, ": the out= forms have kernels for the CPU only, got an input on ",
              input.device());
}
at::Tensor& forward_out_elsewhere(const at::Tensor& input, const at::Tensor&, const at::Tensor&,
                                  double, int64_t, int64_t, at::Tensor&) {
  no_out_kernel("eelu_with_noise_out", input);
}
std::tuple<at::Tensor, at::Tensor> backward_out_elsewhere(const at::Tensor&,
                                                          const at::Tensor& input,
                                                          const at::Tensor&, const at::Tensor&,
                                                          double, int64_t, int64_t,
                                                          std::array<bool, 2>, at::Tensor&) {
  no_out_kernel("eelu_backward_out", input);
}
at::Tensor& noise_out_elsewhere(const at::Tensor& input, double, int64_t, int64_t, at::Tensor&) {
  no_out_kernel("eelu_noise_out", input);
}

TORCH_LIBRARY_IMPL(eelu, CompositeExplicitAutograd, m) {
  m.impl("eelu", &eelu_composite);
  m.impl("eelu_forward", &eelu_forward_composite);
  m.impl("eelu_backward_state", &eelu_backward_state_composite);
  m.impl("eelu_with_noise.out", &forward_out_elsewhere);
  m.impl("eelu_backward.grad_input", &backward_out_elsewhere);
  m.impl("eelu_noise.out", &noise_out_elsewhere);
}

// k does not depend on the input's values, only on its shape: nothing to differentiate. The
// out= forms record no autograd history (eelu/ops.h): they go straight to the backend.
TORCH_LIBRARY_IMPL(eelu, Autograd, m) {
  m.impl("eelu_noise", torch::CppFunction::makeFallthrough());
  m.impl("eelu_with_noise.out", torch::CppFunction::makeFallthrough());
  m.impl("eelu_backward.grad_input", torch::CppFunction::makeFallthrough());
  m.impl("eelu_noise.out", torch::CppFunction::makeFallthrough());
}

c10::OperatorHandle handle(const char* name, const char* overload = "") {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, overload);
}

}  // namespace

at::Tensor eelu(const at::Tensor& input, const at::Tensor& alpha, const at::Tensor& beta,
                double epsilon, bool training, bool param_grad,
                c10::optional<at::Generator> generator) {
  static const auto op =
      handle("eelu::eelu")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, double, bool,
                            bool, c10::optional<at::Generator>)>();
  return op.call(input, alpha, beta, epsilon, training, param_grad, std::move(generator));
}

std::tuple<at::Tensor, at::Tensor> eelu_forward(const at::Tensor& input, const at::Tensor& alpha,
                                                const at::Tensor& beta, double epsilon,
                                                bool training,
                                                c10::optional<at::Generator> generator) {
  static const auto op = handle("eelu::eelu_forward")
                             .typed<std::tuple<at::Tensor, at::Tensor>(
                                 const at::Tensor&, const at::Tensor&, const at::Tensor&, double,
                                 bool, c10::optional<at::Generator>)>();
  return op.call(input, alpha, beta, epsilon, training, std::move(generator));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> eelu_backward_state(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& alpha,
    const at::Tensor& beta, const at::Tensor& noise_state, std::array<bool, 3> output_mask) {
  static const auto op = handle("eelu::eelu_backward_state")
                             .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
                                 const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                 const at::Tensor&, const at::Tensor&, std::array<bool, 3>)>();
  return op.call(grad_output, input, alpha, beta, noise_state, output_mask);
}

at::Tensor eelu_with_noise(const at::Tensor& input, const at::Tensor& alpha, const at::Tensor& beta,
                           const NoiseState& noise, bool param_grad) {
  static const auto op =
      handle("eelu::eelu_with_noise")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, double,
                            int64_t, int64_t, bool)>();
  return op.call(input, alpha, beta, noise.sigma, static_cast<int64_t>(noise.seed),
                 static_cast<int64_t>(noise.offset), param_grad);
}

at::Tensor eelu_noise(const at::Tensor& input, const NoiseState& noise) {
  static const auto op =
      handle("eelu::eelu_noise").typed<at::Tensor(const at::Tensor&, double, int64_t, int64_t)>();
  return op.call(input, noise.sigma, static_cast<int64_t>(noise.seed),
                 static_cast<int64_t>(noise.offset));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> eelu_backward(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& alpha,
    const at::Tensor& beta, const NoiseState& noise, std::array<bool, 3> output_mask) {
  static const auto op =
      handle("eelu::eelu_backward")
          .typed<std::tuple<at::Tensor, at::Tensor, at::Tensor>(
              const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, double,
              int64_t, int64_t, std::array<bool, 3>)>();
  return op.call(grad_output, input, alpha, beta, noise.sigma, static_cast<int64_t>(noise.seed),
                 static_cast<int64_t>(noise.offset), output_mask);
}

at::Tensor& eelu_with_noise_out(at::Tensor& out, const at::Tensor& input, const at::Tensor& alpha,
                                const at::Tensor& beta, const NoiseState& noise) {
  static const auto op =
      handle("eelu::eelu_with_noise", "out")
          .typed<at::Tensor&(const at::Tensor&, const at::Tensor&, const at::Tensor&, double,
                             int64_t, int64_t, at::Tensor&)>();
  return op.call(input, alpha, beta, noise.sigma, static_cast<int64_t>(noise.seed),
                 static_cast<int64_t>(noise.offset), out);
}

at::Tensor& eelu_noise_out(at::Tensor& out, const at::Tensor& input, const NoiseState& noise) {
  static const auto op =
      handle("eelu::eelu_noise", "out")
          .typed<at::Tensor&(const at::Tensor&, double, int64_t, int64_t, at::Tensor&)>();
  return op.call(input, noise.sigma, static_cast<int64_t>(noise.seed),
                 static_cast<int64_t>(noise.offset), out);
}

std::tuple<at::Tensor, at::Tensor> eelu_backward_out(
    at::Tensor& grad_input, const at::Tensor& grad_output, const at::Tensor& input,
    const at::Tensor& alpha, const at::Tensor& beta, const NoiseState& noise,
    std::array<bool, 2> param_mask) {
  static const auto op =
      handle("eelu::eelu_backward", "grad_input")
          .typed<std::tuple<at::Tensor, at::Tensor>(
              const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, double,
              int64_t, int64_t, std::array<bool, 2>, at::Tensor&)>();
  return op.call(grad_output, input, alpha, beta, noise.sigma, static_cast<int64_t>(noise.seed),
                 static_cast<int64_t>(noise.offset), param_mask, grad_input);
}

const char* version() { return EELU_VERSION_STRING; }

}  // namespace eelu
