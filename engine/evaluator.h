// Evaluates a compiled rule set over a columnar batch of customers (docs/cycle.md
// steps 2–4: scores, profiled vs unprofiled, hit policies, tier, targets).
//
// The evaluator is pure: no I/O, no clock, no randomness; the same batch gives
// the same results bit for bit. It works block by block (a few hundred
// customers at a time), one column at a time, so the inner loops are simple
// comparisons over contiguous doubles that the compiler vectorizes.
//
// Thread-safety: an Evaluator is immutable after construction; Evaluate() is
// const and may run concurrently on disjoint ranges of one Results.
#ifndef HARMONIA_ENGINE_EVALUATOR_H_
#define HARMONIA_ENGINE_EVALUATOR_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/rule_set.h"

namespace harmonia::engine {

// How an assignment was decided. Written to files and stores by name.
enum class DecidedBy : uint8_t {
  kRules = 0,        // a rule (or the default) of `assignment`
  kUnprofiled = 1,   // a rule (or the default) of `unprofiled`
  kConflict = 2,     // hit policy `unique` matched several rules
  kPullThrough = 3,  // previous cycle's assignment kept (docs/cycle.md step 5)
  kRefinement = 4,   // a field refinement applied (docs/cycle.md step 6)
};
const char* DecidedByName(DecidedBy decided_by);

// Input columns of a batch, one per RuleSet::inputs entry, each `size` doubles
// long: NaN = missing, choice = option index, boolean = 1/0. The batch does
// not own the memory.
struct Batch {
  size_t size = 0;
  std::vector<const double*> columns;
};

// Results, one entry per customer of the batch.
struct Results {
  std::vector<int16_t> segment;  // index into RuleSet::segments; -1 = none (conflict)
  std::vector<int16_t> rule;     // index into RuleSet::rule_ids; -1 = conflict
  std::vector<DecidedBy> decided_by;
  std::vector<uint8_t> tier;  // index into RuleSet::tiers
  std::vector<Activity> activity;
  std::vector<std::vector<double>> scores;  // [score][customer]; NaN = missing
  // Per customer, the drivers rules that matched: bit r = RuleSet::drivers
  // rule r (empty when the rule set has no drivers). TagsText names them.
  std::vector<uint64_t> drivers;
  // Customers left without a segment by `unique`, with the ids that matched
  // ("r1|r3"), in customer order.
  std::vector<std::pair<uint32_t, std::string>> conflicts;

  void Resize(size_t customers, size_t num_scores);
};

// How the evaluator decided one customer (steps 2–4), for explanations: the
// same kernel as Evaluate, with what it computed on the way.
struct Trace {
  struct Term {
    int column = 0;     // an input column
    double weight = 0;  // as written
    double value = 0;   // the input's value; NaN = missing
  };
  // A score or a typing-tool function: intercept + Σ weight × value.
  struct Linear {
    double intercept = 0;
    std::vector<Term> terms;  // in written order
    double value = 0;         // NaN = missing (a term's input is missing)
  };
  std::vector<Linear> scores;     // RuleSet::scores order
  std::vector<Linear> functions;  // typing tool: RuleSet::functions order
  // Profiled (docs/cycle.md step 3): every required question answered and, for a typing
  // tool, every function computable; otherwise the `unprofiled` table decided.
  bool profiled = false;
  std::vector<int> missing_required;         // columns of required questions left unanswered
  const char* table = "assignment";          // "assignment", "typing_tool" or "unprofiled"
  uint64_t drivers = 0;                      // the drivers rules that matched (Results::drivers)
  DecidedBy decided_by = DecidedBy::kRules;  // rules, unprofiled or conflict
  int rule = -1;                             // index into RuleSet::rule_ids; -1 = conflict
  std::string matched;                       // conflict: the rule ids that matched, "r1|r3"
  int segment = -1;                          // -1 = none (conflict)
  int tier = 0;
  double tier_metric = 0;  // the tier metric's value; NaN = missing (lowest tier)
  Activity targets;
};

// A customer's tags from its matched drivers rules: each matching rule adds
// its tag, in rule order, each tag once; joined by "|" ("" = none).
std::string TagsText(const RuleSet& rules, uint64_t drivers);

// The n=1 plan of one customer (docs/cycle.md step 6, "Plan"): with the
// option on and the customer's answer to the preference question having a
// mix row, the planned calls C (targets.calls) are apportioned over calls,
// remote, email and events by the row's shares with the largest-remainder
// method (ties in that order); if C > 0 and fewer than min(min_calls, C)
// stay calls, calls move back one at a time from the channel that received
// the most (same tie order). plan.calls = the calls kept, plan.X = targets.X
// + the calls moved to X. Otherwise the plan is the targets. `answer` is the
// preference question's value (option index; NaN = missing).
Activity PlanOf(const RuleSet& rules, const Options& options, const Activity& targets,
                double answer);

class Evaluator {
 public:
  // REQUIRES: `options` resolved against `rules` (ResolveOptions).
  Evaluator(std::shared_ptr<const RuleSet> rules, const Options& options);

  // Evaluates customers [begin, end) of `batch` into the same positions of
  // `results`, which must already be sized for the batch (Results::Resize).
  // Conflicts are appended to `conflicts` (not results->conflicts, so ranges may
  // run concurrently); the caller merges them.
  void Evaluate(const Batch& batch, size_t begin, size_t end, Results* results,
                std::vector<std::pair<uint32_t, std::string>>* conflicts) const;

  // Convenience: the whole batch, single-threaded.
  void EvaluateAll(const Batch& batch, Results* results) const;

  // How customer `customer` of `batch` is decided: the result Evaluate gives,
  // with scores' terms, whether and why the customer is profiled, the table
  // and rule.
  Trace Explain(const Batch& batch, size_t customer) const;

  // The n=1 plan of a customer with these targets and this answer: PlanOf,
  // from a table precomputed for planned calls below kPlanTableCalls.
  Activity Plan(const Activity& targets, double answer) const {
    // NaN fails both comparisons: no answer, the targets.
    if (!(answer >= 0 && answer < plan_options_)) return targets;
    const size_t option = static_cast<size_t>(answer);
    if (targets.calls < 0 || targets.calls >= kPlanTableCalls) {
      return PlanOf(*rules_, options_, targets, answer);
    }
    const Activity& moved = plan_moves_[option * kPlanTableCalls + targets.calls];
    return {moved.calls, targets.remote + moved.remote, targets.email + moved.email,
            targets.events + moved.events};
  }

  // Scaled targets for a segment and tier (docs/cycle.md step 4); zero for segment -1.
  Activity Targets(int segment, int tier) const;

  const RuleSet& rules() const { return *rules_; }
  const Options& options() const { return options_; }

 private:
  std::shared_ptr<const RuleSet> rules_;
  Options options_;
  std::vector<TierBand> bands_;
  void BuildPlanTable();

  std::vector<Activity> scaled_targets_;  // [segment * tiers + tier]
  // Plan: per option and planned calls C < kPlanTableCalls, PlanOf of
  // {C, 0, 0, 0} (the calls kept and those moved; {C, 0, 0, 0} for an
  // answer without a mix row); no options = no plan.
  static constexpr int32_t kPlanTableCalls = 256;
  std::vector<Activity> plan_moves_;
  double plan_options_ = 0;
};

// Scales a count by a decimal factor (millionths) and rounds half up.
int32_t ScaleHalfUp(int32_t count, int64_t scale_micros);

}  // namespace harmonia::engine

#endif  // HARMONIA_ENGINE_EVALUATOR_H_
