// Reading and writing the files users exchange (docs/files.md): customers.csv,
// answers.csv, metrics.csv, refinements.csv, assignments.csv and
// activities.csv.
//
// Readers are forgiving by design: a bad row is reported as a RowProblem
// (file, line, column, what is wrong, what is allowed) and skipped; the good
// rows still load. Only a file that cannot be read at all, or lacks a required
// column, fails with a Status.
//
// Thread-safety: functions are reentrant; ReadInputs uses `threads` threads
// internally.
#ifndef HARMONIA_EXCHANGE_EXCHANGE_H_
#define HARMONIA_EXCHANGE_EXCHANGE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/country_config.h"
#include "engine/cycle.h"
#include "engine/rule_set.h"

namespace harmonia::exchange {

struct RowProblem {
  std::string file;
  int64_t line = 0;
  int64_t column = 0;  // 0 = unknown
  std::string message;
};
// "file:line:column: message".
std::string FormatProblem(const RowProblem& problem);

// The customers in scope of one (country, therapy area), sorted bytewise by
// id, plus enough about the others to say why they are out of scope.
struct Universe {
  std::vector<std::string> ids;
  absl::flat_hash_map<std::string, uint32_t> index;  // id → position in ids
  // Known customers not in scope: id → "country FR" / "type nurse".
  absl::flat_hash_map<std::string, std::string> out_of_scope;
  int64_t rows = 0;
  int64_t rejected = 0;  // rows reported as RowProblems
};

// Reads customers.csv, keeping customers of `country` whose type is in
// `applies_to`.
absl::StatusOr<Universe> ReadCustomers(const std::string& path, const std::string& country,
                                       const std::vector<std::string>& applies_to,
                                       std::vector<RowProblem>* problems);

enum class InputKind { kAnswers, kMetrics };

// Counts of rows that were not offered to the selector, by cause.
struct InputCounts {
  int64_t rows = 0;
  int64_t other_therapy_area = 0;
  int64_t out_of_scope = 0;  // customer known but not in scope
  int64_t rejected = 0;      // reported as RowProblems (malformed, unknown ids, invalid)
};

// Reads answers.csv or metrics.csv into `selector` (docs/cycle.md step 1), rows
// of the rule set's therapy area only, for the customers of `index` (id →
// position in the selector); customers of `out_of_scope` are skipped and
// counted, other ids reported. Rows of the file's `order` are their line
// numbers, so on a tie the row imported last wins. Invalid values are
// reported as RowProblems and counted by the selector.
absl::Status ReadInputs(const std::string& path, InputKind kind, const engine::RuleSet& rules,
                        const engine::CountryConfig& country,
                        const absl::flat_hash_map<std::string, uint32_t>& index,
                        const absl::flat_hash_map<std::string, std::string>& out_of_scope,
                        int32_t cycle_day, int threads, engine::InputSelector* selector,
                        InputCounts* counts, std::vector<RowProblem>* problems);
// The same for a Universe's customers.
inline absl::Status ReadInputs(const std::string& path, InputKind kind,
                               const engine::RuleSet& rules, const engine::CountryConfig& country,
                               const Universe& universe, int32_t cycle_day, int threads,
                               engine::InputSelector* selector, InputCounts* counts,
                               std::vector<RowProblem>* problems) {
  return ReadInputs(path, kind, rules, country, universe.index, universe.out_of_scope, cycle_day,
                    threads, selector, counts, problems);
}

// Reads refinements.csv (all rows, in file order; validation happens in the cycle).
absl::StatusOr<std::vector<engine::Refinement>> ReadRefinements(const std::string& path,
                                                                std::vector<RowProblem>* problems);

// Reads a previous assignments.csv: the rows of `country` and `therapy_area`.
absl::StatusOr<absl::flat_hash_map<std::string, engine::PreviousAssignment>> ReadPrevious(
    const std::string& path, const std::string& country, const std::string& therapy_area,
    std::vector<RowProblem>* problems);

// Row-by-row reading for `harmonia import`: every well-formed row in file
// order, as views valid during the callback. Malformed rows, and input rows
// with an unknown source or a date that is not YYYY-MM-DD, are reported as
// RowProblems and not passed on. The callback may refuse a row itself with
// `reject(field, message)`, which records a RowProblem at that field.
using Reject = std::function<void(std::string_view field, std::string message)>;

struct CustomerFields {
  std::string_view customer_id, country, customer_type, specialty, name;
  int64_t line = 0;
};
absl::Status ForEachCustomer(const std::string& path, std::vector<RowProblem>* problems,
                             const std::function<void(const CustomerFields&, const Reject&)>& fn);

struct InputFields {
  std::string_view customer_id, therapy_area, input_id, value;
  engine::Source source = engine::Source::kRep;
  int32_t as_of = 0;
  int64_t line = 0;
};
absl::Status ForEachInput(const std::string& path, InputKind kind,
                          std::vector<RowProblem>* problems,
                          const std::function<void(const InputFields&, const Reject&)>& fn);

// activities.csv (docs/files.md): `activity` is one of engine::kActivityNames, `date`
// YYYY-MM-DD, `count` a whole number from 0 to kMaxActivityCount, `source`
// 1 to 64 bytes naming the system that reported it. Rows failing these are
// RowProblems, not passed on.
inline constexpr int64_t kMaxActivityCount = 100000;
struct ActivityFields {
  std::string_view customer_id, therapy_area, activity, source;
  int32_t day = 0;
  int64_t count = 0;
  int64_t line = 0;
};
absl::Status ForEachActivity(const std::string& path, std::vector<RowProblem>* problems,
                             const std::function<void(const ActivityFields&, const Reject&)>& fn);

// territories.csv (docs/files.md): a field rep's customers. `territory` and
// `rep` (a principal) are 1 to 128 bytes; rows failing that are RowProblems.
struct TerritoryFields {
  std::string_view customer_id, territory, rep;
  int64_t line = 0;
};
absl::Status ForEachTerritory(const std::string& path, std::vector<RowProblem>* problems,
                              const std::function<void(const TerritoryFields&, const Reject&)>& fn);

// The files of DIR an import loads, in load order: those of customers.csv,
// answers.csv, metrics.csv, activities.csv and territories.csv that DIR has. Checks, before
// an import writes anything, that each can be read and has its required
// columns; InvalidArgument when DIR has none of them.
absl::StatusOr<std::vector<std::string>> CheckImportFiles(const std::string& dir);

// The longest answer or metric value a file may give for the store (the
// longest valid one is a choice option's id; the store keys values).
inline constexpr size_t kMaxInputValueBytes = 256;

// The assignments.csv header (docs/files.md).
inline constexpr std::string_view kAssignmentsHeader =
    "customer_id,country,therapy_area,segment,tier,calls,remote,email,events,decided_by,"
    "rule_id,rule_set_version,inputs_digest";

}  // namespace harmonia::exchange

#endif  // HARMONIA_EXCHANGE_EXCHANGE_H_
