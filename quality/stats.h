// The statistics of a cycle's quality report (docs/report.md): how a
// variable (the rule set's objective behaviour) is distributed, and how well
// a grouping (the segments) separates it.
//
//   Summarize       n, mean, standard deviation, min, quartiles, max
//   CompareGroups   eta-squared (one-way ANOVA effect size) and the
//                   Kruskal–Wallis H test with its chi-square p-value
//   WelchTTest      whether two groups' means differ (unequal variances)
//
// Definitions, so that figures can be checked by hand (docs/report.md):
// - quartiles interpolate linearly between order statistics (Hyndman & Fan
//   type 7, the default of R's quantile() and numpy.percentile);
// - sd is the sample standard deviation (n - 1 in the denominator);
// - eta-squared = SS_between / SS_total over every value of every group;
// - H is corrected for ties (divided by 1 - Σ(t³ - t) / (N³ - N)) and
//   compared with a chi-square distribution of k - 1 degrees of freedom,
//   k = the number of non-empty groups (as R's kruskal.test and
//   scipy.stats.kruskal do).
// A figure that is undefined (no values, fewer than two non-empty groups, all
// values equal) is NaN.
//
// Thread-safety: pure functions.
#ifndef HARMONIA_QUALITY_STATS_H_
#define HARMONIA_QUALITY_STATS_H_

#include <cstdint>
#include <span>
#include <vector>

namespace harmonia::quality {

struct Summary {
  int64_t n = 0;
  double mean = 0, sd = 0, min = 0, q1 = 0, median = 0, q3 = 0, max = 0;  // NaN when n == 0
};

// The summary of `values` (NaN entries are not values and are skipped).
Summary Summarize(std::span<const double> values);

// The q-quantile (0 <= q <= 1) of ascending `sorted` values, type 7.
// REQUIRES: sorted is not empty.
double Quantile(std::span<const double> sorted, double q);

struct GroupComparison {
  int64_t n = 0;   // values in all groups
  int groups = 0;  // non-empty groups
  double eta_squared = 0;
  double kruskal_wallis_h = 0;
  int df = 0;  // groups - 1
  double p_value = 0;
};

// Compares the groups (NaN entries skipped; empty groups ignored).
GroupComparison CompareGroups(const std::vector<std::vector<double>>& groups);

// P(X >= x) for X chi-square distributed with `df` degrees of freedom.
double ChiSquareSurvival(double x, int df);

// Welch's two-sample t-test (unequal variances), two-sided, as
// scipy.stats.ttest_ind(a, b, equal_var=False) and R's t.test(a, b):
// t = (mean_a - mean_b) / sqrt(var_a/n_a + var_b/n_b) with sample variances,
// df by Welch–Satterthwaite, p = P(|T_df| >= |t|). NaN entries are skipped;
// every figure is NaN when a group has fewer than two values, and t, df and
// p are NaN when both variances are 0.
struct WelchTest {
  double mean_difference = 0;  // mean_a - mean_b
  double t = 0;
  double df = 0;
  double p_value = 0;
};
WelchTest WelchTTest(std::span<const double> a, std::span<const double> b);

}  // namespace harmonia::quality

#endif  // HARMONIA_QUALITY_STATS_H_
