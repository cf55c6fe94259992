// The statistics of a cycle's quality report (docs/report.md): how a
// variable (the rule set's objective behaviour) is distributed, and how well
// a grouping (the segments) separates it.
//
//   Summarize       n, mean, standard deviation, min, quartiles, max
//   CompareGroups   eta-squared (one-way ANOVA effect size) and the
//                   Kruskal–Wallis H test with its chi-square p-value
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

}  // namespace harmonia::quality

#endif  // HARMONIA_QUALITY_STATS_H_
