// Uses the installed library as a user would: the module, the operator, and the operator
// through the dispatcher by name (as TorchScript and Python reach it).
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <eelu/eelu.h>

#include <cstdio>

int main() {
  eelu::nn::EELU act(eelu::nn::EELUOptions(4).alpha_init(1.0).beta_init(1.0));
  act->eval();
  const at::Tensor x = at::linspace(-2, 2, 2 * 4 * 3).view({2, 4, 3});
  const at::Tensor y = act->forward(x);
  const at::Tensor want = at::where(x >= 0, x, at::expm1(x));
  // Registered by loading the library: what torch.ops.eelu.eelu and TorchScript call.
  const auto op = c10::Dispatcher::singleton()
                      .findSchemaOrThrow("eelu::eelu", "")
                      .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                        double, bool, bool, c10::optional<at::Generator>)>();
  const at::Tensor by_name = op.call(x, act->alpha, act->beta, 1.0, false, true, c10::nullopt);
  const bool ok = at::allclose(y, want, 1e-6, 1e-7) && at::equal(by_name, y);
  std::printf("consumer: eelu %s, max error %.3g: %s\n", eelu::version(),
              (y - want).abs().max().item<double>(), ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
