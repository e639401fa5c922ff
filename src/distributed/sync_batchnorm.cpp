// Synchronised batch normalisation: the statistics of the batch of all ranks together.
#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mutex>

#include "eelu/distributed/distributed.h"

namespace eelu::distributed {
namespace {

std::mutex g_group_mutex;
std::shared_ptr<Group> g_group;

// Note [Synchronised BatchNorm]
// Forward: each rank computes its per-channel count, mean and (biased) variance in float64;
// one all-gather brings every rank's triple; the global mean and variance are combined
// exactly (Chan et al.: M2 = sum_r n_r var_r + n_r (mean_r - mean)^2), which is more accurate
// than summing x and x^2. The output is then one eval-mode at::batch_norm with those
// statistics. Backward needs two per-channel sums over the whole batch, sum(dy) and
// sum(dy * xhat): one all-reduce. The weight and bias gradients are this rank's own sums;
// the gradient all-reduce of the trainer adds them up like every other parameter's.
struct SyncBatchNormFunction : public torch::autograd::Function<SyncBatchNormFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            const at::Tensor& weight, const at::Tensor& bias,
                            at::Tensor running_mean, at::Tensor running_var, double momentum,
                            double eps, Group* group) {
    const int64_t C = x.size(1);
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    const int64_t n_local = x.numel() / std::max<int64_t>(C, 1);
    const at::Tensor xd = x.to(at::kDouble);
    const auto [var_l, mean_l] = at::var_mean(xd, dims, /*unbiased=*/false);
    at::Tensor mine = at::cat({at::full({1}, double(n_local), xd.options()), mean_l, var_l});
    const at::Tensor all = group->all_gather(mine);        // (W, 1 + 2C)
    const at::Tensor n_r = all.select(1, 0).unsqueeze(1);  // (W, 1)
    const at::Tensor mean_r = all.slice(1, 1, 1 + C);      // (W, C)
    const at::Tensor var_r = all.slice(1, 1 + C, 1 + 2 * C);
    const double n = n_r.sum().item<double>();
    TORCH_CHECK(n > 1, "SyncBatchNorm: expected more than one value per channel in training, got ",
                n);
    const at::Tensor mean = (n_r * mean_r).sum(0) / n;
    const at::Tensor m2 = (n_r * var_r + n_r * (mean_r - mean).pow(2)).sum(0);
    const at::Tensor var = m2 / n;
    {
      at::NoGradGuard no_grad;
      if (running_mean.defined()) {
        running_mean.mul_(1 - momentum).add_(mean.to(running_mean.scalar_type()), momentum);
        running_var.mul_(1 - momentum).add_((m2 / (n - 1)).to(running_var.scalar_type()), momentum);
      }
    }
    const at::Tensor mean_x = mean.to(x.scalar_type()), var_x = var.to(x.scalar_type());
    const at::Tensor y =
        at::batch_norm(x, weight, bias, mean_x, var_x, /*training=*/false, 0.0, eps,
                       /*cudnn_enabled=*/false);
    const at::Tensor invstd = (var + eps).rsqrt();
    ctx->save_for_backward({x, weight, mean, invstd});
    ctx->saved_data["n"] = n;
    ctx->saved_data["group"] = reinterpret_cast<int64_t>(group);
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &mean = saved[2], &invstd = saved[3];
    const double n = ctx->saved_data["n"].toDouble();
    Group* group = reinterpret_cast<Group*>(ctx->saved_data["group"].toInt());
    const at::Tensor dy = grads[0].contiguous();
    const int64_t C = x.size(1);
    std::vector<int64_t> dims{0};
    std::vector<int64_t> shape(static_cast<size_t>(x.dim()), 1);
    shape[1] = C;
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    const at::Tensor xhat = (x.to(at::kDouble) - mean.view(shape)) * invstd.view(shape);
    const at::Tensor dyd = dy.to(at::kDouble);
    const at::Tensor sum_dy = dyd.sum(dims), sum_dy_xhat = (dyd * xhat).sum(dims);
    at::Tensor both = at::cat({sum_dy, sum_dy_xhat});
    group->all_reduce_sum({both});
    const at::Tensor g_dy = both.slice(0, 0, C) / n, g_dy_xhat = both.slice(0, C) / n;
    const at::Tensor w = weight.defined() ? weight.to(at::kDouble) : at::ones({C}, at::kDouble);
    const at::Tensor dx =
        (w * invstd).view(shape) * (dyd - g_dy.view(shape) - xhat * g_dy_xhat.view(shape));
    at::Tensor dw, db;
    if (weight.defined()) {
      dw = sum_dy_xhat.to(weight.scalar_type());
      db = sum_dy.to(weight.scalar_type());
    }
    return {dx.to(x.scalar_type()), dw,           db,           at::Tensor(),
            at::Tensor(),           at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

void set_batchnorm_group(std::shared_ptr<Group> group) {
  std::lock_guard<std::mutex> lock(g_group_mutex);
  g_group = std::move(group);
}

std::shared_ptr<Group> batchnorm_group() {
  std::lock_guard<std::mutex> lock(g_group_mutex);
  return g_group;
}

at::Tensor sync_batch_norm(const at::Tensor& input, const at::Tensor& weight,
                           const at::Tensor& bias, at::Tensor running_mean, at::Tensor running_var,
                           double momentum, double eps, Group* group) {
  TORCH_CHECK(input.dim() >= 2, "SyncBatchNorm: the input must be (N, C, ...), got ",
              input.sizes());
  TORCH_CHECK(input.is_floating_point(), "SyncBatchNorm: the input must be floating point");
  if (!group || group->world_size() == 1) {
    return at::batch_norm(input, weight, bias, running_mean, running_var, /*training=*/true,
                          momentum, eps, /*cudnn_enabled=*/false);
  }
  return SyncBatchNormFunction::apply(input, weight, bias, running_mean, running_var, momentum, eps,
                                      group);
}

}  // namespace eelu::distributed

#include "eelu/distributed/sync_batchnorm.h"

namespace eelu::distributed {

SyncBatchNorm2dImpl::SyncBatchNorm2dImpl(const torch::nn::BatchNormOptions& options)
    : options(options) {
  reset();
}

void SyncBatchNorm2dImpl::reset() {
  const int64_t c = options.num_features();
  TORCH_CHECK(c > 0, "SyncBatchNorm2d: num_features must be positive, got ", c);
  if (options.affine()) {
    weight = register_parameter("weight", at::ones({c}));
    bias = register_parameter("bias", at::zeros({c}));
  }
  if (options.track_running_stats()) {
    running_mean = register_buffer("running_mean", at::zeros({c}));
    running_var = register_buffer("running_var", at::ones({c}));
    num_batches_tracked = register_buffer("num_batches_tracked", at::zeros({}, at::kLong));
  }
}

void SyncBatchNorm2dImpl::pretty_print(std::ostream& stream) const {
  stream << "eelu::distributed::SyncBatchNorm2d(" << options.num_features()
         << ", eps=" << options.eps() << ", momentum=";
  if (options.momentum()) {
    stream << *options.momentum();
  } else {
    stream << "None";
  }
  stream << ", affine=" << options.affine()
         << ", track_running_stats=" << options.track_running_stats() << ")";
}

at::Tensor SyncBatchNorm2dImpl::forward(const at::Tensor& input) {
  TORCH_CHECK(input.dim() == 4, "SyncBatchNorm2d: expected a 4-D input (N, C, H, W), got ",
              input.sizes());
  TORCH_CHECK(input.size(1) == options.num_features(), "SyncBatchNorm2d: expected ",
              options.num_features(), " channels, got ", input.size(1));
  // BatchNorm's rule: momentum, or a cumulative average when it is unset.
  double momentum = options.momentum().value_or(0.0);
  if (is_training() && options.track_running_stats()) {
    num_batches_tracked += 1;
    if (!options.momentum()) momentum = 1.0 / num_batches_tracked.item<double>();
  }
  const bool batch_stats = is_training() || !options.track_running_stats();
  const std::shared_ptr<Group> group = batch_stats ? batchnorm_group() : nullptr;
  if (!group || group->world_size() == 1) {
    return at::batch_norm(input, weight, bias, running_mean, running_var, batch_stats, momentum,
                          options.eps(), /*cudnn_enabled=*/false);
  }
  return sync_batch_norm(input, weight, bias, running_mean, running_var, momentum, options.eps(),
                         group.get());
}

}  // namespace eelu::distributed
