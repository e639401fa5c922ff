// Statistics against known values, and grid configs: parsing, expansion, errors with lines.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <ATen/ATen.h>

#include "eelu/experiment/grid.h"
#include "eelu/experiment/latent.h"
#include "eelu/experiment/stats.h"
#include "eelu/util/command.h"
#include "eelu/util/text.h"

namespace eelu::test {
namespace {

namespace st = experiment::stats;

TEST(Stats, StudentTDistributionMatchesClosedForms) {
  // df = 1 is Cauchy, df = 2 has a closed form.
  for (double t : {-30.0, -2.5, -0.3, 0.0, 0.7, 4.0, 100.0}) {
    EXPECT_NEAR(st::t_cdf(t, 1), 0.5 + std::atan(t) / M_PI, 1e-12) << t;
    EXPECT_NEAR(st::t_cdf(t, 2), 0.5 + t / (2 * std::sqrt(2 + t * t)), 1e-12) << t;
  }
  // Table values of the 97.5% and 99.5% quantiles.
  EXPECT_NEAR(st::t_quantile(0.975, 1), 12.706204736, 1e-7);
  EXPECT_NEAR(st::t_quantile(0.975, 10), 2.228138852, 1e-8);
  EXPECT_NEAR(st::t_quantile(0.995, 5), 4.032142984, 1e-8);
  EXPECT_NEAR(st::t_quantile(0.975, 1e6), 1.959966, 1e-5);  // the normal's
  EXPECT_NEAR(st::t_quantile(0.025, 10), -2.228138852, 1e-8);
  EXPECT_NEAR(st::t_cdf(st::t_quantile(0.9, 3.7), 3.7), 0.9, 1e-12) << "real df";
}

TEST(Stats, SummaryValues) {
  const auto s = st::summarize({4, 1, 3, 2});
  EXPECT_EQ(s.n, 4u);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_NEAR(s.sd, std::sqrt(5.0 / 3.0), 1e-15);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 4);
  EXPECT_DOUBLE_EQ(st::summarize({7}).sd, 0);
}

TEST(Stats, WelchTestOfAPublishedExample) {
  // Welch's t-test, example 1 of the Wikipedia article: t = -2.46, p = 0.021; the
  // Welch-Satterthwaite df, 24.9885, recomputed with Python's statistics module.
  const std::vector<double> a = {27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1,
                                 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4};
  const std::vector<double> b = {27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0,
                                 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4};
  const auto t = st::welch_t_test(a, b);
  ASSERT_TRUE(t.valid);
  EXPECT_NEAR(t.t, -2.46, 0.005);
  EXPECT_NEAR(t.df, 24.98853, 1e-5);
  EXPECT_NEAR(t.p, 0.021, 0.0005);
  // the CI is mean difference +- q * se, and excludes 0 exactly when p < 0.05
  EXPECT_LT(t.ci_high, 0);
  EXPECT_NEAR(0.5 * (t.ci_low + t.ci_high), t.diff, 1e-12);
}

// Unequal sizes, so that swapped sample sizes in the standard error or the degrees of
// freedom would show: example 3 of the Wikipedia article (n = 10 and 20: t = -2.22,
// df = 24.5, p = 0.036), every figure recomputed with mpmath at 30 digits (betainc for the
// t distribution, findroot for its quantile), independently of Boost.
TEST(Stats, WelchTestWithUnequalSizes) {
  const std::vector<double> a = {19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0};
  const std::vector<double> b = {28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7,
                                 23.2, 17.5, 20.6, 18.0, 23.9, 21.6, 24.3, 20.4, 23.9, 13.3};
  const auto t = st::welch_t_test(a, b);
  ASSERT_TRUE(t.valid);
  EXPECT_NEAR(t.diff, -2.22, 1e-12);
  EXPECT_NEAR(t.t, -2.2255120399698535, 1e-12);
  EXPECT_NEAR(t.df, 24.524634944257347, 1e-10);
  EXPECT_NEAR(t.p, 0.035484530830010196, 1e-12);
  EXPECT_NEAR(t.ci_low, -4.2764586501205562, 1e-10);
  EXPECT_NEAR(t.ci_high, -0.16354134987944441, 1e-10);
  EXPECT_EQ(t.n, 30u);
  // the other way round: the same test, mirrored
  const auto r = st::welch_t_test(b, a);
  EXPECT_NEAR(r.t, -t.t, 1e-12);
  EXPECT_NEAR(r.df, t.df, 1e-10);
  EXPECT_NEAR(r.p, t.p, 1e-14);
  EXPECT_NEAR(r.ci_low, -t.ci_high, 1e-10);
}

TEST(Stats, PairedTestByHand) {
  // differences 1, 2, 3, 4: mean 2.5, sd sqrt(5/3), se sd/2, t = 3.8730, df 3
  const auto t = st::paired_t_test({11, 12, 13, 14}, {10, 10, 10, 10});
  ASSERT_TRUE(t.valid);
  EXPECT_NEAR(t.diff, 2.5, 1e-15);
  EXPECT_NEAR(t.se, std::sqrt(5.0 / 3.0) / 2, 1e-15);
  EXPECT_NEAR(t.t, 2.5 / (std::sqrt(5.0 / 3.0) / 2), 1e-12);
  EXPECT_EQ(t.df, 3);
  EXPECT_NEAR(t.p, 2 * (1 - st::t_cdf(t.t, 3)), 1e-15);
  EXPECT_NEAR(t.p, 0.030466, 1e-5);  // t = 3.873 on 3 df
  EXPECT_NEAR(t.ci_low, 2.5 - 3.182446305 * std::sqrt(5.0 / 3.0) / 2, 1e-7);
  // no spread: undefined, not a division by zero
  EXPECT_FALSE(st::paired_t_test({1, 2}, {0, 1}).valid);
  EXPECT_FALSE(st::paired_t_test({1}, {0}).valid);
  // and no interval either: a single pair's difference is not an interval of zero width
  EXPECT_TRUE(std::isnan(st::paired_t_test({1}, {0}).ci_low));
  EXPECT_TRUE(std::isnan(st::paired_t_test({1, 2}, {0, 1}).ci_high));
}

TEST(Stats, HolmAdjustment) {
  const auto h = st::holm({0.01, 0.04, 0.03, 0.005});
  EXPECT_NEAR(h[0], 0.03, 1e-15);
  EXPECT_NEAR(h[1], 0.06, 1e-15);
  EXPECT_NEAR(h[2], 0.06, 1e-15);
  EXPECT_NEAR(h[3], 0.02, 1e-15);
  const auto with_nan = st::holm({0.2, std::nan(""), 0.9});
  EXPECT_NEAR(with_nan[0], 0.4, 1e-15);
  EXPECT_TRUE(std::isnan(with_nan[1]));
  EXPECT_NEAR(with_nan[2], 0.9, 1e-15);
  EXPECT_NEAR(st::holm({0.6, 0.7})[0], 1.0, 1e-15) << "capped at 1";
}

TEST(Stats, RanksShareTies) {
  const auto r = st::ranks_descending({0.9, 0.8, 0.9, 0.5});
  EXPECT_EQ(r, (std::vector<double>{1.5, 3, 1.5, 4}));
}

const char* kGrid = R"toml(
[experiment]
name = "tiny"

[train]
dataset = "fashion-mnist"
epochs = 1
max_batches = 3

[grid]
activation = ["relu", "eelu(eps=0.6)"]
seed = [0, 1]
train_fraction = [0.01, 0.05]
)toml";

TEST(GridConfig, ExpandsTheProductWithTheActivationFastest) {
  const auto g = experiment::parse_grid_config(kGrid, "tiny.toml");
  ASSERT_EQ(g.runs.size(), 8u);
  EXPECT_EQ(g.axes[0].first, "seed");
  EXPECT_EQ(g.axes[1].first, "train_fraction");
  EXPECT_EQ(g.axes[2].first, "activation");
  EXPECT_EQ(g.runs[0].config.activation, "relu");
  EXPECT_EQ(g.runs[1].config.activation, "eelu(eps=0.6)");
  EXPECT_EQ(g.runs[2].config.train_fraction, 0.05);
  EXPECT_EQ(g.runs[4].config.seed, 1u);
  EXPECT_EQ(g.runs[7].config.max_batches, 3);
  EXPECT_EQ(g.runs[0].key, "r0000_0_0.01_relu");
  EXPECT_EQ(experiment::parse_grid_config(kGrid, "tiny.toml").digest, g.digest);
  std::string other = kGrid;
  other.replace(other.find("epochs = 1"), 10, "epochs = 2");
  EXPECT_NE(experiment::parse_grid_config(other, "tiny.toml").digest, g.digest);
}

// The error message for `text`, which must name `line` of the file.
std::string error_of(const std::string& text) {
  try {
    experiment::parse_grid_config(text, "bad.toml");
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "(no error)";
}

TEST(GridConfig, BadInputNamesTheLine) {
  const std::string head = "[experiment]\nname = \"x\"\n";
  EXPECT_NE(error_of(head + "[train]\nepochz = 3\n").find("bad.toml:4: unknown setting 'epochz'"),
            std::string::npos)
      << error_of(head + "[train]\nepochz = 3\n");
  EXPECT_NE(error_of(head + "[grid]\nactivation = [\"relu\",\n  \"nosuch\"]\n").find("bad.toml:5:"),
            std::string::npos)
      << error_of(head + "[grid]\nactivation = [\"relu\",\n  \"nosuch\"]\n");
  EXPECT_NE(error_of(head + "[train]\nepochs = \"ten\"\n").find("bad.toml:4: expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of(head + "[grid]\nseed = 3\n")
                .find("bad.toml:4: the axis 'seed' must be a non-empty array"),
            std::string::npos);
  EXPECT_NE(error_of(head + "[grid]\nseed = [1, 1]\n").find("appears twice"), std::string::npos);
  EXPECT_NE(error_of(head + "[train]\nseed = 1\n[grid]\nseed = [1, 2]\n").find("both fixed"),
            std::string::npos);
  EXPECT_NE(error_of(head + "[trian]\n").find("bad.toml:3: unknown table"), std::string::npos)
      << error_of(head + "[trian]\n");
  EXPECT_NE(error_of(head + "[train]\ntrain_fraction = 1.5\n")
                .find("bad.toml: [train]: --train-fraction must be in (0, 1]"),
            std::string::npos)
      << error_of(head + "[train]\ntrain_fraction = 1.5\n");
  EXPECT_NE(error_of("[train]\nepochs = 1\n").find("needs a name"), std::string::npos);
  EXPECT_NE(error_of(head + "[train\n").find("bad.toml:3:"), std::string::npos)
      << error_of(head + "[train\n");
  EXPECT_NE(error_of(head + "[train]\nout_dir = \"x\"\n").find("set by the grid"),
            std::string::npos);
  EXPECT_NE(error_of(head + "[grid]\namp = [\"none\", \"fp8\"]\n")
                .find("--amp must be none, bf16 or fp16, got 'fp8'"),
            std::string::npos)
      << error_of(head + "[grid]\namp = [\"none\", \"fp8\"]\n");
  EXPECT_NE(error_of(head + "[grid]\neval_every = [1, 5]\n").find("'eval_every' cannot be an axis"),
            std::string::npos)
      << error_of(head + "[grid]\neval_every = [1, 5]\n");
  EXPECT_NE(error_of(head + "[train]\neval_every = 0\n").find("bad.toml:4:"), std::string::npos)
      << error_of(head + "[train]\neval_every = 0\n");
  // Run options that are not settings reach the runs through what the store holds.
  const auto options = experiment::parse_grid_config(
      head + "[train]\neval_every = 5\nworkers = 0\n[grid]\nseed = [1, 2]\n", "ok.toml");
  for (const auto& run : options.runs) {
    const train::TrainConfig stored = train::config_from_json(train::config_json(run.config));
    EXPECT_EQ(stored.eval_every, 5);
    EXPECT_EQ(stored.workers, 0);
  }
  const train::TrainConfig plain =
      train::config_from_json(train::config_json(train::TrainConfig()));
  EXPECT_EQ(plain.eval_every, 1);
  EXPECT_EQ(plain.workers, train::TrainConfig().workers);
}

// [slurm]: how the grid runs as a Slurm array; not part of the grid's digest.
TEST(GridConfig, SlurmTableIsReadAndChecked) {
  const std::string head = "[experiment]\nname = \"x\"\n[grid]\nseed = [1, 2]\n";
  const auto plain = experiment::parse_grid_config(head, "ok.toml");
  const auto g = experiment::parse_grid_config(
      head +
          "[slurm]\npartition = \"gpu\"\ngres = \"gpu:1\"\ncpus_per_task = 8\ntime = "
          "\"4:00:00\"\nmem = \"32G\"\nmax_parallel = 10\nextra = [\"--constraint=h200\"]\n",
      "ok.toml");
  EXPECT_EQ(g.slurm.partition, "gpu");
  EXPECT_EQ(g.slurm.gres, "gpu:1");
  EXPECT_EQ(g.slurm.cpus_per_task, 8);
  EXPECT_EQ(g.slurm.time, "4:00:00");
  EXPECT_EQ(g.slurm.mem, "32G");
  EXPECT_EQ(g.slurm.max_parallel, 10);
  ASSERT_EQ(g.slurm.extra.size(), 1u);
  EXPECT_EQ(g.slurm.extra[0], "--constraint=h200");
  EXPECT_EQ(g.digest, plain.digest);  // where runs train is not what they train
  EXPECT_NE(
      error_of(head + "[slurm]\ngpus = 1\n").find("bad.toml:6: unknown key 'gpus' in [slurm]"),
      std::string::npos)
      << error_of(head + "[slurm]\ngpus = 1\n");
  EXPECT_NE(error_of(head + "[slurm]\ncpus_per_task = 0\n").find("must be an integer in [1"),
            std::string::npos);
  EXPECT_NE(error_of(head + "[slurm]\ntime = 4\n").find("'time' must be a non-empty string"),
            std::string::npos);
  EXPECT_NE(error_of(head + "[slurm]\nextra = [\"constraint=a\"]\n").find("sbatch options"),
            std::string::npos);
}

TEST(Command, RunsAProgramAndReadsItsOutput) {
  const auto echo = util::run_command({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(echo->status, 3);
  EXPECT_EQ(echo->out, "out\n");
  EXPECT_EQ(echo->err, "err\n");
  // more than a pipe holds on both streams at once: read together, no deadlock
  const auto big =
      util::run_command({"sh", "-c", "head -c 200000 /dev/zero; head -c 200000 /dev/zero >&2"});
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(big->out.size(), 200000u);
  EXPECT_EQ(big->err.size(), 200000u);
  EXPECT_FALSE(util::run_command({"eelu-no-such-program"}).has_value());
}

// Mixed precision is a setting a grid may vary.
TEST(GridConfig, AmpIsAnAxis) {
  const auto plain = experiment::parse_grid_config(kGrid, "tiny.toml");
  const auto none =
      experiment::parse_grid_config(std::string(kGrid) + "amp = [\"none\"]\n", "tiny.toml");
  EXPECT_EQ(none.runs.size(), plain.runs.size());
  const auto both = experiment::parse_grid_config(
      std::string(kGrid) + "amp = [\"none\", \"bf16\"]\n", "tiny.toml");
  ASSERT_EQ(both.runs.size(), 2 * plain.runs.size());
  int bf16 = 0;
  for (const auto& r : both.runs) bf16 += r.config.amp == "bf16";
  EXPECT_EQ(bf16, static_cast<int>(plain.runs.size()));
}

// Axes whose sizes multiply past 2^63 and 2^64 (the old product overflowed: "0 runs") and just
// past the limit are refused with the product.
TEST(GridConfig, TooManyRunsAreRefusedWithoutOverflow) {
  auto axis = [](const std::string& name, int n, double first, double step) {
    std::string s = name + " = [";
    for (int i = 0; i < n; ++i)
      s += (i ? ", " : "") + util::format_number("%.10g", first + i * step);
    return s + "]\n";
  };
  const std::string head = "[experiment]\nname = \"x\"\n[grid]\n";
  // eleven axes of 41 values: 41^11 = 5.5e17
  const std::string eleven = head + axis("seed", 41, 0, 1) + axis("epochs", 41, 1, 1) +
                             axis("max_batches", 41, 0, 1) + axis("lr", 41, 0.01, 0.01) +
                             axis("momentum", 41, 0, 0.01) + axis("weight_decay", 41, 0, 1e-4) +
                             axis("act_weight_decay", 41, 0, 1e-4) + axis("gamma", 41, 0.01, 0.01) +
                             axis("label_smoothing", 41, 0, 0.01) +
                             axis("train_per_class", 41, 0, 1) + axis("crop_padding", 41, 0, 1);
  const std::string past64 = error_of(eleven + axis("batch_size", 41, 1, 1));  // 2.3e19 > 2^64
  EXPECT_NE(past64.find("41 x 41 = 2.256e+19 runs; at most 100000"), std::string::npos) << past64;
  const std::string past63 = error_of(eleven + axis("batch_size", 20, 1, 1));  // 1.1e19 > 2^63
  EXPECT_NE(past63.find("x 20 x 41 x 41 x 41 x 41 x 41 x 41 x 41 x 41 = 1.101e+19 runs"),
            std::string::npos)
      << past63;
  const std::string past = error_of(head + axis("seed", 1001, 0, 1) + axis("epochs", 100, 1, 1));
  EXPECT_NE(past.find("the grid has 1001 x 100 = 1.001e+05 runs; at most 100000"),
            std::string::npos)
      << past;
}

TEST(Latent, EffectiveRankCountsTheDirectionsUsed) {
  at::manual_seed(3);
  const at::Tensor iso = at::randn({20000, 5}, at::kDouble);
  EXPECT_NEAR(experiment::effective_rank(iso), 5.0, 0.05);
  const at::Tensor line =
      at::randn({1000, 1}, at::kDouble) * at::tensor({1.0, -2.0, 0.5}, at::kDouble);
  EXPECT_NEAR(experiment::effective_rank(line), 1.0, 1e-6);
  // two equal directions out of four: 2
  const at::Tensor two =
      at::cat({at::randn({20000, 2}, at::kDouble), at::zeros({20000, 2}, at::kDouble)}, 1);
  EXPECT_NEAR(experiment::effective_rank(two), 2.0, 0.02);
}

TEST(Latent, PcaKeepsTheLargestVariance) {
  at::manual_seed(4);
  const at::Tensor x = at::randn({5000, 3}, at::kDouble) * at::tensor({0.1, 3.0, 1.0}, at::kDouble);
  const at::Tensor p = experiment::pca(x, 2);
  ASSERT_EQ(p.sizes(), (at::IntArrayRef{5000, 2}));
  EXPECT_NEAR(p.select(1, 0).std().item<double>(), 3.0, 0.1);
  EXPECT_NEAR(p.select(1, 1).std().item<double>(), 1.0, 0.05);
}

TEST(Latent, TsneSeparatesSeparatedClusters) {
  at::manual_seed(5);
  const int64_t n = 40;
  at::Tensor x = at::randn({2 * n, 10}, at::kDouble);
  x.narrow(0, n, n).add_(8.0);  // a second cluster far from the first
  double kl = -1;
  const at::Tensor y = experiment::tsne(x, 10, 400, 0, &kl);
  ASSERT_EQ(y.sizes(), (at::IntArrayRef{2 * n, 2}));
  const at::Tensor ca = y.narrow(0, 0, n).mean(0), cb = y.narrow(0, n, n).mean(0);
  // every point is nearer its own cluster's centre
  const at::Tensor da = (y - ca).norm(2, 1), db = (y - cb).norm(2, 1);
  EXPECT_TRUE((da.narrow(0, 0, n) < db.narrow(0, 0, n)).all().item<bool>());
  EXPECT_TRUE((db.narrow(0, n, n) < da.narrow(0, n, n)).all().item<bool>());
  EXPECT_GE(kl, 0.0);
  EXPECT_LT(kl, 2.0);
  EXPECT_TRUE(at::equal(y, experiment::tsne(x, 10, 400, 0))) << "seeded: the same embedding";
}

TEST(Latent, ActiveShareAndProbeOnConstructedFeatures) {
  // 4 units, 2 classes: unit 0 fires for class 0, unit 1 for class 1, unit 2 for both alike,
  // unit 3 never varies. Each class drives exactly one unit of four.
  const int64_t n = 200;
  at::Tensor labels = at::arange(n, at::kLong).remainder(2);
  at::Tensor f = at::zeros({n, 4}, at::kDouble);
  f.select(1, 0).copy_((labels == 0).to(at::kDouble));
  f.select(1, 1).copy_((labels == 1).to(at::kDouble));
  f.select(1, 2).copy_(at::arange(n, at::kDouble).remainder(7));
  f.select(1, 3).fill_(5);
  const auto share = experiment::active_share_per_class(f, labels, 2);
  ASSERT_EQ(share.size(), 2u);
  EXPECT_DOUBLE_EQ(share[0], 0.25);
  EXPECT_DOUBLE_EQ(share[1], 0.25);
  // separable by unit 0 alone: the probe is perfect; labels it cannot see: chance
  EXPECT_DOUBLE_EQ(experiment::linear_probe(f, labels, f, labels, 2), 1.0);
  at::manual_seed(6);
  const at::Tensor noise = at::randn({4000, 3}, at::kDouble);
  const at::Tensor coin = at::randint(2, {4000}, at::kLong);
  const double chance =
      experiment::linear_probe(noise.narrow(0, 0, 2000), coin.narrow(0, 0, 2000),
                               noise.narrow(0, 2000, 2000), coin.narrow(0, 2000, 2000), 2);
  EXPECT_NEAR(chance, 0.5, 0.05);
}

// The summary over seeds pairs a label with the reference over the seeds both have, as the
// report pairs its comparisons, and falls back to Welch's test when they share fewer than two.
TEST(Latent, SummaryPairsOverTheSeedsBothLabelsHave) {
  auto net = [](const char* label, uint64_t seed, double rank) {
    experiment::LatentMeasures m;
    m.label = m.activation = label;
    m.seed = seed;
    m.units = 8;
    m.effective_rank = rank;
    m.test_acc = 0.80 + 0.01 * double(seed);
    m.bn_recalibration_gain = 0.005;
    return m;
  };
  std::vector<experiment::LatentMeasures> all;
  for (uint64_t seed = 0; seed < 5; ++seed) all.push_back(net("ref", seed, 10.0 + seed));
  all.push_back(net("some", 2, 12.5));  // +0.5, +1 and +2 over the reference's seeds 2 to 4
  all.push_back(net("some", 3, 14.0));
  all.push_back(net("some", 4, 16.0));
  all.push_back(net("apart", 7, 20.0));  // no seed in common: Welch
  all.push_back(net("apart", 8, 22.0));
  experiment::LatentOptions o;
  o.out_dir = (std::filesystem::path(::testing::TempDir()) / "eelu_label_summary").string();
  o.reference = "ref";
  std::filesystem::create_directories(o.out_dir);
  experiment::write_label_summary(o, all);

  std::ifstream csv(o.out_dir + "/latent_by_label.csv");
  std::map<std::string, std::vector<std::string>> rank;  // label -> its effective_rank row
  std::vector<std::string> recalibrated;                 // the reference's recalibrated_acc
  for (std::string line; std::getline(csv, line);) {
    std::vector<std::string> f;  // these labels need no quoting
    std::istringstream fields(line);
    for (std::string field; std::getline(fields, field, ',');) f.push_back(field);
    if (!line.empty() && line.back() == ',') f.emplace_back();
    if (f.size() > 2 && f[2] == "effective_rank") rank[f[0]] = f;
    if (f.size() > 2 && f[2] == "recalibrated_acc" && f[0] == "ref") recalibrated = f;
  }
  ASSERT_EQ(recalibrated.size(), 12u);
  EXPECT_NEAR(std::stod(recalibrated[3]), 0.82 + 0.005, 1e-6) << "test accuracy + the gain";
  ASSERT_EQ(rank.size(), 3u);
  const st::TTest paired = st::paired_t_test({12.5, 14.0, 16.0}, {12.0, 13.0, 14.0});
  EXPECT_EQ(rank["some"][10], "paired");
  EXPECT_EQ(rank["some"][11], "3");
  EXPECT_NEAR(std::stod(rank["some"][6]), 3.5 / 3, 1e-5);
  EXPECT_NEAR(std::stod(rank["some"][9]), paired.p, 1e-3 * paired.p);
  EXPECT_EQ(rank["apart"][10], "welch");
  EXPECT_EQ(rank["apart"][11], "0");
  EXPECT_NEAR(std::stod(rank["apart"][6]), 21.0 - 12.0, 1e-5);
  EXPECT_EQ(rank["ref"][10], "") << "the reference has no difference";
}

}  // namespace
}  // namespace eelu::test
