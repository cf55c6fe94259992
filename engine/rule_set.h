// Start here: the compiled rule set of one therapy area (docs/rule-language.md).
//
// Pipeline: YAML text → positioned tree (internal/yaml_tree) → CompileRuleSet
// (checks; every error and warning as an Issue) → an immutable RuleSet →
// Evaluate() over columnar batches (engine/evaluator.h).
//
// A RuleSet is immutable once compiled; share it as
// std::shared_ptr<const RuleSet>. Safe for concurrent use.
#ifndef HARMONIA_ENGINE_RULE_SET_H_
#define HARMONIA_ENGINE_RULE_SET_H_

#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/issue.h"

namespace harmonia::engine {

// Input types of questions and metrics. Stored nowhere; free to renumber.
enum class InputType : uint8_t { kLikert, kChoice, kInteger, kNumber, kBoolean };
const char* InputTypeName(InputType type);

// A question or a metric. Every input is one column of a Batch: a double, NaN
// when missing; a choice stores the index of its option, a boolean 1 or 0.
struct InputDef {
  std::string id;
  InputType type = InputType::kNumber;
  bool is_question = true;                                // false: a metric
  std::string text;                                       // questions only
  bool required = false;                                  // questions only
  double min = -std::numeric_limits<double>::infinity();  // likert: scale low
  double max = std::numeric_limits<double>::infinity();   // likert: scale high
  std::vector<std::string> options;                       // choice only
  int line = 0;
};

// A linear function over input columns: intercept + Σ weight × column, summed
// in the written order. Used for scores and typing-tool functions.
struct LinearFunction {
  std::string id;
  double intercept = 0;
  std::vector<std::pair<int, double>> terms;  // (input column, weight)
  int line = 0;
};

// A closed interval of column values; exclusive bounds are compiled to the
// adjacent double, so every test is lo <= v && v <= hi (false for NaN).
struct Interval {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
};

// One S-FEEL unary test on one column (input or score), compiled to a union of
// intervals. `-` tests are dropped at compile time.
struct Condition {
  int column = 0;  // < inputs.size(): an input; otherwise a score
  std::vector<Interval> any_of;
  std::string source;  // the test as written, for messages and explain
};

struct Rule {
  std::string id;
  std::vector<Condition> conditions;
  int segment = 0;
  int line = 0;
  int column = 0;
  int rule_index = 0;  // index into RuleSet::rule_ids
};

enum class HitPolicy : uint8_t { kFirst, kPriority, kUnique };
const char* HitPolicyName(HitPolicy policy);

struct RuleSet;
// A rule's conditions as written, "innovation: >= 1.0, trx_decile: >= 7"
// ("-" tests are not kept; "" when the rule has none). For diffs and explain.
std::string ConditionsText(const RuleSet& rules, const Rule& rule);

// A DMN decision table. `rules` are in evaluation order: under kPriority the
// compiler has stably sorted them by segment rank, which turns "highest-priority
// segment, first rule of it" into "first match".
struct DecisionTable {
  HitPolicy hit_policy = HitPolicy::kFirst;
  std::vector<Rule> rules;
  int default_segment = 0;
};

// `drivers` (hit policy collect, docs/rule-language.md "Drivers and
// barriers"): every rule that matches adds its tag. The rules are Rules
// whose `segment` is unused; tag_of[r] is rule r's tag (index into tags).
// At most kMaxDriverRules rules, so a customer's matches fit one 64-bit mask.
inline constexpr size_t kMaxDriverRules = 64;
struct DriversTable {
  std::vector<Rule> rules;  // in written order
  std::vector<int> tag_of;  // parallel to rules
};

// `channel_preference` (docs/cycle.md "Plan"): how each planned call is
// delivered, per answer to a choice question, as shares of the planned calls
// in ten-thousandths (decimals of at most 4 places; they sum to 10000).
inline constexpr int32_t kShareUnits = 10000;
struct ChannelMix {
  int32_t calls = 0, remote = 0, email = 0, events = 0;
};
struct ChannelPreference {
  int question = -1;  // the choice question's column; -1 = no section
  // Per option of the question, in option order; has_mix false = no row
  // (that answer keeps the targets as they are).
  std::vector<ChannelMix> mix;
  std::vector<bool> has_mix;
  int32_t min_calls = 0;
  int line = 0;
};

struct Segment {
  std::string id;
  std::string name;
  std::string message;
  std::vector<std::string> channels;
  int line = 0;
  int column = 0;
};

struct TierBand {
  int tier = 0;                                           // index into RuleSet::tiers
  double min = -std::numeric_limits<double>::infinity();  // none: catches the rest
};

// The activities, in the order of Activity's fields (and of every file's
// columns): the one list the rule language, the files and the generator use.
inline constexpr const char* kActivityNames[] = {"calls", "remote", "email", "events"};

struct Activity {
  int32_t calls = 0;
  int32_t remote = 0;
  int32_t email = 0;
  int32_t events = 0;
};

enum class Process : uint8_t { kFieldRefined, kDataDriven };

// The country options in effect for one cycle, resolved against the menu.
struct Options {
  int tier_bands = 0;                     // index into RuleSet::band_options
  int64_t target_scale_micros = 1000000;  // 1.0; decimal, so rounding is exact
  Process process = Process::kFieldRefined;
  int64_t max_refinement_share_micros = 100000;  // 0.10
  bool pull_through = true;
  // The n=1 plan (docs/cycle.md "Plan"); offered only with a
  // channel_preference section.
  bool channel_preference = false;
  // Canonical text, e.g. "max_refinement_share=0.10;process=field_refined;…";
  // part of every inputs_digest, so pull-through needs the same options.
  std::string canonical;
};

// The option keys a menu may offer (tier_bands, target_scale, process,
// max_refinement_share, pull_through, channel_preference), and their
// built-in defaults when a rule set's menu omits one.
struct MenuEntry {
  std::string key;
  std::vector<std::string> values;  // as written; the first is the default
  int line = 0;
};

// A golden customer of the rule set's own `tests:` (checked at compile time).
struct TestCase {
  std::string name;
  int line = 0;
  std::vector<std::pair<int, double>> inputs;                // (input column, value)
  std::vector<std::pair<std::string, std::string>> options;  // key, value
  std::vector<std::pair<std::string, std::string>> expect;   // field, expected text
};

// The largest rule-set version (versions only increase, by publish and by
// rollback, which adds one: a bound keeps that arithmetic safe).
inline constexpr int64_t kMaxRuleSetVersion = 1000000000;

// Where a typing tool comes from (assignment.provenance): the study it was
// fitted on and how well it types (docs/typing-tool.md).
struct TypingToolProvenance {
  std::string study;        // the study's title
  int64_t respondents = 0;  // fitted on
  double accuracy = 0;      // cross-validated share typed right, 0 to 1
  int64_t folds = 0;        // of the cross-validation; 0 = not stated
  std::string date;         // the study's fieldwork date, YYYY-MM-DD
};

// Special rule indexes, appended after the rules in RuleSet::rule_ids.
struct RuleSet {
  std::string therapy_area;
  int64_t version = 0;  // 1 to kMaxRuleSetVersion
  std::vector<std::string> applies_to;
  int objective_behavior = -1;  // input column of a metric
  double min_differentiation = 0;

  std::vector<InputDef> inputs;        // questions in file order, then metrics
  std::vector<LinearFunction> scores;  // column of score s = inputs.size() + s
  std::vector<int> required_inputs;    // columns of required questions

  std::vector<Segment> segments;
  int unprofiled_segment_hint = -1;  // the segment named `unprofiled`, if any

  bool typing_tool = false;
  DecisionTable assignment;               // when !typing_tool
  std::vector<LinearFunction> functions;  // when typing_tool: one per segment, segment order
  std::vector<int> function_segments;     // segment of functions[i]
  std::optional<TypingToolProvenance> provenance;  // when the typing tool states it
  DecisionTable unprofiled;
  DriversTable drivers;
  std::vector<std::string> tags;  // driver tags, in order of first appearance
  ChannelPreference channel_preference;

  std::vector<std::string> tiers;              // tier names, first appearance order
  int tier_metric = -1;                        // input column
  std::vector<std::string> band_option_names;  // e.g. standard, broad
  std::vector<std::vector<TierBand>> band_options;
  std::vector<std::vector<Activity>> targets;  // [segment][tier], unscaled

  std::vector<std::string> refinement_reasons;
  std::vector<MenuEntry> menu;
  std::vector<TestCase> tests;

  // Rule ids by rule index: the assignment rules, the unprofiled rules, then
  // "default" and "typing_tool".
  std::vector<std::string> rule_ids;
  int default_rule_index = 0;
  int typing_tool_rule_index = 0;

  // Column helpers.
  int num_inputs() const { return static_cast<int>(inputs.size()); }
  int num_columns() const { return num_inputs() + static_cast<int>(scores.size()); }
  const std::string& column_id(int column) const {
    return column < num_inputs() ? inputs[column].id : scores[column - num_inputs()].id;
  }
  // -1 when unknown.
  int FindColumn(std::string_view id) const;
  int FindSegment(std::string_view id) const;
  int FindTier(std::string_view name) const;
};

struct CompileResult {
  std::shared_ptr<const RuleSet> rule_set;  // null when there is any error
  std::vector<Issue> issues;                // errors and warnings, sorted by position
};

// Compiles the text of a rule-set file. `file` names it in issues. Never fails
// with a Status: every problem in the text is an Issue. Runs the file's own
// test cases; a failing case is an error.
CompileResult CompileRuleSet(std::string_view text, const std::string& file);

// Resolves option values against the rule set's menu (keys absent take the
// menu's first value, or the built-in default when the menu omits the key).
// Unknown keys and values outside the menu are errors naming the key and the
// allowed values, reported at the given positions.
struct OptionValue {
  std::string value;
  int line = 0;
  int column = 0;
};
bool ResolveOptions(const RuleSet& rules, const std::map<std::string, OptionValue>& chosen,
                    IssueList* issues, Options* out);

// Parses a raw input value ("4", "digital", "true", "0.35") for a column.
// Returns false with a reason ("outside scale [1, 5]") when invalid.
bool ParseInputValue(const InputDef& def, std::string_view text, double* value,
                     std::string* reason);

// Writes a column value back as text: integers without decimals, choice options
// by name, booleans as true/false, numbers in shortest round-trip form.
std::string FormatInputValue(const InputDef& def, double value);

}  // namespace harmonia::engine

#endif  // HARMONIA_ENGINE_RULE_SET_H_
