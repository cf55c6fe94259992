// Start here: one cycle of one (country, therapy area) — the one home of
// cycle assembly (docs/architecture.md). Against a store (RunStoreCycle):
// the rule-set version the country's pin allows, the country's options,
// inputs selected from the store, pull-through from the previous committed
// cycle, refinements and their validity in cycle periods, the quality
// figures, and one atomic commit of every assignment; used by `harmonia
// cycle run`, the country workers and the rules service's impact previews.
// From files (RunFileCycle): the same cycle for `harmonia evaluate`. For one
// customer (ExplainCustomer): how a committed cycle decided, by the engine's
// own trace.
//
// Layering: above engine/, exchange/, store/ and quality/; below report/ and
// services/.
#ifndef HARMONIA_CYCLE_CYCLE_H_
#define HARMONIA_CYCLE_CYCLE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/country_config.h"
#include "engine/cycle.h"
#include "exchange/exchange.h"
#include "harmonia/v1/report.pb.h"
#include "store/store.h"

namespace harmonia::cycle {

struct StoreCycleOptions {
  const engine::CountryConfig* country = nullptr;  // REQUIRES: not null
  std::string country_text;                        // the file as used, kept with the cycle
  std::string therapy_area;
  int32_t as_of = 0;  // the cycle date, days since 1970-01-01
  int threads = 1;
  int64_t now_unix = 0;  // commit time to record
  std::string run_by;    // the principal, for the cycle record and the audit log
  // A rule set to run instead of the stored version the country's pin names
  // (a preview's candidate); null = the stored one.
  std::shared_ptr<const engine::RuleSet> rule_set;
  // Evaluate only: nothing is committed (no cycle, no refinement changes) and
  // the result holds the assignments in `rows`.
  bool dry_run = false;
  // Called as the cycle advances: stage "inputs" (rows read), "evaluate"
  // (customers), "commit" (assignments); total 0 = unknown. May be null.
  std::function<void(const char* stage, int64_t done, int64_t total)> progress;
};

// What the cycle did with one stored refinement.
struct RefinementResult {
  std::string request_id;
  std::string customer_id;
  store::RefinementStatus status =
      store::RefinementStatus::kApplied;  // applied, rejected or expired
  std::string message;                    // why rejected or expired
  std::string reason;                     // the refinement's reason code
};

struct StoreCycleResult {
  store::CycleRecord cycle;  // as committed, with its cycle_id, period and quality figures
  // A re-run in the period of the market's latest cycle replaces it: that
  // cycle's id (its summary says so too); 0 = a new period.
  int64_t replaces_cycle_id = 0;
  engine::DataQuality quality;
  std::array<int64_t, 5> decided_by{};  // by engine::DecidedBy
  int64_t unknown_inputs = 0;           // stored values for ids the rule set does not have
  // The refinements the cycle considered: those expired for their age first,
  // then the others in submission order.
  std::vector<RefinementResult> refinements;
  int64_t refinement_quota = 0;
  int64_t awaiting_approval = 0;           // submitted, not yet approved: not applied
  std::vector<store::AssignmentRow> rows;  // dry_run only: what would have been committed
  harmonia::v1::CycleQuality figures;      // the quality figures (cycle.quality is their JSON)
};

// Runs the cycle. Refinements (docs/cycle.md step 6): the stored accepted, approved and
// applied refinements of the market, in submission order, go through the
// engine's checks; the cycle commits their new statuses with the
// assignments — applied (one more cycle counted), rejected with the engine's
// reason, or expired (superseded by a later one for the customer, or its
// `valid_cycles` cycle periods, counted from the period of the cycle that
// first applied it, are over; a re-run inside a period keeps it).
//
// NotFound: no published rule set (or not the pinned version) for the therapy
// area. FailedPrecondition: the country does not run the therapy area.
// InvalidArgument: the stored rule set no longer compiles, or the country's
// options are not on its menu (the message lists the issues).
absl::StatusOr<StoreCycleResult> RunStoreCycle(store::Store& store,
                                               const StoreCycleOptions& options);

// One cycle offline, from the files users exchange (docs/files.md): the
// customers, answers and metrics of `data_dir`, optionally a previous
// assignments.csv (pull-through) and a refinements.csv. Nothing is stored.
struct FileCycleOptions {
  std::shared_ptr<const engine::RuleSet> rules;    // REQUIRES: not null
  const engine::CountryConfig* country = nullptr;  // REQUIRES: runs rules' therapy area
  std::string data_dir;                            // customers.csv, answers.csv, metrics.csv
  int32_t as_of = 0;                               // the cycle date, days since 1970-01-01
  std::string previous_path;                       // empty = no pull-through
  std::string refinements_path;                    // empty = no refinements
  int threads = 1;
  // Run the engine alone this many more times on the loaded batch and
  // report the time (`harmonia evaluate --repeat`, a benchmark).
  int64_t repeat = 0;
  // Return every assignment (with its tags and plan) in `rows` instead of
  // assignments_csv (then empty), for the directives export.
  bool keep_rows = false;
};

struct FileCycleResult {
  std::string assignments_csv;                      // docs/files.md assignments.csv; not keep_rows
  std::vector<store::AssignmentRow> rows;           // keep_rows only, in customer-id order
  std::vector<exchange::RowProblem> problems;       // rows rejected, by file and line
  std::vector<engine::Refinement> refinements;      // as read, in file order
  std::vector<engine::RefinementOutcome> outcomes;  // parallel to refinements
  int64_t refinement_quota = 0;
  int64_t customers = 0;  // in scope
  int64_t customer_rows = 0, customer_rows_rejected = 0;
  exchange::InputCounts answers, metrics;
  engine::DataQuality quality;
  std::array<int64_t, 5> decided_by{};  // by engine::DecidedBy
  // "decided by: rules …" and "data quality: invalid …", as the store
  // cycle's summary words them.
  std::string decided_by_text, quality_text;
  double load_seconds = 0, cycle_seconds = 0, engine_seconds = 0;  // engine: `repeat` runs
};

// InvalidArgument: the country's options are not on the rule set's menu;
// NotFound and others: a file cannot be read or lacks a required column.
// Rows with problems are skipped and listed, never fatal.
absl::StatusOr<FileCycleResult> RunFileCycle(const FileCycleOptions& options);

// Appends one assignments.csv record (docs/files.md) for `row`.
void AppendAssignmentRecord(std::string* csv, std::string_view country,
                            std::string_view therapy_area, const store::AssignmentRow& row);

// How a committed cycle decided one customer, layer by layer: the inputs
// as step 1 selected them (and what was passed over, and why), the scores
// with their weighted terms, whether the customer is profiled, the table and
// rule, the tier, pull-through and the refinement applied. Selection and
// decision come from the engine itself (InputSelector, Evaluator::Explain).
struct Explanation {
  store::AssignmentRow assignment;    // as committed
  std::string segment_label;          // the country's label, else the segment's name
  std::string segment_name, message;  // the segment's, as the rule set writes them
  std::string channels;               // the segment's channels, "|"-joined
  int64_t cycle_id = 0;
  int32_t as_of = 0;
  struct Input {
    std::string id;
    bool is_metric = false;
    std::string value;  // empty = missing
    std::string source;
    std::string as_of;
    // "VALUE (SOURCE, DATE): why" — lower precedence source, older, imported
    // earlier, invalid: …, stale, future, source_not_used.
    std::vector<std::string> passed_over;
  };
  std::vector<Input> inputs;  // in the rule set's order
  struct Term {
    std::string input;
    double weight = 0;
    std::string value;        // as the input is written; empty = missing
    double contribution = 0;  // weight × value (0 when missing)
  };
  struct Score {
    std::string id;
    double value = 0;
    bool missing = false;
    double intercept = 0;
    std::vector<Term> terms;  // in written order
  };
  std::vector<Score> scores;
  bool profiled = false;
  std::vector<std::string> missing_required;  // required questions left unanswered
  std::string table;                          // "assignment", "unprofiled" or "typing_tool"
  std::string rule_fired;                     // rule id, "default", "typing_tool" or "r1|r2"
  std::string rule_when;                      // the rule's conditions as written
  std::string options;                        // the options applied, canonical
  bool pulled_through = false;
  int64_t pulled_from_cycle_id = 0;
  std::optional<store::RefinementRecord> refinement;  // the one applied in the cycle
  std::string tier_metric;
  std::string tier_band;  // the band option the country chose
  // The drivers rules that matched, in rule order (the assignment's tags).
  struct Driver {
    std::string rule_id, tag, when;
  };
  std::vector<Driver> drivers;
  // How the plan was made: "targets", or the preference answer and its mix,
  // "q7 = digital: calls 0.5, remote 0.25, email 0.25; min_calls 1".
  std::string plan_rule;
};

// Explains `row`, customer `row.customer_id`'s assignment in `cycle`, by
// the rule set the cycle ran and the country file as the cycle used it.
// InvalidArgument when the options no longer resolve against the rule set.
absl::StatusOr<Explanation> ExplainCustomer(store::Store& store,
                                            std::shared_ptr<const engine::RuleSet> rules,
                                            const engine::CountryConfig& country,
                                            const store::CycleRecord& cycle,
                                            store::AssignmentRow row);

// The country file as `cycle` used it (kept with the cycle), parsed against
// `rules`, the rule set the cycle ran; nullopt when it no longer parses.
std::optional<engine::CountryConfig> CountryAsRun(const store::CycleRecord& cycle,
                                                  const engine::RuleSet& rules);

// A stored rule set, compiled: the one path from the store's text to an
// engine::RuleSet. InvalidArgument ("stored rule set TA vN does not
// compile: …") when it no longer compiles.
absl::StatusOr<std::shared_ptr<const engine::RuleSet>> CompileStored(
    const store::RuleSetRecord& record);

// The rule set a country's therapy area runs: its pinned version, or the
// latest, compiled. NotFound when the store does not hold it; InvalidArgument
// when it no longer compiles.
absl::StatusOr<std::shared_ptr<const engine::RuleSet>> LoadPinnedRuleSet(
    store::Store& store, const engine::CountryConfig& country, const engine::TherapyAreaConfig& ta);

// The request_id of a refinements.csv row that has none: "auto-" and an
// XXH3-128 of its content, the submitter and the day (UTC) of `now_unix`, so
// the same file submitted twice the same day is stored once and the same
// change next quarter is a new refinement.
std::string DerivedRequestId(const std::string& country, const engine::Refinement& row,
                             const std::string& submitter, int64_t now_unix);

// A refinement of `country` with the content of `content` (its
// calls_delta as `calls_delta`), submitted by content.submitted_by at
// `now_unix`: status submitted (awaiting approval) when the country requires
// approval, else accepted. Every path that takes refinements builds them
// here; callers reject the ones their checks refuse.
store::RefinementRecord NewRefinement(const engine::CountryConfig& country,
                                      const engine::Refinement& content, int32_t calls_delta,
                                      int64_t now_unix);

// Stores the rows of a refinements.csv (docs/files.md) as refinements of
// `country`, each under its therapy area: accepted, or submitted (awaiting
// approval) when the country requires approval; rejected at once when
// calls_delta is not a whole number from -10000 to 10000. A row without a
// request_id gets one derived from its content and the day ("auto-" and a
// hash), so a file submitted twice the same day is stored once. Returns the
// stored records, parallel to `rows` (duplicates report the original); a row
// repeating an earlier row's request_id is not stored and comes back rejected
// with refinement_id 0.
absl::StatusOr<std::vector<store::Store::Submitted>> SubmitRefinementRows(
    store::Store& store, const engine::CountryConfig& country,
    const std::vector<engine::Refinement>& rows, int64_t now_unix);

}  // namespace harmonia::cycle

#endif  // HARMONIA_CYCLE_CYCLE_H_
