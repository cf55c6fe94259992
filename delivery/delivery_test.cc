#include "delivery/delivery.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace harmonia::delivery {
namespace {

using store::AssignmentRow;
using ::testing::ElementsAre;

AssignmentRow Row(const std::string& id, const std::string& segment, int32_t calls) {
  AssignmentRow r{id, segment, "A", calls, 2, 3, 0, "rules", "r1", 4, "d-" + id, ""};
  r.plan_calls = calls;
  r.plan_remote = 2;
  r.plan_email = 3;
  return r;
}

std::shared_ptr<const engine::RuleSet> Rules() {
  engine::CompileResult c = engine::CompileRuleSet(R"yaml(
therapy_area: onc
version: 4
applies_to: [pcp]
objective_behavior: m
questionnaire: [{id: q1, type: likert, scale: [1, 5]}]
metrics: [{id: m, type: number, min: 0, max: 1}]
segments:
  - {id: early, name: Early adopter, message: "Data, now", channels: [face_to_face, digital]}
  - {id: late, name: Late, message: "Say \"hello\"", channels: [remote]}
assignment: {hit_policy: first, rules: [], default: early}
unprofiled: {default: late}
tiers: {metric: m, bands: {standard: [{tier: A}]}}
targets: {early: {A: {calls: 1}}, late: {A: {calls: 1}}}
refinement_reasons: [x]
country_options: {tier_bands: [standard]}
)yaml",
                                                   "onc.yaml");
  EXPECT_NE(c.rule_set, nullptr);
  return c.rule_set;
}

TEST(Delivery, SegmentsCarryTheCountrysLabelElseTheirName) {
  engine::TherapyAreaConfig ta;
  ta.labels["early"] = "Früher Anwender";
  const Directives d(*Rules(), &ta);
  EXPECT_EQ(d.Find("early")->label, "Früher Anwender");
  EXPECT_EQ(d.Find("early")->name, "Early adopter");
  EXPECT_EQ(d.Find("early")->channels, "face_to_face|digital");
  EXPECT_EQ(d.Find("late")->label, "Late");
  EXPECT_EQ(d.Find(""), nullptr) << "a conflict has no segment";
  EXPECT_EQ(d.Find("gone"), nullptr);
}

TEST(Delivery, DirectivesRowsInCsvAndJsonLines) {
  const Directives d(*Rules(), nullptr);
  AssignmentRow r = Row("C1", "late", 5);
  r.tags = "access|digital_first";
  r.plan_calls = 3;
  r.plan_remote = 4;
  std::string csv, json;
  AppendDirectives(Encoding::kCsv, &csv, "DE", "onc", r, d);
  AppendDirectives(Encoding::kJsonLines, &json, "DE", "onc", r, d);
  EXPECT_EQ(csv,
            "C1,DE,onc,late,A,5,2,3,0,rules,r1,4,d-C1,Late,Late,\"Say \"\"hello\"\"\",remote,"
            "access|digital_first,3,4,3,0\n");
  EXPECT_EQ(json, R"({"customer_id":"C1","country":"DE","therapy_area":"onc","segment":"late",)"
                  R"("tier":"A","calls":5,"remote":2,"email":3,"events":0,"decided_by":"rules",)"
                  R"("rule_id":"r1","rule_set_version":4,"inputs_digest":"d-C1",)"
                  R"("segment_name":"Late","label":"Late","message":"Say \"hello\"",)"
                  R"("channels":"remote","tags":"access|digital_first","plan_calls":3,)"
                  R"("plan_remote":4,"plan_email":3,"plan_events":0})"
                  "\n");
  // Every header column has a field.
  EXPECT_EQ(std::count(DirectivesHeader().begin(), DirectivesHeader().end(), ','), 21);
  AssignmentRow conflict = Row("C2", "", 0);
  std::string none;
  AppendDirectives(Encoding::kCsv, &none, "DE", "onc", conflict, d);
  EXPECT_EQ(none, "C2,DE,onc,,A,0,2,3,0,rules,r1,4,d-C2,,,,,,0,2,3,0\n");
}

TEST(Delivery, ChangesAreEnteredLeftOrChangedInWhatTheExportCompares) {
  AssignmentRow base = Row("C1", "early", 5);
  EXPECT_FALSE(Differs(base, base));
  // What the changes export compares…
  for (auto edit : std::vector<void (*)(AssignmentRow*)>{
           [](AssignmentRow* r) { r->segment = "late"; }, [](AssignmentRow* r) { r->tier = "B"; },
           [](AssignmentRow* r) { ++r->calls; }, [](AssignmentRow* r) { ++r->remote; },
           [](AssignmentRow* r) { ++r->email; }, [](AssignmentRow* r) { ++r->events; },
           [](AssignmentRow* r) { r->tags = "x"; }, [](AssignmentRow* r) { ++r->plan_calls; },
           [](AssignmentRow* r) { ++r->plan_remote; }, [](AssignmentRow* r) { ++r->plan_email; },
           [](AssignmentRow* r) { ++r->plan_events; }}) {
    AssignmentRow moved = base;
    edit(&moved);
    EXPECT_TRUE(Differs(base, moved));
  }
  // …and what it does not: how and why a result was reached.
  AssignmentRow same = base;
  same.decided_by = "pull_through";
  same.rule_id = "r9";
  same.inputs_digest = "other";
  same.rule_set_version = 5;
  same.scores = "s=1";
  EXPECT_FALSE(Differs(base, same));

  const std::vector<AssignmentRow> before = {Row("A", "early", 1), Row("B", "early", 1),
                                             Row("C", "early", 1), Row("E", "late", 2)};
  const std::vector<AssignmentRow> now = {Row("B", "early", 1), Row("C", "late", 1),
                                          Row("D", "late", 3), Row("E", "late", 2)};
  std::vector<std::string> seen;
  for (const Change& c : Changes(before, now)) {
    seen.push_back(c.customer_id() + ":" + ChangeKindName(c.kind));
  }
  EXPECT_THAT(seen, ElementsAre("A:left", "C:changed", "D:entered"));
  EXPECT_TRUE(Changes(now, now).empty());
  EXPECT_EQ(Changes({}, now).size(), 4u);
}

TEST(Delivery, ChangeRowsCarryThePreviousValuesAndNothingForAnAbsentSide) {
  const Directives d(*Rules(), nullptr);
  const AssignmentRow was = Row("C1", "early", 5);
  AssignmentRow is = Row("C1", "late", 2);
  is.tags = "t";
  std::string csv;
  AppendChange(Encoding::kCsv, &csv, "DE", "onc", {ChangeKind::kChanged, &is, &was}, d);
  AppendChange(Encoding::kCsv, &csv, "DE", "onc", {ChangeKind::kLeft, nullptr, &was}, d);
  AppendChange(Encoding::kCsv, &csv, "DE", "onc", {ChangeKind::kEntered, &is, nullptr}, d);
  EXPECT_EQ(csv,
            "C1,DE,onc,late,A,2,2,3,0,rules,r1,4,d-C1,Late,Late,\"Say \"\"hello\"\"\",remote,t,"
            "2,2,3,0,changed,early,A,5,2,3,0,,5,2,3,0\n"
            "C1,DE,onc,,,,,,,,,,,,,,,,,,,,left,early,A,5,2,3,0,,5,2,3,0\n"
            "C1,DE,onc,late,A,2,2,3,0,rules,r1,4,d-C1,Late,Late,\"Say \"\"hello\"\"\",remote,t,"
            "2,2,3,0,entered,,,,,,,,,,,\n");
  EXPECT_EQ(std::count(ChangesHeader().begin(), ChangesHeader().end(), ','), 33);
  std::string json;
  AppendChange(Encoding::kJsonLines, &json, "DE", "onc", {ChangeKind::kLeft, nullptr, &was}, d);
  EXPECT_THAT(json, ::testing::StartsWith(R"({"customer_id":"C1","country":"DE",)"
                                          R"("therapy_area":"onc","segment":null,)"));
  EXPECT_THAT(json, ::testing::HasSubstr(R"("plan_events":null,"change":"left",)"
                                         R"("prev_segment":"early","prev_tier":"A",)"));
}

}  // namespace
}  // namespace harmonia::delivery
