#include "engine/internal/table_analysis.h"

#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "engine/internal/unary_test.h"

namespace harmonia::engine::internal {
namespace {

bool IntegerValued(const InputDef& def) { return def.type != InputType::kNumber; }

// The values a column can take: [min, max] of its definition, integers only for
// likert / integer / choice / boolean columns. Scores: everything.
std::vector<Interval> ClampToDomain(const RuleSet& rs, int column,
                                    const std::vector<Interval>& set) {
  if (column >= rs.num_inputs()) return set;
  const InputDef& def = rs.inputs[column];
  double lo_d = def.min, hi_d = def.max;
  if (def.type == InputType::kChoice) {
    lo_d = 0;
    hi_d = static_cast<double>(def.options.size()) - 1;
  } else if (def.type == InputType::kBoolean) {
    lo_d = 0;
    hi_d = 1;
  }
  std::vector<Interval> out;
  for (Interval iv : set) {
    iv.lo = std::max(iv.lo, lo_d);
    iv.hi = std::min(iv.hi, hi_d);
    if (IntegerValued(def)) {
      iv.lo = std::ceil(iv.lo);
      iv.hi = std::floor(iv.hi);
    }
    if (iv.lo <= iv.hi) out.push_back(iv);
  }
  return out;
}

const Condition* FindCondition(const Rule& rule, int column) {
  for (const Condition& c : rule.conditions) {
    if (c.column == column) return &c;
  }
  return nullptr;
}

// Every customer matching `later` also matches `earlier`.
bool Covers(const RuleSet& rs, const Rule& earlier, const Rule& later) {
  for (const Condition& c : earlier.conditions) {
    const Condition* l = FindCondition(later, c.column);
    if (l == nullptr) return false;  // later accepts anything there, missing included
    if (!IntervalsContain(c.any_of, ClampToDomain(rs, c.column, l->any_of))) return false;
  }
  return true;
}

// The first condition of `rule` that no value of its column satisfies.
const Condition* ImpossibleCondition(const RuleSet& rs, const Rule& rule) {
  for (const Condition& c : rule.conditions) {
    if (ClampToDomain(rs, c.column, c.any_of).empty()) return &c;
  }
  return nullptr;
}

bool ProvablyOverlap(const RuleSet& rs, const Rule& a, const Rule& b) {
  for (const Rule* r : {&a, &b}) {
    for (const Condition& c : r->conditions) {
      if (c.column >= rs.num_inputs()) return false;  // scores depend on inputs
    }
  }
  for (const Condition& c : a.conditions) {
    const Condition* o = FindCondition(b, c.column);
    if (o == nullptr) continue;
    if (!IntervalsIntersect(ClampToDomain(rs, c.column, c.any_of),
                            ClampToDomain(rs, c.column, o->any_of))) {
      return false;
    }
  }
  return true;
}

void AnalyzeTable(const RuleSet& rs, const DecisionTable& table, const char* name,
                  std::set<int>* reachable, IssueList* issues) {
  std::vector<bool> dead(table.rules.size(), false);
  for (size_t j = 0; j < table.rules.size(); ++j) {
    const Rule& rule = table.rules[j];
    if (const Condition* c = ImpossibleCondition(rs, rule)) {
      issues->Warning(rule.line, rule.column,
                      absl::StrCat("rule '", rule.id, "' can never fire: no value of '",
                                   rs.column_id(c->column), "' satisfies '", c->source, "'"));
      dead[j] = true;
      continue;
    }
    if (table.hit_policy == HitPolicy::kUnique) continue;
    for (size_t i = 0; i < j; ++i) {
      if (dead[i] || !Covers(rs, table.rules[i], rule)) continue;
      issues->Warning(rule.line, rule.column,
                      absl::StrCat("rule '", rule.id, "' in ", name, " can never fire: rule '",
                                   table.rules[i].id, "' (line ", table.rules[i].line,
                                   ") matches every customer it matches (hit policy ",
                                   HitPolicyName(table.hit_policy), ")"));
      dead[j] = true;
      break;
    }
  }
  if (table.hit_policy == HitPolicy::kUnique) {
    for (size_t i = 0; i < table.rules.size(); ++i) {
      for (size_t j = i + 1; j < table.rules.size(); ++j) {
        if (dead[i] || dead[j] || !ProvablyOverlap(rs, table.rules[i], table.rules[j])) continue;
        issues->Warning(table.rules[j].line, table.rules[j].column,
                        absl::StrCat("rules '", table.rules[i].id, "' (line ", table.rules[i].line,
                                     ") and '", table.rules[j].id, "' in ", name,
                                     " overlap: a customer can match both (hit policy unique "
                                     "leaves such customers unassigned)"));
      }
    }
  }
  for (size_t j = 0; j < table.rules.size(); ++j) {
    if (!dead[j]) reachable->insert(table.rules[j].segment);
  }
  reachable->insert(table.default_segment);
}

}  // namespace

void AnalyzeTables(const RuleSet& rs, IssueList* issues) {
  std::set<int> reachable;
  if (rs.typing_tool) {
    reachable.insert(rs.function_segments.begin(), rs.function_segments.end());
  } else {
    AnalyzeTable(rs, rs.assignment, "assignment", &reachable, issues);
  }
  // The unprofiled table only runs for customers missing a required answer
  // (or, with a typing tool, a weighted input).
  if (!rs.required_inputs.empty() || rs.typing_tool) {
    AnalyzeTable(rs, rs.unprofiled, "unprofiled", &reachable, issues);
  } else if (!rs.unprofiled.rules.empty()) {
    issues->Warning(rs.unprofiled.rules.front().line, rs.unprofiled.rules.front().column,
                    "the unprofiled table never applies: no question is required, so every "
                    "customer is profiled");
  }
  // Drivers (collect): a rule no customer can match, and a tag only such
  // rules add.
  std::vector<bool> tag_reachable(rs.tags.size(), false);
  for (size_t r = 0; r < rs.drivers.rules.size(); ++r) {
    const Rule& rule = rs.drivers.rules[r];
    if (const Condition* c = ImpossibleCondition(rs, rule)) {
      issues->Warning(rule.line, rule.column,
                      absl::StrCat("drivers rule '", rule.id, "' can never fire: no value of '",
                                   rs.column_id(c->column), "' satisfies '", c->source, "'"));
    } else {
      tag_reachable[rs.drivers.tag_of[r]] = true;
    }
  }
  for (size_t t = 0; t < rs.tags.size(); ++t) {
    if (tag_reachable[t]) continue;
    for (size_t r = 0; r < rs.drivers.rules.size(); ++r) {
      if (rs.drivers.tag_of[r] != static_cast<int>(t)) continue;
      issues->Warning(rs.drivers.rules[r].line, rs.drivers.rules[r].column,
                      absl::StrCat("tag '", rs.tags[t],
                                   "' is unreachable: no drivers rule that adds it can fire"));
      break;
    }
  }
  for (size_t s = 0; s < rs.segments.size(); ++s) {
    if (reachable.count(static_cast<int>(s)) == 0) {
      issues->Warning(rs.segments[s].line, rs.segments[s].column,
                      absl::StrCat("segment '", rs.segments[s].id,
                                   "' is unreachable: no rule that can fire and no default "
                                   "assigns it (only a refinement could)"));
    }
  }
}

}  // namespace harmonia::engine::internal
