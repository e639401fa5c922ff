// The statistics of the experiment report: summaries, Student's t distribution, paired and
// Welch t-tests with confidence intervals, Holm's correction, ranks.
#pragma once

#include <cstddef>
#include <vector>

namespace eelu::experiment::stats {

struct Summary {
  size_t n = 0;
  double mean = 0, sd = 0, median = 0, min = 0, max = 0;  // sd: sample (n - 1); 0 for n < 2
};
Summary summarize(const std::vector<double>& x);

/// P(T <= t) for Student's t with `df` > 0 degrees of freedom (real df, as Welch's test needs).
double t_cdf(double t, double df);
/// The p-quantile of Student's t, 0 < p < 1.
double t_quantile(double p, double df);
/// Regularised incomplete beta function I_x(a, b).
double incomplete_beta(double x, double a, double b);

struct TTest {
  double diff = 0;                 // mean difference x - y
  double ci_low = 0, ci_high = 0;  // 95% confidence interval of the difference (NaN if !valid)
  double se = 0;                   // standard error of the difference
  double t = 0, df = 0;
  double p = 1;        // two-sided
  size_t n = 0;        // pairs (paired) or total observations (Welch)
  bool valid = false;  // false when the test is undefined (too few values, no spread)
};
/// Paired t-test on x[i] - y[i] (equal lengths, the same seed at each index).
TTest paired_t_test(const std::vector<double>& x, const std::vector<double>& y);
/// Welch's unequal-variance t-test.
TTest welch_t_test(const std::vector<double>& x, const std::vector<double>& y);

/// Holm's step-down adjusted p-values, in the order given (invalid entries: pass NaN, they
/// stay NaN and do not count in the family).
std::vector<double> holm(const std::vector<double>& p);

/// Ranks (1 = largest), ties sharing the average rank.
std::vector<double> ranks_descending(const std::vector<double>& values);

}  // namespace eelu::experiment::stats
