// What a cycle's quality figures cost (quality/stats.h): the separation test
// and the per-segment distributions over a market's objective behaviour, the
// sorting part of quality::ComputeQuality. Compare with a cycle's time in
// docs/performance.md.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "quality/stats.h"

namespace {

// `n` customers in 6 segments, trx_share-like values with ties (3 decimals).
std::vector<std::vector<double>> Groups(int64_t n) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 0.2);
  std::vector<std::vector<double>> groups(6);
  for (int64_t i = 0; i < n; ++i) {
    const size_t g = rng() % groups.size();
    const double v = std::clamp(0.3 + 0.08 * static_cast<double>(g) + noise(rng), 0.0, 1.0);
    groups[g].push_back(std::round(v * 1000) / 1000);
  }
  return groups;
}

void BM_ObjectiveFigures(benchmark::State& state) {
  const auto groups = Groups(state.range(0));
  for (auto _ : state) {
    for (const auto& g : groups) benchmark::DoNotOptimize(harmonia::quality::Summarize(g));
    benchmark::DoNotOptimize(harmonia::quality::CompareGroups(groups));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_ObjectiveFigures)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
