// DMN S-FEEL simple unary tests (docs/rule-language.md), parsed and compiled to interval
// unions over a column's values.
//
// Forms: `-` (anything, even missing), a literal (`5`, `digital`,
// `"two words"`, `true`), a comparison (`< 3`, `<= 3`, `> 1.0`, `>= 1.0`), a
// range with inclusive `[ ]` or exclusive `( )` / outward `] [` ends
// (`[0.1..0.4)`), a comma list meaning "any of", and `not(list)`.
//
// INTERNAL to engine/.
#ifndef HARMONIA_ENGINE_INTERNAL_UNARY_TEST_H_
#define HARMONIA_ENGINE_INTERNAL_UNARY_TEST_H_

#include <string>
#include <string_view>
#include <vector>

#include "engine/rule_set.h"

namespace harmonia::engine::internal {

// What kind of values a column holds, for checking literals.
enum class ColumnKind { kNumeric, kChoice, kBoolean };

struct ColumnInfo {
  std::string id;
  ColumnKind kind = ColumnKind::kNumeric;
  std::string type_name;             // "likert", "score", … for messages
  std::vector<std::string> options;  // kChoice
};

struct UnaryTestError {
  int offset = 0;  // 0-based byte offset in the test text
  std::string message;
};

// Compiles `text` for `column`. On success returns true and sets *any (the
// test is `-`) or *intervals (sorted, disjoint). On failure fills *error.
bool CompileUnaryTest(std::string_view text, const ColumnInfo& column, bool* any,
                      std::vector<Interval>* intervals, UnaryTestError* error);

// Sorts and merges touching intervals.
std::vector<Interval> NormalizeIntervals(std::vector<Interval> intervals);

// True when every value in `inner` is also in `outer` (both normalized).
bool IntervalsContain(const std::vector<Interval>& outer, const std::vector<Interval>& inner);

// True when the two normalized unions share a value.
bool IntervalsIntersect(const std::vector<Interval>& a, const std::vector<Interval>& b);

}  // namespace harmonia::engine::internal

#endif  // HARMONIA_ENGINE_INTERNAL_UNARY_TEST_H_
