// The PostgreSQL backend of store.h (libpq, PostgreSQL 15). INTERNAL to
// store/: use OpenStore("postgresql://…").
//
// One connection per Store. Bulk writes go through COPY into a temporary
// table and one INSERT … ON CONFLICT; large reads stream through a server-side
// cursor, so no result set is held in client memory at once.
#ifndef HARMONIA_STORE_INTERNAL_POSTGRES_STORE_H_
#define HARMONIA_STORE_INTERNAL_POSTGRES_STORE_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "store/store.h"

struct pg_conn;
struct pg_result;

namespace harmonia::store::internal {

// The absl code for a PostgreSQL SQLSTATE (the table in store.h):
// class 23 → FailedPrecondition, 40001 / 40P01 → Aborted, classes 08, 53, 57
// → Unavailable, 22 → InvalidArgument, 42501 → PermissionDenied, XX001 /
// XX002 → DataLoss, anything else (42 included) → Internal.
absl::StatusCode PostgresErrorCode(std::string_view sqlstate);

// `url` with any password removed (from the user info and from a `password=`
// query parameter), for messages and logs.
std::string RedactPostgresUrl(const std::string& url);

class PostgresStore final : public Store {
 public:
  // `url` is a libpq connection URI (postgresql:// or postgres://).
  // InvalidArgument when libpq cannot parse it, Unavailable when the server
  // cannot be reached, FailedPrecondition when its schema is newer than this
  // binary.
  static absl::StatusOr<std::unique_ptr<PostgresStore>> Open(const std::string& url);
  ~PostgresStore() override;

  int schema_version() const override { return schema_version_; }
  absl::Status Probe() override;
  absl::StatusOr<WriteStats> UpsertCustomers(const std::vector<CustomerRow>& rows) override;
  absl::StatusOr<WriteStats> UpsertInputs(const std::vector<InputRow>& rows) override {
    return WriteInputs(rows, nullptr);
  }
  absl::StatusOr<WriteStats> UpsertInputsAudited(const std::vector<InputRow>& rows,
                                                 const AuditEntry& audit) override {
    return WriteInputs(rows, &audit);
  }
  absl::StatusOr<WriteStats> UpsertActivities(const std::vector<ActivityRow>& rows) override;
  absl::Status ScanActivityTotals(
      const std::string& country, const std::string& therapy_area, int32_t from_day, int32_t to_day,
      const std::function<void(const std::string&, const ActivityCounts&)>& fn) override;
  absl::StatusOr<AlignmentStats> ReplaceTerritories(const std::vector<TerritoryRow>& rows) override;
  absl::StatusOr<std::vector<TerritoryRow>> ListTerritories(const std::string& country,
                                                            const std::string& rep) override;
  absl::StatusOr<std::vector<std::string>> CustomerIds() override;
  absl::StatusOr<std::vector<CustomerRow>> ListCustomers(const std::string& country) override;
  absl::StatusOr<int64_t> CountCustomers() override;
  absl::StatusOr<int64_t> CountInputs() override;
  absl::StatusOr<std::optional<CustomerRow>> GetCustomer(const std::string& id) override;
  absl::Status PublishRuleSet(const RuleSetRecord& record) override;
  absl::StatusOr<std::vector<RuleSetRecord>> ListRuleSets(const std::string& therapy_area) override;
  absl::StatusOr<bool> CopyRuleSet(const RuleSetRecord& record, const std::string& by,
                                   int64_t at_unix) override;
  absl::StatusOr<std::vector<InputRow>> CustomerInputs(const std::string& customer_id,
                                                       const std::string& therapy_area) override;
  absl::StatusOr<std::optional<RuleSetRecord>> GetRuleSet(const std::string& therapy_area,
                                                          std::optional<int64_t> version) override;
  absl::StatusOr<std::vector<std::string>> CustomersInScope(
      const std::string& country, const std::vector<std::string>& types) override;
  absl::Status ScanInputs(const std::string& country, const std::string& therapy_area,
                          const std::function<void(const InputRow&)>& fn) override;
  absl::StatusOr<int64_t> CommitCycle(const CycleRecord& cycle,
                                      const std::vector<AssignmentRow>& rows,
                                      const std::vector<RefinementUpdate>& refinements) override;
  absl::StatusOr<std::optional<CycleRecord>> GetCycle(const std::string& country,
                                                      const std::string& therapy_area,
                                                      std::optional<int64_t> cycle_id) override;
  absl::StatusOr<std::vector<AssignmentRow>> GetAssignments(int64_t cycle_id) override;
  absl::StatusOr<std::vector<CycleRecord>> LatestCycles(const std::string& therapy_area) override;
  absl::StatusOr<std::vector<CycleRecord>> ListCycles(const std::string& country,
                                                      const std::string& therapy_area) override;
  absl::StatusOr<std::optional<AssignmentRow>> GetAssignment(
      int64_t cycle_id, const std::string& customer_id) override;
  absl::StatusOr<std::vector<Submitted>> SubmitRefinements(
      const std::vector<RefinementRecord>& rows) override;
  absl::StatusOr<std::vector<RefinementRecord>> ListRefinements(
      const std::string& country, const std::string& therapy_area,
      const std::vector<RefinementStatus>& statuses) override;
  absl::StatusOr<std::optional<RefinementRecord>> GetRefinement(
      const std::string& country, const std::string& therapy_area,
      const std::string& request_id) override;
  absl::StatusOr<RefinementRecord> DecideRefinement(
      const std::string& country, const std::string& therapy_area, const std::string& request_id,
      RefinementStatus status, const std::string& reason, const std::string& by,
      int64_t at_unix) override;
  absl::StatusOr<int64_t> AppendAudit(const AuditEntry& entry) override;
  absl::StatusOr<std::vector<AuditEntry>> ListAudit(const AuditQuery& query) override;
  absl::StatusOr<AuditHead> GetAuditHead() override;

 private:
  class Params;

  PostgresStore(pg_conn* conn, std::string display_url)
      : conn_(conn), display_url_(std::move(display_url)) {}
  absl::Status Migrate();
  absl::StatusOr<int64_t> CountRows(const char* sql);
  // Runs `sql` (a SELECT) through a cursor in a read-only transaction and
  // calls fn(result, row) for every row, a batch of rows at a time.
  absl::Status ForEachRow(const char* sql, const Params& params, std::string_view what,
                          const std::function<void(const pg_result*, int)>& fn);
  // Inside a cycle commit, before the cycle is written: the refinements that
  // `updates` name, locked and sorted by id; NotFound or FailedPrecondition
  // (the lifecycle) as CommitCycle documents.
  absl::StatusOr<std::vector<RefinementRecord>> LockRefinements(
      const std::vector<RefinementUpdate>& updates, int64_t at_unix);
  // Then: `updates` applied to `records` (from LockRefinements) at cycle
  // `cycle_id`, written in bulk.
  absl::Status WriteRefinements(const std::vector<RefinementUpdate>& updates, int64_t cycle_id,
                                int64_t at_unix, std::vector<RefinementRecord> records);
  // Inside a transaction: appends audit entries, chained in order from the
  // head, and returns the last one's id. Holds the audit lock
  // (postgres_store.cc) until the transaction ends. REQUIRES: not empty.
  absl::StatusOr<int64_t> InsertAudits(const std::vector<AuditEntry>& entries);
  absl::StatusOr<int64_t> InsertAudit(const AuditEntry& entry) { return InsertAudits({entry}); }
  // The inputs, and `audit` (when not null), in one transaction.
  absl::StatusOr<WriteStats> WriteInputs(const std::vector<InputRow>& rows,
                                         const AuditEntry* audit);
  // The keys of `rows` as six parallel arrays ($1..$6: customer, therapy
  // area, input, source, as_of, is_metric as 0/1), for unnest().
  static Params InputKeyArrays(const std::vector<const InputRow*>& rows);
  // `base` with the values `rows` write and their keys' latest values before
  // (ValuesAudit), read inside the caller's transaction.
  absl::StatusOr<AuditEntry> WithValuesBefore(const AuditEntry& base,
                                              const std::vector<InputRow>& rows);
  // The audit log's head, inside the caller's transaction.
  absl::StatusOr<AuditHead> ReadAuditHead();
  // Moves the head to the entry just written (REQUIRES: the audit lock held).
  absl::Status MoveAuditHead(int64_t last_id, const std::string& last_hash);
  // One rule_sets row, inside the caller's transaction.
  absl::Status InsertRuleSet(const RuleSetRecord& r, const char* what);
  // The first customer of `rows`, then of `more_rows` (in order), the store
  // does not know, if any.
  absl::StatusOr<std::optional<std::string>> FirstUnknownCustomer(
      const std::vector<const InputRow*>& rows, const std::vector<const InputRow*>& more_rows);
  absl::StatusOr<std::optional<std::string>> FirstUnknownCustomer(
      const std::vector<const ActivityRow*>& rows);
  // Of `ids` (in order), the first the store does not know, if any.
  absl::StatusOr<std::optional<std::string>> FirstUnknownCustomerId(
      const std::vector<absl::string_view>& ids);

  pg_conn* conn_;
  std::string display_url_;  // the URL without its password
  int schema_version_ = 0;
};

}  // namespace harmonia::store::internal

#endif  // HARMONIA_STORE_INTERNAL_POSTGRES_STORE_H_
