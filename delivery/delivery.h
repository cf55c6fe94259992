// Start here: what a committed cycle tells the systems downstream
// (docs/files.md "Directives export" and "Changes export").
//
// A CRM receives each customer's directives: the assignment with its
// segment's name, the country's label, the key message and channels, the
// drivers-and-barriers tags and the n=1 plan. Between two cycles it can take
// a delta instead of a full file: the customers who entered, left, or whose
// segment, tier, targets, tags or plan changed, with their previous values.
// `harmonia export`, `harmonia evaluate` and the workers' assignment and
// changes RPCs all write through here.
//
// Layering: above cycle/ (stored rule sets, assignment records); below
// report/, services/ and cli/.
#ifndef HARMONIA_DELIVERY_DELIVERY_H_
#define HARMONIA_DELIVERY_DELIVERY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/country_config.h"
#include "engine/rule_set.h"
#include "store/store.h"

namespace harmonia::delivery {

// One segment's directives as a country shows them.
struct SegmentDirectives {
  std::string name;      // the segment's name in the rule set
  std::string label;     // the country's label; the name when it gives none
  std::string message;   // the key message
  std::string channels;  // "|"-joined, in the rule set's order
};

// Every segment's directives of one rule set in one country's labels.
class Directives {
 public:
  Directives() = default;
  // `ta` (the country's therapy-area entry, for its labels) may be null.
  Directives(const engine::RuleSet& rules, const engine::TherapyAreaConfig* ta);
  // Null for "" (no segment: a conflict) and for an id the rule set lacks.
  const SegmentDirectives* Find(std::string_view segment) const;

 private:
  absl::flat_hash_map<std::string, SegmentDirectives> by_id_;
};

enum class Encoding { kCsv, kJsonLines };

// The directives export's CSV header (no newline): assignments.csv's
// columns, then segment_name, label, message, channels, tags, plan_calls,
// plan_remote, plan_email, plan_events.
std::string_view DirectivesHeader();

// Appends one customer's directives: a CSV record, or a JSON object with the
// header's keys in its order (numbers as numbers, text as strings) and a
// newline.
void AppendDirectives(Encoding encoding, std::string* out, std::string_view country,
                      std::string_view therapy_area, const store::AssignmentRow& row,
                      const Directives& directives);

enum class ChangeKind { kEntered, kLeft, kChanged };
const char* ChangeKindName(ChangeKind kind);  // entered | left | changed

// Whether two assignments of one customer differ in what the changes export
// compares: segment, tier, targets, tags or plan.
bool Differs(const store::AssignmentRow& before, const store::AssignmentRow& now);

// One customer of the changes export.
struct Change {
  ChangeKind kind = ChangeKind::kChanged;
  const store::AssignmentRow* now = nullptr;     // null when the customer left
  const store::AssignmentRow* before = nullptr;  // null when the customer entered
  const std::string& customer_id() const { return now ? now->customer_id : before->customer_id; }
};

// The changes from `before` to `now`, both in customer-id order (bytewise),
// in customer-id order; the pointers point into the two vectors.
std::vector<Change> Changes(const std::vector<store::AssignmentRow>& before,
                            const std::vector<store::AssignmentRow>& now);
// The same one at a time, for the customers after `after_customer_id` ("" =
// all; a page token), until `fn` returns false.
void ForEachChange(const std::vector<store::AssignmentRow>& before,
                   const std::vector<store::AssignmentRow>& now, std::string_view after_customer_id,
                   const std::function<bool(const Change&)>& fn);

// The changes export's CSV header (no newline): the directives columns,
// change, then prev_segment, prev_tier, prev_calls, prev_remote, prev_email,
// prev_events, prev_tags, prev_plan_calls, prev_plan_remote, prev_plan_email,
// prev_plan_events.
std::string_view ChangesHeader();

// Appends one change. A customer who left has only customer_id, country and
// therapy_area among the directives columns (the rest empty, or null in
// JSON); one who entered has no prev_* values.
void AppendChange(Encoding encoding, std::string* out, std::string_view country,
                  std::string_view therapy_area, const Change& change,
                  const Directives& directives);

// A committed cycle ready to export: its record, its assignments in
// customer-id order, and its segments' directives in the labels of the
// country file the cycle ran with.
struct ExportedCycle {
  store::CycleRecord cycle;
  std::vector<store::AssignmentRow> rows;
  Directives directives;
};

// Reads the latest committed cycle of (country, therapy area), or the one
// with `cycle_id`. NotFound when there is none (a cycle id of another market
// answers as an unknown one); Internal when its stored rule set no longer
// compiles.
absl::StatusOr<ExportedCycle> LoadCycle(store::Store& store, const std::string& country,
                                        const std::string& therapy_area,
                                        std::optional<int64_t> cycle_id);

}  // namespace harmonia::delivery

#endif  // HARMONIA_DELIVERY_DELIVERY_H_
