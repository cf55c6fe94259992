#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/rule_set.h"

namespace harmonia::engine {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> ListYaml(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name.size() > 5 && name.substr(name.size() - 5) == ".yaml") out.push_back(name);
    }
    closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Render(const std::vector<Issue>& issues) {
  std::string out;
  for (const Issue& i : issues) out += FormatIssue(i) + "\n";
  return out;
}

// Each tests/data/rules/broken/NAME.yaml has NAME.golden: the exact issues the
// compiler reports, one per line. HARMONIA_UPDATE_GOLDEN=1 rewrites them (then
// read the diff before committing).
TEST(CompilerGolden, BrokenFilesReportEveryIssueExactly) {
  const std::string dir = std::string(HARMONIA_SOURCE_DIR) + "/tests/data/rules/broken";
  const std::vector<std::string> files = ListYaml(dir);
  ASSERT_GE(files.size(), 5u);
  const bool update = std::getenv("HARMONIA_UPDATE_GOLDEN") != nullptr;
  for (const std::string& name : files) {
    const std::string base = name.substr(0, name.size() - 5);
    CompileResult r = CompileRuleSet(ReadAll(dir + "/" + name), name);
    const std::string actual = Render(r.issues);
    const std::string golden_path = dir + "/" + base + ".golden";
    if (update) {
      std::ofstream(golden_path, std::ios::binary) << actual;
      continue;
    }
    EXPECT_EQ(actual, ReadAll(golden_path)) << "for " << name;
  }
}

TEST(Compiler, ShippedRuleSetsCompileAndPassTheirTests) {
  const std::string dir = std::string(HARMONIA_SOURCE_DIR) + "/rules";
  const std::vector<std::string> files = ListYaml(dir);
  ASSERT_GE(files.size(), 3u);
  for (const std::string& name : files) {
    CompileResult r = CompileRuleSet(ReadAll(dir + "/" + name), name);
    EXPECT_NE(r.rule_set, nullptr) << name << ":\n" << Render(r.issues);
    EXPECT_EQ(Render(r.issues), "") << name;
    if (r.rule_set) {
      EXPECT_GE(r.rule_set->tests.size(), 5u) << name;
    }
  }
}

TEST(Compiler, ShadowedRuleWarningNamesBothRules) {
  const std::string dir = std::string(HARMONIA_SOURCE_DIR) + "/tests/data/rules/broken";
  CompileResult r = CompileRuleSet(ReadAll(dir + "/shadowed.yaml"), "shadowed.yaml");
  ASSERT_NE(r.rule_set, nullptr) << "warnings must not make a rule set invalid";
  EXPECT_THAT(Render(r.issues),
              ::testing::HasSubstr("rule 'narrow' in assignment can never fire: rule 'broad'"));
}

// A drivers rule no value can satisfy, and a tag only such rules add, are
// warnings; the rule set still compiles.
TEST(Compiler, DriversRulesThatCanNeverFireAndTheirTagsAreWarnings) {
  const std::string dir = std::string(HARMONIA_SOURCE_DIR) + "/tests/data/rules/broken";
  std::string text = ReadAll(dir + "/shadowed.yaml");
  text += R"yaml(
drivers:
  rules:
    - {id: d1, when: {q1: "> 5"}, tag: never}
    - {id: d2, when: {q1: "5"}, tag: keen}
    - {id: d3, when: {q1: "< 1"}, tag: keen}
)yaml";
  CompileResult r = CompileRuleSet(text, "drivers.yaml");
  ASSERT_NE(r.rule_set, nullptr) << Render(r.issues);
  const std::string issues = Render(r.issues);
  EXPECT_THAT(issues, ::testing::HasSubstr(
                          "warning: drivers rule 'd1' can never fire: no value of 'q1' satisfies"));
  EXPECT_THAT(issues, ::testing::HasSubstr(
                          "warning: tag 'never' is unreachable: no drivers rule that adds it can "
                          "fire"));
  EXPECT_THAT(issues, ::testing::Not(::testing::HasSubstr("tag 'keen'")));
  EXPECT_EQ(r.rule_set->tags, (std::vector<std::string>{"never", "keen"}));
}

TEST(Compiler, PriorityRulesAreOrderedBySegmentRank) {
  const char* text = R"(
therapy_area: t
version: 1
applies_to: [x]
objective_behavior: m
questionnaire: [{id: q, type: likert, scale: [1, 5]}]
metrics: [{id: m, type: number}]
segments: [{id: a}, {id: b}]
assignment:
  hit_policy: priority
  rules:
    - {id: rb, when: {q: ">= 1"}, segment: b}
    - {id: ra, when: {q: ">= 4"}, segment: a}
  default: b
tiers: {metric: m, bands: {only: [{tier: T}]}}
targets: {a: {T: {}}, b: {T: {}}}
)";
  CompileResult r = CompileRuleSet(text, "t.yaml");
  ASSERT_NE(r.rule_set, nullptr) << Render(r.issues);
  ASSERT_EQ(r.rule_set->assignment.rules.size(), 2u);
  EXPECT_EQ(r.rule_set->assignment.rules[0].id, "ra");
  EXPECT_EQ(r.rule_set->assignment.rules[1].id, "rb");
}

TEST(Compiler, SegmentsAndTiersLeftOutOfTargetsGetZeroWithAWarning) {
  const char* text = R"(
therapy_area: t
version: 1
applies_to: [x]
objective_behavior: m
questionnaire: [{id: q, type: likert, scale: [1, 5]}]
metrics: [{id: m, type: number}]
segments: [{id: a}, {id: b}, {id: c}]
assignment:
  rules: [{id: r1, when: {q: ">= 4"}, segment: a}]
  default: b
tiers: {metric: m, bands: {only: [{tier: T, min: 0.5}, {tier: U}]}}
targets:
  a: {T: {calls: 3}, U: {}}
  b: {T: {calls: 2}}
)";
  CompileResult r = CompileRuleSet(text, "t.yaml");
  ASSERT_NE(r.rule_set, nullptr) << Render(r.issues);
  EXPECT_EQ(Render(r.issues),
            "t.yaml:8:30: warning: segment 'c' is unreachable: no rule that can fire and no "
            "default assigns it (only a refinement could)\n"
            "t.yaml:14:3: warning: targets: segment 'b' has no targets for tier U; it gets 0 "
            "for every activity there\n"
            "t.yaml:14:3: warning: targets: segment 'c' is not listed; it gets 0 for every "
            "activity in every tier\n");
  const RuleSet& rs = *r.rule_set;
  EXPECT_EQ(rs.targets[1][0].calls, 2);
  for (int t = 0; t < 2; ++t) {
    EXPECT_EQ(rs.targets[2][t].calls + rs.targets[2][t].remote + rs.targets[2][t].email +
                  rs.targets[2][t].events,
              0);
  }
  EXPECT_EQ(rs.targets[1][1].calls, 0);

  // Without a targets section every segment is 0, one warning each (and c
  // is still unreachable).
  std::string none = text;
  none.resize(none.find("targets:"));
  CompileResult z = CompileRuleSet(none, "t.yaml");
  ASSERT_NE(z.rule_set, nullptr) << Render(z.issues);
  EXPECT_EQ(z.issues.size(), 4u) << Render(z.issues);
}

TEST(Compiler, VersionsAreBounded) {
  const std::string dir = std::string(HARMONIA_SOURCE_DIR) + "/rules";
  const std::string text = ReadAll(dir + "/oncology.yaml");
  for (const char* version : {"9223372036854775807", "1000000001", "0", "-3"}) {
    std::string changed = text;
    changed.replace(changed.find("version: 3"), 10, std::string("version: ") + version);
    CompileResult r = CompileRuleSet(changed, "oncology.yaml");
    EXPECT_EQ(r.rule_set, nullptr) << version;
    EXPECT_THAT(Render(r.issues),
                ::testing::HasSubstr("version: must be a whole number from 1 to 1000000000"))
        << version;
  }
}

TEST(Compiler, OptionsCompareNumbersByValue) {
  const std::string dir = std::string(HARMONIA_SOURCE_DIR) + "/rules";
  CompileResult r = CompileRuleSet(ReadAll(dir + "/oncology.yaml"), "oncology.yaml");
  ASSERT_NE(r.rule_set, nullptr);
  IssueList issues("c.yaml");
  Options o;
  ASSERT_TRUE(ResolveOptions(*r.rule_set, {{"target_scale", {"1", 3, 5}}}, &issues, &o));
  EXPECT_EQ(o.target_scale_micros, 1000000);
  EXPECT_FALSE(ResolveOptions(*r.rule_set, {{"target_scale", {"0.9", 3, 5}}}, &issues, &o));
  EXPECT_FALSE(ResolveOptions(*r.rule_set, {{"colour", {"red", 4, 3}}}, &issues, &o));
  EXPECT_EQ(Render(issues.issues()),
            "c.yaml:3:5: error: option 'target_scale': '0.9' is not on the menu; allowed "
            "values: 1.0, 0.8, 1.2\n"
            "c.yaml:4:3: error: option 'colour' is not offered by rule set oncology v3; "
            "offered: tier_bands, target_scale, process, max_refinement_share, pull_through, "
            "channel_preference\n");
}

TEST(Compiler, DefaultsComeFromTheMenu) {
  const std::string dir = std::string(HARMONIA_SOURCE_DIR) + "/rules";
  CompileResult r = CompileRuleSet(ReadAll(dir + "/immunology.yaml"), "immunology.yaml");
  ASSERT_NE(r.rule_set, nullptr);
  IssueList issues("c.yaml");
  Options o;
  ASSERT_TRUE(ResolveOptions(*r.rule_set, {}, &issues, &o));
  EXPECT_EQ(o.process, Process::kDataDriven);
  EXPECT_EQ(o.max_refinement_share_micros, 50000);
  EXPECT_EQ(o.canonical,
            "tier_bands=standard;target_scale=1;process=data_driven;max_refinement_share=0.05;"
            "pull_through=on");
}

TEST(ParseInputValue, ValidatesEveryType) {
  InputDef likert{.id = "q", .type = InputType::kLikert, .min = 1, .max = 5};
  InputDef choice{.id = "c", .type = InputType::kChoice, .options = {"a", "b"}};
  InputDef integer{.id = "i", .type = InputType::kInteger, .min = 0, .max = 10};
  InputDef number{.id = "n", .type = InputType::kNumber, .min = 0, .max = 1};
  InputDef boolean{.id = "b", .type = InputType::kBoolean};
  double v = 0;
  std::string why;
  EXPECT_TRUE(ParseInputValue(likert, "5", &v, &why));
  EXPECT_EQ(v, 5);
  EXPECT_FALSE(ParseInputValue(likert, "6", &v, &why));
  EXPECT_EQ(why, "6 is outside scale [1, 5]");
  EXPECT_FALSE(ParseInputValue(likert, "4.5", &v, &why));
  EXPECT_EQ(why, "'4.5' is not a whole number");
  EXPECT_FALSE(ParseInputValue(likert, "", &v, &why));
  EXPECT_EQ(why, "empty value");
  EXPECT_TRUE(ParseInputValue(choice, "b", &v, &why));
  EXPECT_EQ(v, 1);
  EXPECT_FALSE(ParseInputValue(choice, "B", &v, &why));
  EXPECT_EQ(why, "'B' is not an option; expected one of: a, b");
  EXPECT_TRUE(ParseInputValue(integer, "0", &v, &why));
  EXPECT_TRUE(ParseInputValue(integer, "10", &v, &why));
  EXPECT_FALSE(ParseInputValue(integer, "11", &v, &why));
  EXPECT_FALSE(ParseInputValue(integer, "+3", &v, &why));
  EXPECT_TRUE(ParseInputValue(number, "0.35", &v, &why));
  EXPECT_EQ(v, 0.35);
  EXPECT_TRUE(ParseInputValue(number, "1", &v, &why));
  EXPECT_FALSE(ParseInputValue(number, "1.0001", &v, &why));
  EXPECT_EQ(why, "1.0001 is outside range [0, 1]");
  EXPECT_FALSE(ParseInputValue(number, "nan", &v, &why));
  EXPECT_FALSE(ParseInputValue(number, "inf", &v, &why));
  EXPECT_TRUE(ParseInputValue(boolean, "true", &v, &why));
  EXPECT_EQ(v, 1);
  EXPECT_TRUE(ParseInputValue(boolean, "false", &v, &why));
  EXPECT_EQ(v, 0);
  EXPECT_FALSE(ParseInputValue(boolean, "yes", &v, &why));
}

}  // namespace
}  // namespace harmonia::engine
