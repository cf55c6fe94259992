#include "quality/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

// Boost.Math's regularized incomplete gamma function (Debian's
// libboost-math-dev, header-only): the chi-square tail is Q(df/2, x/2), and
// an accurate Q over the whole range is not something to write again.
#include <boost/math/special_functions/gamma.hpp>
// The Student t tail is the regularized incomplete beta function:
// P(|T_df| >= t) = I_{df/(df+t²)}(df/2, 1/2), accurate for tiny p too.
#include <boost/math/special_functions/beta.hpp>

namespace harmonia::quality {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<double> SortedValues(std::span<const double> values) {
  std::vector<double> out;
  out.reserve(values.size());
  for (double v : values) {
    if (!std::isnan(v)) out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

double Quantile(std::span<const double> sorted, double q) {
  const double h = (static_cast<double>(sorted.size()) - 1) * q;
  const size_t lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

Summary Summarize(std::span<const double> values) {
  const std::vector<double> sorted = SortedValues(values);
  Summary s;
  s.n = static_cast<int64_t>(sorted.size());
  if (sorted.empty()) {
    s.mean = s.sd = s.min = s.q1 = s.median = s.q3 = s.max = kNaN;
    return s;
  }
  double sum = 0;
  for (double v : sorted) sum += v;
  s.mean = sum / static_cast<double>(s.n);
  double ss = 0;  // two passes: no cancellation in Σv² − n·mean²
  for (double v : sorted) ss += (v - s.mean) * (v - s.mean);
  s.sd = s.n > 1 ? std::sqrt(ss / static_cast<double>(s.n - 1)) : kNaN;
  s.min = sorted.front();
  s.max = sorted.back();
  s.q1 = Quantile(sorted, 0.25);
  s.median = Quantile(sorted, 0.5);
  s.q3 = Quantile(sorted, 0.75);
  return s;
}

double ChiSquareSurvival(double x, int df) {
  if (df < 1 || std::isnan(x)) return kNaN;
  if (x <= 0) return 1;
  if (std::isinf(x)) return 0;
  return boost::math::gamma_q(df / 2.0, x / 2.0);
}

WelchTest WelchTTest(std::span<const double> a, std::span<const double> b) {
  const Summary x = Summarize(a), y = Summarize(b);
  WelchTest w{kNaN, kNaN, kNaN, kNaN};
  if (x.n < 2 || y.n < 2) return w;
  w.mean_difference = x.mean - y.mean;
  const double va = x.sd * x.sd / static_cast<double>(x.n);
  const double vb = y.sd * y.sd / static_cast<double>(y.n);
  const double se2 = va + vb;
  if (!(se2 > 0)) return w;
  w.t = w.mean_difference / std::sqrt(se2);
  w.df =
      se2 * se2 / (va * va / static_cast<double>(x.n - 1) + vb * vb / static_cast<double>(y.n - 1));
  w.p_value = boost::math::ibeta(w.df / 2, 0.5, w.df / (w.df + w.t * w.t));
  return w;
}

GroupComparison CompareGroups(const std::vector<std::vector<double>>& groups) {
  GroupComparison c;
  // Every value with its group, sorted by value for the ranks.
  std::vector<std::pair<double, int>> all;
  std::vector<int64_t> size;
  std::vector<double> sum;
  for (const std::vector<double>& g : groups) {
    const int k = static_cast<int>(size.size());
    int64_t n = 0;
    double s = 0;
    for (double v : g) {
      if (std::isnan(v)) continue;
      all.emplace_back(v, k);
      ++n;
      s += v;
    }
    if (n == 0) continue;
    size.push_back(n);
    sum.push_back(s);
  }
  c.n = static_cast<int64_t>(all.size());
  c.groups = static_cast<int>(size.size());
  c.df = c.groups - 1;
  c.eta_squared = c.kruskal_wallis_h = c.p_value = kNaN;
  if (c.groups < 2) return c;

  const double n = static_cast<double>(c.n);
  // Sums of squares around the first value, so that rounding cannot turn
  // identical values into a spread (eta-squared is shift-invariant).
  const double origin = all.front().first;
  double grand = 0;
  bool spread = false;
  for (const auto& [v, g] : all) {
    grand += v - origin;
    spread |= v != origin;
  }
  grand /= n;
  double ss_total = 0;
  for (const auto& [v, g] : all) ss_total += (v - origin - grand) * (v - origin - grand);
  double ss_between = 0;
  for (size_t g = 0; g < size.size(); ++g) {
    const double mean = sum[g] / static_cast<double>(size[g]) - origin;
    ss_between += static_cast<double>(size[g]) * (mean - grand) * (mean - grand);
  }
  if (spread && ss_total > 0) c.eta_squared = std::min(1.0, ss_between / ss_total);

  // Ranks, ties sharing their average rank; the tie correction's Σ(t³ − t).
  std::sort(all.begin(), all.end());
  std::vector<double> rank_sum(size.size(), 0);
  double ties = 0;
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    const double t = static_cast<double>(j - i);
    const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (size_t k = i; k < j; ++k) rank_sum[all[k].second] += rank;
    ties += t * t * t - t;
    i = j;
  }
  const double correction = 1 - ties / (n * n * n - n);
  if (correction <= 0) return c;  // every value tied: no ranking to test
  double h = 0;
  for (size_t g = 0; g < size.size(); ++g) {
    h += rank_sum[g] * rank_sum[g] / static_cast<double>(size[g]);
  }
  h = (12 / (n * (n + 1)) * h - 3 * (n + 1)) / correction;
  c.kruskal_wallis_h = std::max(0.0, h);
  c.p_value = ChiSquareSurvival(c.kruskal_wallis_h, c.df);
  return c;
}

}  // namespace harmonia::quality
