#include "eelu/experiment/stats.h"

#include <c10/util/Exception.h>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/beta.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace eelu::experiment::stats {

Summary summarize(const std::vector<double>& x) {
  Summary s;
  s.n = x.size();
  if (x.empty()) return s;
  std::vector<double> v = x;
  std::sort(v.begin(), v.end());
  s.min = v.front();
  s.max = v.back();
  s.median = v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double e : v) ss += (e - s.mean) * (e - s.mean);
    s.sd = std::sqrt(ss / double(v.size() - 1));
  }
  return s;
}

// The distributions come from Boost.Math (tested far beyond what a project can test): the
// regularised incomplete beta function and Student's t, with their complements and quantiles.
double incomplete_beta(double x, double a, double b) {
  TORCH_CHECK(a > 0 && b > 0, "incomplete_beta: a and b must be > 0");
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  return boost::math::ibeta(a, b, x);
}

double t_cdf(double t, double df) {
  TORCH_CHECK(df > 0, "t_cdf: degrees of freedom must be > 0, got ", df);
  if (std::isnan(t)) return t;
  if (std::isinf(t)) return t > 0 ? 1 : 0;
  return boost::math::cdf(boost::math::students_t_distribution<double>(df), t);
}

double t_quantile(double p, double df) {
  TORCH_CHECK(p > 0 && p < 1, "t_quantile: p must be in (0, 1), got ", p);
  TORCH_CHECK(df > 0, "t_quantile: degrees of freedom must be > 0, got ", df);
  return boost::math::quantile(boost::math::students_t_distribution<double>(df), p);
}

namespace {
TTest finish(double diff, double se, double df, size_t n) {
  TTest r;
  r.diff = diff;
  r.n = n;
  r.df = df;
  r.se = se;
  if (!(se > 0) || !(df > 0)) {
    // no interval: one pair, or pairs without spread (their differences all equal)
    r.ci_low = r.ci_high = std::numeric_limits<double>::quiet_NaN();
    r.t = std::numeric_limits<double>::quiet_NaN();
    r.p = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  r.t = diff / se;
  // two-sided: twice the upper tail, taken as the complement (accurate for small p)
  r.p = 2 * boost::math::cdf(boost::math::complement(
                boost::math::students_t_distribution<double>(df), std::abs(r.t)));
  const double q = t_quantile(0.975, df);
  r.ci_low = diff - q * se;
  r.ci_high = diff + q * se;
  r.valid = true;
  return r;
}
}  // namespace

TTest paired_t_test(const std::vector<double>& x, const std::vector<double>& y) {
  TORCH_CHECK(x.size() == y.size(), "paired_t_test: ", x.size(), " and ", y.size(),
              " values; pairs need equal counts");
  std::vector<double> d(x.size());
  for (size_t i = 0; i < x.size(); ++i) d[i] = x[i] - y[i];
  const Summary s = summarize(d);
  if (s.n < 2) return finish(s.mean, 0, 0, s.n);
  return finish(s.mean, s.sd / std::sqrt(double(s.n)), double(s.n - 1), s.n);
}

TTest welch_t_test(const std::vector<double>& x, const std::vector<double>& y) {
  const Summary a = summarize(x), b = summarize(y);
  if (a.n < 2 || b.n < 2) return finish(a.mean - b.mean, 0, 0, a.n + b.n);
  const double va = a.sd * a.sd / double(a.n), vb = b.sd * b.sd / double(b.n);
  const double se = std::sqrt(va + vb);
  const double df = (va + vb) * (va + vb) / (va * va / double(a.n - 1) + vb * vb / double(b.n - 1));
  return finish(a.mean - b.mean, se, df, a.n + b.n);
}

std::vector<double> holm(const std::vector<double>& p) {
  std::vector<size_t> order;
  for (size_t i = 0; i < p.size(); ++i) {
    if (!std::isnan(p[i])) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> out(p.size(), std::numeric_limits<double>::quiet_NaN());
  const double m = double(order.size());
  double running = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    running = std::max(running, std::min(1.0, (m - double(k)) * p[order[k]]));
    out[order[k]] = running;
  }
  return out;
}

std::vector<double> ranks_descending(const std::vector<double>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return values[a] > values[b]; });
  std::vector<double> r(values.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && values[order[j + 1]] == values[order[i]]) ++j;
    const double avg = 0.5 * double(i + j) + 1;
    for (size_t k = i; k <= j; ++k) r[order[k]] = avg;
    i = j + 1;
  }
  return r;
}

}  // namespace eelu::experiment::stats
