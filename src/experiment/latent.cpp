#include "eelu/experiment/latent.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/optim/lbfgs.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <sstream>

#include "eelu/data/loader.h"
#include "eelu/train/trainer.h"
#include "eelu/util/csv.h"
#include "eelu/util/files.h"
#include "eelu/util/gnuplot.h"
#include "eelu/util/text.h"
#include "experiment/latent_cache.h"
#include "train/placement.h"
#include "train/records.h"

namespace eelu::experiment {
namespace {
namespace fs = std::filesystem;

std::string fmt(const char* f, double v) { return util::format_number(f, v); }

// Penultimate-layer features and labels of the first `limit` images of a split (0: all).
std::pair<at::Tensor, at::Tensor> features_of(models::Classifier& model,
                                              const data::ImageDataset& d,
                                              const data::ImageSplit& split, int64_t limit,
                                              at::Tensor* logits_out = nullptr) {
  data::LoaderOptions lo;
  lo.shuffle = false;
  lo.batch_size = 256;
  lo.workers = 0;
  data::DataLoader loader(split, d.mean, d.std, lo);
  loader.start_epoch(0);
  std::vector<at::Tensor> feats, labels, logits;
  int64_t seen = 0;
  data::Batch b;
  torch::NoGradGuard no_grad;
  const c10::Device device = train::device_of(model);
  while ((limit == 0 || seen < limit) && loader.next(b)) {
    const at::Tensor x = b.images.to(device);
    const at::Tensor f = model.features(x);
    feats.push_back(f.to(at::kDouble).cpu());
    labels.push_back(b.labels);
    if (logits_out) logits.push_back(model.classify(f).cpu());
    seen += b.labels.numel();
  }
  at::Tensor f = at::cat(feats), l = at::cat(labels);
  if (logits_out) *logits_out = at::cat(logits);
  if (limit > 0 && f.size(0) > limit) {
    f = f.narrow(0, 0, limit);
    l = l.narrow(0, 0, limit);
    if (logits_out) *logits_out = logits_out->narrow(0, 0, limit);
  }
  return {f, l};
}

// A gnuplot palette of `n` distinct colours for the classes.
std::string class_palette(int64_t n) {
  static const char* colours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  std::ostringstream s;
  s << "set palette maxcolors " << std::min<int64_t>(n, 10) << "\nset palette defined (";
  for (int64_t i = 0; i < std::min<int64_t>(n, 10); ++i)
    s << (i ? ", " : "") << i << " '" << colours[i] << "'";
  s << ")\nset cbrange [-0.5:" << std::min<int64_t>(n, 10) - 0.5 << "]\n";
  return s.str();
}

}  // namespace

at::Tensor pca(const at::Tensor& x, int64_t k) {
  const at::Tensor c = x - x.mean(0, true);
  const at::Tensor cov = at::matmul(c.t(), c) / std::max<int64_t>(1, x.size(0) - 1);
  const auto [vals, vecs] = at::linalg_eigh(cov);  // ascending
  const int64_t d = x.size(1), m = std::min(k, d);
  return at::matmul(c, vecs.narrow(1, d - m, m).flip({1}));
}

double effective_rank(const at::Tensor& x) {
  const at::Tensor c = x - x.mean(0, true);
  const at::Tensor cov = at::matmul(c.t(), c) / std::max<int64_t>(1, x.size(0) - 1);
  const at::Tensor ev = at::linalg_eigvalsh(cov).clamp_min(0);
  const double total = ev.sum().item<double>();
  if (!(total > 0)) return 0;
  const at::Tensor p = ev / total;
  const at::Tensor nz = p.masked_select(p > 0);
  return std::exp(-(nz * nz.log()).sum().item<double>());
}

std::vector<double> active_share_per_class(const at::Tensor& features, const at::Tensor& labels,
                                           int64_t classes) {
  // A unit is active for a class when the class's mean exceeds the unit's mean over all
  // images by half the unit's standard deviation (a unit that never varies is active for
  // none).
  const at::Tensor unit_mean = features.mean(0), unit_sd = features.std(0);
  const at::Tensor threshold = unit_mean + 0.5 * unit_sd;
  std::vector<double> out;
  for (int64_t c = 0; c < classes; ++c) {
    const at::Tensor rows = features.index({labels == c});
    out.push_back(
        rows.size(0)
            ? ((rows.mean(0) > threshold) & (unit_sd > 0)).to(at::kDouble).mean().item<double>()
            : 0.0);
  }
  return out;
}

double linear_probe(const at::Tensor& train_x, const at::Tensor& train_y, const at::Tensor& test_x,
                    const at::Tensor& test_y, int64_t classes) {
  const at::Tensor mean = train_x.mean(0, true), sd = train_x.std(0, true, true).clamp_min(1e-8);
  const at::Tensor xs = ((train_x - mean) / sd).detach(), ts = ((test_x - mean) / sd).detach();
  at::Tensor w = at::zeros({xs.size(1), classes}, at::kDouble).set_requires_grad(true);
  at::Tensor bias = at::zeros({classes}, at::kDouble).set_requires_grad(true);
  torch::optim::LBFGS opt(
      {w, bias}, torch::optim::LBFGSOptions(1).max_iter(200).line_search_fn("strong_wolfe"));
  auto closure = [&] {
    opt.zero_grad();
    const at::Tensor loss =
        at::cross_entropy_loss(at::matmul(xs, w) + bias, train_y) + 1e-4 * w.pow(2).sum();
    loss.backward();
    return loss;
  };
  opt.step(closure);
  torch::NoGradGuard no_grad;
  const at::Tensor pred = (at::matmul(ts, w) + bias).argmax(1);
  return (pred == test_y).to(at::kDouble).mean().item<double>();
}

at::Tensor tsne(const at::Tensor& x_in, double perplexity, int64_t iterations, uint64_t seed,
                double* kl) {
  TORCH_CHECK(x_in.dim() == 2 && x_in.size(0) >= 4, "tsne: needs an n x d matrix with n >= 4");
  const int64_t n = x_in.size(0);
  TORCH_CHECK(perplexity > 1 && perplexity < n, "tsne: perplexity must be in (1, n = ", n,
              "), got ", perplexity);
  const at::Tensor x = x_in.to(at::kDouble);
  const at::Tensor sq = (x * x).sum(1);
  at::Tensor D = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2 * at::matmul(x, x.t())).clamp_min(0);
  D.fill_diagonal_(0);
  // Row-wise precision beta by bisection so that the entropy of P_i is log(perplexity).
  const at::Tensor eye = at::eye(n, at::kDouble).to(at::kBool);
  const at::Tensor Dm = D.masked_fill(eye, std::numeric_limits<double>::infinity());
  const at::Tensor Ds = Dm - std::get<0>(Dm.min(1, true));  // shift: same normalised rows
  at::Tensor beta = at::ones({n, 1}, at::kDouble) / D.mean().clamp_min(1e-12);
  at::Tensor lo = at::zeros({n, 1}, at::kDouble);
  at::Tensor hi = at::full({n, 1}, std::numeric_limits<double>::infinity(), at::kDouble);
  const double target = std::log(perplexity);
  at::Tensor P;
  for (int it = 0; it < 100; ++it) {
    P = at::exp(-Ds * beta);
    const at::Tensor sum = P.sum(1, true);
    const at::Tensor H = at::log(sum) + beta * (Ds.masked_fill(eye, 0) * P).sum(1, true) / sum;
    const at::Tensor too_flat = H > target;  // entropy too high: raise beta
    lo = at::where(too_flat, beta, lo);
    hi = at::where(too_flat, hi, beta);
    beta = at::where(hi.isinf(), beta * 2, (lo + hi) / 2);
  }
  P = at::exp(-Ds * beta);
  P = P / P.sum(1, true);
  P = (P + P.t()) / (2.0 * n);
  P = P.clamp_min(1e-12);

  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor Y = at::normal(0.0, 1e-4, {n, 2}, gen).to(at::kDouble);
  at::Tensor update = at::zeros_like(Y), gains = at::ones_like(Y);
  const double lr = std::max(double(n) / 48.0, 50.0);
  at::Tensor Q, num;
  for (int64_t t = 0; t < iterations; ++t) {
    const double exaggeration = t < 250 ? 12.0 : 1.0;
    const double momentum = t < 250 ? 0.5 : 0.8;
    const at::Tensor sy = (Y * Y).sum(1);
    num = 1.0 / (1.0 + sy.unsqueeze(1) + sy.unsqueeze(0) - 2 * at::matmul(Y, Y.t()));
    num.fill_diagonal_(0);
    Q = (num / num.sum()).clamp_min(1e-12);
    const at::Tensor W = (exaggeration * P - Q) * num;
    const at::Tensor grad = 4.0 * (W.sum(1, true) * Y - at::matmul(W, Y));
    gains = at::where((grad > 0) != (update > 0), gains + 0.2, gains * 0.8).clamp_min(0.01);
    update = momentum * update - lr * gains * grad;
    Y = Y + update;
    Y = Y - Y.mean(0, true);
  }
  if (kl) {
    const at::Tensor off = ~eye;
    *kl = (P * (P / Q).log()).masked_select(off).sum().item<double>();
  }
  return Y;
}

namespace {

// One network's measures, and (with pictures) its t-SNE embedding (and labels) of the first
// test images.
LatentMeasures measure(const train::TrainedModel& t, const LatentOptions& o, size_t i,
                       at::Tensor& embedding, at::Tensor& embedding_labels) {
  const data::ImageDataset& d = t.dataset;
  LatentMeasures m;
  m.checkpoint = o.checkpoints[i];
  m.activation = t.config.activation;
  m.seed = t.config.seed;
  m.label = o.labels.empty() || o.labels[i].empty() ? t.config.activation : o.labels[i];
  at::Tensor logits;
  const auto [fx, fy] = features_of(*t.model, d, d.test, 0, &logits);
  m.units = fx.size(1);
  m.images = fx.size(0);
  m.test_acc = (logits.argmax(1) == fy).to(at::kDouble).mean().item<double>();
  m.effective_rank = effective_rank(fx);
  const int64_t classes = d.num_classes();
  m.active_per_class = active_share_per_class(fx, fy, classes);
  double share_sum = 0;
  for (double v : m.active_per_class) share_sum += v;
  m.active_share = share_sum / double(classes);
  const auto [px, py] = features_of(*t.model, d, d.train, o.probe_train);
  m.probe_acc = linear_probe(px, py, fx, fy, classes);
  if (!o.plots) return m;  // the t-SNE (most of the time) is for the picture
  const int64_t n = std::min<int64_t>(o.tsne_samples, fx.size(0));
  const at::Tensor reduced = pca(fx.narrow(0, 0, n), 50);
  embedding =
      tsne(reduced, std::min(o.perplexity, double(n - 1) / 3), o.iterations, o.seed, &m.tsne_kl);
  embedding_labels = fy.narrow(0, 0, n);
  return m;
}

// The test accuracy gained by re-estimating the network's BatchNorm statistics with the noise
// off (train::recalibrate_trained_model, what --bn-recalibrate does after the last epoch),
// over `test_acc` as trained: the same network both ways, so its own paired effect. The
// network keeps the recalibrated statistics.
double recalibration_gain(train::TrainedModel& t, double test_acc) {
  train::recalibrate_trained_model(t);
  at::Tensor logits;
  const auto [fx, fy] = features_of(*t.model, t.dataset, t.dataset.test, 0, &logits);
  return (logits.argmax(1) == fy).to(at::kDouble).mean().item<double>() - test_acc;
}

// Feature maps of the first layers for one test image: 8 channels per layer, into
// feature_maps_<i>.png (with its .dat).
void plot_feature_maps(const train::TrainedModel& t, const LatentOptions& o, size_t i,
                       const std::string& label) {
  const data::ImageDataset& d = t.dataset;
  data::LoaderOptions lo;
  lo.shuffle = false;
  lo.batch_size = 1;
  lo.workers = 0;
  data::DataLoader loader(d.test, d.mean, d.std, lo);
  loader.start_epoch(0, o.image);
  data::Batch b;
  if (!loader.next(b)) return;
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> maps =
      t.model->activation_maps(b.images.to(train::device_of(*t.model)), o.map_layers);
  for (at::Tensor& mp : maps) mp = mp.cpu();
  std::ostringstream dat;
  int64_t blocks = 0;
  const int64_t per_layer = 8;
  for (const at::Tensor& mp : maps) {
    for (int64_t ch = 0; ch < std::min<int64_t>(per_layer, mp.size(1)); ++ch) {
      const at::Tensor a = mp[0][ch];
      for (int64_t r = 0; r < a.size(0); ++r) {
        for (int64_t q = 0; q < a.size(1); ++q) dat << (q ? " " : "") << a[r][q].item<float>();
        dat << "\n";
      }
      dat << "\n\n";
      ++blocks;
    }
  }
  const std::string dat_path =
      (fs::path(o.out_dir) / ("feature_maps_" + std::to_string(i) + ".dat")).string();
  util::write_file_atomically(dat_path, dat.str());
  std::ostringstream gp;
  gp << "set terminal pngcairo noenhanced size 1200," << 180 * maps.size() + 60 << "\n"
     << "set output "
     << util::gnuplot_quote(
            (fs::path(o.out_dir) / ("feature_maps_" + std::to_string(i) + ".png")).string())
     << "\n"
     << "set multiplot layout " << maps.size() << "," << per_layer << " title "
     << util::gnuplot_quote(label + ": first channels of the first " + std::to_string(maps.size()) +
                            " activation layers, test image " + std::to_string(o.image))
     << "\nunset key\nunset tics\nunset colorbox\nset size ratio -1\nset yrange [*:*] reverse\n"
     << "set palette grey\n";
  for (int64_t k = 0; k < blocks; ++k) {
    gp << "plot " << util::gnuplot_quote(dat_path) << " index " << k << " matrix with image\n";
  }
  gp << "unset multiplot\n";
  util::run_gnuplot(gp.str());
}

// Every network's t-SNE embedding side by side, coloured by class, into tsne.png.
void plot_tsne(const LatentOptions& o, const std::vector<LatentMeasures>& all,
               const std::vector<at::Tensor>& embeddings,
               const std::vector<at::Tensor>& embedding_labels, int64_t classes) {
  const std::string dat_path = (fs::path(o.out_dir) / "tsne.dat").string();
  std::ostringstream dat;
  for (size_t i = 0; i < embeddings.size(); ++i) {
    const at::Tensor y = embeddings[i];
    for (int64_t r = 0; r < y.size(0); ++r) {
      dat << y[r][0].item<double>() << " " << y[r][1].item<double>() << " "
          << embedding_labels[i][r].item<int64_t>() << "\n";
    }
    dat << "\n\n";
  }
  util::write_file_atomically(dat_path, dat.str());
  const int64_t k = static_cast<int64_t>(embeddings.size());
  const int64_t cols = static_cast<int64_t>(std::ceil(std::sqrt(double(k))));
  const int64_t rows = (k + cols - 1) / cols;
  std::ostringstream gp;
  gp << "set terminal pngcairo noenhanced size " << 420 * cols << "," << 420 * rows + 40 << "\n"
     << "set output " << util::gnuplot_quote((fs::path(o.out_dir) / "tsne.png").string()) << "\n"
     << class_palette(classes) << "set multiplot layout " << rows << "," << cols
     << " title 't-SNE of the penultimate-layer features on test images (colour: class)'\n"
     << "unset key\nunset tics\nunset colorbox\n";
  for (int64_t i = 0; i < k; ++i) {
    gp << "set title " << util::gnuplot_quote(all[i].label) << "\n"
       << "plot " << util::gnuplot_quote(dat_path) << " index " << i
       << " using 1:2:3 with points pt 7 ps 0.35 lc palette\n";
  }
  gp << "unset multiplot\n";
  util::run_gnuplot(gp.str());
}

// latent.csv and latent.md.
void write_tables(const LatentOptions& o, const std::vector<LatentMeasures>& all) {
  std::ostringstream csv, md;
  csv << "label,seed,activation,checkpoint,units,images,test_acc,effective_rank,active_share,"
         "probe_acc,bn_recalibration_gain,tsne_kl\n";
  md << "# Latent features\n\n"
     << "Penultimate-layer features of each network on the test set ("
     << (all.empty() ? 0 : all[0].images)
     << " images). **Effective rank**: exp of the entropy of the feature covariance's "
        "eigenvalue shares (1 = features on a line, the number of units = isotropic). "
        "**Active**: mean over classes of the share of units the class drives above their "
        "mean over all images by half a standard deviation. **Linear probe**: multinomial logistic "
        "regression on "
     << o.probe_train
     << " training images' features, accuracy on the test set. **BN recal.**: the test accuracy "
        "gained (points) by re-estimating BatchNorm's statistics with the noise off, as "
        "`--bn-recalibrate` does after the last epoch.\n\n"
     << "| network | seed | units | test acc. | effective rank | active | linear probe | BN recal. "
        "| t-SNE KL |\n"
     << "|---|---|---|---|---|---|---|---|---|\n";
  for (const LatentMeasures& m : all) {
    csv << util::csv_field(m.label) << "," << m.seed << "," << util::csv_field(m.activation) << ","
        << util::csv_field(m.checkpoint) << "," << m.units << "," << m.images << ","
        << fmt("%.6f", m.test_acc) << "," << fmt("%.4f", m.effective_rank) << ","
        << fmt("%.6f", m.active_share) << "," << fmt("%.6f", m.probe_acc) << ","
        << fmt("%.6f", m.bn_recalibration_gain) << ","
        << (std::isnan(m.tsne_kl) ? "" : fmt("%.4f", m.tsne_kl)) << "\n";
    md << "| " << m.label << " | " << m.seed << " | " << m.units << " | "
       << fmt("%.2f", 100 * m.test_acc) << "% | " << fmt("%.2f", m.effective_rank) << " | "
       << fmt("%.1f", 100 * m.active_share) << "% | " << fmt("%.2f", 100 * m.probe_acc) << "% | "
       << fmt("%+.2f", 100 * m.bn_recalibration_gain) << " | "
       << (std::isnan(m.tsne_kl) ? "—" : fmt("%.3f", m.tsne_kl)) << " |\n";
  }
  if (!o.left_out.empty()) {
    md << "\nLeft out (`--skip-unmeasured`), finished but with the checkpoint gone and no "
          "measures kept: "
       << util::join(o.left_out) << ".\n";
  }
  if (o.plots) {
    md << "\n![t-SNE](tsne.png)\n\n";
    for (size_t i = 0; i < all.size(); ++i)
      md << "![feature maps](feature_maps_" << i << ".png)\n\n";
  }
  util::write_file_atomically((fs::path(o.out_dir) / "latent.csv").string(), csv.str());
  util::write_file_atomically((fs::path(o.out_dir) / "latent.md").string(), md.str());
}

void print_measures(const LatentMeasures& m, const char* note) {
  const std::string kl = std::isnan(m.tsne_kl) ? "" : ", t-SNE KL " + fmt("%.3f", m.tsne_kl);
  std::printf(
      "%s: effective rank %.2f of %lld units, active %.1f%%, linear probe %.2f%%, BatchNorm "
      "recalibrated %+.2f points%s%s\n",
      m.label.c_str(), m.effective_rank, static_cast<long long>(m.units), 100 * m.active_share,
      100 * m.probe_acc, 100 * m.bn_recalibration_gain, kl.c_str(), note);
  std::fflush(stdout);
}

}  // namespace

std::vector<LatentMeasures> visualize(const LatentOptions& o) {
  TORCH_CHECK(!o.checkpoints.empty(), "visualize: give at least one --checkpoint");
  TORCH_CHECK(o.labels.empty() || o.labels.size() == o.checkpoints.size(),
              "visualize: give one --label per --checkpoint, or none");
  TORCH_CHECK(!o.out_dir.empty(), "visualize: --out is required");
  for (const std::string& checkpoint : o.checkpoints) {
    TORCH_CHECK(!o.plots || fs::exists(checkpoint), "visualize: ", checkpoint, " is gone",
                o.keep ? " (its measures may be kept beside it)" : "",
                ", and the pictures need every network", o.keep ? ": give --no-plots" : "");
  }
  fs::create_directories(o.out_dir);
  std::vector<LatentMeasures> all;
  std::vector<at::Tensor> embeddings, embedding_labels;
  int64_t classes = 0;
  for (size_t i = 0; i < o.checkpoints.size(); ++i) {
    const std::string& checkpoint = o.checkpoints[i];
    const bool gone = o.keep && !fs::exists(checkpoint);  // then no plots (checked above)
    std::optional<train::TrainedModel> t;
    std::string digest;  // of the network ("": gone)
    if (!gone) {
      t = train::load_trained_model(checkpoint, o.data_dir, o.device);
      classes = t->dataset.num_classes();
      if (o.keep) digest = train::state_digest(*t->model);
    }
    if (o.keep && !o.plots) {  // measured before, that network with these options?
      std::optional<LatentMeasures> kept =
          kept_measures(checkpoint, o.labels.empty() ? "" : o.labels[i], o, digest);
      TORCH_CHECK(kept || !gone, "visualize: ", checkpoint, " is gone and no measures of its ",
                  "network are kept (", kept_measures_path(checkpoint), ")");
      if (kept) {
        all.push_back(*kept);
        print_measures(all.back(), " (kept)");
        continue;
      }
    }
    at::Tensor embedding, labels;
    LatentMeasures m = measure(*t, o, i, embedding, labels);
    if (o.plots) plot_feature_maps(*t, o, i, m.label);
    m.bn_recalibration_gain = recalibration_gain(*t, m.test_acc);  // last: changes the network
    if (o.keep) keep_measures(m, o, digest);
    embeddings.push_back(embedding);
    embedding_labels.push_back(labels);
    print_measures(m, "");
    all.push_back(m);
  }
  if (o.plots) plot_tsne(o, all, embeddings, embedding_labels, classes);
  write_tables(o, all);
  write_label_summary(o, all);
  return all;
}

}  // namespace eelu::experiment
