#include "engine/cycle.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/date.h"

namespace harmonia::engine {
namespace {

std::string Render(const std::vector<Issue>& issues) {
  std::string out;
  for (const Issue& i : issues) out += FormatIssue(i) + "\n";
  return out;
}

constexpr const char* kRules = R"yaml(
therapy_area: t
version: 2
applies_to: [x]
objective_behavior: m
questionnaire:
  - {id: q, type: likert, scale: [1, 5], required: true}
  - {id: c, type: choice, options: [red, green]}
  - {id: b, type: boolean}
metrics:
  - {id: m, type: number, min: 0, max: 10}
segments: [{id: a}, {id: b}, {id: z}]
assignment:
  rules:
    - {id: r1, when: {q: ">= 4"}, segment: a}
  default: b
unprofiled:
  default: z
tiers:
  metric: m
  bands:
    standard: [{tier: A, min: 5}, {tier: B}]
targets:
  a: {A: {calls: 6, email: 2}, B: {calls: 3}}
  b: {A: {calls: 4}, B: {calls: 2}}
  z: {A: {}, B: {email: 1}}
refinement_reasons: [new_information, practice_change]
country_options:
  process: [field_refined, data_driven]
  max_refinement_share: [0.5, 0.25]
  pull_through: [on, off]
)yaml";

constexpr const char* kCountry = R"yaml(
country: DE
timezone: Europe/Berlin
data_sources: [rep, external]
max_input_age_days: 100
therapy_areas:
  t: {}
)yaml";

class CycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CompileResult r = CompileRuleSet(kRules, "t.yaml");
    ASSERT_NE(r.rule_set, nullptr) << Render(r.issues);
    rules_ = r.rule_set;
    CountryLoadResult c =
        LoadCountryConfig(kCountry, "DE.yaml", [&](const std::string&) { return rules_.get(); });
    ASSERT_TRUE(c.config.has_value()) << Render(c.issues);
    country_ = *c.config;
    day_ = *ParseIsoDate("2026-06-30");
  }

  Options Resolve(std::map<std::string, OptionValue> chosen = {}) {
    IssueList issues("o");
    Options o;
    EXPECT_TRUE(ResolveOptions(*rules_, chosen, &issues, &o)) << Render(issues.issues());
    return o;
  }

  bool Offer(InputSelector& s, uint32_t customer, const char* input, const char* value,
             Source source, const char* as_of, uint64_t order, InputIssue* issue = nullptr) {
    InputIssue ignored;
    std::string reason;
    return s.Offer(customer, rules_->FindColumn(input), value, source, *ParseIsoDate(as_of), order,
                   issue ? issue : &ignored, &reason);
  }

  std::shared_ptr<const RuleSet> rules_;
  CountryConfig country_;
  int32_t day_ = 0;
};

TEST_F(CycleTest, SourcePrecedenceBeatsRecency) {
  InputSelector s(*rules_, country_, day_, 1);
  Offer(s, 0, "q", "2", Source::kExternal, "2026-06-29", 1);
  Offer(s, 0, "q", "4", Source::kRep, "2026-04-01", 2);
  Offer(s, 0, "q", "5", Source::kExternal, "2026-06-30", 3);
  EXPECT_EQ(s.batch().columns[0][0], 4) << "rep is listed first, so its older value wins";
  ASSERT_TRUE(s.provenance(0, 0).has_value());
  EXPECT_EQ(s.provenance(0, 0)->source, Source::kRep);
  EXPECT_EQ(FormatIsoDate(s.provenance(0, 0)->as_of), "2026-04-01");
}

TEST_F(CycleTest, PassedOverSaysWhyEachCandidateLost) {
  InputSelector s(*rules_, country_, day_, 1);
  const int q = rules_->FindColumn("q");
  Offer(s, 0, "q", "2", Source::kExternal, "2026-06-29", 1);
  Offer(s, 0, "q", "4", Source::kRep, "2026-04-01", 2);
  Offer(s, 0, "q", "3", Source::kRep, "2026-03-01", 3);
  Offer(s, 0, "q", "5", Source::kRep, "2026-04-01", 1);
  const auto day = [](const char* d) { return *ParseIsoDate(d); };
  EXPECT_EQ(s.PassedOver(0, q, Source::kRep, day("2026-04-01"), 2), nullptr);
  EXPECT_STREQ(s.PassedOver(0, q, Source::kExternal, day("2026-06-29"), 1),
               "lower precedence source");
  EXPECT_STREQ(s.PassedOver(0, q, Source::kRep, day("2026-03-01"), 3), "older");
  EXPECT_STREQ(s.PassedOver(0, q, Source::kRep, day("2026-04-01"), 1), "imported earlier");
}

TEST_F(CycleTest, NewestWithinASourceThenLastImportedOnATie) {
  InputSelector s(*rules_, country_, day_, 2);
  Offer(s, 0, "q", "2", Source::kRep, "2026-05-01", 1);
  Offer(s, 0, "q", "3", Source::kRep, "2026-06-01", 2);
  Offer(s, 0, "q", "1", Source::kRep, "2026-05-15", 3);
  EXPECT_EQ(s.batch().columns[0][0], 3);
  Offer(s, 1, "q", "2", Source::kRep, "2026-06-01", 7);
  Offer(s, 1, "q", "5", Source::kRep, "2026-06-01", 9);
  Offer(s, 1, "q", "4", Source::kRep, "2026-06-01", 8);
  EXPECT_EQ(s.batch().columns[0][1], 5) << "same source and date: the row imported last";
}

TEST_F(CycleTest, AnInvalidValueImportedLastLeavesTheValidOneChosen) {
  // A store's import orders exceed 32 bits after enough imports.
  const uint64_t big = (uint64_t{1} << 40) + 5;
  InputSelector s(*rules_, country_, day_, 1);
  InputIssue issue;
  EXPECT_TRUE(Offer(s, 0, "q", "4", Source::kRep, "2026-06-01", big, &issue));
  EXPECT_FALSE(Offer(s, 0, "q", "9", Source::kRep, "2026-06-01", big + 1, &issue));
  EXPECT_EQ(issue, InputIssue::kInvalid);
  EXPECT_TRUE(Offer(s, 0, "q", "3", Source::kRep, "2026-06-01", big - 1, &issue));
  EXPECT_EQ(s.batch().columns[0][0], 4);
  EXPECT_EQ(s.provenance(0, 0)->order, big);
  EXPECT_EQ(FormatIsoDate(s.provenance(0, 0)->as_of), "2026-06-01");
  EXPECT_TRUE(Offer(s, 0, "q", "5", Source::kRep, "2026-06-01", kMaxInputOrder, &issue));
  EXPECT_EQ(s.batch().columns[0][0], 5);
}

TEST_F(CycleTest, StaleFutureUnusedSourceAndInvalidValuesAreNotCandidates) {
  InputSelector s(*rules_, country_, day_, 1);
  InputIssue issue;
  // Exactly max_input_age_days (100) before the cycle date is still fresh.
  EXPECT_TRUE(Offer(s, 0, "q", "1", Source::kRep, "2026-03-22", 1, &issue));
  EXPECT_FALSE(Offer(s, 0, "q", "2", Source::kRep, "2026-03-21", 2, &issue));
  EXPECT_EQ(issue, InputIssue::kStale);
  EXPECT_TRUE(Offer(s, 0, "m", "3", Source::kRep, "2026-06-30", 3, &issue));
  EXPECT_FALSE(Offer(s, 0, "m", "4", Source::kRep, "2026-07-01", 4, &issue));
  EXPECT_EQ(issue, InputIssue::kFuture);
  EXPECT_FALSE(Offer(s, 0, "c", "red", Source::kLocal, "2026-06-01", 5, &issue));
  EXPECT_EQ(issue, InputIssue::kSourceNotUsed);
  EXPECT_FALSE(Offer(s, 0, "q", "9", Source::kRep, "2026-06-29", 6, &issue));
  EXPECT_EQ(issue, InputIssue::kInvalid);
  EXPECT_FALSE(Offer(s, 0, "c", "purple", Source::kRep, "2026-06-29", 7, &issue));
  EXPECT_FALSE(Offer(s, 0, "b", "yes", Source::kRep, "2026-06-29", 8, &issue));
  EXPECT_FALSE(Offer(s, 0, "m", "10.5", Source::kRep, "2026-06-29", 9, &issue));
  const Batch b = s.batch();
  EXPECT_EQ(b.columns[0][0], 1) << "the invalid 9 never replaced the valid 1";
  EXPECT_TRUE(std::isnan(b.columns[1][0]));
  EXPECT_EQ(b.columns[3][0], 3);
  EXPECT_EQ(s.quality().Total(InputIssue::kInvalid), 4);
  EXPECT_EQ(s.quality().Total(InputIssue::kStale), 1);
  EXPECT_EQ(s.quality().Total(InputIssue::kFuture), 1);
  EXPECT_EQ(s.quality().Total(InputIssue::kSourceNotUsed), 1);
  EXPECT_EQ(s.quality().by_kind_source[static_cast<int>(InputIssue::kSourceNotUsed)]
                                      [static_cast<int>(Source::kLocal)],
            1);
}

TEST_F(CycleTest, MergeKeepsTheBetterCandidate) {
  InputSelector a(*rules_, country_, day_, 2), b(*rules_, country_, day_, 2);
  Offer(a, 0, "q", "2", Source::kExternal, "2026-06-01", 1);
  Offer(b, 0, "q", "4", Source::kRep, "2026-01-01", 900);  // stale → not a candidate
  Offer(b, 0, "q", "5", Source::kRep, "2026-05-01", 901);
  Offer(a, 1, "q", "3", Source::kRep, "2026-05-01", 10);
  Offer(b, 1, "q", "1", Source::kRep, "2026-05-01", 5);
  a.Merge(b);
  EXPECT_EQ(a.batch().columns[0][0], 5);
  EXPECT_EQ(a.batch().columns[0][1], 3) << "tie on source and date: higher order wins";
  EXPECT_EQ(a.quality().Total(InputIssue::kStale), 1);
}

struct Fixture {
  std::vector<std::vector<double>> cols;
  Batch batch;
  std::vector<std::string> ids;
};

Fixture Customers(const std::vector<std::vector<double>>& rows) {
  Fixture f;
  f.cols.assign(4, {});
  for (size_t i = 0; i < rows.size(); ++i) {
    for (int c = 0; c < 4; ++c) f.cols[c].push_back(rows[i][c]);
    f.ids.push_back("C" + std::to_string(100 + i));
  }
  f.batch.size = rows.size();
  for (auto& c : f.cols) f.batch.columns.push_back(c.data());
  return f;
}

const double kNaN = std::nan("");

TEST_F(CycleTest, PullThroughKeepsThePreviousAssignmentWhenNothingChanged) {
  Fixture f = Customers({{5, 0, 1, 7}, {2, 0, 1, 7}, {5, 0, 1, 2}});
  Evaluator ev(rules_, Resolve());
  CycleInput in{.evaluator = &ev, .batch = &f.batch, .customer_ids = &f.ids};
  CycleOutput first = RunCycle(in);
  EXPECT_EQ(first.pulled_through, 0);
  EXPECT_EQ(first.digests[0].size(), 32u);
  EXPECT_NE(first.digests[0], first.digests[1]);

  // The previous cycle had refined customer 0 into z with 9 calls; customer 1's
  // digest differs; customer 2's version differs.
  PreviousAssignment p0{"z", "A", {9, 0, 0, 0}, "r1", 2, first.digests[0]};
  PreviousAssignment p1{"z", "A", {9, 0, 0, 0}, "default", 2, "0000"};
  PreviousAssignment p2{"z", "A", {9, 0, 0, 0}, "r1", 1, first.digests[2]};
  in.previous = {&p0, &p1, &p2};
  CycleOutput second = RunCycle(in);
  EXPECT_EQ(second.pulled_through, 1);
  EXPECT_EQ(second.results.decided_by[0], DecidedBy::kPullThrough);
  EXPECT_EQ(rules_->segments[second.results.segment[0]].id, "z");
  EXPECT_EQ(second.results.activity[0].calls, 9);
  EXPECT_EQ(rules_->rule_ids[second.results.rule[0]], "r1");
  EXPECT_EQ(second.results.decided_by[1], DecidedBy::kRules);
  EXPECT_EQ(second.results.decided_by[2], DecidedBy::kRules);

  // Options are part of the digest; and pull_through off disables it.
  Evaluator off(rules_, Resolve({{"pull_through", {"off", 1, 1}}}));
  in.evaluator = &off;
  CycleOutput third = RunCycle(in);
  EXPECT_EQ(third.pulled_through, 0);
  EXPECT_NE(third.digests[0], first.digests[0]);
}

TEST_F(CycleTest, DigestIsDeterministicAndSensitiveToEveryInput) {
  Fixture f = Customers({{5, 0, 1, 7},
                         {5, 0, 1, 7},
                         {5, 1, 1, 7},
                         {5, 0, 0, 7},
                         {5, 0, 1, kNaN},
                         {5, 0, 1, 0},
                         {5, 0, 1, -0.0}});
  Options o = Resolve();
  EXPECT_EQ(InputsDigest(*rules_, o, f.batch, 0), InputsDigest(*rules_, o, f.batch, 1));
  for (size_t i = 2; i < 5; ++i) {
    EXPECT_NE(InputsDigest(*rules_, o, f.batch, 0), InputsDigest(*rules_, o, f.batch, i)) << i;
  }
  EXPECT_EQ(InputsDigest(*rules_, o, f.batch, 5), InputsDigest(*rules_, o, f.batch, 6));
}

TEST_F(CycleTest, RefinementsQuotaReasonsLatestWinsAndCallsFloor) {
  // Four customers in scope, share 0.5 → quota floor(2.0) = 2 distinct customers.
  Fixture f = Customers({{5, 0, 1, 7}, {2, 0, 1, 7}, {2, 0, 1, 2}, {5, 0, 1, 2}});
  Evaluator ev(rules_, Resolve());
  std::vector<Refinement> refs = {
      {"q1", "C100", "t", "b", "", "new_information", "", "rep1", 2},   // applied, then superseded
      {"q2", "C101", "t", "", "-5", "practice_change", "", "rep1", 3},  // calls 4-5 → floor 0
      {"q3", "C102", "t", "a", "1", "new_information", "", "rep1", 4},  // over quota
      {"q4", "C100", "t", "z", "2", "practice_change", "", "rep2", 5},  // latest for C100 wins
      {"q5", "C103", "t", "x", "", "new_information", "", "rep1", 6},   // unknown segment
      {"q6", "C103", "t", "a", "", "gut_feeling", "", "rep1", 7},       // unknown reason
      {"q7", "C999", "t", "a", "", "new_information", "", "rep1", 8},   // unknown customer
      {"q8", "C103", "other", "a", "", "new_information", "", "rep1", 9},
      {"q9", "C103", "t", "a", "two", "new_information", "", "rep1", 10},
      {"q2", "C103", "t", "a", "", "new_information", "", "rep1", 11},  // duplicate request
      {"q10", "C103", "t", "", "0", "new_information", "", "rep1", 12},
  };
  CycleInput in{.evaluator = &ev,
                .batch = &f.batch,
                .customer_ids = &f.ids,
                .refinements = &refs,
                .country = "DE"};
  CycleOutput out = RunCycle(in);
  using S = RefinementOutcome::Status;
  ASSERT_EQ(out.refinements.size(), refs.size());
  EXPECT_EQ(out.refinement_quota, 2);
  EXPECT_EQ(out.refinements[0].status, S::kSuperseded);
  EXPECT_EQ(out.refinements[0].message, "superseded by the later refinement on line 5");
  EXPECT_EQ(out.refinements[1].status, S::kApplied);
  EXPECT_EQ(out.refinements[2].status, S::kRejected);
  EXPECT_EQ(out.refinements[2].message,
            "over quota: at most 2 customers (max_refinement_share 0.5 of 4 in scope) may be "
            "refined per cycle");
  EXPECT_EQ(out.refinements[3].status, S::kApplied);
  EXPECT_EQ(out.refinements[4].message, "unknown segment 'x'; expected one of: a, b, z");
  EXPECT_EQ(out.refinements[5].message,
            "unknown reason 'gut_feeling'; expected one of: new_information, practice_change");
  EXPECT_EQ(out.refinements[6].message, "unknown customer 'C999'");
  EXPECT_EQ(out.refinements[7].status, S::kOtherTherapyArea);
  EXPECT_EQ(out.refinements[7].message, "for therapy area 'other', not t");
  EXPECT_EQ(out.refinements[8].message,
            "calls_delta 'two' is not a whole number from -10000 to 10000");
  EXPECT_EQ(out.refinements[9].message, "duplicate request_id 'q2' (line 3)");
  EXPECT_EQ(out.refinements[10].message, "changes nothing: segment is empty and calls_delta is 0");

  const Results& r = out.results;
  // C100: z, tier A (m=7): z.A has no calls → 0 + 2.
  EXPECT_EQ(rules_->segments[r.segment[0]].id, "z");
  EXPECT_EQ(r.activity[0].calls, 2);
  EXPECT_EQ(r.decided_by[0], DecidedBy::kRefinement);
  EXPECT_EQ(rules_->rule_ids[r.rule[0]], "r1") << "rule_id keeps the rule that fired";
  // C101: segment kept (b by default), b.A calls 4 - 5 → 0.
  EXPECT_EQ(rules_->segments[r.segment[1]].id, "b");
  EXPECT_EQ(r.activity[1].calls, 0);
  EXPECT_EQ(r.decided_by[1], DecidedBy::kRefinement);
  // C102 over quota: untouched.
  EXPECT_EQ(r.decided_by[2], DecidedBy::kRules);
  EXPECT_EQ(out.refined, 2);
}

TEST_F(CycleTest, DataDrivenProcessRejectsEveryRefinement) {
  Fixture f = Customers({{5, 0, 1, 7}});
  Evaluator ev(rules_, Resolve({{"process", {"data_driven", 1, 1}}}));
  std::vector<Refinement> refs = {{"q1", "C100", "t", "b", "", "new_information", "", "r", 2}};
  CycleInput in{.evaluator = &ev,
                .batch = &f.batch,
                .customer_ids = &f.ids,
                .refinements = &refs,
                .country = "DE"};
  CycleOutput out = RunCycle(in);
  EXPECT_EQ(out.refinements[0].status, RefinementOutcome::Status::kRejected);
  EXPECT_EQ(out.refinements[0].message,
            "country DE runs t with process data_driven: refinements are not applied");
  EXPECT_EQ(out.results.decided_by[0], DecidedBy::kRules);
}

TEST_F(CycleTest, ParallelRunEqualsSerialRun) {
  std::vector<std::vector<double>> rows;
  for (int i = 0; i < 20000; ++i) {
    rows.push_back({static_cast<double>(1 + i % 5), static_cast<double>(i % 2),
                    static_cast<double>(i % 3 == 0), i % 7 == 0 ? kNaN : i % 11});
  }
  Fixture f = Customers(rows);
  Evaluator ev(rules_, Resolve());
  CycleInput in{.evaluator = &ev, .batch = &f.batch, .customer_ids = &f.ids, .threads = 1};
  CycleOutput serial = RunCycle(in);
  in.threads = 4;
  CycleOutput parallel = RunCycle(in);
  EXPECT_EQ(serial.digests, parallel.digests);
  EXPECT_EQ(serial.results.segment, parallel.results.segment);
  EXPECT_EQ(serial.results.tier, parallel.results.tier);
}

}  // namespace
}  // namespace harmonia::engine
