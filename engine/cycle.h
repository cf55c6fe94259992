// One cycle of one (country, therapy area), docs/cycle.md steps 1–7, without I/O.
//
//   InputSelector  step 1: each customer's effective input per question and
//                  metric, by source precedence, recency, staleness, validity
//   RunCycle       steps 2–6: evaluate, pull-through, refinements
//
// Callers (the `evaluate` command, later the store) read files or tables and
// hand rows to these functions; nothing here touches a file or a clock.
//
// Thread-safety: InputSelector is not thread-safe; use one per thread and
// Merge() them. RunCycle is a pure function.
#ifndef HARMONIA_ENGINE_CYCLE_H_
#define HARMONIA_ENGINE_CYCLE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/country_config.h"
#include "engine/evaluator.h"
#include "engine/rule_set.h"

namespace harmonia::engine {

// Why an input value was not a candidate (docs/cycle.md step 1). Reported by name.
enum class InputIssue : uint8_t {
  kInvalid,        // fails the question's or metric's type / scale / options / range
  kStale,          // as_of more than max_input_age_days before the cycle date
  kFuture,         // as_of after the cycle date
  kSourceNotUsed,  // the country does not list the value's source
};
inline constexpr int kNumInputIssues = 4;
const char* InputIssueName(InputIssue issue);

// Data-quality counts of one cycle, by kind and by source.
struct DataQuality {
  std::array<std::array<int64_t, kNumSources>, kNumInputIssues> by_kind_source{};
  std::array<int64_t, kNumSources> candidates_by_source{};  // values that were candidates
  int64_t Total(InputIssue issue) const;
};

// The largest import order InputSelector::Offer takes (46 bits: 7e13 rows).
inline constexpr uint64_t kMaxInputOrder = (uint64_t{1} << 46) - 1;

// Step 1 for a batch of customers: keeps, per customer and input, the best
// candidate offered so far: first listed source, then newest as_of, then the
// highest `order` (the row imported last).
class InputSelector {
 public:
  // REQUIRES: `rules` and `country` outlive the selector.
  InputSelector(const RuleSet& rules, const CountryConfig& country, int32_t cycle_day,
                size_t customers);

  // Offers one row's value for input `column` of customer `customer`.
  // Returns true when the value is a candidate (it may still lose to a better
  // one). Otherwise counts the issue, sets *issue and, for kInvalid, *reason.
  // `order` ranks rows that tie on source and as_of: the highest wins (the
  // row imported last: a line number, or the store's import sequence).
  // REQUIRES: order <= kMaxInputOrder.
  bool Offer(uint32_t customer, int column, std::string_view value, Source source, int32_t as_of,
             uint64_t order, InputIssue* issue, std::string* reason);

  // Folds in another selector's candidates (same rules, country, customers).
  void Merge(const InputSelector& other);

  // The effective values as a batch (views into this selector).
  Batch batch() const;
  size_t size() const { return customers_; }
  const DataQuality& quality() const { return quality_; }

  // The chosen value's source, as_of and order, for explanations (nullopt =
  // missing).
  struct Provenance {
    Source source;
    int32_t as_of;
    uint64_t order;
  };
  std::optional<Provenance> provenance(uint32_t customer, int column) const;
  // Why a candidate offered for (customer, column) with this source, as_of
  // and order lost to the chosen one: "lower precedence source", "older" or
  // "imported earlier"; nullptr when it is the chosen one.
  // REQUIRES: it was offered and was a candidate (Offer returned true).
  const char* PassedOver(uint32_t customer, int column, Source source, int32_t as_of,
                         uint64_t order) const;

 private:
  const RuleSet& rules_;
  std::array<int, kNumSources> rank_{};  // precedence rank per source, -1 unused
  int32_t cycle_day_;
  int32_t oldest_day_;
  size_t customers_;
  // Per column: values (NaN = none) and a sortable key of the chosen candidate
  // ((3 - rank) << 62 | days since the oldest allowed as_of << 46 | order;
  // 0 = none), so "better" is ">".
  // Columns are allocated when first offered a candidate; a column nobody
  // offered reads as all_missing_.
  std::vector<std::vector<double>> values_;
  std::vector<std::vector<uint64_t>> keys_;
  std::vector<double> all_missing_;
  DataQuality quality_;
};

// A previous cycle's assignment of one customer (from assignments.csv or the store).
struct PreviousAssignment {
  std::string segment;  // empty = none (conflict)
  std::string tier;
  Activity activity;
  std::string rule_id;
  int64_t rule_set_version = 0;
  std::string inputs_digest;
};

// A field refinement (docs/files.md refinements.csv), in submission order.
struct Refinement {
  std::string request_id;
  std::string customer_id;
  std::string therapy_area;
  std::string segment;      // empty = keep the segment, change calls only
  std::string calls_delta;  // as written; must be a whole number (empty = 0)
  std::string reason;
  std::string comment;
  std::string submitted_by;
  int64_t line = 0;  // where it came from, for messages
  // How messages name it when it does not come from a file line (e.g.
  // "request r-17" for one from the store); empty = "line N".
  std::string label;
};

struct RefinementOutcome {
  // kOtherTherapyArea: the row is for another therapy area's cycle; not an
  // error (one file may serve several cycles), counted and not applied.
  enum class Status { kApplied, kRejected, kSuperseded, kOtherTherapyArea };
  Status status = Status::kRejected;
  std::string message;  // why it was rejected or superseded
};

struct CycleInput {
  const Evaluator* evaluator = nullptr;
  const Batch* batch = nullptr;
  // Customer ids of the batch, in batch order (bytewise ascending).
  const std::vector<std::string>* customer_ids = nullptr;
  // Per batch customer: the previous assignment, or nullptr.
  std::vector<const PreviousAssignment*> previous;
  // Customers known but not in scope (other type or country), for messages:
  // id → why (e.g. "type nurse is not in applies_to").
  std::function<std::string(const std::string& customer_id)> out_of_scope_reason;
  const std::vector<Refinement>* refinements = nullptr;
  std::string country;
  int threads = 1;
};

struct CycleOutput {
  Results results;                             // after pull-through and refinements
  std::vector<std::string> digests;            // inputs_digest per customer, 32 hex chars
  std::vector<RefinementOutcome> refinements;  // parallel to CycleInput::refinements
  // The n=1 plan per customer (PlanOf), after refinements; empty when the
  // option is off (the plan is then the targets, results.activity).
  std::vector<Activity> plan;
  int64_t pulled_through = 0;
  int64_t refined = 0;
  int64_t refinement_quota = 0;
};

CycleOutput RunCycle(const CycleInput& input);

// A refinement's calls_delta is a whole number within ±kMaxCallsDelta.
inline constexpr int32_t kMaxCallsDelta = 10000;
// Parses calls_delta as written (empty = 0). False, with *why ("calls_delta
// 'x' is not a whole number from -10000 to 10000"), when it is not one.
bool ParseCallsDelta(std::string_view text, int32_t* delta, std::string* why);

// The refinement quota (docs/cycle.md step 6): floor(max_refinement_share × customers in
// scope) distinct customers per cycle.
int64_t RefinementQuota(const Options& options, int64_t customers_in_scope);

// Why a customer of `country` and `type` is not in scope of a cycle of
// `cycle_country` whose rule set applies to `applies_to`; empty when it is.
std::string OutOfScopeReason(std::string_view country, std::string_view type,
                             std::string_view cycle_country,
                             const std::vector<std::string>& applies_to);

// The inputs_digest of one customer: a 128-bit XXH3 of the therapy area, the
// input ids, the options' canonical text and the customer's effective values.
std::string InputsDigest(const RuleSet& rules, const Options& options, const Batch& batch,
                         size_t customer);

}  // namespace harmonia::engine

#endif  // HARMONIA_ENGINE_CYCLE_H_
