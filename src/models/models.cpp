#include "eelu/models/models.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include <cmath>

#include "eelu/distributed/sync_batchnorm.h"
#include "eelu/nn/registry.h"

namespace eelu::models {
namespace {

namespace tnn = torch::nn;

tnn::Conv2d conv(int64_t in, int64_t out, int64_t k, int64_t stride = 1) {
  return tnn::Conv2d(tnn::Conv2dOptions(in, out, k).stride(stride).padding(k / 2).bias(false));
}

// BatchNorm, or its synchronised form for data-parallel training (same parameters and
// buffers, so the checkpoints are interchangeable).
tnn::AnyModule batchnorm(int64_t channels, const ModelOptions& o) {
  if (o.sync_batchnorm) return tnn::AnyModule(distributed::SyncBatchNorm2d(channels));
  return tnn::AnyModule(tnn::BatchNorm2d(channels));
}

// conv 3x3 -> BatchNorm -> activation (channel-wise), appended to `seq`.
void conv_bn_act(tnn::Sequential& seq, int64_t in, int64_t out, const ModelOptions& o) {
  seq->push_back(conv(in, out, 3));
  seq->push_back(batchnorm(out, o));
  seq->push_back(nn::make_activation(o.activation, out));
}

// ---------------------------------------------------------------------------------------
// Runs `seq` module by module, keeping the output of every activation layer (whatever is
// not a convolution, BatchNorm, pooling, flatten, linear or dropout layer) until `count`.
std::vector<at::Tensor> maps_of(tnn::Sequential& seq, at::Tensor h, int64_t count) {
  std::vector<at::Tensor> out;
  for (auto& m : *seq) {
    if (static_cast<int64_t>(out.size()) >= count) break;
    h = m.forward(h);
    const std::string name = m.ptr()->name();
    bool structural = false;
    for (const char* kind : {"Conv", "BatchNorm", "Pool", "Flatten", "Linear", "Dropout"}) {
      structural = structural || name.find(kind) != std::string::npos;
    }
    if (!structural && h.dim() == 4) out.push_back(h);
  }
  return out;
}

// A classifier made of a Sequential body (up to the penultimate layer) and a Sequential head.
class SequentialClassifier : public Classifier {
 public:
  at::Tensor features(const at::Tensor& x) override { return body_->forward(x); }
  at::Tensor classify(const at::Tensor& f) override { return head_->forward(f); }
  std::vector<at::Tensor> activation_maps(const at::Tensor& x, int64_t count) override {
    return maps_of(body_, x, count);
  }

 protected:
  tnn::Sequential body_{nullptr}, head_{nullptr};
};

// simple-cnn4 (the default) and simple-cnn: four conv-BN-act stages of 32, 64, 128 and 256
// channels, or the first three, with 2x2 max pooling between them, global average pooling,
// dropout and the classifier. See docs/models.md.
class SimpleCNN : public SequentialClassifier {
 public:
  SimpleCNN(const ModelOptions& o, const std::vector<int64_t>& stages) {
    body_ = register_module("features", tnn::Sequential());
    int64_t in = o.in_channels;
    for (size_t i = 0; i < stages.size(); ++i) {
      if (i > 0) body_->push_back(tnn::MaxPool2d(tnn::MaxPool2dOptions(2).ceil_mode(true)));
      conv_bn_act(body_, in, stages[i], o);
      in = stages[i];
    }
    body_->push_back(tnn::AdaptiveAvgPool2d(1));
    body_->push_back(tnn::Flatten());
    head_ = register_module(
        "classifier", tnn::Sequential(tnn::Dropout(o.dropout), tnn::Linear(in, o.num_classes)));
  }
};

// ---------------------------------------------------------------------------------------
// VGG-16 with BatchNorm: 13 conv-BN-act, five 2x2 max pools (ceil mode, so 28x28 inputs
// work), classifier of two hidden layers (512 wide up to 64x64 inputs, 4096 above) with
// shared activations and dropout.
class VGG16 : public SequentialClassifier {
 public:
  explicit VGG16(const ModelOptions& o) {
    const std::vector<int64_t> cfg = {64, 64,  0,   128, 128, 0,   256, 256, 256,
                                      0,  512, 512, 512, 0,   512, 512, 512, 0};
    body_ = register_module("features", tnn::Sequential());
    int64_t in = o.in_channels, size = o.image_size;
    for (int64_t c : cfg) {
      if (c == 0) {
        body_->push_back(tnn::MaxPool2d(tnn::MaxPool2dOptions(2).ceil_mode(true)));
        size = (size + 1) / 2;
      } else {
        conv_bn_act(body_, in, c, o);
        in = c;
      }
    }
    body_->push_back(tnn::Flatten());
    const int64_t hidden = o.image_size > 64 ? 4096 : 512;
    body_->push_back(tnn::Linear(512 * size * size, hidden));
    body_->push_back(nn::make_activation(o.activation, 1));
    body_->push_back(tnn::Dropout(o.dropout));
    body_->push_back(tnn::Linear(hidden, hidden));
    body_->push_back(nn::make_activation(o.activation, 1));
    head_ = register_module(
        "classifier", tnn::Sequential(tnn::Dropout(o.dropout), tnn::Linear(hidden, o.num_classes)));
  }
};

// ---------------------------------------------------------------------------------------
// Residual blocks (He et al. 2016): the activation after the addition; a 1x1 convolution
// with BatchNorm on the shortcut when the shape changes.
class Block : public tnn::Module {
 public:
  Block(int64_t in, int64_t width, int64_t stride, bool bottleneck, const ModelOptions& o)
      : expansion_(bottleneck ? 4 : 1) {
    const std::string& act = o.activation;
    const int64_t out = width * expansion_;
    residual_ = register_module("residual", tnn::Sequential());
    if (bottleneck) {
      residual_->push_back(conv(in, width, 1));
      residual_->push_back(batchnorm(width, o));
      residual_->push_back(nn::make_activation(act, width));
      residual_->push_back(conv(width, width, 3, stride));
      residual_->push_back(batchnorm(width, o));
      residual_->push_back(nn::make_activation(act, width));
      residual_->push_back(conv(width, out, 1));
    } else {
      residual_->push_back(conv(in, width, 3, stride));
      residual_->push_back(batchnorm(width, o));
      residual_->push_back(nn::make_activation(act, width));
      residual_->push_back(conv(width, out, 3));
    }
    residual_->push_back(batchnorm(out, o));
    if (stride != 1 || in != out) {
      shortcut_ = register_module("shortcut", tnn::Sequential(conv(in, out, 1, stride)));
      shortcut_->push_back(batchnorm(out, o));
    }
    act_ = nn::make_activation(act, out);
    register_module("act", act_.ptr());
  }
  at::Tensor forward(const at::Tensor& x) {
    const at::Tensor skip = shortcut_ ? shortcut_->forward(x) : x;
    return act_.forward(residual_->forward(x) + skip);
  }
  int64_t out_channels(int64_t width) const { return width * expansion_; }

 private:
  int64_t expansion_;
  tnn::Sequential residual_{nullptr}, shortcut_{nullptr};
  tnn::AnyModule act_;
};

// ResNet for CIFAR (depth 6n+2: 16, 32, 64 channels, a 3x3 stem) or for ImageNet (18, 34,
// 50: 64..512 channels; a 7x7 stride-2 stem with max pooling above 64x64 inputs, a 3x3
// stride-1 stem up to 64x64).
class ResNet : public Classifier {
 public:
  ResNet(const ModelOptions& o, const std::vector<int64_t>& blocks,
         const std::vector<int64_t>& widths, bool bottleneck, bool cifar) {
    stem_ = register_module("stem", tnn::Sequential());
    const bool big = !cifar && o.image_size > 64;
    const int64_t stem_width = widths[0];
    stem_->push_back(big ? conv(o.in_channels, stem_width, 7, 2)
                         : conv(o.in_channels, stem_width, 3));
    stem_->push_back(batchnorm(stem_width, o));
    stem_->push_back(nn::make_activation(o.activation, stem_width));
    if (big) stem_->push_back(tnn::MaxPool2d(tnn::MaxPool2dOptions(3).stride(2).padding(1)));
    int64_t in = stem_width;
    for (size_t s = 0; s < blocks.size(); ++s) {
      for (int64_t b = 0; b < blocks[s]; ++b) {
        const int64_t stride = (b == 0 && s > 0) ? 2 : 1;
        auto block = std::make_shared<Block>(in, widths[s], stride, bottleneck, o);
        in = block->out_channels(widths[s]);
        blocks_.push_back(register_module(
            "stage" + std::to_string(s + 1) + "_block" + std::to_string(b + 1), block));
      }
    }
    fc_ = register_module("fc", tnn::Linear(in, o.num_classes));
  }
  at::Tensor features(const at::Tensor& x) override {
    at::Tensor h = stem_->forward(x);
    for (auto& b : blocks_) h = b->forward(h);
    return at::adaptive_avg_pool2d(h, {1, 1}).flatten(1);
  }
  at::Tensor classify(const at::Tensor& f) override { return fc_->forward(f); }
  std::vector<at::Tensor> activation_maps(const at::Tensor& x, int64_t count) override {
    std::vector<at::Tensor> out;
    at::Tensor h = stem_->forward(x);
    if (count > 0) out.push_back(h);
    for (auto& b : blocks_) {
      if (static_cast<int64_t>(out.size()) >= count) break;
      h = b->forward(h);
      out.push_back(h);
    }
    return out;
  }

 private:
  tnn::Sequential stem_{nullptr};
  std::vector<std::shared_ptr<Block>> blocks_;
  tnn::Linear fc_{nullptr};
};

}  // namespace

std::vector<std::pair<std::string, std::string>> model_names() {
  return {{"simple-cnn", "3 conv-BN-act stages (32, 64, 128) with max pooling, GAP, linear"},
          {"simple-cnn4", "4 conv-BN-act stages (32, 64, 128, 256) with max pooling, GAP, linear"},
          {"vgg16", "VGG-16 with BatchNorm, classifier sized to the input"},
          {"resnet20", "CIFAR ResNet, 3x3 basic blocks, 16/32/64 channels"},
          {"resnet32", "CIFAR ResNet"},
          {"resnet56", "CIFAR ResNet"},
          {"resnet110", "CIFAR ResNet"},
          {"resnet18", "ImageNet ResNet, basic blocks (3x3 stem up to 64x64 inputs)"},
          {"resnet34", "ImageNet ResNet, basic blocks"},
          {"resnet50", "ImageNet ResNet, bottleneck blocks"}};
}

std::shared_ptr<Classifier> make_model(const std::string& name, const ModelOptions& o) {
  TORCH_CHECK(o.num_classes >= 2, "model: num_classes must be >= 2, got ", o.num_classes);
  TORCH_CHECK(o.in_channels >= 1 && o.image_size >= 8,
              "model: need in_channels >= 1 and an "
              "image size >= 8, got ",
              o.in_channels, " and ", o.image_size);
  TORCH_CHECK(o.dropout >= 0 && o.dropout < 1, "model: dropout must be in [0, 1), got ", o.dropout);
  nn::parse_activation_spec(o.activation);  // a bad spec fails here, with its own message
  std::shared_ptr<Classifier> m;
  if (name == "simple-cnn4") {
    m = std::make_shared<SimpleCNN>(o, std::vector<int64_t>{32, 64, 128, 256});
  } else if (name == "simple-cnn") {
    m = std::make_shared<SimpleCNN>(o, std::vector<int64_t>{32, 64, 128});

  } else if (name == "vgg16") {
    m = std::make_shared<VGG16>(o);
  } else if (name == "resnet20" || name == "resnet32" || name == "resnet56" ||
             name == "resnet110") {
    const int64_t n = (std::stoll(name.substr(6)) - 2) / 6;
    m = std::make_shared<ResNet>(o, std::vector<int64_t>{n, n, n}, std::vector<int64_t>{16, 32, 64},
                                 false, true);
  } else if (name == "resnet18" || name == "resnet34" || name == "resnet50") {
    const std::vector<int64_t> blocks =
        name == "resnet18" ? std::vector<int64_t>{2, 2, 2, 2} : std::vector<int64_t>{3, 4, 6, 3};
    m = std::make_shared<ResNet>(o, blocks, std::vector<int64_t>{64, 128, 256, 512},
                                 name == "resnet50", false);
  } else {
    std::string valid;
    for (const auto& [n, _] : model_names()) valid += (valid.empty() ? "" : ", ") + n;
    TORCH_CHECK(false, "unknown model '", name, "'; valid: ", valid);
  }
  initialise(*m, o.init, o.activation);
  return m;
}

void initialise(torch::nn::Module& model, const std::string& init, const std::string& activation) {
  TORCH_CHECK(init == "kaiming" || init == "taylor", "unknown init '", init,
              "'; valid: kaiming, taylor");
  double gain = 1.0;  // 1 + alpha^2 beta^2
  if (init == "taylor") {
    const nn::ActivationSpec spec = nn::parse_activation_spec(activation);
    const auto setting = [&](const std::string& key) -> double {
      const auto it = spec.settings.find(key);
      if (it != spec.settings.end()) return std::stod(it->second);
      for (const auto& s : nn::activation_info(spec.name).settings) {
        if (s.name == key) return std::stod(s.default_value);
      }
      return 0.0;
    };
    const double alpha = setting("alpha"), beta = setting("beta");
    gain = 1.0 + alpha * alpha * beta * beta;
  }
  torch::NoGradGuard no_grad;
  for (auto& m : model.modules(/*include_self=*/false)) {
    if (auto* c = m->as<tnn::Conv2d>()) {
      const auto& k = c->options.kernel_size();
      const double fan_in = double(c->options.in_channels()) * double((*k)[0]) * double((*k)[1]);
      c->weight.normal_(0.0, std::sqrt(2.0 / (gain * fan_in)));
      if (c->bias.defined()) c->bias.zero_();
    } else if (auto* bn = m->as<tnn::BatchNorm2d>()) {
      bn->weight.fill_(1.0);
      bn->bias.zero_();
    } else if (auto* sbn = m->as<distributed::SyncBatchNorm2d>()) {
      sbn->weight.fill_(1.0);
      sbn->bias.zero_();
    } else if (auto* l = m->as<tnn::Linear>()) {
      l->weight.normal_(0.0, 0.01);
      l->bias.zero_();
    }
  }
}

}  // namespace eelu::models
