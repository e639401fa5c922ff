// See ops_bench.h. Timing method: each measurement runs `warmup` times untimed, then
// `repeats` times; the median is reported. Kernel comparisons write into tensors allocated
// once before timing (a fresh 64 MiB tensor costs tens of milliseconds of page faults on
// these machines and would hide the kernels); the end-to-end rows allocate as training does.
#include "ops_bench.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "eelu/models/models.h"
#include "eelu/ops.h"

namespace eelu::bench {
namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median milliseconds of f over `repeats` runs after `warmup` runs.
double time_ms(const std::function<void()>& f, int warmup, int repeats) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return median(ms);
}

at::ScalarType dtype_named(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float64") return at::kDouble;
  TORCH_CHECK(false, "bench: unknown dtype '", name, "'; valid: float32, bfloat16, float64");
}

// (N, 64, H, W) with H = W as close to square as the size allows.
std::vector<int64_t> shape_for(int64_t numel) {
  const int64_t C = 64;
  TORCH_CHECK(numel % C == 0 && numel >= C, "bench: size ", numel,
              " must be a positive multiple of 64");
  const int64_t rest = numel / C;
  int64_t hw = 1;  // the largest power of two with N = rest / hw^2 >= 64
  while (rest % (4 * hw * hw) == 0 && 4 * hw * hw * 64 <= rest) hw *= 2;
  return {rest / (hw * hw), C, hw, hw};
}

struct Row {
  std::string name;
  double ms;
  std::string note;
};

void print_rows(const std::vector<Row>& rows) {
  for (const Row& r : rows) {
    if (r.ms < 0) {
      std::printf("  %-50s %10s   %s\n", r.name.c_str(), "n/a", r.note.c_str());
    } else {
      std::printf("  %-50s %10.3f   %s\n", r.name.c_str(), r.ms, r.note.c_str());
    }
  }
}

std::string ratio(double num, double den, const char* what, const char* target = nullptr) {
  char buf[160];
  if (num < 0 || den <= 0) return "";
  if (target) {
    std::snprintf(buf, sizeof buf, "%6.2fx %s  (target %s)", num / den, what, target);
  } else {
    std::snprintf(buf, sizeof buf, "%6.2fx %s", num / den, what);
  }
  return buf;
}

struct Key {
  int64_t numel;
  std::string dtype;
  int threads;
  bool operator<(const Key& o) const {
    return std::tie(numel, dtype, threads) < std::tie(o.numel, o.dtype, o.threads);
  }
};

}  // namespace

int run_ops_benchmark(const OpsBenchOptions& options) {
  if (!options.capability.empty()) set_cpu_capability(options.capability);
  const int saved_threads = at::get_num_threads();
  std::printf(
      "EELU operator benchmark: median of %d runs after %d warm-up runs; kernels write\n"
      "into preallocated outputs unless a row says otherwise. CPU kernels: %s.\n"
      "EELU parameters are channel-wise (64 channels); sigma = 0.5.\n",
      options.repeats, options.warmup, cpu_capability());

  std::map<Key, double> train_fwd;
  struct Summary {
    double eval_vs_elu = -1, train_vs_elu = -1, bwd_vs_elu_bwd = -1, composite_vs_eelu = -1,
           normal_vs_noise = -1;
  };
  std::map<Key, Summary> summaries;
  for (const int64_t numel : options.sizes) {
    const auto shape = shape_for(numel);
    for (const std::string& dname : options.dtypes) {
      const at::ScalarType dtype = dtype_named(dname);
      const auto opts = at::TensorOptions().dtype(dtype);
      at::manual_seed(0);
      const at::Tensor x = at::randn(shape, opts);
      const at::Tensor g = at::randn(shape, opts);
      const at::Tensor a = at::full({shape[1]}, 0.25, opts), b = at::full({shape[1]}, 1.0, opts);
      at::Tensor y = at::empty_like(x), gx = at::empty_like(x);
      at::Tensor k = at::empty(
          shape, at::TensorOptions().dtype(dtype == at::kDouble ? at::kDouble : at::kFloat));
      at::Tensor rnoise = at::empty_like(x);
      const at::Tensor w = at::full({shape[1]}, 0.25, opts);
      const NoiseState noise{0.5, 0x5DEECE66Dull, 0};
      const NoiseState clean{};
      y.fill_(0);
      gx.fill_(0);
      k.fill_(0);
      rnoise.fill_(0);  // touch every page before timing

      for (const int threads : options.threads) {
        at::set_num_threads(threads);
        const int W = options.warmup, R = options.repeats;
        std::printf("\n== %lld elements (%lldx%lldx%lldx%lld), %s, %d thread%s ==\n",
                    static_cast<long long>(numel), static_cast<long long>(shape[0]),
                    static_cast<long long>(shape[1]), static_cast<long long>(shape[2]),
                    static_cast<long long>(shape[3]), dname.c_str(), threads,
                    threads == 1 ? "" : "s");
        auto safe = [&](const std::function<void()>& f, std::string& note) {
          try {
            return time_ms(f, W, R);
          } catch (const std::exception& e) {
            note = std::string("(") + std::string(e.what()).substr(0, 60) + ")";
            return -1.0;
          }
        };
        std::string n_copy, n_elu, n_elub, n_prelu, n_prelub, n_rrelu, n_normal;
        const double copy = safe([&] { y.copy_(x); }, n_copy);
        const double elu = safe([&] { at::elu_out(y, x); }, n_elu);
        const double elub = safe([&] { at::elu_backward_out(gx, g, 1.0, 1, 1, false, x); }, n_elub);
        // LibTorch 2 made prelu a composite over _prelu_kernel (no out= form any more), which
        // takes the weight already shaped to broadcast along the channels, as at::prelu
        // reshapes it. (Given (C) it broadcast along the width: per-column slopes, and for
        // 1x1 images an output of another shape, which replaced y; bench ops --sizes 4096
        // then failed under torch 2.15.)
#if TORCH_VERSION_MAJOR >= 2
        const at::Tensor wc = w.view({1, -1, 1, 1});
        const double prelu = safe([&] { (void)at::_prelu_kernel(x, wc); }, n_prelu);
        const double prelub = safe([&] { (void)at::_prelu_kernel_backward(g, x, wc); }, n_prelub);
#else
        const double prelu = safe([&] { at::prelu_out(y, x, w); }, n_prelu);
        const double prelub = safe([&] { (void)at::prelu_backward(g, x, w); }, n_prelub);
#endif
        const double rrelu =
            safe([&] { at::rrelu_with_noise_out(y, x, rnoise, 1.0 / 8, 1.0 / 3, true); }, n_rrelu);
        const double normal = safe([&] { k.normal_(1.0, 0.5); }, n_normal);
        const double eval = time_ms([&] { eelu_with_noise_out(y, x, a, b, clean); }, W, R);
        const double train = time_ms([&] { eelu_with_noise_out(y, x, a, b, noise); }, W, R);
        const double bwd = time_ms([&] { (void)eelu_backward_out(gx, g, x, a, b, noise); }, W, R);
        const double bwd_clean =
            time_ms([&] { (void)eelu_backward_out(gx, g, x, a, b, clean); }, W, R);
        const double nz = time_ms([&] { eelu_noise_out(k, x, noise); }, W, R);

        // End to end, allocating as training does, through autograd.
        const at::Tensor xr = x.clone().set_requires_grad(true);
        const at::Tensor ar = a.clone().set_requires_grad(true);
        const at::Tensor br = b.clone().set_requires_grad(true);
        const double e2e_elu = time_ms(
            [&] {
              const at::Tensor out = at::elu(xr);
              (void)torch::autograd::grad({out}, {xr}, {g});
            },
            W, R);
        const double e2e_eelu = time_ms(
            [&] {
              const at::Tensor out = eelu_with_noise(xr, ar, br, noise);
              (void)torch::autograd::grad({out}, {xr, ar, br}, {g});
            },
            W, R);
        std::string n_comp;
        const double e2e_comp = safe(
            [&] {
              const at::Tensor kk = at::empty_like(xr).normal_(1.0, 0.5).clamp_(0.0, 2.0);
              const at::Tensor av = ar.view({1, -1, 1, 1}), bv = br.view({1, -1, 1, 1});
              const at::Tensor out = at::where(xr >= 0, kk * xr, av * at::expm1(bv * xr));
              (void)torch::autograd::grad({out}, {xr, ar, br}, {g});
            },
            n_comp);

        const double bytes = static_cast<double>(numel) * static_cast<double>(x.element_size());
        char gbs[96];
        std::snprintf(gbs, sizeof gbs, "%.1f GB/s read+write", 2 * bytes / (copy * 1e6));
        std::vector<Row> rows = {
            {"copy (memory-bandwidth floor)", copy, gbs},
            {"LibTorch ELU forward", elu, n_elu},
            {"LibTorch ELU backward", elub, n_elub},
            {"LibTorch PReLU forward (1.13's prelu_out copies)", prelu, n_prelu},
            {"LibTorch PReLU backward (allocates)", prelub, n_prelub},
            {"LibTorch RReLU training forward", rrelu, n_rrelu},
            {"normal_ on a k-sized float tensor", normal, n_normal},
            {"EELU eval forward", eval, ratio(eval, elu, "ELU fwd", "<= 1.0")},
            {"EELU training forward (noise inside)", train, ratio(train, elu, "ELU fwd", "<= 1.5")},
            {"EELU backward (x, a, b; k regenerated)", bwd, ratio(bwd, elub, "ELU bwd", "<= 1.5")},
            {"EELU backward without noise (k = 1)", bwd_clean, ratio(bwd_clean, elub, "ELU bwd")},
            {"EELU noise alone (k materialised)", nz,
             ratio(normal, nz, "faster than normal_", ">= 8")},
            {"end to end: ELU fwd+bwd, autograd", e2e_elu, ""},
            {"end to end: EELU training fwd+bwd, autograd", e2e_eelu,
             ratio(e2e_eelu, e2e_elu, "ELU fwd+bwd")},
            {"end to end: composite fwd+bwd, autograd", e2e_comp,
             ratio(e2e_comp, e2e_eelu, "EELU fwd+bwd", ">= 10")},
        };
        print_rows(rows);
        std::printf("  EELU training forward moves %.1f%% of copy bandwidth; copy/train = %.2f\n",
                    100.0 * copy / train, copy / train);
        train_fwd[{numel, dname, threads}] = train;
        Summary& s = summaries[{numel, dname, threads}];
        s.eval_vs_elu = elu > 0 ? eval / elu : -1;
        s.train_vs_elu = elu > 0 ? train / elu : -1;
        s.bwd_vs_elu_bwd = elub > 0 ? bwd / elub : -1;
        s.composite_vs_eelu = e2e_comp > 0 ? e2e_comp / e2e_eelu : -1;
        s.normal_vs_noise = normal > 0 ? normal / nz : -1;
      }
    }
  }
  at::set_num_threads(saved_threads);

  std::printf(
      "\n== thread scaling: EELU training forward, 1 thread / 2 threads (target >= 1.7) ==\n");
  for (const auto& [key, ms] : train_fwd) {
    if (key.threads != 1) continue;
    const auto two = train_fwd.find({key.numel, key.dtype, 2});
    if (two == train_fwd.end()) continue;
    std::printf("  %lld elements, %-9s %6.2f\n", static_cast<long long>(key.numel),
                key.dtype.c_str(), ms / two->second);
  }
  std::printf("\n== targets (float32, largest size, most threads) ==\n");
  const int64_t big = *std::max_element(options.sizes.begin(), options.sizes.end());
  const int most = *std::max_element(options.threads.begin(), options.threads.end());
  const auto it = summaries.find({big, "float32", most});
  if (it != summaries.end()) {
    const Summary& s = it->second;
    auto line = [](const char* what, double v, double target, bool at_most) {
      const bool ok = v >= 0 && (at_most ? v <= target : v >= target);
      std::printf("  %-58s %7.2f  %s %.2f  %s\n", what, v, at_most ? "<=" : ">=", target,
                  v < 0 ? "n/a"
                  : ok  ? "met"
                        : "MISSED");
    };
    line("EELU eval forward / ELU forward", s.eval_vs_elu, 1.0, true);
    line("EELU training forward / ELU forward", s.train_vs_elu, 1.5, true);
    line("EELU backward / ELU backward", s.bwd_vs_elu_bwd, 1.5, true);
    line("composite fwd+bwd / EELU fwd+bwd", s.composite_vs_eelu, 10, false);
    line("normal_ / EELU noise", s.normal_vs_noise, 8, false);
    const auto one = train_fwd.find({big, "float32", 1});
    const auto two = train_fwd.find({big, "float32", 2});
    if (one != train_fwd.end() && two != train_fwd.end()) {
      line("EELU training forward, 1 thread / 2 threads", one->second / two->second, 1.7, false);
    }
  } else {
    std::printf("  (run with float32 to see them)\n");
  }
  return 0;
}

int run_step_benchmark(const StepBenchOptions& options) {
  TORCH_CHECK(options.steps > 0 && options.steps % 2 == 0,
              "bench step: --steps must be a positive even number (EELU alternates clean and "
              "noisy steps), got ",
              options.steps);
  const int saved_threads = at::get_num_threads();
  at::set_num_threads(options.threads);
  std::printf(
      "Training step benchmark: %s, batch %lld of 3x32x32, %d threads, CPU kernels %s.\n"
      "One step = forward, cross-entropy, backward, SGD update. Per activation: the\n"
      "median over %d rounds of the mean of %d steps (after %d warm-up steps); the\n"
      "activations take turns in each round so that machine noise hits them alike.\n",
      options.model.c_str(), static_cast<long long>(options.batch), options.threads,
      cpu_capability(), options.rounds, options.steps, options.warmup);
  at::manual_seed(0);
  const at::Tensor images = at::randn({options.batch, 3, 32, 32});
  const at::Tensor labels = at::randint(10, {options.batch}, at::kLong);

  struct Net {
    std::shared_ptr<models::Classifier> model;
    std::unique_ptr<torch::optim::SGD> opt;
    std::vector<double> means;
  };
  std::vector<Net> nets;
  for (const std::string& act : options.activations) {
    models::ModelOptions mo;
    mo.activation = act;
    Net n;
    n.model = models::make_model(options.model, mo);
    n.model->train();
    n.opt = std::make_unique<torch::optim::SGD>(n.model->parameters(),
                                                torch::optim::SGDOptions(0.01).momentum(0.9));
    nets.push_back(std::move(n));
  }
  auto step = [&](Net& n) {
    n.opt->zero_grad();
    const at::Tensor loss = torch::nn::functional::cross_entropy(n.model->forward(images), labels);
    loss.backward();
    n.opt->step();
  };
  for (Net& n : nets) {
    for (int i = 0; i < options.warmup; ++i) step(n);
  }
  for (int r = 0; r < options.rounds; ++r) {
    for (Net& n : nets) {
      const auto t0 = Clock::now();
      for (int i = 0; i < options.steps; ++i) step(n);
      n.means.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count() /
                        options.steps);
    }
  }
  at::set_num_threads(saved_threads);
  double relu_ms = -1;
  for (size_t i = 0; i < nets.size(); ++i) {
    if (options.activations[i] == "relu") relu_ms = median(nets[i].means);
  }
  std::printf("  %-20s %12s %14s\n", "activation", "ms/step", "step/ReLU step");
  for (size_t i = 0; i < nets.size(); ++i) {
    const double ms = median(nets[i].means);
    if (relu_ms > 0) {
      std::printf("  %-20s %12.1f %14.3f%s\n", options.activations[i].c_str(), ms, ms / relu_ms,
                  options.activations[i].rfind("eelu", 0) == 0 ? "   (target <= 1.15)" : "");
    } else {
      std::printf("  %-20s %12.1f\n", options.activations[i].c_str(), ms);
    }
  }
  return 0;
}

}  // namespace eelu::bench
