// The audit entries both backends write, built in one place so that a
// SQLite and a PostgreSQL store record the same change the same way.
// INTERNAL to store/.
#ifndef HARMONIA_STORE_INTERNAL_AUDIT_H_
#define HARMONIA_STORE_INTERNAL_AUDIT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "store/store.h"

namespace harmonia::store::internal {

// rules.publish of `r`; `previous_version` 0 = the therapy area's first.
// rules.copy: a version received from the rules service and cached.
AuditEntry CopyAudit(const RuleSetRecord& r, const std::string& by, int64_t at_unix);
// FailedPrecondition: the store holds other content under r's version.
absl::Status CopyConflict(const RuleSetRecord& r, const std::string& stored_checksum);

AuditEntry PublishAudit(const RuleSetRecord& r, int64_t previous_version);

// `base` (a change made on someone's behalf, e.g. answers.submit) with what
// it changed: "values" in `after` (each row) and in `before` (the key's
// latest value before the write, parallel to `rows`; null when none).
AuditEntry ValuesAudit(const AuditEntry& base, const std::vector<const InputRow*>& rows,
                       const std::vector<std::optional<std::string>>& before);

// refinement.submit of a new record (as stored, with its id).
AuditEntry SubmitAudit(const RefinementRecord& r);

// refinement.<status> (approved, rejected, withdrawn…) from `before` to `after`.
AuditEntry DecideAudit(const RefinementRecord& before, const RefinementRecord& after);

// cycle.commit of `c` (with its cycle_id): counts of assignments and of the
// refinement updates by new status; `previous_cycle_id` 0 = the first.
AuditEntry CycleAudit(const CycleRecord& c, int64_t assignments, int64_t previous_cycle_id,
                      const std::vector<RefinementUpdate>& updates);

// `record` after `update` at cycle `cycle_id`; FailedPrecondition when the
// lifecycle forbids it.
absl::Status ApplyUpdate(const RefinementUpdate& update, int64_t cycle_id, int64_t at_unix,
                         RefinementRecord* record);

// InvalidArgument, naming the row, when a row to submit has an empty
// request_id or a status other than submitted, accepted or rejected.
absl::Status CheckSubmission(const std::vector<RefinementRecord>& rows);

// FailedPrecondition for publishing `r` over the stored version `current`.
absl::Status VersionMustIncrease(const RuleSetRecord& r, int64_t current);

// The message for a forbidden change.
absl::Status ForbiddenTransition(const RefinementRecord& r, RefinementStatus to);
// Aborted: a cycle of the market was committed while `c` ran.
absl::Status CycleRace(const CycleRecord& c, int64_t latest_cycle_id);

// InvalidArgument unless `to` is a decision a person makes: approved,
// rejected or withdrawn (applied and expired are a cycle's to set).
absl::Status CheckDecision(const std::string& request_id, RefinementStatus to);

// NotFound: no refinement with `request_id` in (country, therapy area).
absl::Status UnknownRefinement(const std::string& country, const std::string& therapy_area,
                               const std::string& request_id);

}  // namespace harmonia::store::internal

#endif  // HARMONIA_STORE_INTERNAL_AUDIT_H_
