#include "engine/evaluator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace harmonia::engine {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string Render(const std::vector<Issue>& issues) {
  std::string out;
  for (const Issue& i : issues) out += FormatIssue(i) + "\n";
  return out;
}

// A small rule set: q (likert 1–5, required), c (choice), m (integer 0–10),
// score s = q - 3. The assignment table is given per test.
std::shared_ptr<const RuleSet> Compile(const std::string& assignment,
                                       const std::string& extra = "") {
  const std::string text = R"(
therapy_area: t
version: 4
applies_to: [x]
objective_behavior: m
questionnaire:
  - {id: q, type: likert, scale: [1, 5], required: true}
  - {id: c, type: choice, options: [red, green, blue]}
metrics:
  - {id: m, type: integer, min: 0, max: 10}
scores:
  - {id: s, intercept: -3, weights: {q: 1}}
segments: [{id: a}, {id: b}, {id: z}]
assignment:
)" + assignment + R"(
unprofiled:
  default: z
tiers:
  metric: m
  bands:
    standard: [{tier: A, min: 8}, {tier: B, min: 5}, {tier: C}]
targets:
  a: {A: {calls: 5, remote: 3, email: 1, events: 1}, B: {calls: 3}, C: {calls: 1}}
  b: {A: {calls: 4}, B: {calls: 2}, C: {}}
  z: {A: {email: 1}, B: {email: 1}, C: {email: 1}}
country_options:
  target_scale: [1.0, 0.5, 1.5, 0.3]
)" + extra;
  CompileResult r = CompileRuleSet(text, "t.yaml");
  EXPECT_NE(r.rule_set, nullptr) << Render(r.issues);
  return r.rule_set;
}

struct Row {
  double q, c, m;
};

Results Eval(const std::shared_ptr<const RuleSet>& rs, const std::vector<Row>& rows,
             const std::string& scale = "1.0") {
  std::vector<double> q, c, m;
  for (const Row& r : rows) {
    q.push_back(r.q);
    c.push_back(r.c);
    m.push_back(r.m);
  }
  Batch batch{rows.size(), {q.data(), c.data(), m.data()}};
  IssueList issues("o");
  Options options;
  EXPECT_TRUE(ResolveOptions(*rs, {{"target_scale", {scale, 1, 1}}}, &issues, &options));
  Evaluator evaluator(rs, options);
  Results results;
  evaluator.EvaluateAll(batch, &results);
  return results;
}

std::string SegmentOf(const RuleSet& rs, const Results& r, size_t i) {
  return r.segment[i] < 0 ? "" : rs.segments[r.segment[i]].id;
}
std::string RuleOf(const RuleSet& rs, const Results& r, size_t i) {
  if (r.rule[i] >= 0) return rs.rule_ids[r.rule[i]];
  for (const auto& [who, ids] : r.conflicts) {
    if (who == i) return ids;
  }
  return "?";
}

TEST(Evaluator, FirstHitPolicyTakesTheFirstMatchingRule) {
  auto rs = Compile(R"yaml(
  hit_policy: first
  rules:
    - {id: r1, when: {s: ">= 1"}, segment: a}
    - {id: r2, when: {q: ">= 2"}, segment: b}
  default: z)yaml");
  Results r = Eval(*&rs, {{5, 0, 9}, {3, 0, 9}, {1, 0, 9}});
  EXPECT_EQ(SegmentOf(*rs, r, 0), "a");
  EXPECT_EQ(RuleOf(*rs, r, 0), "r1");
  EXPECT_EQ(SegmentOf(*rs, r, 1), "b");
  EXPECT_EQ(RuleOf(*rs, r, 1), "r2");
  EXPECT_EQ(SegmentOf(*rs, r, 2), "z");
  EXPECT_EQ(RuleOf(*rs, r, 2), "default");
  EXPECT_EQ(r.decided_by[2], DecidedBy::kRules);
  EXPECT_EQ(r.scores[0][0], 2.0);
}

TEST(Evaluator, PriorityPicksTheSegmentListedFirstAndItsFirstRule) {
  auto rs = Compile(R"yaml(
  hit_policy: priority
  rules:
    - {id: rb, when: {q: ">= 1"}, segment: b}
    - {id: ra1, when: {q: ">= 5"}, segment: a}
    - {id: ra2, when: {q: ">= 4"}, segment: a}
  default: z)yaml");
  Results r = Eval(rs, {{5, 0, 0}, {4, 0, 0}, {2, 0, 0}});
  EXPECT_EQ(SegmentOf(*rs, r, 0), "a");
  EXPECT_EQ(RuleOf(*rs, r, 0), "ra1");
  EXPECT_EQ(SegmentOf(*rs, r, 1), "a");
  EXPECT_EQ(RuleOf(*rs, r, 1), "ra2");
  EXPECT_EQ(SegmentOf(*rs, r, 2), "b");
  EXPECT_EQ(RuleOf(*rs, r, 2), "rb");
}

TEST(Evaluator, UniqueConflictLeavesCustomerUnassignedWithAllMatchingIds) {
  auto rs = Compile(R"yaml(
  hit_policy: unique
  rules:
    - {id: u1, when: {q: ">= 4"}, segment: a}
    - {id: u2, when: {c: "blue"}, segment: b}
    - {id: u3, when: {m: ">= 9"}, segment: b}
  default: z)yaml");
  Results r = Eval(rs, {{5, 2, 9}, {5, 0, 0}, {1, 0, 0}});
  EXPECT_EQ(SegmentOf(*rs, r, 0), "");
  EXPECT_EQ(RuleOf(*rs, r, 0), "u1|u2|u3");
  EXPECT_EQ(r.decided_by[0], DecidedBy::kConflict);
  EXPECT_EQ(r.activity[0].calls, 0);
  EXPECT_EQ(r.tier[0], 0);  // the tier is still computed
  EXPECT_EQ(SegmentOf(*rs, r, 1), "a");
  EXPECT_EQ(RuleOf(*rs, r, 1), "u1");
  EXPECT_EQ(SegmentOf(*rs, r, 2), "z");
  EXPECT_EQ(RuleOf(*rs, r, 2), "default");
}

TEST(Evaluator, MissingInputsFailTestsButDashAndUnprofiledRouting) {
  auto rs = Compile(R"yaml(
  rules:
    - {id: r1, when: {c: "not(red)"}, segment: a}
    - {id: r2, when: {c: "-", m: "-"}, segment: b}
  default: z)yaml");
  // c missing: not(red) fails; '-' matches even missing. q missing → unprofiled.
  Results r = Eval(rs, {{3, kNaN, kNaN}, {3, 1, 0}, {kNaN, 1, 9}});
  EXPECT_EQ(RuleOf(*rs, r, 0), "r2");
  EXPECT_EQ(RuleOf(*rs, r, 1), "r1");
  EXPECT_EQ(SegmentOf(*rs, r, 2), "z");
  EXPECT_EQ(r.decided_by[2], DecidedBy::kUnprofiled);
  EXPECT_TRUE(std::isnan(r.scores[0][2])) << "a score with a missing input is missing";
}

TEST(Evaluator, TiersFromBandsAndMissingMetricTakesTheLastBand) {
  auto rs = Compile("  default: a");
  Results r = Eval(rs, {{3, 0, 8}, {3, 0, 7.0}, {3, 0, 5}, {3, 0, 4}, {3, 0, kNaN}});
  EXPECT_EQ(rs->tiers[r.tier[0]], "A");
  EXPECT_EQ(rs->tiers[r.tier[1]], "B");
  EXPECT_EQ(rs->tiers[r.tier[2]], "B");
  EXPECT_EQ(rs->tiers[r.tier[3]], "C");
  EXPECT_EQ(rs->tiers[r.tier[4]], "C");
  EXPECT_EQ(r.activity[0].calls, 5);
  EXPECT_EQ(r.activity[0].remote, 3);
}

TEST(Evaluator, TargetScaleRoundsHalfUp) {
  auto rs = Compile("  default: a");
  // a.A = calls 5, remote 3, email 1, events 1.
  Results half = Eval(rs, {{3, 0, 9}}, "0.5");
  EXPECT_EQ(half.activity[0].calls, 3);   // 2.5 → 3
  EXPECT_EQ(half.activity[0].remote, 2);  // 1.5 → 2
  EXPECT_EQ(half.activity[0].email, 1);   // 0.5 → 1
  Results more = Eval(rs, {{3, 0, 9}}, "1.5");
  EXPECT_EQ(more.activity[0].calls, 8);   // 7.5 → 8
  EXPECT_EQ(more.activity[0].remote, 5);  // 4.5 → 5
  Results third = Eval(rs, {{3, 0, 9}}, "0.3");
  EXPECT_EQ(third.activity[0].calls, 2);   // 1.5 exactly in decimal → 2 (binary 0.3 would give 1)
  EXPECT_EQ(third.activity[0].remote, 1);  // 0.9 → 1
  EXPECT_EQ(third.activity[0].email, 0);   // 0.3 → 0
}

TEST(Evaluator, ScaleHalfUpIsExactInDecimal) {
  EXPECT_EQ(ScaleHalfUp(5, 300000), 2);   // 1.5
  EXPECT_EQ(ScaleHalfUp(15, 300000), 5);  // 4.5
  EXPECT_EQ(ScaleHalfUp(3, 1500000), 5);  // 4.5
  EXPECT_EQ(ScaleHalfUp(7, 1000000), 7);
  EXPECT_EQ(ScaleHalfUp(1, 499999), 0);
  EXPECT_EQ(ScaleHalfUp(1, 500000), 1);
}

TEST(Evaluator, TypingToolHighestWinsTiesGoToFirstListedMissingGoesUnprofiled) {
  auto rs = Compile(R"yaml(
  method: typing_tool
  functions:
    b: {intercept: 0, weights: {q: 1}}
    a: {intercept: 2, weights: {q: 1, m: -1}})yaml");
  // q=3,m=0: a=5 > b=3 → a.  q=3,m=2: a=3 == b=3 → a (listed first in segments).
  // q=3,m=3: a=2 < b=3 → b.  m missing → a is missing → unprofiled.
  Results r = Eval(rs, {{3, 0, 0}, {3, 0, 2}, {3, 0, 3}, {3, 0, kNaN}});
  EXPECT_EQ(SegmentOf(*rs, r, 0), "a");
  EXPECT_EQ(RuleOf(*rs, r, 0), "typing_tool");
  EXPECT_EQ(SegmentOf(*rs, r, 1), "a");
  EXPECT_EQ(SegmentOf(*rs, r, 2), "b");
  EXPECT_EQ(SegmentOf(*rs, r, 3), "z");
  EXPECT_EQ(r.decided_by[3], DecidedBy::kUnprofiled);
}

// Explain runs the kernel itself: what it says is what Evaluate decided.
TEST(Evaluator, ExplainTracesTheKernelsOwnDecision) {
  auto typing = Compile(R"yaml(
  method: typing_tool
  functions:
    b: {intercept: 0, weights: {q: 1}}
    a: {intercept: 2, weights: {q: 1, m: -1}})yaml");
  std::vector<double> q = {3, 4}, c = {0, 0}, m = {kNaN, 1};
  Batch batch{2, {q.data(), c.data(), m.data()}};
  IssueList issues("o");
  Options options;
  ASSERT_TRUE(ResolveOptions(*typing, {}, &issues, &options));
  Evaluator evaluator(typing, options);
  // Every required question answered, but function a misses m: unprofiled.
  Trace t = evaluator.Explain(batch, 0);
  EXPECT_FALSE(t.profiled);
  EXPECT_TRUE(t.missing_required.empty());
  EXPECT_STREQ(t.table, "unprofiled");
  EXPECT_EQ(t.decided_by, DecidedBy::kUnprofiled);
  EXPECT_EQ(typing->segments[t.segment].id, "z");
  ASSERT_EQ(t.functions.size(), 2u);
  EXPECT_TRUE(std::isnan(t.functions[0].value));  // functions are in segment order: a, b
  // q=4, m=1: b = 4, a = 2 + 4 - 1 = 5 → a, by the typing tool.
  t = evaluator.Explain(batch, 1);
  EXPECT_TRUE(t.profiled);
  EXPECT_STREQ(t.table, "typing_tool");
  EXPECT_EQ(typing->segments[t.segment].id, "a");
  EXPECT_EQ(typing->rule_ids[t.rule], "typing_tool");
  EXPECT_EQ(t.functions[0].value, 5);
  ASSERT_EQ(t.scores.size(), 1u);  // s = -3 + 1 × q
  EXPECT_EQ(t.scores[0].intercept, -3);
  ASSERT_EQ(t.scores[0].terms.size(), 1u);
  EXPECT_EQ(t.scores[0].terms[0].weight, 1);
  EXPECT_EQ(t.scores[0].terms[0].value, 4);
  EXPECT_EQ(t.scores[0].value, 1);
  EXPECT_EQ(t.tier_metric, 1);
  EXPECT_EQ(typing->tiers[t.tier], "C");

  auto unique = Compile(R"yaml(
  hit_policy: unique
  rules:
    - {id: u1, when: {q: ">= 4"}, segment: a}
    - {id: u2, when: {c: "blue"}, segment: b}
  default: z)yaml");
  std::vector<double> q2 = {5, kNaN}, c2 = {2, 2}, m2 = {9, 9};
  Batch batch2{2, {q2.data(), c2.data(), m2.data()}};
  Evaluator evaluator2(unique, options);
  t = evaluator2.Explain(batch2, 0);
  EXPECT_EQ(t.decided_by, DecidedBy::kConflict);
  EXPECT_EQ(t.rule, -1);
  EXPECT_EQ(t.matched, "u1|u2");
  EXPECT_EQ(t.segment, -1);
  t = evaluator2.Explain(batch2, 1);  // q (required) unanswered
  EXPECT_FALSE(t.profiled);
  EXPECT_EQ(t.missing_required, std::vector<int>{0});
  EXPECT_STREQ(t.table, "unprofiled");
}

// Drivers collect every matching rule's tag, in rule order, each tag once,
// for profiled and unprofiled customers alike.
TEST(Evaluator, DriversCollectEveryMatchingTagInRuleOrderOnce) {
  auto rs = Compile("  default: a", R"yaml(
drivers:
  hit_policy: collect
  rules:
    - {id: d1, when: {m: ">= 8"}, tag: high_value}
    - {id: d2, when: {c: "blue"}, tag: digital_first}
    - {id: d3, when: {s: ">= 1"}, tag: high_value}
    - {id: d4, when: {c: "not(blue)"}, tag: field_first}
)yaml");
  ASSERT_NE(rs, nullptr);
  EXPECT_EQ(rs->tags, (std::vector<std::string>{"high_value", "digital_first", "field_first"}));
  // q=5 (s=2), c=blue, m=9: d1, d2, d3 → high_value once, then digital_first.
  // q=1 (s=-2), c=red, m=2: d4 only.  q missing (unprofiled), c=blue, m=9: d1, d2.
  // c missing: not(blue) fails on a missing input.
  Results r = Eval(rs, {{5, 2, 9}, {1, 0, 2}, {kNaN, 2, 9}, {3, kNaN, 0}});
  EXPECT_EQ(TagsText(*rs, r.drivers[0]), "high_value|digital_first");
  EXPECT_EQ(TagsText(*rs, r.drivers[1]), "field_first");
  EXPECT_EQ(TagsText(*rs, r.drivers[2]), "high_value|digital_first");
  EXPECT_EQ(r.decided_by[2], DecidedBy::kUnprofiled);
  EXPECT_EQ(TagsText(*rs, r.drivers[3]), "");
  // Rule order decides the order of tags: d2 alone first when d1 fails.
  Results r2 = Eval(rs, {{5, 2, 1}});  // s=2 (d3), blue (d2), m=1
  EXPECT_EQ(TagsText(*rs, r2.drivers[0]), "digital_first|high_value");
}

// The n=1 plan, derived by hand (docs/cycle.md "Plan"). Mix for c:
//   red   calls 0.5, remote 0.25, email 0.25
//   green calls 0.3333, remote 0.3333, email 0.3334
//   blue  remote 1
// min_calls 1.
TEST(Evaluator, PlanApportionsPlannedCallsByLargestRemainder) {
  auto rs = Compile("  default: a", R"yaml(
  channel_preference: [off, on]
channel_preference:
  question: c
  mix:
    red: {calls: 0.5, remote: 0.25, email: 0.25}
    green: {calls: 0.3333, remote: 0.3333, email: 0.3334}
    blue: {remote: 1}
  min_calls: 1
)yaml");
  ASSERT_NE(rs, nullptr);
  IssueList issues("o");
  Options on, off;
  ASSERT_TRUE(ResolveOptions(*rs, {{"channel_preference", {"on", 1, 1}}}, &issues, &on));
  ASSERT_TRUE(ResolveOptions(*rs, {}, &issues, &off));
  EXPECT_TRUE(on.channel_preference);
  EXPECT_FALSE(off.channel_preference) << "the built-in default is off";
  EXPECT_THAT(on.canonical, ::testing::HasSubstr(";channel_preference=on"));
  EXPECT_THAT(off.canonical, ::testing::Not(::testing::HasSubstr("channel_preference")))
      << "off is left out, so adding the section changes no inputs digest";
  auto plan = [&](Activity t, double answer, const Options& o) {
    const Activity p = PlanOf(*rs, o, t, answer);
    EXPECT_EQ(p.calls + p.remote + p.email + p.events, t.calls + t.remote + t.email + t.events)
        << "the total number of touchpoints never changes";
    return std::vector<int32_t>{p.calls, p.remote, p.email, p.events};
  };
  using V = std::vector<int32_t>;
  const double red = 0, green = 1, blue = 2;
  // 5 calls, red: 2.5 / 1.25 / 1.25 → 2, 1, 1 and the one left to calls
  // (remainder .5 beats .25): calls 3, remote 3+1, email 1+1, events 1.
  EXPECT_EQ(plan({5, 3, 1, 1}, red, on), (V{3, 4, 2, 1}));
  // 2 calls, red: 1 / .5 / .5 → 1, 0, 0; the tie of remote and email goes
  // to remote (order calls, remote, email, events).
  EXPECT_EQ(plan({2, 0, 0, 0}, red, on), (V{1, 1, 0, 0}));
  // 3 calls, red: 1.5 / .75 / .75 → 1, 0, 0; two left: remote and email.
  EXPECT_EQ(plan({3, 0, 0, 0}, red, on), (V{1, 1, 1, 0}));
  // 3 calls, green: .9999 / .9999 / 1.0002 → 0, 0, 1; two left: calls, remote.
  EXPECT_EQ(plan({3, 0, 0, 0}, green, on), (V{1, 1, 1, 0}));
  // 3 calls, blue: 0, 3, 0; min_calls 1 takes one back from remote.
  EXPECT_EQ(plan({3, 2, 0, 0}, blue, on), (V{1, 4, 0, 0}));
  // 1 call, blue: min(min_calls, 1) = 1 stays a call.
  EXPECT_EQ(plan({1, 0, 0, 0}, blue, on), (V{1, 0, 0, 0}));
  // No calls planned: nothing to apportion.
  EXPECT_EQ(plan({0, 0, 1, 0}, blue, on), (V{0, 0, 1, 0}));
  // After a refinement of +2 calls (5 → 7), red: 3.5 / 1.75 / 1.75 → 3, 1, 1;
  // two left: remote and email (.75 beats .5).
  EXPECT_EQ(plan({7, 3, 1, 1}, red, on), (V{3, 5, 3, 1}));
  // Missing answer, or the option off: the plan is the targets.
  EXPECT_EQ(plan({5, 3, 1, 1}, kNaN, on), (V{5, 3, 1, 1}));
  EXPECT_EQ(plan({5, 3, 1, 1}, red, off), (V{5, 3, 1, 1}));
  // Targets scaled by 1.5 first (a.A: 8, 5, 2, 2), then apportioned:
  // 4 / 2 / 2 exactly.
  auto scaled = Compile("  default: a", R"yaml(
  channel_preference: [off, on]
channel_preference:
  question: c
  mix:
    red: {calls: 0.5, remote: 0.25, email: 0.25}
)yaml");
  ASSERT_NE(scaled, nullptr);
  Options scale;
  ASSERT_TRUE(ResolveOptions(
      *scaled, {{"channel_preference", {"on", 1, 1}}, {"target_scale", {"1.5", 1, 1}}}, &issues,
      &scale));
  Evaluator evaluator(scaled, scale);
  const Activity t = evaluator.Targets(0, 0);
  EXPECT_EQ((V{t.calls, t.remote, t.email, t.events}), (V{8, 5, 2, 2}));
  const Activity p = PlanOf(*scaled, scale, t, red);
  EXPECT_EQ((V{p.calls, p.remote, p.email, p.events}), (V{4, 7, 4, 2}));
  // The evaluator's precomputed plan is PlanOf, for every answer and count
  // (beyond its table too).
  Evaluator fast(rs, on);
  for (double answer : {red, green, blue, kNaN}) {
    for (int32_t calls = 0; calls <= 300; ++calls) {
      const Activity t{calls, 1, 2, 3};
      const Activity a = fast.Plan(t, answer), b = PlanOf(*rs, on, t, answer);
      ASSERT_EQ((V{a.calls, a.remote, a.email, a.events}),
                (V{b.calls, b.remote, b.email, b.events}))
          << "answer " << answer << ", calls " << calls;
    }
  }
}

TEST(Evaluator, BlocksAndRangesGiveTheSameResultsAsOneCustomerAtATime) {
  auto rs = Compile(R"yaml(
  hit_policy: first
  rules:
    - {id: r1, when: {s: "> 0.5", m: "[3..7)"}, segment: a}
    - {id: r2, when: {c: "green, blue"}, segment: b}
  default: z)yaml");
  std::vector<Row> rows;
  for (int i = 0; i < 5000; ++i) {
    rows.push_back({static_cast<double>(1 + i % 5), static_cast<double>(i % 3),
                    i % 17 == 0 ? kNaN : static_cast<double>(i % 11)});
  }
  Results all = Eval(rs, rows);
  for (size_t i = 0; i < rows.size(); i += 37) {
    Results one = Eval(rs, {rows[i]});
    EXPECT_EQ(one.segment[0], all.segment[i]) << i;
    EXPECT_EQ(one.rule[0], all.rule[i]) << i;
    EXPECT_EQ(one.tier[0], all.tier[i]) << i;
    EXPECT_EQ(one.activity[0].calls, all.activity[i].calls) << i;
  }
}

}  // namespace
}  // namespace harmonia::engine
