#include "store/internal/audit.h"

#include <array>

#include "absl/strings/str_cat.h"
#include "common/date.h"
#include "common/json.h"

namespace harmonia::store::internal {
namespace {

JsonObject RefinementState(const RefinementRecord& r) {
  JsonObject o;
  o.Add("status", RefinementStatusName(r.status));
  if (!r.status_reason.empty()) o.Add("reason", r.status_reason);
  if (!r.decided_by.empty()) o.Add("decided_by", r.decided_by);
  o.Add("cycles_applied", r.cycles_applied);
  return o;
}

}  // namespace

absl::Status CycleRace(const CycleRecord& c, int64_t latest_cycle_id) {
  auto name = [](int64_t id) { return id == 0 ? std::string("none") : absl::StrCat(id); };
  return absl::AbortedError(absl::StrCat("country ", c.country, " ", c.therapy_area,
                                         ": another cycle was committed while this one ran "
                                         "(latest cycle now ",
                                         name(latest_cycle_id), ", when it started ",
                                         name(c.based_on_cycle_id),
                                         "); nothing was written, run it again"));
}

absl::Status CheckDecision(const std::string& request_id, RefinementStatus to) {
  if (to == RefinementStatus::kApproved || to == RefinementStatus::kRejected ||
      to == RefinementStatus::kWithdrawn) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("refinement ", request_id, ": '",
                                                 RefinementStatusName(to),
                                                 "' is not a decision; expected approved, "
                                                 "rejected or withdrawn"));
}

absl::Status UnknownRefinement(const std::string& country, const std::string& therapy_area,
                               const std::string& request_id) {
  return absl::NotFoundError(absl::StrCat("no refinement with request id ", request_id, " in ",
                                          country, " ", therapy_area));
}

AuditEntry CopyAudit(const RuleSetRecord& r, const std::string& by, int64_t at_unix) {
  AuditEntry e;
  e.at_unix = at_unix;
  e.principal = by;
  e.action = "rules.copy";
  e.object = absl::StrCat(r.therapy_area, " v", r.version);
  e.after = JsonObject()
                .Add("version", r.version)
                .Add("checksum", r.checksum)
                .Add("published_by", r.published_by)
                .str();
  return e;
}

absl::Status CopyConflict(const RuleSetRecord& r, const std::string& stored_checksum) {
  return absl::FailedPreconditionError(absl::StrCat(
      "rule set ", r.therapy_area, " v", r.version, ": the store holds other content (checksum ",
      stored_checksum.substr(0, 12), ", received ", r.checksum.substr(0, 12), ")"));
}

AuditEntry PublishAudit(const RuleSetRecord& r, int64_t previous_version) {
  AuditEntry e;
  e.at_unix = r.published_at_unix;
  e.principal = r.published_by;
  e.action = r.rolled_back_from > 0 ? "rules.rollback" : "rules.publish";
  e.object = absl::StrCat(r.therapy_area, " v", r.version);
  if (previous_version > 0) e.before = JsonObject().Add("version", previous_version).str();
  JsonObject after;
  after.Add("version", r.version).Add("checksum", r.checksum);
  if (r.rolled_back_from > 0) after.Add("restores_version", r.rolled_back_from);
  e.after = after.str();
  return e;
}

AuditEntry SubmitAudit(const RefinementRecord& r) {
  AuditEntry e;
  e.at_unix = r.submitted_at_unix;
  e.principal = r.submitted_by;
  e.action = "refinement.submit";
  e.object = absl::StrCat(r.country, "/", r.therapy_area, " refinement ", r.request_id);
  e.country = r.country;
  JsonObject after = RefinementState(r);
  after.Add("customer_id", r.customer_id)
      .Add("segment", r.segment)
      .Add("calls_delta", r.calls_delta)
      .Add("reason_code", r.reason)
      .Add("comment", r.comment);
  e.after = after.str();
  return e;
}

AuditEntry DecideAudit(const RefinementRecord& before, const RefinementRecord& after) {
  AuditEntry e;
  e.at_unix = after.updated_at_unix;
  e.principal = after.decided_by;
  e.action = absl::StrCat("refinement.", RefinementStatusName(after.status));
  e.object = absl::StrCat(after.country, "/", after.therapy_area, " refinement ", after.request_id);
  e.country = after.country;
  e.before = RefinementState(before).str();
  e.after = RefinementState(after).str();
  return e;
}

AuditEntry CycleAudit(const CycleRecord& c, int64_t assignments, int64_t previous_cycle_id,
                      const std::vector<RefinementUpdate>& updates) {
  AuditEntry e;
  e.at_unix = c.committed_at_unix;
  e.principal = c.run_by;
  e.action = "cycle.commit";
  e.object = absl::StrCat(c.country, "/", c.therapy_area, " cycle ", c.cycle_id);
  e.country = c.country;
  if (previous_cycle_id > 0) e.before = JsonObject().Add("cycle_id", previous_cycle_id).str();
  std::array<int64_t, 7> by_status{};
  for (const RefinementUpdate& u : updates) ++by_status[static_cast<int>(u.status)];
  JsonObject refinements;
  for (size_t s = 0; s < by_status.size(); ++s) {
    if (by_status[s] > 0) {
      refinements.Add(RefinementStatusName(static_cast<RefinementStatus>(s)), by_status[s]);
    }
  }
  e.after = JsonObject()
                .Add("cycle_id", c.cycle_id)
                .Add("as_of", int64_t{c.as_of})
                .Add("rule_set_version", c.rule_set_version)
                .Add("options", c.options)
                .Add("assignments", assignments)
                .Add("refinements", refinements)
                .str();
  return e;
}

absl::Status CheckSubmission(const std::vector<RefinementRecord>& rows) {
  for (size_t i = 0; i < rows.size(); ++i) {
    const RefinementRecord& r = rows[i];
    if (r.request_id.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("refinement ", i + 1, " of the submission: empty request_id"));
    }
    if (r.status != RefinementStatus::kSubmitted && r.status != RefinementStatus::kAccepted &&
        r.status != RefinementStatus::kRejected) {
      return absl::InvalidArgumentError(absl::StrCat(
          "refinement ", r.request_id, ": cannot be submitted as ", RefinementStatusName(r.status),
          "; expected one of: submitted, accepted, rejected"));
    }
  }
  return absl::OkStatus();
}

absl::Status VersionMustIncrease(const RuleSetRecord& r, int64_t current) {
  return absl::FailedPreconditionError(absl::StrCat("rule set ", r.therapy_area, " v", r.version,
                                                    ": versions must increase; the store holds v",
                                                    current));
}

absl::Status ForbiddenTransition(const RefinementRecord& r, RefinementStatus to) {
  return absl::FailedPreconditionError(
      absl::StrCat("refinement ", r.request_id, " is ", RefinementStatusName(r.status),
                   ": it cannot become ", RefinementStatusName(to)));
}

absl::Status ApplyUpdate(const RefinementUpdate& update, int64_t cycle_id, int64_t at_unix,
                         RefinementRecord* record) {
  if (!RefinementTransitionAllowed(record->status, update.status)) {
    return ForbiddenTransition(*record, update.status);
  }
  record->status = update.status;
  record->status_reason = update.status_reason;
  record->updated_at_unix = at_unix;
  if (update.applied) {
    ++record->cycles_applied;
    record->last_cycle_id = cycle_id;
    if (record->first_cycle_id == 0) record->first_cycle_id = cycle_id;
  }
  return absl::OkStatus();
}

AuditEntry ValuesAudit(const AuditEntry& base, const std::vector<const InputRow*>& rows,
                       const std::vector<std::optional<std::string>>& before) {
  AuditEntry e = base;
  std::string after_values = "[", before_values = "[";
  for (size_t i = 0; i < rows.size(); ++i) {
    const InputRow& r = *rows[i];
    JsonObject key;
    key.Add("customer_id", r.customer_id)
        .Add("therapy_area", r.therapy_area)
        .Add(r.is_metric ? "metric_id" : "question_id", r.input_id)
        .Add("source", r.source)
        .Add("as_of", FormatIsoDate(r.as_of));
    JsonObject now = key, then = key;
    now.Add("value", r.value);
    if (before[i]) {
      then.Add("value", *before[i]);
    } else {
      then.AddRaw("value", "null");
    }
    absl::StrAppend(&after_values, i ? "," : "", now.str());
    absl::StrAppend(&before_values, i ? "," : "", then.str());
  }
  after_values += "]";
  before_values += "]";
  // The caller's own state (counts, say), with the values added.
  auto with = [](const std::string& json, const std::string& values) {
    if (json.empty() || json == "{}") return absl::StrCat("{\"values\":", values, "}");
    return absl::StrCat(json.substr(0, json.size() - 1), ",\"values\":", values, "}");
  };
  e.after = with(base.after, after_values);
  e.before = with(base.before, before_values);
  return e;
}

}  // namespace harmonia::store::internal
