// The SQLite backend: one file, WAL journal, synchronous=FULL (a commit that
// returned is on disk), a busy timeout so concurrent importers wait for each
// other instead of failing.
#include "store/internal/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "store/internal/audit.h"
#include "store/internal/batch.h"

namespace harmonia::store::internal {
namespace {

constexpr int kBusyTimeoutMs = 30000;      // how long a writer waits for another
constexpr size_t kRowsPerStatement = 100;  // SqliteStore::WriteRows

// Schema migrations, applied in order inside one transaction each. Never edit
// a released step: add a new one (and bump kSchemaVersion).
constexpr const char* kMigrations[] = {
    // 1: customers, their raw inputs, published rule sets.
    R"sql(
CREATE TABLE customers (
  customer_id   TEXT PRIMARY KEY,
  country       TEXT NOT NULL,
  customer_type TEXT NOT NULL,
  specialty     TEXT NOT NULL,
  name          TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX customers_by_country ON customers (country, customer_id);
CREATE TABLE inputs (
  customer_id  TEXT NOT NULL REFERENCES customers (customer_id),
  therapy_area TEXT NOT NULL,
  input_id     TEXT NOT NULL,
  source       TEXT NOT NULL,
  as_of        INTEGER NOT NULL,
  is_metric    INTEGER NOT NULL,
  value        TEXT NOT NULL,
  PRIMARY KEY (customer_id, therapy_area, input_id, source, as_of)
) WITHOUT ROWID;
CREATE TABLE rule_sets (
  therapy_area TEXT NOT NULL,
  version      INTEGER NOT NULL,
  source_text  TEXT NOT NULL,
  checksum     TEXT NOT NULL,
  published_by TEXT NOT NULL,
  published_at INTEGER NOT NULL,
  PRIMARY KEY (therapy_area, version)
);
)sql",
    // 2: committed cycles and their assignments.
    R"sql(
CREATE TABLE cycles (
  cycle_id         INTEGER PRIMARY KEY,
  country          TEXT NOT NULL,
  therapy_area     TEXT NOT NULL,
  as_of            INTEGER NOT NULL,
  rule_set_version INTEGER NOT NULL,
  options          TEXT NOT NULL,
  country_config   TEXT NOT NULL,
  customers        INTEGER NOT NULL,
  summary          TEXT NOT NULL,
  committed_at     INTEGER NOT NULL
);
CREATE INDEX cycles_by_market ON cycles (country, therapy_area, cycle_id);
CREATE TABLE assignments (
  cycle_id         INTEGER NOT NULL REFERENCES cycles (cycle_id),
  customer_id      TEXT NOT NULL,
  segment          TEXT NOT NULL,
  tier             TEXT NOT NULL,
  calls            INTEGER NOT NULL,
  remote           INTEGER NOT NULL,
  email            INTEGER NOT NULL,
  events           INTEGER NOT NULL,
  decided_by       TEXT NOT NULL,
  rule_id          TEXT NOT NULL,
  rule_set_version INTEGER NOT NULL,
  inputs_digest    TEXT NOT NULL,
  scores           TEXT NOT NULL,
  PRIMARY KEY (cycle_id, customer_id)
) WITHOUT ROWID;
)sql",
    // 3: answers and metrics keyed apart; cycle status, quality and who ran
    // it; refinements with their lifecycle; the append-only audit log.
    R"sql(
CREATE TABLE inputs_v3 (
  customer_id  TEXT NOT NULL REFERENCES customers (customer_id),
  therapy_area TEXT NOT NULL,
  input_id     TEXT NOT NULL,
  source       TEXT NOT NULL,
  as_of        INTEGER NOT NULL,
  is_metric    INTEGER NOT NULL,
  value        TEXT NOT NULL,
  PRIMARY KEY (customer_id, therapy_area, input_id, source, as_of, is_metric)
) WITHOUT ROWID;
INSERT INTO inputs_v3 (customer_id, therapy_area, input_id, source, as_of, is_metric, value)
  SELECT customer_id, therapy_area, input_id, source, as_of, is_metric, value FROM inputs;
DROP TABLE inputs;
ALTER TABLE inputs_v3 RENAME TO inputs;
ALTER TABLE cycles ADD COLUMN status TEXT NOT NULL DEFAULT 'committed';
ALTER TABLE cycles ADD COLUMN quality TEXT NOT NULL DEFAULT '{}';
ALTER TABLE cycles ADD COLUMN run_by TEXT NOT NULL DEFAULT '';
CREATE TABLE refinements (
  refinement_id  INTEGER PRIMARY KEY,
  request_id     TEXT NOT NULL UNIQUE,
  country        TEXT NOT NULL,
  therapy_area   TEXT NOT NULL,
  customer_id    TEXT NOT NULL,
  segment        TEXT NOT NULL,
  calls_delta    INTEGER NOT NULL,
  reason         TEXT NOT NULL,
  comment        TEXT NOT NULL,
  submitted_by   TEXT NOT NULL,
  submitted_at   INTEGER NOT NULL,
  status         TEXT NOT NULL CHECK (status IN ('submitted', 'accepted', 'approved',
                   'rejected', 'applied', 'expired', 'withdrawn')),
  status_reason  TEXT NOT NULL,
  decided_by     TEXT NOT NULL,
  updated_at     INTEGER NOT NULL,
  cycles_applied INTEGER NOT NULL,
  last_cycle_id  INTEGER NOT NULL
);
CREATE INDEX refinements_by_market ON refinements (country, therapy_area, refinement_id);
CREATE TABLE audit_log (
  audit_id     INTEGER PRIMARY KEY,
  at           INTEGER NOT NULL,
  principal    TEXT NOT NULL,
  action       TEXT NOT NULL,
  object       TEXT NOT NULL,
  state_before TEXT NOT NULL,
  state_after  TEXT NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
)sql",
    // 4: every distinct value of an input key, with its import order (a
    // cycle drops invalid values before it chooses, docs/store.md).
    R"sql(
CREATE TABLE inputs_v4 (
  customer_id  TEXT NOT NULL REFERENCES customers (customer_id),
  therapy_area TEXT NOT NULL,
  input_id     TEXT NOT NULL,
  source       TEXT NOT NULL,
  as_of        INTEGER NOT NULL,
  is_metric    INTEGER NOT NULL,
  value        TEXT NOT NULL,
  seq          INTEGER NOT NULL,
  PRIMARY KEY (customer_id, therapy_area, input_id, source, as_of, is_metric, value)
) WITHOUT ROWID;
INSERT INTO inputs_v4 (customer_id, therapy_area, input_id, source, as_of, is_metric, value, seq)
  SELECT customer_id, therapy_area, input_id, source, as_of, is_metric, value, 0 FROM inputs;
DROP TABLE inputs;
ALTER TABLE inputs_v4 RENAME TO inputs;
CREATE TABLE input_seq (last INTEGER NOT NULL);
INSERT INTO input_seq VALUES (0);
-- A request_id is an idempotency key per country and therapy area: an id of
-- another country is another refinement (docs/store.md).
CREATE TABLE refinements_v4 (
  refinement_id  INTEGER PRIMARY KEY,
  request_id     TEXT NOT NULL,
  country        TEXT NOT NULL,
  therapy_area   TEXT NOT NULL,
  customer_id    TEXT NOT NULL,
  segment        TEXT NOT NULL,
  calls_delta    INTEGER NOT NULL,
  reason         TEXT NOT NULL,
  comment        TEXT NOT NULL,
  submitted_by   TEXT NOT NULL,
  submitted_at   INTEGER NOT NULL,
  status         TEXT NOT NULL CHECK (status IN ('submitted', 'accepted', 'approved',
                   'rejected', 'applied', 'expired', 'withdrawn')),
  status_reason  TEXT NOT NULL,
  decided_by     TEXT NOT NULL,
  updated_at     INTEGER NOT NULL,
  cycles_applied INTEGER NOT NULL,
  last_cycle_id  INTEGER NOT NULL,
  first_cycle_id INTEGER NOT NULL,
  UNIQUE (country, therapy_area, request_id)
);
-- Validity counts cycle periods from the first cycle that applied a
-- refinement; before, the last one is the best known.
INSERT INTO refinements_v4 SELECT *, last_cycle_id FROM refinements;
DROP TABLE refinements;
ALTER TABLE refinements_v4 RENAME TO refinements;
CREATE INDEX refinements_by_market ON refinements (country, therapy_area, refinement_id);
-- Each cycle's period (its start day); cycles before knew none: their date.
ALTER TABLE cycles ADD COLUMN period INTEGER NOT NULL DEFAULT 0;
UPDATE cycles SET period = as_of;
-- The audit log becomes a hash chain (docs/store.md "Audit log"); entries
-- already there stay as they were, counted in the head as "unchained".
ALTER TABLE audit_log ADD COLUMN country TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN hash TEXT NOT NULL DEFAULT '';
CREATE TABLE audit_head (
  last_id           INTEGER NOT NULL,
  last_hash         TEXT NOT NULL,
  unchained_entries INTEGER NOT NULL,
  unchained_last_id INTEGER NOT NULL
);
INSERT INTO audit_head SELECT COALESCE(MAX(audit_id), 0), '', COUNT(*), COALESCE(MAX(audit_id), 0)
  FROM audit_log;
-- INSERT OR REPLACE deletes the old row without firing a DELETE trigger.
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
  WHEN EXISTS (SELECT 1 FROM audit_log WHERE audit_id = NEW.audit_id)
  BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
)sql",
    // 5: each assignment's drivers and barriers and its n=1 plan
    // (docs/cycle.md step 6). Assignments committed before have no tags and
    // a NULL plan, read as their targets (what the plan was then).
    R"sql(
ALTER TABLE assignments ADD COLUMN tags TEXT NOT NULL DEFAULT '';
ALTER TABLE assignments ADD COLUMN plan_calls INTEGER;
ALTER TABLE assignments ADD COLUMN plan_remote INTEGER;
ALTER TABLE assignments ADD COLUMN plan_email INTEGER;
ALTER TABLE assignments ADD COLUMN plan_events INTEGER;
)sql",
    // 6: activities carried out, from the CRM, and each assignment's
    // objective behaviour (docs/report.md "Did it work"). Assignments
    // committed before have none (NULL).
    R"sql(
CREATE TABLE activities (
  customer_id  TEXT NOT NULL REFERENCES customers (customer_id),
  therapy_area TEXT NOT NULL,
  activity     TEXT NOT NULL CHECK (activity IN ('calls', 'remote', 'email', 'events')),
  day          INTEGER NOT NULL,
  source       TEXT NOT NULL,
  count        INTEGER NOT NULL CHECK (count >= 0),
  PRIMARY KEY (customer_id, therapy_area, activity, day, source)
) WITHOUT ROWID;
ALTER TABLE assignments ADD COLUMN objective REAL;
)sql",
    // 7: field territories, each country's alignment of customers to
    // territories and reps (docs/files.md territories.csv).
    R"sql(
CREATE TABLE territories (
  country     TEXT NOT NULL,
  territory   TEXT NOT NULL,
  customer_id TEXT NOT NULL REFERENCES customers (customer_id),
  rep         TEXT NOT NULL,
  PRIMARY KEY (country, territory, customer_id)
) WITHOUT ROWID;
CREATE INDEX territories_by_rep ON territories (country, rep, territory, customer_id);
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

absl::Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  const std::string message = absl::StrCat("sqlite: ", std::string(what), ": ",
                                           db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(message);
    case SQLITE_CONSTRAINT:
      return absl::FailedPreconditionError(message);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_AUTH:
      return absl::UnavailableError(message);  // store trouble: fixed outside, then retried
    default:
      return absl::InternalError(message);
  }
}

// A prepared statement; finalized on destruction.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  absl::Status status(std::string_view what) const {
    return rc_ == SQLITE_OK ? absl::OkStatus() : SqliteError(db_, rc_, what);
  }
  // SQLITE_STATIC: `s` must outlive the step, so temporaries are refused.
  void Bind(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
  }
  void Bind(int i, std::string&& s) = delete;
  void Bind(int i, const char* s) = delete;
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, std::optional<double> v) {
    if (v) {
      sqlite3_bind_double(stmt_, i, *v);
    } else {
      sqlite3_bind_null(stmt_, i);
    }
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_); }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string Text(int col) const {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? std::string(reinterpret_cast<const char*>(t),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::optional<double> OptionalDouble(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_double(stmt_, col);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
};

// BEGIN IMMEDIATE … COMMIT. Rolls back on destruction unless committed, so
// every early return leaves the store as it was.
class Transaction {
 public:
  static absl::StatusOr<Transaction> Begin(sqlite3* db, std::string_view what) {
    const int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return SqliteError(db, rc, absl::StrCat("starting ", std::string(what)));
    return Transaction(db);
  }
  Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction() {
    if (db_ != nullptr) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

  absl::Status Commit(std::string_view what) {
    const int rc = sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK)
      return SqliteError(db_, rc, absl::StrCat("committing ", std::string(what)));
    db_ = nullptr;
    return absl::OkStatus();
  }

 private:
  explicit Transaction(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

constexpr const char* kSelectRefinement =
    "SELECT refinement_id, request_id, country, therapy_area, customer_id, segment, calls_delta, "
    "reason, comment, submitted_by, submitted_at, status, status_reason, decided_by, updated_at, "
    "cycles_applied, last_cycle_id, first_cycle_id FROM refinements";

RefinementRecord ReadRefinement(const Statement& q) {
  RefinementRecord r;
  r.refinement_id = q.Int(0);
  r.request_id = q.Text(1);
  r.country = q.Text(2);
  r.therapy_area = q.Text(3);
  r.customer_id = q.Text(4);
  r.segment = q.Text(5);
  r.calls_delta = static_cast<int32_t>(q.Int(6));
  r.reason = q.Text(7);
  r.comment = q.Text(8);
  r.submitted_by = q.Text(9);
  r.submitted_at_unix = q.Int(10);
  // The CHECK constraint admits only the names ParseRefinementStatus knows.
  r.status = ParseRefinementStatus(q.Text(11)).value_or(RefinementStatus::kSubmitted);
  r.status_reason = q.Text(12);
  r.decided_by = q.Text(13);
  r.updated_at_unix = q.Int(14);
  r.cycles_applied = static_cast<int32_t>(q.Int(15));
  r.last_cycle_id = q.Int(16);
  r.first_cycle_id = q.Int(17);
  return r;
}

// Inside a transaction: appends one audit entry and returns its id.
absl::StatusOr<AuditHead> ReadAuditHead(sqlite3* db) {
  Statement q(db,
              "SELECT last_id, last_hash, unchained_entries, unchained_last_id FROM audit_head");
  HARMONIA_RETURN_IF_ERROR(q.status("reading the audit log's head"));
  const int rc = q.Step();
  if (rc != SQLITE_ROW) {
    return rc == SQLITE_DONE ? absl::DataLossError("sqlite: the audit log's head is missing")
                             : SqliteError(db, rc, "reading the audit log's head");
  }
  return AuditHead{q.Int(0), q.Text(1), q.Int(2), q.Int(3)};
}

// Appends `e` to the chain, inside the caller's (write) transaction: the
// previous hash comes from the head, which moves to the new entry.
absl::StatusOr<int64_t> InsertAudit(sqlite3* db, const AuditEntry& e) {
  HARMONIA_ASSIGN_OR_RETURN(const AuditHead head, ReadAuditHead(db));
  const std::string hash = AuditHash(head.last_hash, e);
  Statement put(db,
                "INSERT INTO audit_log (at, principal, action, object, state_before, "
                "state_after, country, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  HARMONIA_RETURN_IF_ERROR(put.status("writing the audit log"));
  put.Bind(1, e.at_unix);
  put.Bind(2, e.principal);
  put.Bind(3, e.action);
  put.Bind(4, e.object);
  put.Bind(5, e.before);
  put.Bind(6, e.after);
  put.Bind(7, e.country);
  put.Bind(8, head.last_hash);
  put.Bind(9, hash);
  if (const int rc = put.Step(); rc != SQLITE_DONE) {
    return SqliteError(db, rc, "writing the audit log");
  }
  const int64_t id = sqlite3_last_insert_rowid(db);
  Statement move(db, "UPDATE audit_head SET last_id = ?, last_hash = ?");
  HARMONIA_RETURN_IF_ERROR(move.status("writing the audit log"));
  move.Bind(1, id);
  move.Bind(2, hash);
  if (const int rc = move.Step(); rc != SQLITE_DONE) {
    return SqliteError(db, rc, "writing the audit log");
  }
  return id;
}

absl::Status InsertRuleSet(sqlite3* db, const RuleSetRecord& r, const char* what) {
  Statement put(db,
                "INSERT INTO rule_sets (therapy_area, version, source_text, checksum, "
                "published_by, published_at) VALUES (?, ?, ?, ?, ?, ?)");
  HARMONIA_RETURN_IF_ERROR(put.status(what));
  put.Bind(1, r.therapy_area);
  put.Bind(2, r.version);
  put.Bind(3, r.source_text);
  put.Bind(4, r.checksum);
  put.Bind(5, r.published_by);
  put.Bind(6, r.published_at_unix);
  if (const int rc = put.Step(); rc != SQLITE_DONE) return SqliteError(db, rc, what);
  return absl::OkStatus();
}

}  // namespace

SqliteStore::~SqliteStore() { sqlite3_close_v2(db_); }

absl::Status SqliteStore::Exec(const char* sql, std::string_view what) {
  char* error = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
  if (rc == SQLITE_OK) return absl::OkStatus();
  absl::Status s = SqliteError(db_, rc, what);
  sqlite3_free(error);
  return s;
}

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("sqlite: empty path in store URL");
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
  if (rc != SQLITE_OK) return SqliteError(db, rc, absl::StrCat("cannot open ", path));
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // Turning a new file to WAL takes an exclusive lock, for which SQLite does
  // not wait when another opener holds the file (it would risk a deadlock):
  // retry then, up to the busy timeout. The pragmas are idempotent.
  absl::Status configured;
  for (int waited = 0; waited <= kBusyTimeoutMs; waited += 10) {
    configured = store->Exec(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
        "PRAGMA cache_size=-262144;",
        absl::StrCat("configuring ", path));
    if (configured.code() != absl::StatusCode::kUnavailable) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  HARMONIA_RETURN_IF_ERROR(configured);
  HARMONIA_RETURN_IF_ERROR(store->Migrate(path));
  return store;
}

absl::Status SqliteStore::Migrate(const std::string& path) {
  // The schema version, read without a write lock: opening an up-to-date
  // store (every open but the first after an upgrade) must not queue behind
  // a long import or cycle commit of another process.
  auto read_version = [&]() -> absl::StatusOr<int64_t> {
    Statement exists(db_,
                     "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                     "'schema_version'");
    HARMONIA_RETURN_IF_ERROR(exists.status(absl::StrCat("reading ", path)));
    const int rc = exists.Step();
    if (rc == SQLITE_DONE) return int64_t{0};  // a new, empty store
    if (rc != SQLITE_ROW) return SqliteError(db_, rc, absl::StrCat("reading ", path));
    Statement q(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    HARMONIA_RETURN_IF_ERROR(q.status("reading the schema version"));
    if (const int vrc = q.Step(); vrc != SQLITE_ROW) {
      return SqliteError(db_, vrc, "reading the schema version");
    }
    return q.Int(0);
  };
  auto too_new = [&](int64_t current) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store ", path, " has schema version ", current, ", newer than this harmonia (",
        kSchemaVersion, "): upgrade harmonia to use it"));
  };
  HARMONIA_ASSIGN_OR_RETURN(int64_t current, read_version());
  if (current > kSchemaVersion) return too_new(current);
  if (current == kSchemaVersion) {
    schema_version_ = kSchemaVersion;
    return absl::OkStatus();
  }
  // BEGIN IMMEDIATE: two processes opening an old or new store at once
  // migrate one after the other, and the second finds the work done.
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_, "the schema migration"));
  HARMONIA_RETURN_IF_ERROR(Exec(
      "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", "schema_version"));
  {
    Statement q(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    HARMONIA_RETURN_IF_ERROR(q.status("reading the schema version"));
    if (q.Step() == SQLITE_ROW) current = q.Int(0);
  }
  if (current > kSchemaVersion) return too_new(current);
  for (int64_t v = current; v < kSchemaVersion; ++v) {
    HARMONIA_RETURN_IF_ERROR(
        Exec(kMigrations[v], absl::StrCat("schema migration to version ", v + 1)));
    Statement ins(db_, "INSERT INTO schema_version (version) VALUES (?)");
    ins.Bind(1, v + 1);
    if (const int rc = ins.Step(); rc != SQLITE_DONE) return SqliteError(db_, rc, "schema_version");
  }
  HARMONIA_RETURN_IF_ERROR(tx.Commit("the schema migration"));
  schema_version_ = kSchemaVersion;
  return absl::OkStatus();
}

absl::StatusOr<WriteStats> SqliteStore::UpsertCustomers(const std::vector<CustomerRow>& all_rows) {
  // Rows of one batch with the same customer_id: the last one is the value.
  const std::vector<const CustomerRow*> rows = LastPerKey(all_rows);
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_, "a customer import"));
  WriteStats stats;
  // The WHERE makes an identical row a no-op, which sqlite3_changes() reports as 0.
  Statement put(db_,
                "INSERT INTO customers (customer_id, country, customer_type, specialty, name) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (customer_id) DO UPDATE SET "
                "country = excluded.country, customer_type = excluded.customer_type, "
                "specialty = excluded.specialty, name = excluded.name WHERE "
                "(country, customer_type, specialty, name) IS NOT (excluded.country, "
                "excluded.customer_type, excluded.specialty, excluded.name)");
  HARMONIA_RETURN_IF_ERROR(put.status("preparing the customer import"));
  for (const CustomerRow* row : rows) {
    const CustomerRow& r = *row;
    put.Bind(1, r.customer_id);
    put.Bind(2, r.country);
    put.Bind(3, r.customer_type);
    put.Bind(4, r.specialty);
    put.Bind(5, r.name);
    const int rc = put.Step();
    put.Reset();
    if (rc != SQLITE_DONE) {
      return SqliteError(db_, rc, absl::StrCat("importing customer ", r.customer_id));
    }
    ++(sqlite3_changes(db_) > 0 ? stats.written : stats.unchanged);
  }
  HARMONIA_RETURN_IF_ERROR(tx.Commit("a customer import"));
  return stats;
}

template <typename Row, typename Sql, typename Bind>
absl::Status SqliteStore::WriteRows(const std::vector<const Row*>& rows, const Sql& sql,
                                    int columns, const Bind& bind, const char* what,
                                    WriteStats* stats) {
  if (rows.empty()) return absl::OkStatus();
  const std::string importing = absl::StrCat("importing ", what, " rows");
  Statement full(db_, sql(kRowsPerStatement).c_str());
  HARMONIA_RETURN_IF_ERROR(full.status(importing));
  for (size_t begin = 0; begin < rows.size(); begin += kRowsPerStatement) {
    const size_t n = std::min(kRowsPerStatement, rows.size() - begin);
    std::optional<Statement> partial;
    if (n < kRowsPerStatement) {
      partial.emplace(db_, sql(n).c_str());
      HARMONIA_RETURN_IF_ERROR(partial->status(importing));
    }
    Statement& put = partial ? *partial : full;
    for (size_t k = 0; k < n; ++k) bind(put, static_cast<int>(k) * columns, *rows[begin + k]);
    const int rc = put.Step();
    put.Reset();
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
      for (size_t k = 0; k < n; ++k) {  // name the first row whose customer is missing
        if (auto c = GetCustomer(rows[begin + k]->customer_id); c.ok() && !c->has_value()) {
          return absl::FailedPreconditionError(absl::StrCat(what, " of unknown customer '",
                                                            rows[begin + k]->customer_id,
                                                            "': import customers first"));
        }
      }
    }
    if (rc != SQLITE_DONE) return SqliteError(db_, rc, importing);
    const int64_t changed = sqlite3_changes(db_);
    stats->written += changed;
    stats->unchanged += static_cast<int64_t>(n) - changed;
  }
  return absl::OkStatus();
}

absl::StatusOr<WriteStats> SqliteStore::WriteInputs(const std::vector<InputRow>& all_rows,
                                                    const AuditEntry* audit) {
  InputBatch batch = SplitInputs(all_rows);
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_, "an input import"));
  WriteStats stats;
  std::optional<AuditEntry> audited;
  if (audit != nullptr) {  // what changes: each row's key's latest value before
    Statement q(db_,
                "SELECT value FROM inputs WHERE customer_id = ? AND therapy_area = ? AND "
                "input_id = ? AND source = ? AND as_of = ? AND is_metric = ? ORDER BY seq DESC "
                "LIMIT 1");
    HARMONIA_RETURN_IF_ERROR(q.status("reading stored inputs"));
    std::vector<const InputRow*> rows;
    std::vector<std::optional<std::string>> before;
    for (const InputRow& r : all_rows) {
      q.Bind(1, r.customer_id);
      q.Bind(2, r.therapy_area);
      q.Bind(3, r.input_id);
      q.Bind(4, r.source);
      q.Bind(5, r.as_of);
      q.Bind(6, static_cast<int64_t>(r.is_metric));
      const int rc = q.Step();
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return SqliteError(db_, rc, "reading stored inputs");
      }
      rows.push_back(&r);
      before.push_back(rc == SQLITE_ROW ? std::optional<std::string>(q.Text(0)) : std::nullopt);
      q.Reset();
    }
    audited = ValuesAudit(*audit, rows, before);
  }
  if (!batch.several.empty()) {  // rare: a key given several values in one batch
    Statement q(db_,
                "SELECT value, seq FROM inputs WHERE customer_id = ? AND therapy_area = ? AND "
                "input_id = ? AND source = ? AND as_of = ? AND is_metric = ?");
    HARMONIA_RETURN_IF_ERROR(q.status("reading stored inputs"));
    absl::flat_hash_map<InputKey, std::vector<std::pair<std::string, int64_t>>> stored;
    for (const InputRow* r : batch.several) {
      auto [it, inserted] = stored.try_emplace(KeyOf(*r));
      if (!inserted) continue;
      q.Bind(1, r->customer_id);
      q.Bind(2, r->therapy_area);
      q.Bind(3, r->input_id);
      q.Bind(4, r->source);
      q.Bind(5, r->as_of);
      q.Bind(6, static_cast<int64_t>(r->is_metric));
      int rc;
      while ((rc = q.Step()) == SQLITE_ROW) it->second.emplace_back(q.Text(0), q.Int(1));
      q.Reset();
      if (rc != SQLITE_DONE) return SqliteError(db_, rc, "reading stored inputs");
    }
    stats.unchanged += static_cast<int64_t>(DropKeysAlreadyInOrder(&batch.several, stored));
  }
  // Import order: one counter, read and advanced inside the write transaction.
  int64_t seq = 0;
  {
    Statement q(db_, "SELECT last FROM input_seq");
    HARMONIA_RETURN_IF_ERROR(q.status("reading the import order"));
    const int rc = q.Step();
    if (rc != SQLITE_ROW) return SqliteError(db_, rc, "reading the import order");
    seq = q.Int(0);
  }
  // Many rows per statement (WriteRows). A stored value is made the latest of its key again only
  // when another value was imported after it (`single`), so a re-import of
  // the same file writes nothing and the statement's change count is the
  // number of rows written; a key given several values in the batch has them
  // made the latest one after the other, in batch order (`several`).
  auto sql = [](size_t n, bool several) {
    std::string text =
        "INSERT INTO inputs (customer_id, therapy_area, input_id, source, as_of, is_metric, "
        "value, seq) VALUES ";
    for (size_t i = 0; i < n; ++i) {
      absl::StrAppend(&text, i ? ", " : "", "(?, ?, ?, ?, ?, ?, ?, ?)");
    }
    absl::StrAppend(&text,
                    " ON CONFLICT (customer_id, therapy_area, input_id, source, as_of, "
                    "is_metric, value) DO UPDATE SET seq = excluded.seq");
    if (!several) {
      absl::StrAppend(&text,
                      " WHERE EXISTS (SELECT 1 FROM inputs o WHERE o.customer_id = "
                      "inputs.customer_id AND o.therapy_area = inputs.therapy_area AND "
                      "o.input_id = inputs.input_id AND o.source = inputs.source AND o.as_of = "
                      "inputs.as_of AND o.is_metric = inputs.is_metric AND o.seq > inputs.seq)");
    }
    return text;
  };
  for (const bool several : {false, true}) {
    const std::vector<const InputRow*>& rows = several ? batch.several : batch.single;
    if (rows.empty()) continue;
    HARMONIA_RETURN_IF_ERROR(WriteRows(
        rows, [&](size_t n) { return sql(n, several); }, 8,
        [&](Statement& put, int base, const InputRow& r) {
          put.Bind(base + 1, r.customer_id);
          put.Bind(base + 2, r.therapy_area);
          put.Bind(base + 3, r.input_id);
          put.Bind(base + 4, r.source);
          put.Bind(base + 5, r.as_of);
          put.Bind(base + 6, static_cast<int64_t>(r.is_metric));
          put.Bind(base + 7, r.value);
          put.Bind(base + 8, ++seq);
        },
        "input", &stats));
  }
  {
    Statement put(db_, "UPDATE input_seq SET last = ?");
    HARMONIA_RETURN_IF_ERROR(put.status("advancing the import order"));
    put.Bind(1, seq);
    const int rc = put.Step();
    if (rc != SQLITE_DONE) return SqliteError(db_, rc, "advancing the import order");
  }
  if (audited) HARMONIA_RETURN_IF_ERROR(InsertAudit(db_, *audited).status());
  HARMONIA_RETURN_IF_ERROR(tx.Commit("an input import"));
  return stats;
}

absl::StatusOr<int64_t> SqliteStore::CountRows(const char* sql) {
  Statement q(db_, sql);
  HARMONIA_RETURN_IF_ERROR(q.status("counting"));
  if (q.Step() != SQLITE_ROW) return SqliteError(db_, SQLITE_ERROR, "counting");
  return q.Int(0);
}

absl::StatusOr<WriteStats> SqliteStore::UpsertActivities(const std::vector<ActivityRow>& all_rows) {
  const std::vector<const ActivityRow*> rows = LastPerKey(all_rows);
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_, "an activity import"));
  WriteStats stats;
  // The WHERE makes an unchanged count a no-op, which the statement's
  // change count leaves out.
  auto sql = [](size_t n) {
    std::string text =
        "INSERT INTO activities (customer_id, therapy_area, activity, day, source, count) VALUES ";
    for (size_t i = 0; i < n; ++i) absl::StrAppend(&text, i ? ", " : "", "(?, ?, ?, ?, ?, ?)");
    absl::StrAppend(&text,
                    " ON CONFLICT (customer_id, therapy_area, activity, day, source) DO UPDATE SET "
                    "count = excluded.count WHERE count <> excluded.count");
    return text;
  };
  HARMONIA_RETURN_IF_ERROR(WriteRows(
      rows, sql, 6,
      [](Statement& put, int base, const ActivityRow& r) {
        put.Bind(base + 1, r.customer_id);
        put.Bind(base + 2, r.therapy_area);
        put.Bind(base + 3, r.activity);
        put.Bind(base + 4, r.day);
        put.Bind(base + 5, r.source);
        put.Bind(base + 6, r.count);
      },
      "activity", &stats));
  HARMONIA_RETURN_IF_ERROR(tx.Commit("an activity import"));
  return stats;
}

absl::Status SqliteStore::ScanActivityTotals(
    const std::string& country, const std::string& therapy_area, int32_t from_day, int32_t to_day,
    const std::function<void(const std::string&, const ActivityCounts&)>& fn) {
  // The country's customers in id order (its index), each one's activities
  // by their key: no sort, no temporary table.
  Statement q(db_,
              "SELECT c.customer_id, a.activity, a.count FROM customers c JOIN activities a ON "
              "a.customer_id = c.customer_id AND a.therapy_area = ? WHERE c.country = ? AND "
              "a.day >= ? AND a.day < ? ORDER BY c.customer_id");
  HARMONIA_RETURN_IF_ERROR(q.status("reading activities"));
  q.Bind(1, therapy_area);
  q.Bind(2, country);
  q.Bind(3, from_day);
  q.Bind(4, to_day);
  ActivityTotals totals(fn);
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) totals.Add(q.Text(0), q.Text(1), q.Int(2));
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "reading activities");
  totals.Flush();
  return absl::OkStatus();
}

absl::StatusOr<AlignmentStats> SqliteStore::ReplaceTerritories(
    const std::vector<TerritoryRow>& all_rows) {
  const std::vector<const TerritoryRow*> rows = LastPerKey(all_rows);
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_, "a territory import"));
  // Each customer's country.
  absl::flat_hash_map<std::string, std::string> country_of;
  {
    Statement q(db_, "SELECT country FROM customers WHERE customer_id = ?");
    HARMONIA_RETURN_IF_ERROR(q.status("reading customers"));
    for (const TerritoryRow* r : rows) {
      if (country_of.contains(r->customer_id)) continue;
      q.Bind(1, r->customer_id);
      const int rc = q.Step();
      if (rc == SQLITE_DONE) {
        return absl::FailedPreconditionError(absl::StrCat(
            "territory of unknown customer '", r->customer_id, "': import customers first"));
      }
      if (rc != SQLITE_ROW) return SqliteError(db_, rc, "reading customers");
      country_of[r->customer_id] = q.Text(0);
      q.Reset();
    }
  }
  std::set<std::string> countries;
  for (const auto& [id, country] : country_of) countries.insert(country);
  std::map<AlignmentKey, std::string> stored;  // what the countries hold now
  {
    Statement q(db_, "SELECT territory, customer_id, rep FROM territories WHERE country = ?");
    HARMONIA_RETURN_IF_ERROR(q.status("reading territories"));
    for (const std::string& country : countries) {
      q.Bind(1, country);
      int rc;
      while ((rc = q.Step()) == SQLITE_ROW) stored[{country, q.Text(0), q.Text(1)}] = q.Text(2);
      if (rc != SQLITE_DONE) return SqliteError(db_, rc, "reading territories");
      q.Reset();
    }
  }
  const AlignmentDiff diff = DiffAlignment(rows, country_of, std::move(stored));
  Statement put(
      db_,
      "INSERT INTO territories (country, territory, customer_id, rep) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (country, territory, customer_id) DO UPDATE SET rep = excluded.rep");
  HARMONIA_RETURN_IF_ERROR(put.status("writing territories"));
  for (const auto& [r, country] : diff.put) {
    put.Bind(1, country);
    put.Bind(2, r->territory);
    put.Bind(3, r->customer_id);
    put.Bind(4, r->rep);
    const int rc = put.Step();
    put.Reset();
    if (rc != SQLITE_DONE) return SqliteError(db_, rc, "writing territories");
  }
  Statement drop(db_,
                 "DELETE FROM territories WHERE country = ? AND territory = ? AND customer_id = ?");
  HARMONIA_RETURN_IF_ERROR(drop.status("writing territories"));
  for (const AlignmentKey& key : diff.remove) {
    drop.Bind(1, std::get<0>(key));
    drop.Bind(2, std::get<1>(key));
    drop.Bind(3, std::get<2>(key));
    const int rc = drop.Step();
    drop.Reset();
    if (rc != SQLITE_DONE) return SqliteError(db_, rc, "writing territories");
  }
  HARMONIA_RETURN_IF_ERROR(tx.Commit("a territory import"));
  return diff.stats;
}

absl::StatusOr<std::vector<TerritoryRow>> SqliteStore::ListTerritories(const std::string& country,
                                                                       const std::string& rep) {
  Statement q(db_, rep.empty()
                       ? "SELECT territory, customer_id, rep FROM territories WHERE country = ? "
                         "ORDER BY territory, customer_id"
                       : "SELECT territory, customer_id, rep FROM territories WHERE country = ? "
                         "AND rep = ? ORDER BY territory, customer_id");
  HARMONIA_RETURN_IF_ERROR(q.status("reading territories"));
  q.Bind(1, country);
  if (!rep.empty()) q.Bind(2, rep);
  std::vector<TerritoryRow> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back({q.Text(1), q.Text(0), q.Text(2), country});
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "reading territories");
  return out;
}

absl::StatusOr<std::vector<std::string>> SqliteStore::CustomerIds() {
  Statement q(db_, "SELECT customer_id FROM customers ORDER BY customer_id");
  HARMONIA_RETURN_IF_ERROR(q.status("listing customers"));
  std::vector<std::string> ids;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) ids.push_back(q.Text(0));
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "listing customers");
  return ids;
}

absl::StatusOr<std::vector<CustomerRow>> SqliteStore::ListCustomers(const std::string& country) {
  Statement q(db_,
              "SELECT customer_id, customer_type, specialty, name FROM customers WHERE country = ? "
              "ORDER BY customer_id");
  HARMONIA_RETURN_IF_ERROR(q.status("listing a country's customers"));
  q.Bind(1, country);
  std::vector<CustomerRow> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    out.push_back({q.Text(0), country, q.Text(1), q.Text(2), q.Text(3)});
  }
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "listing a country's customers");
  return out;
}

absl::StatusOr<int64_t> SqliteStore::CountCustomers() {
  return CountRows("SELECT COUNT(*) FROM customers");
}

absl::StatusOr<int64_t> SqliteStore::CountInputs() {
  return CountRows("SELECT COUNT(*) FROM inputs");
}

absl::StatusOr<std::optional<CustomerRow>> SqliteStore::GetCustomer(const std::string& id) {
  Statement q(db_,
              "SELECT country, customer_type, specialty, name FROM customers WHERE "
              "customer_id = ?");
  HARMONIA_RETURN_IF_ERROR(q.status("reading a customer"));
  q.Bind(1, id);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<CustomerRow>();
  if (rc != SQLITE_ROW) return SqliteError(db_, rc, "reading a customer");
  return std::optional<CustomerRow>(CustomerRow{id, q.Text(0), q.Text(1), q.Text(2), q.Text(3)});
}

absl::Status SqliteStore::PublishRuleSet(const RuleSetRecord& r) {
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_, "a publish"));
  Statement latest(db_, "SELECT COALESCE(MAX(version), 0) FROM rule_sets WHERE therapy_area = ?");
  HARMONIA_RETURN_IF_ERROR(latest.status("publishing"));
  latest.Bind(1, r.therapy_area);
  if (latest.Step() != SQLITE_ROW) return SqliteError(db_, SQLITE_ERROR, "publishing");
  const int64_t current = latest.Int(0);
  if (r.version <= current) {
    return VersionMustIncrease(r, current);
  }
  HARMONIA_RETURN_IF_ERROR(InsertRuleSet(db_, r, "publishing"));
  HARMONIA_RETURN_IF_ERROR(InsertAudit(db_, PublishAudit(r, current)).status());
  return tx.Commit("a publish");
}

absl::StatusOr<bool> SqliteStore::CopyRuleSet(const RuleSetRecord& r, const std::string& by,
                                              int64_t at_unix) {
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_, "a rule-set copy"));
  Statement held(db_, "SELECT checksum FROM rule_sets WHERE therapy_area = ? AND version = ?");
  HARMONIA_RETURN_IF_ERROR(held.status("copying a rule set"));
  held.Bind(1, r.therapy_area);
  held.Bind(2, r.version);
  const int rc = held.Step();
  if (rc == SQLITE_ROW) {
    if (held.Text(0) != r.checksum) return CopyConflict(r, held.Text(0));
    return false;
  }
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "copying a rule set");
  HARMONIA_RETURN_IF_ERROR(InsertRuleSet(db_, r, "copying a rule set"));
  HARMONIA_RETURN_IF_ERROR(InsertAudit(db_, CopyAudit(r, by, at_unix)).status());
  HARMONIA_RETURN_IF_ERROR(tx.Commit("a rule-set copy"));
  return true;
}

absl::StatusOr<std::optional<RuleSetRecord>> SqliteStore::GetRuleSet(
    const std::string& therapy_area, std::optional<int64_t> version) {
  Statement q(db_, version
                       ? "SELECT version, source_text, checksum, published_by, published_at FROM "
                         "rule_sets WHERE therapy_area = ? AND version = ?"
                       : "SELECT version, source_text, checksum, published_by, published_at FROM "
                         "rule_sets WHERE therapy_area = ? ORDER BY version DESC LIMIT 1");
  HARMONIA_RETURN_IF_ERROR(q.status("reading a rule set"));
  q.Bind(1, therapy_area);
  if (version) q.Bind(2, *version);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<RuleSetRecord>();
  if (rc != SQLITE_ROW) return SqliteError(db_, rc, "reading a rule set");
  return std::optional<RuleSetRecord>(
      RuleSetRecord{therapy_area, q.Int(0), q.Text(1), q.Text(2), q.Text(3), q.Int(4)});
}

absl::StatusOr<std::vector<RuleSetRecord>> SqliteStore::ListRuleSets(
    const std::string& therapy_area) {
  Statement q(db_,
              "SELECT therapy_area, version, checksum, published_by, published_at FROM rule_sets "
              "WHERE ? = '' OR therapy_area = ? ORDER BY therapy_area, version");
  HARMONIA_RETURN_IF_ERROR(q.status("listing rule sets"));
  q.Bind(1, therapy_area);
  q.Bind(2, therapy_area);
  std::vector<RuleSetRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    out.push_back(RuleSetRecord{q.Text(0), q.Int(1), "", q.Text(2), q.Text(3), q.Int(4)});
  }
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "listing rule sets");
  return out;
}

absl::StatusOr<std::vector<std::string>> SqliteStore::CustomersInScope(
    const std::string& country, const std::vector<std::string>& types) {
  Statement q(db_,
              "SELECT customer_id, customer_type FROM customers WHERE country = ? ORDER BY "
              "customer_id");
  HARMONIA_RETURN_IF_ERROR(q.status("reading customers in scope"));
  q.Bind(1, country);
  std::vector<std::string> ids;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    if (std::find(types.begin(), types.end(), q.Text(1)) != types.end()) ids.push_back(q.Text(0));
  }
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "reading customers in scope");
  return ids;
}

absl::Status SqliteStore::ScanInputs(const std::string& country, const std::string& therapy_area,
                                     const std::function<void(const InputRow&)>& fn) {
  Statement q(db_,
              "SELECT i.customer_id, i.input_id, i.source, i.as_of, i.is_metric, i.value, i.seq "
              "FROM inputs i JOIN customers c ON c.customer_id = i.customer_id WHERE "
              "c.country = ? AND i.therapy_area = ?");
  HARMONIA_RETURN_IF_ERROR(q.status("reading inputs"));
  q.Bind(1, country);
  q.Bind(2, therapy_area);
  InputRow row;
  row.therapy_area = therapy_area;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    row.customer_id = q.Text(0);
    row.input_id = q.Text(1);
    row.source = q.Text(2);
    row.as_of = static_cast<int32_t>(q.Int(3));
    row.is_metric = q.Int(4) != 0;
    row.value = q.Text(5);
    row.seq = q.Int(6);
    fn(row);
  }
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "reading inputs");
  return absl::OkStatus();
}

absl::StatusOr<std::vector<InputRow>> SqliteStore::CustomerInputs(const std::string& customer_id,
                                                                  const std::string& therapy_area) {
  Statement q(db_,
              "SELECT input_id, source, as_of, is_metric, value, seq FROM inputs WHERE "
              "customer_id = ? AND therapy_area = ? ORDER BY is_metric, input_id, source, as_of, "
              "seq");
  HARMONIA_RETURN_IF_ERROR(q.status("reading a customer's inputs"));
  q.Bind(1, customer_id);
  q.Bind(2, therapy_area);
  std::vector<InputRow> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    out.push_back({customer_id, therapy_area, q.Int(3) != 0, q.Text(0), q.Text(4), q.Text(1),
                   static_cast<int32_t>(q.Int(2)), q.Int(5)});
  }
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "reading a customer's inputs");
  return out;
}

absl::StatusOr<int64_t> SqliteStore::CommitCycle(const CycleRecord& c,
                                                 const std::vector<AssignmentRow>& rows,
                                                 const std::vector<RefinementUpdate>& updates) {
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_, "a cycle commit"));
  int64_t previous_cycle_id = 0;
  {
    Statement q(db_,
                "SELECT COALESCE(MAX(cycle_id), 0) FROM cycles WHERE country = ? AND "
                "therapy_area = ?");
    HARMONIA_RETURN_IF_ERROR(q.status("committing a cycle"));
    q.Bind(1, c.country);
    q.Bind(2, c.therapy_area);
    if (const int rc = q.Step(); rc != SQLITE_ROW) return SqliteError(db_, rc, "cycle");
    previous_cycle_id = q.Int(0);
  }
  if (c.based_on_cycle_id >= 0 && c.based_on_cycle_id != previous_cycle_id) {
    return CycleRace(c, previous_cycle_id);
  }
  Statement cyc(db_,
                "INSERT INTO cycles (country, therapy_area, as_of, rule_set_version, options, "
                "country_config, customers, summary, committed_at, status, quality, run_by, "
                "period) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  HARMONIA_RETURN_IF_ERROR(cyc.status("committing a cycle"));
  cyc.Bind(1, c.country);
  cyc.Bind(2, c.therapy_area);
  cyc.Bind(3, c.as_of);
  cyc.Bind(4, c.rule_set_version);
  cyc.Bind(5, c.options);
  cyc.Bind(6, c.country_config);
  cyc.Bind(7, static_cast<int64_t>(rows.size()));
  cyc.Bind(8, c.summary);
  cyc.Bind(9, c.committed_at_unix);
  cyc.Bind(10, c.status);
  cyc.Bind(11, c.quality);
  cyc.Bind(12, c.run_by);
  cyc.Bind(13, c.period);
  if (const int rc = cyc.Step(); rc != SQLITE_DONE) return SqliteError(db_, rc, "cycle");
  const int64_t cycle_id = sqlite3_last_insert_rowid(db_);
  {  // a re-run replaces its period's result
    Statement replaced(db_,
                       "UPDATE cycles SET status = 'replaced' WHERE country = ? AND "
                       "therapy_area = ? AND period = ? AND cycle_id < ? AND status = 'committed'");
    HARMONIA_RETURN_IF_ERROR(replaced.status("committing a cycle"));
    replaced.Bind(1, c.country);
    replaced.Bind(2, c.therapy_area);
    replaced.Bind(3, c.period);
    replaced.Bind(4, cycle_id);
    if (const int rc = replaced.Step(); rc != SQLITE_DONE) return SqliteError(db_, rc, "cycle");
  }
  Statement put(
      db_,
      "INSERT INTO assignments (cycle_id, customer_id, segment, tier, calls, remote, "
      "email, events, decided_by, rule_id, rule_set_version, inputs_digest, scores, tags, "
      "plan_calls, plan_remote, plan_email, plan_events, objective) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  HARMONIA_RETURN_IF_ERROR(put.status("committing assignments"));
  for (const AssignmentRow& r : rows) {
    put.Bind(1, cycle_id);
    put.Bind(2, r.customer_id);
    put.Bind(3, r.segment);
    put.Bind(4, r.tier);
    put.Bind(5, r.calls);
    put.Bind(6, r.remote);
    put.Bind(7, r.email);
    put.Bind(8, r.events);
    put.Bind(9, r.decided_by);
    put.Bind(10, r.rule_id);
    put.Bind(11, r.rule_set_version);
    put.Bind(12, r.inputs_digest);
    put.Bind(13, r.scores);
    put.Bind(14, r.tags);
    put.Bind(15, r.plan_calls);
    put.Bind(16, r.plan_remote);
    put.Bind(17, r.plan_email);
    put.Bind(18, r.plan_events);
    put.Bind(19, r.objective);
    const int rc = put.Step();
    put.Reset();
    if (rc != SQLITE_DONE) return SqliteError(db_, rc, "committing assignments");
  }
  // The refinements' new statuses, each checked against the lifecycle.
  {
    Statement get(db_, absl::StrCat(kSelectRefinement, " WHERE refinement_id = ?").c_str());
    HARMONIA_RETURN_IF_ERROR(get.status("committing refinement statuses"));
    Statement set(db_,
                  "UPDATE refinements SET status = ?, status_reason = ?, updated_at = ?, "
                  "cycles_applied = ?, last_cycle_id = ?, first_cycle_id = ? WHERE "
                  "refinement_id = ?");
    HARMONIA_RETURN_IF_ERROR(set.status("committing refinement statuses"));
    for (const RefinementUpdate& u : updates) {
      get.Bind(1, u.refinement_id);
      const int rc = get.Step();
      if (rc == SQLITE_DONE) {
        return absl::NotFoundError(absl::StrCat("cycle commit: no refinement ", u.refinement_id));
      }
      if (rc != SQLITE_ROW) return SqliteError(db_, rc, "committing refinement statuses");
      RefinementRecord record = ReadRefinement(get);
      get.Reset();
      HARMONIA_RETURN_IF_ERROR(ApplyUpdate(u, cycle_id, c.committed_at_unix, &record));
      const std::string status = RefinementStatusName(record.status);
      set.Bind(1, status);
      set.Bind(2, record.status_reason);
      set.Bind(3, record.updated_at_unix);
      set.Bind(4, int64_t{record.cycles_applied});
      set.Bind(5, record.last_cycle_id);
      set.Bind(6, record.first_cycle_id);
      set.Bind(7, record.refinement_id);
      const int urc = set.Step();
      set.Reset();
      if (urc != SQLITE_DONE) return SqliteError(db_, urc, "committing refinement statuses");
    }
  }
  CycleRecord committed = c;
  committed.cycle_id = cycle_id;
  HARMONIA_RETURN_IF_ERROR(InsertAudit(db_, CycleAudit(committed, static_cast<int64_t>(rows.size()),
                                                       previous_cycle_id, updates))
                               .status());
  HARMONIA_RETURN_IF_ERROR(tx.Commit("a cycle"));
  return cycle_id;
}

namespace {

constexpr const char* kCycleColumns =
    "SELECT cycle_id, country, therapy_area, as_of, rule_set_version, options, country_config, "
    "customers, summary, committed_at, status, quality, run_by, period FROM cycles";

CycleRecord ReadCycle(const Statement& q) {
  CycleRecord c;
  c.cycle_id = q.Int(0);
  c.country = q.Text(1);
  c.therapy_area = q.Text(2);
  c.as_of = static_cast<int32_t>(q.Int(3));
  c.rule_set_version = q.Int(4);
  c.options = q.Text(5);
  c.country_config = q.Text(6);
  c.customers = q.Int(7);
  c.summary = q.Text(8);
  c.committed_at_unix = q.Int(9);
  c.status = q.Text(10);
  c.quality = q.Text(11);
  c.run_by = q.Text(12);
  c.period = static_cast<int32_t>(q.Int(13));
  return c;
}

constexpr const char* kAssignmentColumns =
    "SELECT customer_id, segment, tier, calls, remote, email, events, decided_by, rule_id, "
    "rule_set_version, inputs_digest, scores, tags, COALESCE(plan_calls, calls), "
    "COALESCE(plan_remote, remote), COALESCE(plan_email, email), COALESCE(plan_events, events), "
    "objective FROM assignments";

AssignmentRow ReadAssignment(const Statement& q) {
  AssignmentRow r;
  r.customer_id = q.Text(0);
  r.segment = q.Text(1);
  r.tier = q.Text(2);
  r.calls = static_cast<int32_t>(q.Int(3));
  r.remote = static_cast<int32_t>(q.Int(4));
  r.email = static_cast<int32_t>(q.Int(5));
  r.events = static_cast<int32_t>(q.Int(6));
  r.decided_by = q.Text(7);
  r.rule_id = q.Text(8);
  r.rule_set_version = q.Int(9);
  r.inputs_digest = q.Text(10);
  r.scores = q.Text(11);
  r.tags = q.Text(12);
  r.plan_calls = static_cast<int32_t>(q.Int(13));
  r.plan_remote = static_cast<int32_t>(q.Int(14));
  r.plan_email = static_cast<int32_t>(q.Int(15));
  r.plan_events = static_cast<int32_t>(q.Int(16));
  r.objective = q.OptionalDouble(17);
  return r;
}

}  // namespace

absl::StatusOr<std::optional<CycleRecord>> SqliteStore::GetCycle(const std::string& country,
                                                                 const std::string& therapy_area,
                                                                 std::optional<int64_t> cycle_id) {
  Statement q(db_,
              absl::StrCat(kCycleColumns,
                           cycle_id ? " WHERE country = ? AND therapy_area = ? AND cycle_id = ?"
                                    : " WHERE country = ? AND therapy_area = ? ORDER BY "
                                      "cycle_id DESC LIMIT 1")
                  .c_str());
  HARMONIA_RETURN_IF_ERROR(q.status("reading a cycle"));
  q.Bind(1, country);
  q.Bind(2, therapy_area);
  if (cycle_id) q.Bind(3, *cycle_id);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<CycleRecord>();
  if (rc != SQLITE_ROW) return SqliteError(db_, rc, "reading a cycle");
  return std::optional<CycleRecord>(ReadCycle(q));
}

absl::StatusOr<std::vector<CycleRecord>> SqliteStore::LatestCycles(
    const std::string& therapy_area) {
  Statement q(db_, absl::StrCat(kCycleColumns,
                                " WHERE cycle_id IN (SELECT MAX(cycle_id) FROM "
                                "cycles WHERE therapy_area = ? GROUP BY country) "
                                "ORDER BY country")
                       .c_str());
  HARMONIA_RETURN_IF_ERROR(q.status("listing the latest cycles"));
  q.Bind(1, therapy_area);
  std::vector<CycleRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadCycle(q));
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "listing the latest cycles");
  return out;
}

absl::StatusOr<std::vector<CycleRecord>> SqliteStore::ListCycles(const std::string& country,
                                                                 const std::string& therapy_area) {
  Statement q(
      db_, absl::StrCat(kCycleColumns, " WHERE country = ? AND therapy_area = ? ORDER BY cycle_id")
               .c_str());
  HARMONIA_RETURN_IF_ERROR(q.status("listing cycles"));
  q.Bind(1, country);
  q.Bind(2, therapy_area);
  std::vector<CycleRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadCycle(q));
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "listing cycles");
  return out;
}

absl::StatusOr<std::optional<AssignmentRow>> SqliteStore::GetAssignment(
    int64_t cycle_id, const std::string& customer_id) {
  Statement q(db_,
              absl::StrCat(kAssignmentColumns, " WHERE cycle_id = ? AND customer_id = ?").c_str());
  HARMONIA_RETURN_IF_ERROR(q.status("reading an assignment"));
  q.Bind(1, cycle_id);
  q.Bind(2, customer_id);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<AssignmentRow>();
  if (rc != SQLITE_ROW) return SqliteError(db_, rc, "reading an assignment");
  return std::optional<AssignmentRow>(ReadAssignment(q));
}

absl::StatusOr<std::vector<AssignmentRow>> SqliteStore::GetAssignments(int64_t cycle_id) {
  Statement q(db_,
              absl::StrCat(kAssignmentColumns, " WHERE cycle_id = ? ORDER BY customer_id").c_str());
  HARMONIA_RETURN_IF_ERROR(q.status("reading assignments"));
  q.Bind(1, cycle_id);
  std::vector<AssignmentRow> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(ReadAssignment(q));
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "reading assignments");
  return out;
}

absl::StatusOr<std::vector<SqliteStore::Submitted>> SqliteStore::SubmitRefinements(
    const std::vector<RefinementRecord>& rows) {
  HARMONIA_RETURN_IF_ERROR(CheckSubmission(rows));
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_, "a refinement submission"));
  Statement find(db_, absl::StrCat(kSelectRefinement,
                                   " WHERE country = ? AND therapy_area = ? AND request_id = ?")
                          .c_str());
  HARMONIA_RETURN_IF_ERROR(find.status("submitting refinements"));
  Statement put(db_,
                "INSERT INTO refinements (request_id, country, therapy_area, customer_id, "
                "segment, calls_delta, reason, comment, submitted_by, submitted_at, status, "
                "status_reason, decided_by, updated_at, cycles_applied, last_cycle_id, "
                "first_cycle_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0)");
  HARMONIA_RETURN_IF_ERROR(put.status("submitting refinements"));
  std::vector<Submitted> out;
  out.reserve(rows.size());
  for (const RefinementRecord& r : rows) {
    find.Bind(1, r.country);
    find.Bind(2, r.therapy_area);
    find.Bind(3, r.request_id);
    const int rc = find.Step();
    if (rc == SQLITE_ROW) {
      out.push_back({ReadRefinement(find), true});
      find.Reset();
      continue;
    }
    find.Reset();
    if (rc != SQLITE_DONE) return SqliteError(db_, rc, "submitting refinements");
    const std::string status = RefinementStatusName(r.status);
    put.Bind(1, r.request_id);
    put.Bind(2, r.country);
    put.Bind(3, r.therapy_area);
    put.Bind(4, r.customer_id);
    put.Bind(5, r.segment);
    put.Bind(6, int64_t{r.calls_delta});
    put.Bind(7, r.reason);
    put.Bind(8, r.comment);
    put.Bind(9, r.submitted_by);
    put.Bind(10, r.submitted_at_unix);
    put.Bind(11, status);
    put.Bind(12, r.status_reason);
    put.Bind(13, r.decided_by);
    put.Bind(14, r.submitted_at_unix);
    const int prc = put.Step();
    put.Reset();
    if (prc != SQLITE_DONE) {
      return SqliteError(db_, prc, absl::StrCat("submitting refinement ", r.request_id));
    }
    Submitted stored{r, false};
    stored.record.refinement_id = sqlite3_last_insert_rowid(db_);
    stored.record.updated_at_unix = r.submitted_at_unix;
    stored.record.cycles_applied = 0;
    stored.record.last_cycle_id = 0;
    HARMONIA_RETURN_IF_ERROR(InsertAudit(db_, SubmitAudit(stored.record)).status());
    out.push_back(std::move(stored));
  }
  HARMONIA_RETURN_IF_ERROR(tx.Commit("a refinement submission"));
  return out;
}

absl::StatusOr<std::vector<RefinementRecord>> SqliteStore::ListRefinements(
    const std::string& country, const std::string& therapy_area,
    const std::vector<RefinementStatus>& statuses) {
  Statement q(db_, absl::StrCat(kSelectRefinement,
                                " WHERE country = ? AND therapy_area = ? ORDER BY refinement_id")
                       .c_str());
  HARMONIA_RETURN_IF_ERROR(q.status("listing refinements"));
  q.Bind(1, country);
  q.Bind(2, therapy_area);
  std::vector<RefinementRecord> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    RefinementRecord r = ReadRefinement(q);
    if (statuses.empty() ||
        std::find(statuses.begin(), statuses.end(), r.status) != statuses.end()) {
      out.push_back(std::move(r));
    }
  }
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "listing refinements");
  return out;
}

constexpr const char* kByRequestId = " WHERE country = ? AND therapy_area = ? AND request_id = ?";

absl::StatusOr<std::optional<RefinementRecord>> SqliteStore::GetRefinement(
    const std::string& country, const std::string& therapy_area, const std::string& request_id) {
  Statement q(db_, absl::StrCat(kSelectRefinement, kByRequestId).c_str());
  HARMONIA_RETURN_IF_ERROR(q.status("reading a refinement"));
  q.Bind(1, country);
  q.Bind(2, therapy_area);
  q.Bind(3, request_id);
  const int rc = q.Step();
  if (rc == SQLITE_DONE) return std::optional<RefinementRecord>();
  if (rc != SQLITE_ROW) return SqliteError(db_, rc, "reading a refinement");
  return std::optional<RefinementRecord>(ReadRefinement(q));
}

absl::StatusOr<RefinementRecord> SqliteStore::DecideRefinement(
    const std::string& country, const std::string& therapy_area, const std::string& request_id,
    RefinementStatus status, const std::string& reason, const std::string& by, int64_t at_unix) {
  HARMONIA_RETURN_IF_ERROR(CheckDecision(request_id, status));
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_, "a refinement decision"));
  RefinementRecord before;
  {
    Statement q(db_, absl::StrCat(kSelectRefinement, kByRequestId).c_str());
    HARMONIA_RETURN_IF_ERROR(q.status("reading a refinement"));
    q.Bind(1, country);
    q.Bind(2, therapy_area);
    q.Bind(3, request_id);
    const int rc = q.Step();
    if (rc == SQLITE_DONE) return UnknownRefinement(country, therapy_area, request_id);
    if (rc != SQLITE_ROW) return SqliteError(db_, rc, "reading a refinement");
    before = ReadRefinement(q);
  }
  if (!RefinementTransitionAllowed(before.status, status)) {
    return ForbiddenTransition(before, status);
  }
  RefinementRecord after = before;
  after.status = status;
  after.status_reason = reason;
  after.decided_by = by;
  after.updated_at_unix = at_unix;
  Statement set(db_,
                "UPDATE refinements SET status = ?, status_reason = ?, decided_by = ?, "
                "updated_at = ? WHERE refinement_id = ?");
  HARMONIA_RETURN_IF_ERROR(set.status("deciding a refinement"));
  const std::string name = RefinementStatusName(status);
  set.Bind(1, name);
  set.Bind(2, reason);
  set.Bind(3, by);
  set.Bind(4, at_unix);
  set.Bind(5, after.refinement_id);
  if (const int rc = set.Step(); rc != SQLITE_DONE) {
    return SqliteError(db_, rc, "deciding a refinement");
  }
  HARMONIA_RETURN_IF_ERROR(InsertAudit(db_, DecideAudit(before, after)).status());
  HARMONIA_RETURN_IF_ERROR(tx.Commit("a refinement decision"));
  return after;
}

absl::StatusOr<int64_t> SqliteStore::AppendAudit(const AuditEntry& entry) {
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_, "an audit entry"));
  HARMONIA_ASSIGN_OR_RETURN(const int64_t id, InsertAudit(db_, entry));
  HARMONIA_RETURN_IF_ERROR(tx.Commit("an audit entry"));
  return id;
}

absl::StatusOr<std::vector<AuditEntry>> SqliteStore::ListAudit(const AuditQuery& query) {
  Statement q(db_,
              "SELECT audit_id, at, principal, action, object, state_before, state_after, "
              "country, prev_hash, hash FROM audit_log WHERE audit_id > ? AND (? = '' OR "
              "principal = ?) AND (? = '' OR action = ? OR (substr(?, -1) = '.' AND "
              "substr(action, 1, length(?)) = ?)) AND (? = '' OR country = ?) AND at >= ? AND "
              "at < ? ORDER BY audit_id LIMIT ?");
  HARMONIA_RETURN_IF_ERROR(q.status("reading the audit log"));
  q.Bind(1, query.after_id);
  for (int i : {2, 3}) q.Bind(i, query.principal);
  for (int i : {4, 5, 6, 7, 8}) q.Bind(i, query.action);
  for (int i : {9, 10}) q.Bind(i, query.country);
  q.Bind(11, query.since_unix);
  q.Bind(12, query.until_unix);
  q.Bind(13, query.limit);
  std::vector<AuditEntry> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    out.push_back(AuditEntry{q.Int(0), q.Int(1), q.Text(2), q.Text(3), q.Text(4), q.Text(5),
                             q.Text(6), q.Text(7), q.Text(8), q.Text(9)});
  }
  if (rc != SQLITE_DONE) return SqliteError(db_, rc, "reading the audit log");
  return out;
}

absl::StatusOr<AuditHead> SqliteStore::GetAuditHead() { return ReadAuditHead(db_); }

absl::Status SqliteStore::Probe() {
  // SQLite opens a file it may not write read-only: a fresh connection tells.
  // (No write lock is taken: waiting behind a long commit is not trouble.)
  if (sqlite3_db_readonly(db_, "main") == 1) {
    return absl::UnavailableError(
        "sqlite: a health probe: the store file is read-only (attempt to write a readonly "
        "database)");
  }
  Statement q(db_, "SELECT last FROM input_seq");
  HARMONIA_RETURN_IF_ERROR(q.status("a health probe"));
  if (const int rc = q.Step(); rc != SQLITE_ROW) return SqliteError(db_, rc, "a health probe");
  return absl::OkStatus();
}

}  // namespace harmonia::store::internal
