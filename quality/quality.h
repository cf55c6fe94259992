// A cycle's quality figures (docs/report.md), computed when the cycle
// runs and stored with it as the JSON of harmonia.v1.CycleQuality
// (proto/harmonia/v1/report.proto): segment sizes and the objective
// behaviour per segment, how well the segments separate it, churn against
// the previous cycle, how assignments were decided, refinements, data
// quality, input coverage, whether refinements pay off, the share of each
// driver tag, and whether the last period's plan was carried out and moved
// the objective behaviour.
//
// Thread-safety: pure functions.
#ifndef HARMONIA_QUALITY_QUALITY_H_
#define HARMONIA_QUALITY_QUALITY_H_

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/cycle.h"
#include "engine/evaluator.h"
#include "engine/rule_set.h"
#include "harmonia/v1/report.pb.h"

namespace harmonia::quality {

// One customer of the previous cycle.
struct PreviousSegment {
  std::string_view customer_id;
  std::string_view segment;  // "" = none
};

// One refinement the cycle considered.
struct RefinementFact {
  std::string_view status;  // applied | rejected | expired
  std::string_view reason;  // the reason code as submitted
};

// One customer of the plan's cycle (the market's last cycle of an earlier
// period), with the activities carried out since (docs/report.md "Did it
// work"). Activities in the order calls, remote, email, events.
struct PlanOutcome {
  std::string_view customer_id;
  std::string_view segment;  // "" = none
  std::string_view tier;
  std::array<int64_t, 4> plan{};                                // the n=1 plan
  std::array<int64_t, 4> actual{};                              // reported by the CRM in [from, to)
  double objective = std::numeric_limits<double>::quiet_NaN();  // then; NaN = none
};

struct FollowUpFacts {
  int64_t plan_cycle_id = 0;  // 0 = none: no follow-up figures
  // The activities counted: [from, to), days since 1970-01-01 (decision 61).
  int32_t from = 0, to = 0;
  std::vector<PlanOutcome> customers;   // bytewise ascending by customer id
  int64_t activities_outside_plan = 0;  // touchpoints of customers not in the plan's cycle
  int64_t reported = 0;                 // customers with any activity reported in [from, to)
  // The objective behaviour the plan's cycle measured ("" = unknown): the
  // change is compared only when it is this cycle's.
  std::string objective_metric;
};

// What a cycle knows when it has run. Pointers must outlive the call.
struct CycleFacts {
  const engine::RuleSet* rules = nullptr;
  const std::vector<std::string>* customer_ids = nullptr;  // bytewise ascending
  const engine::InputSelector* inputs = nullptr;  // the effective inputs of those customers
  const engine::Results* results = nullptr;       // after pull-through and refinements
  int64_t previous_cycle_id = 0;                  // 0 = none
  std::vector<PreviousSegment> previous;          // bytewise ascending by customer id
  std::vector<RefinementFact> refinements;
  int64_t refinement_quota = 0;
  int64_t awaiting_approval = 0;
  int64_t unknown_inputs = 0;
  FollowUpFacts follow_up;
};

harmonia::v1::CycleQuality ComputeQuality(const CycleFacts& facts);

// The transition matrix from `previous` to `current` (each bytewise
// ascending by customer id).
harmonia::v1::Churn ComputeChurn(const std::vector<PreviousSegment>& previous,
                                 const std::vector<PreviousSegment>& current,
                                 int64_t previous_cycle_id);

// The quality figures as stored with a cycle (compact JSON, field names as
// in report.proto) and back. Parsing ignores fields it does not know, so
// figures written by a newer version still read; InvalidArgument for text
// that is not such a JSON object, or one without figures_version (figures
// stored before figures_version existed had another layout).
inline constexpr int kFiguresVersion = 1;
std::string QualityToJson(const harmonia::v1::CycleQuality& quality);
absl::StatusOr<harmonia::v1::CycleQuality> QualityFromJson(std::string_view json);

}  // namespace harmonia::quality

#endif  // HARMONIA_QUALITY_QUALITY_H_
