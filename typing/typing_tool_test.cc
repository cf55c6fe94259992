#include "typing/typing_tool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "datagen/datagen.h"

namespace harmonia::typing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A rule set of segments a, b and c (z: the unprofiled default) asking
// `questionnaire` (its YAML list items).
std::string RuleSetAsking(const std::string& questionnaire) {
  return absl::StrCat(R"(therapy_area: t
version: 1
applies_to: [x]
objective_behavior: m
questionnaire:
)",
                      questionnaire, R"(metrics:
  - {id: m, type: integer, min: 0, max: 10}
segments: [{id: a}, {id: b}, {id: c}, {id: z}]
assignment:
  method: typing_tool
  functions:
    a: {intercept: 0, weights: {m: 1}}
    b: {intercept: 5, weights: {}}
unprofiled:
  default: z
tiers:
  metric: m
  bands:
    standard: [{tier: A, min: 8}, {tier: C}]
targets:
  a: {A: {calls: 1}, C: {calls: 1}}
  b: {A: {calls: 1}, C: {calls: 1}}
  c: {A: {calls: 1}, C: {calls: 1}}
  z: {A: {calls: 1}, C: {calls: 1}}
)");
}

// Twelve likert questions; q12 is optional.
std::string TwelveQuestions() {
  std::string questions;
  for (int q = 1; q <= 12; ++q) {
    absl::StrAppend(&questions, "  - {id: q", q, ", type: likert, scale: [1, 7]",
                    q == 12 ? "" : ", required: true", "}\n");
  }
  return RuleSetAsking(questions);
}

class TypingToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void Write(const std::string& name, const std::string& text) {
    ASSERT_TRUE(WriteFileAtomically((dir_ / name).string(), text).ok());
  }
  void WriteStudy(const std::string& respondents) {
    Write("study.yaml",
          "therapy_area: t\ntitle: \"A test study\"\nfielded: 2026-10-01\n"
          "rule_set: rule_set.yaml\n");
    Write("rule_set.yaml", TwelveQuestions());
    Write("respondents.csv", respondents);
  }
  // n respondents; segment k answers q3, q7, q11 around 2 + 2k, the rest uniformly.
  std::string SignalInThree(int n) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> any(1, 7), noise(-1, 1);
    std::string csv = "respondent_id,segment,q1,q2,q3,q4,q5,q6,q7,q8,q9,q10,q11,q12\n";
    for (int r = 0; r < n; ++r) {
      const int k = r % 3;
      absl::StrAppend(&csv, "r", r, ",", std::string(1, static_cast<char>('a' + k)));
      for (int q = 1; q <= 12; ++q) {
        const int v =
            q == 3 || q == 7 || q == 11 ? std::clamp(2 + 2 * k + noise(rng), 1, 7) : any(rng);
        absl::StrAppend(&csv, ",", v);
      }
      csv.push_back('\n');
    }
    return csv;
  }
  std::filesystem::path dir_;
};

TEST_F(TypingToolTest, ForwardSelectionPicksTheThreeQuestionsThatCarryTheSignal) {
  WriteStudy(SignalInThree(900));
  absl::StatusOr<Study> study = ReadStudy(dir_.string());
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_TRUE(study->problems.empty());
  absl::StatusOr<Fit> fit = FitTypingTool(*study, {.max_questions = 8, .folds = 5});
  ASSERT_TRUE(fit.ok()) << fit.status();
  std::vector<std::string> picked;
  for (int c : fit->columns) picked.push_back(study->column_id(static_cast<size_t>(c)));
  EXPECT_THAT(picked, ElementsAre("q3", "q7", "q11"));
  ASSERT_EQ(fit->steps.size(), 3u);
  EXPECT_GT(fit->steps[2].accuracy, fit->steps[0].accuracy);
  EXPECT_GT(fit->cross_validated.accuracy(), 0.9);
  // Without selection every question is weighted, and q12 is optional.
  absl::StatusOr<Fit> all = FitTypingTool(*study, {.folds = 5});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->columns.size(), 12u);
  EXPECT_THAT(all->warnings, ::testing::Contains(HasSubstr("q12 is weighted but not required")));
}

TEST_F(TypingToolTest, BadRowsAreReportedWithLineAndColumnAndTheRestIsUsed) {
  std::string csv = SignalInThree(60);
  csv += "bad1,teleporter,1,1,1,1,1,1,1,1,1,1,1,1\n";
  csv += "bad2,a,1,1,9,1,1,1,1,1,1,1,1,1\n";
  csv += "bad3,a,1,1\n";
  csv += "\"bad\"\"4\",z,1,1,1,1,1,1,1,1,1,1,1,1\n";  // the unprofiled default is no label
  csv += "\"bad5\",a,1,1,1,1,1,1,1,1,1,1,1,\"x\"\n";
  WriteStudy(csv);
  absl::StatusOr<Study> study = ReadStudy(dir_.string());
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->size(), 60u);
  ASSERT_EQ(study->problems.size(), 5u);
  const std::string file = (dir_ / "respondents.csv").string();
  EXPECT_EQ(FormatIssue(study->problems[0]),
            file +
                ":62:6: error: segment: 'teleporter' is not a segment of t (allowed: a, b, c): "
                "row skipped");
  EXPECT_THAT(FormatIssue(study->problems[1]), HasSubstr(":63:12: error: q3: 9 is outside"));
  EXPECT_THAT(FormatIssue(study->problems[2]), HasSubstr(":64: error: expected 14 fields, got 4"));
  EXPECT_THAT(FormatIssue(study->problems[3]),
              HasSubstr(":65:10: error: segment: 'z' is not a segment of t a study can assign"));
  // A quoted field is still found at its own column.
  EXPECT_THAT(FormatIssue(study->problems[4]), HasSubstr(":66:33: error: q12: 'x' is not"));
}

TEST_F(TypingToolTest, ConstantAndMostlyUnansweredInputsAreLeftOutWithAWarning) {
  // q1 always 4; q2 answered by a fifth of the respondents.
  std::string csv = "respondent_id,segment,q1,q2,q3,q4,q5,q6,q7,q8,q9,q10,q11,q12\n";
  for (int r = 0; r < 90; ++r) {
    const int k = r % 3;
    const char* q2 = r % 5 != 0 ? "" : r % 2 ? "3" : "2";
    absl::StrAppend(&csv, "r", r, ",", std::string(1, static_cast<char>('a' + k)), ",4,", q2, ",",
                    1 + 2 * k + r % 2, ",1,2,3,4,5,6,7,", 1 + 3 * k, ",", 1 + r % 7, "\n");
  }
  WriteStudy(csv);
  absl::StatusOr<Study> study = ReadStudy(dir_.string());
  ASSERT_TRUE(study.ok()) << study.status();
  absl::StatusOr<Fit> fit = FitTypingTool(*study, {.folds = 3});
  ASSERT_TRUE(fit.ok()) << fit.status();
  std::vector<std::string> weighted;
  for (int c : fit->columns) weighted.push_back(study->column_id(static_cast<size_t>(c)));
  EXPECT_THAT(weighted, ElementsAre("q3", "q11", "q12"));
  EXPECT_THAT(fit->warnings,
              ::testing::Contains("q1 left out: every respondent who answered it gave 4"));
  EXPECT_THAT(fit->warnings, ::testing::Contains("q2 left out: answered by 18 of 90 respondents"));
  // Named explicitly, q2 is kept, and with it only the 18 who answered it.
  fit = FitTypingTool(*study, {.questions = {"q2", "q3"}, .folds = 3});
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_EQ(fit->respondents, 18);
}

TEST_F(TypingToolTest, AStudyWithoutItsRuleSetOrWithABadDateIsRefusedPrecisely) {
  Write("study.yaml", "therapy_area: t\nfielded: 2026-13-01\nrule_set: none.yaml\ncolour: red\n");
  absl::StatusOr<Study> study = ReadStudy(dir_.string());
  ASSERT_FALSE(study.ok());
  EXPECT_THAT(study.status().message(), HasSubstr("study.yaml:2:10: error: fielded"));
  EXPECT_THAT(study.status().message(), HasSubstr("'colour'"));
}

// The fit's own typing and the engine's agree: the written fragment, put
// into the rule set, types the study exactly as the fit says it does.
TEST_F(TypingToolTest, TheWrittenFragmentTypesTheStudyThroughTheEngineAsStated) {
  absl::StatusOr<std::string> text =
      ReadFileToString(std::string(HARMONIA_SOURCE_DIR) + "/rules/diabetes.yaml", 1 << 20);
  ASSERT_TRUE(text.ok());
  engine::CompileResult compiled = engine::CompileRuleSet(*text, "diabetes.yaml");
  ASSERT_NE(compiled.rule_set, nullptr);
  datagen::StudyStats stats;
  ASSERT_TRUE(datagen::GenerateStudy(
                  {.rule_set = compiled.rule_set, .rule_set_text = *text, .respondents = 600},
                  dir_.string(), &stats)
                  .ok());
  EXPECT_GT(stats.best_accuracy, 0.5);
  absl::StatusOr<Study> study = ReadStudy(dir_.string());
  ASSERT_TRUE(study.ok()) << study.status();
  EXPECT_EQ(study->size(), 600u);
  ASSERT_TRUE(study->best_possible_accuracy.has_value());
  absl::StatusOr<Fit> fit = FitTypingTool(*study, {.priors = Priors::kEqual, .folds = 5});
  ASSERT_TRUE(fit.ok()) << fit.status();
  const std::string fragment = FragmentYaml(*study, *fit);
  EXPECT_THAT(fragment, HasSubstr("provenance: {study: \"Synthetic diabetes segmentation study"));
  absl::StatusOr<Evaluation> engine = TestTypingTool(*study, fragment, "fragment.yaml");
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ(engine->typed_right, fit->written.typed_right);
  EXPECT_EQ(engine->confusion, fit->written.confusion);
  EXPECT_GT(fit->cross_validated.accuracy(), 0.8);

  // A mistake in a fragment is reported at the fragment's own line.
  std::string bad = fragment;
  const size_t at = bad.find("    cardio_renal_advocate:");
  ASSERT_NE(at, std::string::npos);
  bad.replace(at + 4, std::string("cardio_renal_advocate").size(), "teleporter");
  const int line = 1 + static_cast<int>(std::count(bad.begin(), bad.begin() + at, '\n'));
  engine = TestTypingTool(*study, bad, "bad.yaml");
  ASSERT_FALSE(engine.ok());
  EXPECT_THAT(std::string(engine.status().message()),
              ::testing::StartsWith(absl::StrCat("bad.yaml:", line,
                                                 ":5: error: typing tool function: unknown "
                                                 "segment 'teleporter'")));
}

TEST(TypingToolFit, RefusesAChoiceQuestionAndUnknownIdsAndTooFewFolds) {
  // Built in memory: a rule set with a choice question.
  const std::string text = RuleSetAsking(
      "  - {id: q, type: likert, scale: [1, 5], required: true}\n"
      "  - {id: c, type: choice, options: [red, green]}\n");
  engine::CompileResult compiled = engine::CompileRuleSet(text, "t.yaml");
  ASSERT_NE(compiled.rule_set, nullptr) << FormatIssues(compiled.issues, "\n");
  Study study;
  study.rule_set = compiled.rule_set;
  study.columns = {0, 1};
  for (int r = 0; r < 20; ++r) {
    study.segments.push_back(r % 2);
    study.values.push_back(1 + r % 5);
    study.values.push_back(r % 2);
  }
  study.respondent_ids.assign(20, "r");
  absl::StatusOr<Fit> fit = FitTypingTool(study, {.questions = {"c"}});
  EXPECT_THAT(fit.status().message(), HasSubstr("'c' is a choice question"));
  fit = FitTypingTool(study, {.questions = {"nope"}});
  EXPECT_THAT(fit.status().message(),
              HasSubstr("'nope' is not a column of the study (columns: q, c)"));
  fit = FitTypingTool(study, {.folds = 1});
  EXPECT_THAT(fit.status().message(), HasSubstr("folds 1: expected 2 to 50"));
  fit = FitTypingTool(study, {.folds = 5});
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_THAT(fit->warnings, ::testing::Contains(HasSubstr("left out, as choice questions")));
}

}  // namespace
}  // namespace harmonia::typing
