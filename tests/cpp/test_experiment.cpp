// Statistics against known values, and grid configs: parsing, expansion, errors with lines.
#include <gtest/gtest.h>

#include <cmath>

#include "eelu/experiment/grid.h"
#include "eelu/experiment/stats.h"

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

TEST(Stats, PairedTestByHand) {
  // differences 1, 2, 3, 4: mean 2.5, sd sqrt(5/3), se sd/2, t = 3.8730, df 3
  const auto t = st::paired_t_test({11, 12, 13, 14}, {10, 10, 10, 10});
  ASSERT_TRUE(t.valid);
  EXPECT_NEAR(t.diff, 2.5, 1e-15);
  EXPECT_NEAR(t.t, 2.5 / (std::sqrt(5.0 / 3.0) / 2), 1e-12);
  EXPECT_EQ(t.df, 3);
  EXPECT_NEAR(t.p, 2 * (1 - st::t_cdf(t.t, 3)), 1e-15);
  EXPECT_NEAR(t.p, 0.030466, 1e-5);  // t = 3.873 on 3 df
  EXPECT_NEAR(t.ci_low, 2.5 - 3.182446305 * std::sqrt(5.0 / 3.0) / 2, 1e-7);
  // no spread: undefined, not a division by zero
  EXPECT_FALSE(st::paired_t_test({1, 2}, {0, 1}).valid);
  EXPECT_FALSE(st::paired_t_test({1}, {0}).valid);
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
            std::string::npos) << error_of(head + "[train]\nepochz = 3\n");
  EXPECT_NE(error_of(head + "[grid]\nactivation = [\"relu\",\n  \"nosuch\"]\n").find("bad.toml:5:"),
            std::string::npos) << error_of(head + "[grid]\nactivation = [\"relu\",\n  \"nosuch\"]\n");
  EXPECT_NE(error_of(head + "[train]\nepochs = \"ten\"\n").find("bad.toml:4: expected an integer"),
            std::string::npos);
  EXPECT_NE(error_of(head + "[grid]\nseed = 3\n").find("bad.toml:4: the axis 'seed' must be a non-empty array"),
            std::string::npos);
  EXPECT_NE(error_of(head + "[grid]\nseed = [1, 1]\n").find("appears twice"), std::string::npos);
  EXPECT_NE(error_of(head + "[train]\nseed = 1\n[grid]\nseed = [1, 2]\n").find("both fixed"),
            std::string::npos);
  EXPECT_NE(error_of(head + "[trian]\n").find("bad.toml:3: unknown table"), std::string::npos)
      << error_of(head + "[trian]\n");
  EXPECT_NE(error_of(head + "[train]\ntrain_fraction = 1.5\n").find("bad.toml: [train]: --train-fraction must be in (0, 1]"),
            std::string::npos) << error_of(head + "[train]\ntrain_fraction = 1.5\n");
  EXPECT_NE(error_of("[train]\nepochs = 1\n").find("needs a name"), std::string::npos);
  EXPECT_NE(error_of(head + "[train\n").find("bad.toml:3:"), std::string::npos)
      << error_of(head + "[train\n");
  EXPECT_NE(error_of(head + "[train]\nout_dir = \"x\"\n").find("set by the grid"), std::string::npos);
}

}  // namespace
}  // namespace eelu::test
