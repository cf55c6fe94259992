// The SQLite backend of store.h. INTERNAL to store/: use OpenStore("sqlite:PATH").
#ifndef HARMONIA_STORE_INTERNAL_SQLITE_STORE_H_
#define HARMONIA_STORE_INTERNAL_SQLITE_STORE_H_

#include <memory>
#include <string>
#include <string_view>

#include "store/store.h"

struct sqlite3;

namespace harmonia::store::internal {

class SqliteStore final : public Store {
 public:
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path);
  ~SqliteStore() override;

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
  // The inputs, and `audit` (when not null), in one transaction.
  // Writes `rows` inside the caller's transaction, kRowsPerStatement rows per
  // statement (SQLite's per-statement overhead dominates bulk loads
  // otherwise): `sql(n)` is the statement for n rows, `bind(put, base, row)`
  // binds one row's parameters from base + 1, `columns` per row. A
  // constraint failure names the first row whose customer is unknown
  // ("<what> of unknown customer …"). Each statement's change count is added
  // to stats->written, the rest of its rows to unchanged.
  template <typename Row, typename Sql, typename Bind>
  absl::Status WriteRows(const std::vector<const Row*>& rows, const Sql& sql, int columns,
                         const Bind& bind, const char* what, WriteStats* stats);
  absl::StatusOr<WriteStats> WriteInputs(const std::vector<InputRow>& rows,
                                         const AuditEntry* audit);
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  absl::Status Exec(const char* sql, std::string_view what);
  absl::Status Migrate(const std::string& path);
  absl::StatusOr<int64_t> CountRows(const char* sql);

  sqlite3* db_;
  int schema_version_ = 0;
};

}  // namespace harmonia::store::internal

#endif  // HARMONIA_STORE_INTERNAL_SQLITE_STORE_H_
