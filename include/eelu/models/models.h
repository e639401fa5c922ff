// The networks of the paper and their usual companions, each taking its activation by spec
// from the registry (channel-wise parameters after convolutions, shared after fully
// connected layers). Shapes are documented in docs/models.md.
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

namespace eelu::models {

struct ModelOptions {
  int64_t num_classes = 10;
  int64_t in_channels = 3;
  int64_t image_size = 32;  // square inputs; picks VGG's classifier and ResNet's stem
  std::string activation = "relu";
  std::string init = "kaiming";  // or "taylor" (MPELU/EELU initialisation)
  double dropout = 0.5;          // VGG and simple-cnn classifiers
  bool sync_batchnorm = false;   // distributed::SyncBatchNorm2d instead of BatchNorm2d
};

/// A classifier: forward gives logits; features gives the penultimate layer (what the
/// latent-feature visualisation looks at).
class Classifier : public torch::nn::Module {
 public:
  virtual at::Tensor features(const at::Tensor& x) = 0;
  /// The logits of penultimate-layer features: forward(x) is classify(features(x)), so one
  /// pass gives both (what the latent measures take).
  virtual at::Tensor classify(const at::Tensor& features) = 0;
  at::Tensor forward(const at::Tensor& x) { return classify(features(x)); }
  /// The outputs of the first `count` activation layers (feature maps (N, C, H, W)), for
  /// pictures of what the first layers compute.
  virtual std::vector<at::Tensor> activation_maps(const at::Tensor& x, int64_t count) = 0;
};

/// simple-cnn, simple-cnn4, vgg16, resnet20, resnet32, resnet56, resnet110, resnet18, resnet34,
/// resnet50.
std::shared_ptr<Classifier> make_model(const std::string& name, const ModelOptions& options);

/// Names with a one-line description each.
std::vector<std::pair<std::string, std::string>> model_names();

/// Initialises `model` (convolutions, BatchNorm, linear layers) as `init` says:
///   kaiming: conv W ~ N(0, 2 / fan_in) (He et al. 2015);
///   taylor:  conv W ~ N(0, 2 / ((1 + alpha^2 beta^2) fan_in)) with the alpha, beta of the
///            activation spec (MPELU's initialisation, which the EELU authors use; alpha = 0,
///            i.e. any activation without alpha, is He's);
/// both: BatchNorm weight 1, bias 0; linear W ~ N(0, 0.01^2); every bias 0.
void initialise(torch::nn::Module& model, const std::string& init, const std::string& activation);

}  // namespace eelu::models
