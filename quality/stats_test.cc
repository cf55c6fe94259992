// The statistics against values published elsewhere: textbook examples as
// printed in the R and SciPy documentation, and figures from SciPy 1.10
// (scipy.stats.kruskal, f_oneway, numpy.percentile). tests/python/
// stats_reference_test.py checks random data against SciPy at test time.
#include "quality/stats.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace harmonia::quality {
namespace {

// McDonald, Handbook of Biological Statistics: the AAM length of mussels
// from five locations (the example of scipy.stats.f_oneway):
// F = 7.121019471642447 with 4 and 34 degrees of freedom, so
// eta-squared = 4F / (4F + 34).
const std::vector<std::vector<double>> kMussels = {
    {0.0571, 0.0813, 0.0831, 0.0976, 0.0817, 0.0859, 0.0735, 0.0659, 0.0923, 0.0836},
    {0.0873, 0.0662, 0.0672, 0.0819, 0.0749, 0.0649, 0.0835, 0.0725},
    {0.0974, 0.1352, 0.0817, 0.1016, 0.0968, 0.1064, 0.105},
    {0.1033, 0.0915, 0.0781, 0.0685, 0.0677, 0.0697, 0.0764, 0.0689},
    {0.0703, 0.1026, 0.0956, 0.0973, 0.1039, 0.1045},
};

TEST(CompareGroups, EtaSquaredOfTheMusselAnova) {
  const double f = 7.121019471642447;
  const GroupComparison c = CompareGroups(kMussels);
  EXPECT_EQ(c.n, 39);
  EXPECT_EQ(c.groups, 5);
  EXPECT_NEAR(c.eta_squared, 4 * f / (4 * f + 34), 1e-12);
  EXPECT_NEAR(c.eta_squared, 0.45586137861037557, 1e-12);
}

TEST(CompareGroups, KruskalWallisOfTheMussels) {
  // scipy.stats.kruskal: statistic=16.404810589080256, pvalue=0.0025214014537637097
  // (one tie: 0.0817 twice).
  const GroupComparison c = CompareGroups(kMussels);
  EXPECT_NEAR(c.kruskal_wallis_h, 16.404810589080256, 1e-9);
  EXPECT_EQ(c.df, 4);
  EXPECT_NEAR(c.p_value, 0.0025214014537637097, 1e-12);
}

TEST(CompareGroups, KruskalWallisOfHollanderAndWolfe) {
  // Hollander & Wolfe (1973), p. 116, mucociliary efficiency; the example of
  // R's kruskal.test: "Kruskal-Wallis chi-squared = 0.77143, df = 2,
  // p-value = 0.68".
  const GroupComparison c =
      CompareGroups({{2.9, 3.0, 2.5, 2.6, 3.2}, {3.8, 2.7, 4.0, 2.4}, {2.8, 3.4, 3.7, 2.2, 2.0}});
  EXPECT_NEAR(c.kruskal_wallis_h, 0.77143, 5e-6);
  EXPECT_EQ(c.df, 2);
  EXPECT_NEAR(c.p_value, 0.6799647735788936, 1e-12);
}

TEST(CompareGroups, KruskalWallisCorrectsForTies) {
  // scipy.stats.kruskal: statistic=5.786666666666664, pvalue=0.05539126698340425.
  const GroupComparison c = CompareGroups({{1, 1, 2, 2, 3}, {2, 3, 3, 4, 4}, {4, 5, 5, 5, 1}});
  EXPECT_NEAR(c.kruskal_wallis_h, 5.786666666666664, 1e-12);
  EXPECT_NEAR(c.p_value, 0.05539126698340425, 1e-12);
}

TEST(CompareGroups, TwoInterleavedGroups) {
  // The example of scipy.stats.kruskal's documentation.
  const GroupComparison c = CompareGroups({{1, 3, 5, 7, 9}, {2, 4, 6, 8, 10}});
  EXPECT_NEAR(c.kruskal_wallis_h, 0.2727272727272734, 1e-12);
  EXPECT_NEAR(c.p_value, 0.6015081344405895, 1e-12);
  // Means 5 and 6 around 5.5, SS_total 82.5: eta² = 10 × 0.25 / 82.5.
  EXPECT_NEAR(c.eta_squared, 2.5 / 82.5, 1e-15);
}

TEST(CompareGroups, PerfectSeparationHasEtaSquaredOne) {
  const GroupComparison c = CompareGroups({{1, 1, 1}, {5, 5, 5}});
  EXPECT_DOUBLE_EQ(c.eta_squared, 1.0);
  // H with ties: ranks 2 and 5, H = 3.857142857 / (1 - 48/210) = 5.
  EXPECT_NEAR(c.kruskal_wallis_h, 5.0, 1e-12);
}

TEST(CompareGroups, UndefinedFiguresAreNaN) {
  EXPECT_TRUE(std::isnan(CompareGroups({}).eta_squared));
  EXPECT_TRUE(std::isnan(CompareGroups({{1, 2, 3}}).kruskal_wallis_h));  // one group
  EXPECT_TRUE(std::isnan(CompareGroups({{1, 2, 3}, {}}).p_value));       // one non-empty
  // Values that are not exact in binary: their mean rounds, yet nothing varies.
  EXPECT_TRUE(std::isnan(CompareGroups({{0.1}, {0.1, 0.1}}).eta_squared));
  EXPECT_TRUE(std::isnan(
      CompareGroups({std::vector<double>(10, 0.7), std::vector<double>(13, 0.7)}).eta_squared));
  const GroupComparison same = CompareGroups({{2, 2}, {2, 2, 2}});  // all tied
  EXPECT_EQ(same.groups, 2);
  EXPECT_TRUE(std::isnan(same.eta_squared));
  EXPECT_TRUE(std::isnan(same.kruskal_wallis_h));
}

TEST(CompareGroups, SkipsMissingValuesAndEmptyGroups) {
  const double nan = std::nan("");
  const GroupComparison with = CompareGroups({{1, nan, 3, 5, 7, 9}, {}, {2, 4, 6, 8, 10, nan}});
  EXPECT_EQ(with.n, 10);
  EXPECT_EQ(with.groups, 2);
  EXPECT_NEAR(with.kruskal_wallis_h, 0.2727272727272734, 1e-12);
}

TEST(Summarize, QuartilesInterpolateLikeRAndNumpy) {
  // numpy.percentile(range(1, 11), [25, 50, 75]) = [3.25, 5.5, 7.75].
  const std::vector<double> v = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
  const Summary s = Summarize(v);
  EXPECT_EQ(s.n, 10);
  EXPECT_DOUBLE_EQ(s.q1, 3.25);
  EXPECT_DOUBLE_EQ(s.median, 5.5);
  EXPECT_DOUBLE_EQ(s.q3, 7.75);
  EXPECT_DOUBLE_EQ(s.mean, 5.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 10);
  EXPECT_NEAR(s.sd, 3.0276503540974917, 1e-14);  // sqrt(82.5 / 9)
}

TEST(Summarize, MusselQuartiles) {
  // numpy.percentile(tillamook, [25, 50, 75]) = [0.07545, 0.0824, 0.085325].
  const Summary s = Summarize(kMussels[0]);
  EXPECT_NEAR(s.q1, 0.07545, 1e-15);
  EXPECT_NEAR(s.median, 0.0824, 1e-15);
  EXPECT_NEAR(s.q3, 0.085325, 1e-15);
}

TEST(Summarize, EmptyAndSingle) {
  const Summary none = Summarize(std::vector<double>{std::nan("")});
  EXPECT_EQ(none.n, 0);
  EXPECT_TRUE(std::isnan(none.mean));
  const Summary one = Summarize(std::vector<double>{4});
  EXPECT_EQ(one.median, 4);
  EXPECT_EQ(one.q1, 4);
  EXPECT_TRUE(std::isnan(one.sd));
}

TEST(ChiSquareSurvival, KnownQuantiles) {
  // Table values: the 95th percentiles of chi-square with 1, 2 and 10 df.
  EXPECT_NEAR(ChiSquareSurvival(3.841458820694124, 1), 0.05, 1e-12);
  EXPECT_NEAR(ChiSquareSurvival(5.991464547107979, 2), 0.05, 1e-12);
  EXPECT_NEAR(ChiSquareSurvival(18.307038053275146, 10), 0.05, 1e-12);
  EXPECT_EQ(ChiSquareSurvival(0, 3), 1);
  EXPECT_TRUE(std::isnan(ChiSquareSurvival(1, 0)));
}

}  // namespace
}  // namespace harmonia::quality
