// The middle every cycle shares, whatever its inputs are read from — the
// store (RunStoreCycle, ExplainCustomer) or files (RunFileCycle): the
// market's options resolved against the rule set, step 1's selector over
// the customers in scope, the previous assignments, steps 2–6 by the engine,
// and the results as assignment rows.
//
// Thread-safety: not thread-safe; one per cycle.
#ifndef HARMONIA_CYCLE_INTERNAL_ASSEMBLY_H_
#define HARMONIA_CYCLE_INTERNAL_ASSEMBLY_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/country_config.h"
#include "engine/cycle.h"
#include "engine/evaluator.h"
#include "quality/quality.h"
#include "store/store.h"

namespace harmonia::cycle::internal {

class Assembly {
 public:
  Assembly(const Assembly&) = delete;  // previous_of_ points into previous_
  Assembly& operator=(const Assembly&) = delete;

  // `customer_ids` are the customers in scope, bytewise ascending.
  // InvalidArgument ("country CC: …" and each issue) when the therapy area's
  // options are not on the rule set's menu.
  // `index` (id → position in customer_ids), when given, saves building it.
  static absl::StatusOr<std::unique_ptr<Assembly>> Create(
      std::shared_ptr<const engine::RuleSet> rules, const engine::CountryConfig& country,
      const engine::TherapyAreaConfig& ta, int32_t as_of, std::vector<std::string> customer_ids,
      absl::flat_hash_map<std::string, uint32_t> index = {});

  const engine::RuleSet& rules() const { return *rules_; }
  const std::shared_ptr<const engine::RuleSet>& shared_rules() const { return rules_; }
  const engine::Options& options() const { return options_; }
  const std::vector<std::string>& customer_ids() const { return ids_; }
  // Position of a customer in scope; -1 when not in scope.
  int64_t Find(std::string_view customer_id) const;
  const absl::flat_hash_map<std::string, uint32_t>& index() const { return index_; }
  engine::InputSelector& selector() { return selector_; }

  // Step 1 for one stored row of customer `customer` (see
  // engine::InputSelector::Offer). `column` is the input column the row
  // feeds, -1 when the rule set has no such question or metric or the source
  // is not a source (then nothing is offered); `candidate` false with *issue
  // when the value is not a candidate.
  struct Offered {
    int column = -1;
    bool candidate = false;
  };
  Offered OfferStored(uint32_t customer, const store::InputRow& row, engine::InputIssue* issue,
                      std::string* reason);

  // The previous cycle's assignment of customer `customer` (pull-through).
  void SetPrevious(uint32_t customer, engine::PreviousAssignment previous);

  // Steps 2–6 on the inputs offered so far. `refinements` may be null (none
  // given); `out_of_scope_reason` names why a known customer is not in scope.
  engine::CycleOutput Run(const std::vector<engine::Refinement>* refinements,
                          std::function<std::string(const std::string&)> out_of_scope_reason,
                          int threads);
  // How the engine decides customer `customer` on the inputs offered so far
  // (pull-through and refinements aside).
  engine::Trace Explain(size_t customer);
  // The engine alone on the same batch, `times` over (a benchmark of
  // `harmonia evaluate --repeat`); seconds taken.
  double TimeEngine(int64_t times, int threads) const;

  // Customer i's result as a row of assignments.csv and the store; `scores`
  // only when `with_scores`. Walk customers in ascending order, passing the
  // same *next_conflict (start at 0). Reuses the row's string buffers.
  void FillRow(const engine::CycleOutput& out, size_t i, bool with_scores, size_t* next_conflict,
               store::AssignmentRow* row) const;

 private:
  // The batch of the inputs offered so far, and an evaluator for them.
  void PrepareEngine();

  Assembly(std::shared_ptr<const engine::RuleSet> rules, const engine::CountryConfig& country,
           engine::Options options, int32_t as_of, std::vector<std::string> customer_ids,
           absl::flat_hash_map<std::string, uint32_t> index);

  std::shared_ptr<const engine::RuleSet> rules_;
  engine::Options options_;
  std::string country_;
  std::vector<std::string> ids_;
  absl::flat_hash_map<std::string, uint32_t> index_;
  absl::flat_hash_map<std::string, int> questions_, metrics_;  // input id → column
  engine::InputSelector selector_;
  std::vector<engine::PreviousAssignment> previous_;
  std::vector<const engine::PreviousAssignment*> previous_of_;
  std::unique_ptr<engine::Evaluator> evaluator_;
  engine::Batch batch_;
};

// "decided by: rules 1, unprofiled 2, pull_through 3, refinement 4, conflict 5".
std::string DecidedByText(const std::array<int64_t, 5>& decided_by);
// "data quality: invalid 1, stale 2, future 3, source not used 4".
std::string QualityText(const engine::DataQuality& quality);
// Counts of a cycle's results by engine::DecidedBy.
std::array<int64_t, 5> CountDecidedBy(const engine::Results& results);

// The plan of `plan_cycle` (its assignments, in customer-id order) against
// the activities of its market carried out in [from, to), read from the
// store, for the quality figures of a later cycle. The facts point into
// `plan_rows`.
absl::StatusOr<quality::FollowUpFacts> FollowUp(store::Store& store,
                                                const store::CycleRecord& plan_cycle,
                                                const std::vector<store::AssignmentRow>& plan_rows,
                                                int32_t from, int32_t to);

}  // namespace harmonia::cycle::internal

#endif  // HARMONIA_CYCLE_INTERNAL_ASSEMBLY_H_
