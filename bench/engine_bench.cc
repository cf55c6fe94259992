// Engine throughput : 1M customers × 12 likert answers + 2 metrics,
// 3 scores, a 10-rule `first` table, tiers and targets, data already in
// memory, one thread. Run: build/bench/engine_bench (figures in
// docs/performance.md).
//
// BM_HandWrittenLoop is the yardstick: the same table written as a plain
// per-customer C++ loop, as a developer would without an engine.
// BM_EngineWithDriversAndPlan adds 8 drivers rules and the n=1 plan.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "engine/evaluator.h"
#include "engine/rule_set.h"

namespace harmonia::engine {
namespace {

constexpr size_t kCustomers = 1000000;

const char* kRuleSet = R"yaml(
therapy_area: bench
version: 1
applies_to: [specialist]
objective_behavior: share
questionnaire:
  - {id: q1, type: likert, scale: [1, 5], required: true}
  - {id: q2, type: likert, scale: [1, 5], required: true}
  - {id: q3, type: likert, scale: [1, 5], required: true}
  - {id: q4, type: likert, scale: [1, 5], required: true}
  - {id: q5, type: likert, scale: [1, 5]}
  - {id: q6, type: likert, scale: [1, 5]}
  - {id: q7, type: likert, scale: [1, 5]}
  - {id: q8, type: likert, scale: [1, 5]}
  - {id: q9, type: likert, scale: [1, 5]}
  - {id: q10, type: likert, scale: [1, 5]}
  - {id: q11, type: likert, scale: [1, 5]}
  - {id: q12, type: likert, scale: [1, 5]}
metrics:
  - {id: decile, type: integer, min: 0, max: 10}
  - {id: share, type: number, min: 0, max: 1}
scores:
  - {id: s1, intercept: -3.0, weights: {q1: 0.6, q2: 0.5, q3: -0.4, q4: 0.3}}
  - {id: s2, intercept: -2.5, weights: {q5: 0.5, q6: 0.3, q7: 0.2, q8: 0.1}}
  - {id: s3, intercept: -2.0, weights: {q9: 0.5, q10: 0.4, q11: 0.2, q12: -0.1}}
segments: [{id: a}, {id: b}, {id: c}, {id: d}, {id: e}, {id: u}]
assignment:
  hit_policy: first
  rules:
    - {id: r1, when: {s1: ">= 1.0", decile: ">= 7"}, segment: a}
    - {id: r2, when: {s1: ">= 1.5"}, segment: a}
    - {id: r3, when: {s3: ">= 1.2"}, segment: d}
    - {id: r4, when: {s2: ">= 1.0", q5: ">= 4"}, segment: b}
    - {id: r5, when: {s2: ">= 1.2"}, segment: b}
    - {id: r6, when: {s1: "< -1.5", q3: ">= 4"}, segment: e}
    - {id: r7, when: {q6: "4, 5", share: "[0.1..0.4)"}, segment: c}
    - {id: r8, when: {s1: "[-1.5..1.0)", s2: "< 1.0"}, segment: c}
    - {id: r9, when: {decile: "<= 2", s1: "< 0"}, segment: e}
    - {id: r10, when: {q7: "not(1)", share: ">= 0.6"}, segment: c}
  default: c
unprofiled:
  default: u
tiers:
  metric: decile
  bands:
    standard: [{tier: A, min: 8}, {tier: B, min: 5}, {tier: C}]
targets:
  a: {A: {calls: 12, remote: 4, email: 6, events: 2}, B: {calls: 8, remote: 3, email: 4, events: 1}, C: {calls: 3, email: 4}}
  b: {A: {calls: 10, remote: 4, email: 8, events: 2}, B: {calls: 6, remote: 4, email: 6, events: 1}, C: {remote: 2, email: 4}}
  c: {A: {calls: 8, remote: 6, email: 6}, B: {calls: 5, remote: 4, email: 4}, C: {remote: 2, email: 3}}
  d: {A: {calls: 6, remote: 4, email: 4, events: 1}, B: {calls: 4, remote: 3, email: 3}, C: {email: 3}}
  e: {A: {calls: 9, remote: 2, email: 2, events: 2}, B: {calls: 6, remote: 1, email: 2, events: 1}, C: {calls: 2, email: 1}}
  u: {A: {calls: 6, remote: 2, email: 2}, B: {calls: 4, remote: 2, email: 2}, C: {email: 2}}
country_options:
  target_scale: [0.8]
)yaml";

struct Data {
  std::shared_ptr<const RuleSet> rules;
  std::vector<std::vector<double>> columns;
  Batch batch;
};

const Data& TheData() {
  static const Data* data = [] {
    auto* d = new Data;
    CompileResult r = CompileRuleSet(kRuleSet, "bench.yaml");
    if (!r.rule_set) {
      for (const Issue& i : r.issues) std::fprintf(stderr, "%s\n", FormatIssue(i).c_str());
      std::abort();
    }
    d->rules = r.rule_set;
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<int> likert(1, 5), decile(0, 10);
    std::uniform_real_distribution<double> share(0, 1), missing(0, 1);
    d->columns.assign(14, std::vector<double>(kCustomers));
    for (size_t i = 0; i < kCustomers; ++i) {
      for (int q = 0; q < 12; ++q) {
        d->columns[q][i] = missing(rng) < 0.03 ? NAN : likert(rng);
      }
      d->columns[12][i] = decile(rng);
      d->columns[13][i] = share(rng);
    }
    d->batch.size = kCustomers;
    for (auto& c : d->columns) d->batch.columns.push_back(c.data());
    return d;
  }();
  return *data;
}

void BM_Engine(benchmark::State& state) {
  const Data& d = TheData();
  IssueList issues("bench");
  Options options;
  ResolveOptions(*d.rules, {}, &issues, &options);
  Evaluator evaluator(d.rules, options);
  Results results;
  results.Resize(kCustomers, d.rules->scores.size());
  std::vector<std::pair<uint32_t, std::string>> conflicts;
  for (auto _ : state) {
    evaluator.Evaluate(d.batch, 0, kCustomers, &results, &conflicts);
    benchmark::DoNotOptimize(results.activity.data());
  }
  state.SetItemsProcessed(state.iterations() * kCustomers);
}
BENCHMARK(BM_Engine)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The same decision written by hand, customer by customer.
void BM_HandWrittenLoop(benchmark::State& state) {
  const Data& d = TheData();
  const auto& c = d.columns;
  std::vector<int16_t> segment(kCustomers);
  std::vector<uint8_t> tier(kCustomers);
  std::vector<Activity> activity(kCustomers);
  static const Activity kTargets[6][3] = {
      {{10, 3, 5, 2}, {6, 2, 3, 1}, {2, 0, 3, 0}}, {{8, 3, 6, 2}, {5, 3, 5, 1}, {0, 2, 3, 0}},
      {{6, 5, 5, 0}, {4, 3, 3, 0}, {0, 2, 2, 0}},  {{5, 3, 3, 1}, {3, 2, 2, 0}, {0, 0, 2, 0}},
      {{7, 2, 2, 2}, {5, 1, 2, 1}, {2, 0, 1, 0}},  {{5, 2, 2, 0}, {3, 2, 2, 0}, {0, 0, 2, 0}}};
  for (auto _ : state) {
    for (size_t i = 0; i < kCustomers; ++i) {
      const double s1 = -3.0 + 0.6 * c[0][i] + 0.5 * c[1][i] - 0.4 * c[2][i] + 0.3 * c[3][i];
      const double s2 = -2.5 + 0.5 * c[4][i] + 0.3 * c[5][i] + 0.2 * c[6][i] + 0.1 * c[7][i];
      const double s3 = -2.0 + 0.5 * c[8][i] + 0.4 * c[9][i] + 0.2 * c[10][i] - 0.1 * c[11][i];
      const double dec = c[12][i], sh = c[13][i];
      int seg;
      const bool profiled =
          c[0][i] == c[0][i] && c[1][i] == c[1][i] && c[2][i] == c[2][i] && c[3][i] == c[3][i];
      if (!profiled)
        seg = 5;
      else if (s1 >= 1.0 && dec >= 7)
        seg = 0;
      else if (s1 >= 1.5)
        seg = 0;
      else if (s3 >= 1.2)
        seg = 3;
      else if (s2 >= 1.0 && c[4][i] >= 4)
        seg = 1;
      else if (s2 >= 1.2)
        seg = 1;
      else if (s1 < -1.5 && c[2][i] >= 4)
        seg = 4;
      else if ((c[5][i] == 4 || c[5][i] == 5) && sh >= 0.1 && sh < 0.4)
        seg = 2;
      else if (s1 >= -1.5 && s1 < 1.0 && s2 < 1.0)
        seg = 2;
      else if (dec <= 2 && s1 < 0)
        seg = 4;
      else if (c[6][i] == c[6][i] && c[6][i] != 1 && sh >= 0.6)
        seg = 2;
      else
        seg = 2;
      const int t = dec >= 8 ? 0 : dec >= 5 ? 1 : 2;
      segment[i] = static_cast<int16_t>(seg);
      tier[i] = static_cast<uint8_t>(t);
      activity[i] = kTargets[seg][t];
    }
    benchmark::DoNotOptimize(activity.data());
  }
  state.SetItemsProcessed(state.iterations() * kCustomers);
}
BENCHMARK(BM_HandWrittenLoop)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The same rule set with a channel-preference question, 8 drivers rules and
// the n=1 plan on: Evaluate (drivers included) and the plan of every
// customer, one thread.
std::string WithDriversAndPlan() {
  std::string text = kRuleSet;
  text.replace(text.find("metrics:"), 0,
               "  - {id: pref, type: choice, options: [f2f, remote, digital]}\n");
  text.replace(text.find("  target_scale: [0.8]"), 0, "  channel_preference: [on]\n");
  text += R"yaml(
drivers:
  hit_policy: collect
  rules:
    - {id: d1, when: {s3: ">= 1.0"}, tag: access_barrier}
    - {id: d2, when: {pref: "digital"}, tag: digital_first}
    - {id: d3, when: {s2: ">= 1.0", q5: ">= 4"}, tag: evidence_need}
    - {id: d4, when: {decile: ">= 8"}, tag: high_value}
    - {id: d5, when: {q11: "<= 2"}, tag: access_barrier}
    - {id: d6, when: {share: "< 0.1"}, tag: low_share}
    - {id: d7, when: {pref: "f2f", s1: ">= 0"}, tag: relationship}
    - {id: d8, when: {q12: "5"}, tag: evidence_need}
channel_preference:
  question: pref
  mix:
    digital: {calls: 0.5, remote: 0.25, email: 0.25}
    remote: {calls: 0.3333, remote: 0.6667}
  min_calls: 1
)yaml";
  return text;
}

void BM_EngineWithDriversAndPlan(benchmark::State& state) {
  static const Data* data = [] {
    auto* d = new Data;
    CompileResult r = CompileRuleSet(WithDriversAndPlan(), "bench-plan.yaml");
    if (!r.rule_set) {
      for (const Issue& i : r.issues) std::fprintf(stderr, "%s\n", FormatIssue(i).c_str());
      std::abort();
    }
    d->rules = r.rule_set;
    const Data& base = TheData();
    std::mt19937_64 rng(43);
    std::uniform_int_distribution<int> pref(0, 2);
    std::uniform_real_distribution<double> missing(0, 1);
    std::vector<double> answers(kCustomers);
    for (double& a : answers) a = missing(rng) < 0.05 ? NAN : pref(rng);
    // Questions first (12 likert, then pref), then the metrics.
    d->columns.assign(base.columns.begin(), base.columns.begin() + 12);
    d->columns.push_back(std::move(answers));
    d->columns.push_back(base.columns[12]);
    d->columns.push_back(base.columns[13]);
    d->batch.size = kCustomers;
    for (auto& c : d->columns) d->batch.columns.push_back(c.data());
    return d;
  }();
  IssueList issues("bench");
  Options options;
  ResolveOptions(*data->rules, {}, &issues, &options);
  if (!options.channel_preference) std::abort();
  Evaluator evaluator(data->rules, options);
  Results results;
  results.Resize(kCustomers, data->rules->scores.size());
  std::vector<Activity> plan(kCustomers);
  std::vector<std::pair<uint32_t, std::string>> conflicts;
  const double* answers = data->batch.columns[data->rules->channel_preference.question];
  for (auto _ : state) {
    evaluator.Evaluate(data->batch, 0, kCustomers, &results, &conflicts);
    for (size_t i = 0; i < kCustomers; ++i) {
      plan[i] = evaluator.Plan(results.activity[i], answers[i]);
    }
    benchmark::DoNotOptimize(plan.data());
    benchmark::DoNotOptimize(results.drivers.data());
  }
  state.SetItemsProcessed(state.iterations() * kCustomers);
}
BENCHMARK(BM_EngineWithDriversAndPlan)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
}  // namespace harmonia::engine

BENCHMARK_MAIN();
