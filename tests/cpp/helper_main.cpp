// What the Python tests run to compare with C++ (files in the format of torch.save):
//   eelu_test_helper jit MODEL.pt INPUT.pt OUTPUT.pt
//       loads a TorchScript module saved from Python with torch::jit::load and writes its
//       output on INPUT;
//   eelu_test_helper module INPUT.pt OUTPUT.pt NUM_PARAMETERS ALPHA BETA EPSILON SCHEDULE
//                           SEED STEPS
//       seeds LibTorch's default generator, runs STEPS training steps of eelu::nn::EELU on
//       INPUT (loss sum(y * w), w = linspace(-1, 1)), and writes [y, x.grad, alpha.grad,
//       beta.grad] of every step, then the same in eval mode;
//   eelu_test_helper activation INPUT.pt OUTPUT.pt SPEC CHANNELS SEED STEPS
//       the same for the registry's module of SPEC (eelu::nn::make_activation): [y, x.grad,
//       the gradient of each parameter in order] per training step, then the eval output;
//   eelu_test_helper compare-weights CHECKPOINT_A CHECKPOINT_B
//       loads two checkpoints of `eelu train` and prints, for their parameters and for
//       their buffers, the largest absolute difference ("parameters 1.2e-07", "buffers 0").
#include <ATen/ATen.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "eelu/nn/eelu.h"
#include "eelu/nn/registry.h"
#include "eelu/train/trainer.h"

namespace {

at::IValue read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, "cannot open ", path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return torch::jit::pickle_load(bytes);
}

void write(const std::string& path, const at::IValue& value) {
  const std::vector<char> bytes = torch::jit::pickle_save(value);
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  TORCH_CHECK(out.good(), "cannot write ", path);
}

int run_jit(const std::string& model, const std::string& input, const std::string& output) {
  torch::jit::Module m = torch::jit::load(model);
  const at::Tensor x = read(input).toTensor();
  write(output, m.forward({x}));
  return 0;
}

int run_module(char** argv) {
  const at::Tensor x0 = read(argv[2]).toTensor();
  const std::string output = argv[3];
  eelu::nn::EELU m(eelu::nn::EELUOptions(std::stoll(argv[4]))
                       .alpha_init(std::stod(argv[5]))
                       .beta_init(std::stod(argv[6]))
                       .epsilon(std::stod(argv[7]))
                       .schedule(eelu::nn::parse_schedule(argv[8])));
  m->to(x0.scalar_type());
  at::manual_seed(std::stoull(argv[9]));
  const int steps = std::stoi(argv[10]);
  c10::List<at::Tensor> results;
  const at::Tensor w = at::linspace(-1, 1, x0.numel(), x0.options()).view(x0.sizes());
  for (int i = 0; i < steps; ++i) {
    m->zero_grad();
    at::Tensor x = x0.clone().set_requires_grad(true);
    at::Tensor y = m->forward(x);
    (y * w).sum().backward();
    results.push_back(y.detach());
    results.push_back(x.grad());
    results.push_back(m->alpha.grad().clone());
    results.push_back(m->beta.grad().clone());
  }
  m->eval();
  results.push_back(m->forward(x0).detach());
  write(output, results);
  return 0;
}

int run_activation(char** argv) {
  const at::Tensor x0 = read(argv[2]).toTensor();
  torch::nn::AnyModule act = eelu::nn::make_activation(argv[4], std::stoll(argv[5]));
  act.ptr()->to(x0.scalar_type());
  at::manual_seed(std::stoull(argv[6]));
  const int steps = std::stoi(argv[7]);
  c10::List<at::Tensor> results;
  const at::Tensor w = at::linspace(-1, 1, x0.numel(), x0.options()).view(x0.sizes());
  for (int i = 0; i < steps; ++i) {
    act.ptr()->zero_grad();
    at::Tensor x = x0.clone().set_requires_grad(true);
    at::Tensor y = act.forward(x);
    (y * w).sum().backward();
    results.push_back(y.detach());
    results.push_back(x.grad());
    for (const auto& p : act.ptr()->parameters()) results.push_back(p.grad().clone());
  }
  act.ptr()->eval();
  results.push_back(act.forward(x0).detach());
  write(argv[3], results);
  return 0;
}

int run_compare_weights(const std::string& a, const std::string& b) {
  const auto ma = eelu::train::load_trained_model(a).model,
             mb = eelu::train::load_trained_model(b).model;
  auto largest = [](const auto& xs, const auto& ys) {
    TORCH_CHECK(xs.size() == ys.size(), "the checkpoints hold different models");
    double d = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      TORCH_CHECK(xs[i].first == ys[i].first, "the checkpoints hold different models");
      d = std::max(d, (xs[i].second.to(at::kDouble) - ys[i].second.to(at::kDouble))
                          .abs()
                          .max()
                          .template item<double>());
    }
    return d;
  };
  std::printf("parameters %.9g\nbuffers %.9g\n",
              largest(ma->named_parameters().pairs(), mb->named_parameters().pairs()),
              largest(ma->named_buffers().pairs(), mb->named_buffers().pairs()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "jit" && argc == 5) return run_jit(argv[2], argv[3], argv[4]);
    if (mode == "module" && argc == 11) return run_module(argv);
    if (mode == "activation" && argc == 8) return run_activation(argv);
    if (mode == "compare-weights" && argc == 4) return run_compare_weights(argv[2], argv[3]);
    std::fprintf(stderr, "usage: see the comment at the top of tests/cpp/helper_main.cpp\n");
    return 2;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "eelu_test_helper: %s\n", e.what_without_backtrace());
    return 1;
  }
}
