// stats_tool: groups of numbers on stdin (one group per line, separated by
// spaces) → their statistics as one JSON object on stdout. A test aid for
// tests/python/stats_reference_test.py, which checks quality/stats.h against
// SciPy on random data; not installed.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "quality/stats.h"

namespace {

void Print(const char* key, double v, bool last = false) {
  if (std::isnan(v)) {
    std::printf("\"%s\": null%s", key, last ? "" : ", ");
  } else {
    std::printf("\"%s\": %.17g%s", key, v, last ? "" : ", ");
  }
}

}  // namespace

int main() {
  std::vector<std::vector<double>> groups;
  std::vector<double> all;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::vector<double> g;
    double v;
    while (in >> v) g.push_back(v);
    all.insert(all.end(), g.begin(), g.end());
    groups.push_back(std::move(g));
  }
  const harmonia::quality::GroupComparison c = harmonia::quality::CompareGroups(groups);
  const harmonia::quality::Summary s = harmonia::quality::Summarize(all);
  std::printf("{\"n\": %lld, \"groups\": %d, \"df\": %d, ", static_cast<long long>(c.n), c.groups,
              c.df);
  Print("eta_squared", c.eta_squared);
  Print("h", c.kruskal_wallis_h);
  Print("p", c.p_value);
  Print("mean", s.mean);
  Print("sd", s.sd);
  Print("q1", s.q1);
  Print("median", s.median);
  Print("q3", s.q3);
  // Welch's t-test between the first two groups.
  const harmonia::quality::WelchTest w = groups.size() >= 2
                                             ? harmonia::quality::WelchTTest(groups[0], groups[1])
                                             : harmonia::quality::WelchTest{NAN, NAN, NAN, NAN};
  Print("welch_t", w.t);
  Print("welch_df", w.df);
  Print("welch_p", w.p_value, true);
  std::printf("}\n");
  return 0;
}
