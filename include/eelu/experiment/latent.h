// `eelu visualize`: the latent features (the penultimate layer) of trained networks on the
// test set — a t-SNE picture and, because a picture proves nothing alone, numbers that
// measure how varied the features are. See docs/experiments.md.
#pragma once

#include <ATen/core/Tensor.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace eelu::experiment {

struct LatentOptions {
  std::vector<std::string> checkpoints;
  std::vector<std::string> labels;  // one per checkpoint; "" : its activation
  std::string out_dir;
  std::string data_dir;         // "" : where each network was trained from
  int64_t tsne_samples = 1500;  // test images in the t-SNE (the first ones)
  double perplexity = 30;
  int64_t iterations = 1000;
  int64_t probe_train = 10000;  // training images the linear probe learns from
  int64_t map_layers = 2;       // activation layers whose maps are drawn
  int64_t image = 0;            // the test image whose maps are drawn
  uint64_t seed = 0;
  bool plots = true;
  std::string device = "cpu";         // where the networks run: auto, cpu, cuda, cuda:N
  std::string reference;              // the label others are compared with ("": the first)
  bool keep = false;                  // each network's measures kept in latent.json next to its
                                      // checkpoint, and read from there when it is gone (--grid)
  std::vector<std::string> left_out;  // runs of the grids not measured (GridNetworks), named
                                      // in latent.md
};

struct LatentMeasures {
  std::string checkpoint, label, activation;
  uint64_t seed = 0;  // the run's --seed (pairs networks of two labels)
  int64_t units = 0, images = 0;
  double test_acc = 0;        // of the network itself, on these images
  double effective_rank = 0;  // exp(entropy of the covariance eigenvalue shares)
  double active_share = 0;    // mean over classes of the share of units the class drives
                              // above their overall mean by half a standard deviation
  std::vector<double> active_per_class;
  double probe_acc = 0;              // linear probe (multinomial logistic regression)
  double bn_recalibration_gain = 0;  // test accuracy with BatchNorm recalibrated − test_acc
  double tsne_kl = NAN;  // KL(P || Q) at the end of t-SNE; NaN without pictures (no t-SNE)
};

/// Computes the measures for every checkpoint and writes latent.md, latent.csv and (with
/// plots) tsne.png and feature_maps_<i>.png into out_dir; where a label has several networks
/// (seeds), latent_by_label.md and .csv too (write_label_summary). With `keep`, a checkpoint
/// that is gone counts with the measures kept beside it (src/experiment/latent_cache.h).
std::vector<LatentMeasures> visualize(const LatentOptions& options);

/// The networks `eelu visualize --grid` measures: every finished run of the grids in
/// `grid_dirs` whose axes match the "AXIS=VALUE" filters of `where` and whose activation
/// matches the regular expression `only` (searched; "" matches all). A run's label is its
/// activation plus its other axes (" [axis=value]") but the seed and the filtered ones, as
/// the report's conditions; a label and seed found in two grids is refused. With
/// `skip_unmeasured`, a run whose checkpoint is gone and whose measures were not kept is left
/// out (its folder in left_out) instead of refused by visualize.
struct GridNetworks {
  std::vector<std::string> labels, checkpoints, left_out;
};
GridNetworks grid_networks(const std::vector<std::string>& grid_dirs,
                           const std::vector<std::string>& where, const std::string& only,
                           bool skip_unmeasured);

/// latent_by_label.md and .csv in options.out_dir: per label, the mean and 95% t-interval of
/// each measure over its networks, and the difference to the reference label (paired by seed
/// over the seeds both have, when they share two or more and each has one network a seed,
/// else Welch). Nothing when no label has two networks.
void write_label_summary(const LatentOptions& options, const std::vector<LatentMeasures>& all);

/// Exact t-SNE (van der Maaten and Hinton 2008) of the rows of x (float64, n x d) into 2-D:
/// Gaussian affinities calibrated to `perplexity`, early exaggeration 12 for the first 250
/// iterations, momentum 0.5 then 0.8, adaptive gains, learning rate max(n / 48, 50). Returns
/// the embedding (n x 2); `kl` receives the final KL divergence.
at::Tensor tsne(const at::Tensor& x, double perplexity, int64_t iterations, uint64_t seed,
                double* kl = nullptr);

/// The first `k` principal components of the rows of x (centred), n x min(k, d).
at::Tensor pca(const at::Tensor& x, int64_t k);

/// exp(H(p)) with p the eigenvalues of the covariance of the rows of x over their sum
/// (Roy and Vetterli 2007): 1 for features on a line, d for isotropic ones.
double effective_rank(const at::Tensor& x);

/// Per class: the share of units the class drives above their mean over all rows by half a
/// standard deviation (rows of `features`, class of each row in `labels`).
std::vector<double> active_share_per_class(const at::Tensor& features, const at::Tensor& labels,
                                           int64_t classes);

/// Multinomial logistic regression (L2 1e-4, L-BFGS, full batch) on the standardised
/// features of the training rows: accuracy on the test rows.
double linear_probe(const at::Tensor& train_x, const at::Tensor& train_y, const at::Tensor& test_x,
                    const at::Tensor& test_y, int64_t classes);

}  // namespace eelu::experiment
