#include "selfcheck.h"
#include "commands.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/generated/variable_factories.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>

#include "eelu/ops.h"
#include "eelu/reference.h"

namespace eelu::app {
namespace {

struct Errors {
  double y = 0, dx = 0, da = 0, db = 0;
};

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

// One noisy training call of the operator against the composite with the same k, in dtype.
Errors compare_with_reference(const std::vector<int64_t>& shape, at::ScalarType dtype,
                              uint64_t seed) {
  at::manual_seed(seed);
  const int64_t channels = shape[1];
  const auto opts = at::TensorOptions().dtype(dtype);
  at::Tensor x = (torch::randn(shape, opts) * 2).set_requires_grad(true);
  at::Tensor a = (torch::rand({channels}, opts) + 0.1).set_requires_grad(true);
  at::Tensor b = (torch::rand({channels}, opts) + 0.5).set_requires_grad(true);
  at::Tensor grad = torch::randn(shape, opts);

  const NoiseState noise = draw_noise(1.0);
  at::Tensor y = eelu_with_noise(x, a, b, noise);
  auto g = torch::autograd::grad({y}, {x, a, b}, {grad});

  auto x64 = x.detach().to(at::kDouble).set_requires_grad(true);
  auto a64 = a.detach().to(at::kDouble).set_requires_grad(true);
  auto b64 = b.detach().to(at::kDouble).set_requires_grad(true);
  at::Tensor k = eelu_noise(x64, noise);
  at::Tensor r = reference::eelu(x64, a64, b64, k);
  auto gr = torch::autograd::grad({r}, {x64, a64, b64}, {grad.to(at::kDouble)});
  // Parameter gradients are sums over many elements: compare them relative to their size.
  auto rel = [](const at::Tensor& got, const at::Tensor& want) {
    return max_abs_diff(got, want) / std::max(1.0, want.abs().max().item<double>());
  };
  return {max_abs_diff(y, r), max_abs_diff(g[0], gr[0]), rel(g[1], gr[1]), rel(g[2], gr[2])};
}

double median_ms(const std::function<void()>& fn, int repeats) {
  fn();  // warm-up
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int run_selfcheck(const SelfcheckOptions& options) {
  if (options.threads > 0) at::set_num_threads(options.threads);
  const auto& shape = options.shape;
  std::printf("eelu %s selfcheck: shape [", eelu::version());
  for (size_t i = 0; i < shape.size(); ++i) std::printf(i ? ", %ld" : "%ld", (long)shape[i]);
  std::printf("], %d threads, seed %llu\n\n", at::get_num_threads(),
              (unsigned long long)options.seed);

  // 1. Correctness: the fused operator against the float64 composite of ATen operations.
  std::printf("EELU (training, sigma ~ U(0, 1)) against its float64 composite reference\n");
  std::printf("%-9s %12s %12s %12s %12s %10s %s\n", "dtype", "max|dy|", "max|dx|", "rel|da|",
              "rel|db|", "tolerance", "");
  bool ok = true;
  struct Case {
    at::ScalarType dtype;
    const char* name;
    double tol;
  };
  for (const Case& c : {Case{at::kDouble, "float64", 1e-10}, Case{at::kFloat, "float32", 1e-4},
                        Case{at::kBFloat16, "bfloat16", 5e-2}}) {
    const Errors e = compare_with_reference(shape, c.dtype, options.seed);
    const bool pass = e.y <= c.tol && e.dx <= c.tol && e.da <= c.tol && e.db <= c.tol;
    ok = ok && pass;
    std::printf("%-9s %12.3e %12.3e %12.3e %12.3e %10.0e %s\n", c.name, e.y, e.dx, e.da, e.db,
                c.tol, pass ? "ok" : "FAILED");
  }

  // 2. Speed: float32, into fresh outputs, median of repeats.
  at::manual_seed(options.seed);
  at::Tensor x = torch::randn(shape);
  at::Tensor a = torch::full({shape[1]}, 1.0);
  at::Tensor b = torch::full({shape[1]}, 1.0);
  at::Tensor grad = torch::randn(shape);
  const NoiseState noise = draw_noise(1.0);
  const int r = options.repeats;
  const double t_elu = median_ms([&] { at::elu(x); }, r);
  const double t_eval = median_ms([&] { eelu_with_noise(x, a, b, NoiseState{}); }, r);
  const double t_train = median_ms([&] { eelu_with_noise(x, a, b, noise); }, r);
  const double t_comp = median_ms(
      [&] {
        at::Tensor k = at::empty_like(x).normal_(1.0, noise.sigma).clamp_(0, 2);
        reference::eelu(x, a, b, k);
      },
      r);
  const double t_bwd = median_ms([&] { eelu_backward(grad, x, a, b, noise); }, r);
  const double t_elu_bwd = median_ms([&] { at::elu_backward(grad, 1.0, 1.0, 1.0, false, x); }, r);

  std::printf("\nSpeed, float32, median of %d runs (ratios < 1 mean EELU is faster)\n", r);
  std::printf("  %-46s %9.2f ms\n", "LibTorch ELU forward", t_elu);
  std::printf("  %-46s %9.2f ms  %6.2fx ELU\n", "EELU eval forward", t_eval, t_eval / t_elu);
  std::printf("  %-46s %9.2f ms  %6.2fx ELU\n", "EELU training forward (noise drawn inside)",
              t_train, t_train / t_elu);
  std::printf("  %-46s %9.2f ms  %6.2fx EELU training forward\n",
              "composite training forward (normal_, where)", t_comp, t_comp / t_train);
  std::printf("  %-46s %9.2f ms\n", "LibTorch ELU backward", t_elu_bwd);
  std::printf("  %-46s %9.2f ms  %6.2fx ELU backward\n", "EELU backward (x, a, b; k regenerated)",
              t_bwd, t_bwd / t_elu_bwd);
  std::printf("\nselfcheck %s\n", ok ? "passed" : "FAILED");
  return ok ? 0 : 1;
}

CommandRunner add_selfcheck_command(CLI::App& app) {
  auto check = std::make_shared<SelfcheckOptions>();
  auto* cmd = app.add_subcommand(
      "selfcheck", "check the EELU operator against its composite reference and time it");
  cmd->add_option("--shape", check->shape, "input shape N C [spatial...]")
      ->expected(2, 5)
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", check->seed, "random seed");
  cmd->add_option("--threads", check->threads, "intra-op threads (0: LibTorch default)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--repeats", check->repeats, "timed runs per measurement")
      ->check(CLI::Range(1, 1000));
  return [=] { return cmd->parsed() ? run_selfcheck(*check) : -1; };
}

}  // namespace eelu::app
