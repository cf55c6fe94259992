// The PostgreSQL backend: one libpq connection, parameterized statements
// everywhere (user text reaches SQL only as parameters or COPY data), bulk
// writes through COPY, large reads through a cursor.
//
// Text columns are declared COLLATE "C", so every ORDER BY and every key
// index orders bytewise, as SQLite does — whatever the database's locale.
#include "store/internal/postgres_store.h"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "store/internal/audit.h"
#include "store/internal/batch.h"

namespace harmonia::store::internal {
namespace {

// Schema migrations, applied in order inside one transaction. Never edit a
// released step: add a new one (and bump kSchemaVersion). The tables, columns
// and keys are SQLite's (sqlite_store.cc); integers are BIGINT, flags BOOLEAN.
//
// Unlike SQLite's, the tables declare no FOREIGN KEY: PostgreSQL checks one
// with a trigger per inserted row (about 8 µs each, two thirds of a bulk
// import). The store keeps the same guarantees in bulk instead: an input
// import checks all its customers with one query inside its transaction
// (customers are never deleted), and a cycle's assignments are written with
// the cycle id created in the same transaction.
constexpr const char* kMigrations[] = {
    // 1: customers, their raw inputs, published rule sets.
    R"sql(
CREATE TABLE customers (
  customer_id   TEXT COLLATE "C" PRIMARY KEY,
  country       TEXT COLLATE "C" NOT NULL,
  customer_type TEXT COLLATE "C" NOT NULL,
  specialty     TEXT COLLATE "C" NOT NULL,
  name          TEXT COLLATE "C" NOT NULL
);
CREATE INDEX customers_by_country ON customers (country, customer_id);
CREATE TABLE inputs (
  customer_id  TEXT COLLATE "C" NOT NULL,
  therapy_area TEXT COLLATE "C" NOT NULL,
  input_id     TEXT COLLATE "C" NOT NULL,
  source       TEXT COLLATE "C" NOT NULL,
  as_of        BIGINT NOT NULL,
  is_metric    BOOLEAN NOT NULL,
  value        TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (customer_id, therapy_area, input_id, source, as_of)
);
CREATE TABLE rule_sets (
  therapy_area TEXT COLLATE "C" NOT NULL,
  version      BIGINT NOT NULL,
  source_text  TEXT COLLATE "C" NOT NULL,
  checksum     TEXT COLLATE "C" NOT NULL,
  published_by TEXT COLLATE "C" NOT NULL,
  published_at BIGINT NOT NULL,
  PRIMARY KEY (therapy_area, version)
);
)sql",
    // 2: committed cycles and their assignments.
    R"sql(
CREATE TABLE cycles (
  cycle_id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  country          TEXT COLLATE "C" NOT NULL,
  therapy_area     TEXT COLLATE "C" NOT NULL,
  as_of            BIGINT NOT NULL,
  rule_set_version BIGINT NOT NULL,
  options          TEXT COLLATE "C" NOT NULL,
  country_config   TEXT COLLATE "C" NOT NULL,
  customers        BIGINT NOT NULL,
  summary          TEXT COLLATE "C" NOT NULL,
  committed_at     BIGINT NOT NULL
);
CREATE INDEX cycles_by_market ON cycles (country, therapy_area, cycle_id);
CREATE TABLE assignments (
  cycle_id         BIGINT NOT NULL,
  customer_id      TEXT COLLATE "C" NOT NULL,
  segment          TEXT COLLATE "C" NOT NULL,
  tier             TEXT COLLATE "C" NOT NULL,
  calls            BIGINT NOT NULL,
  remote           BIGINT NOT NULL,
  email            BIGINT NOT NULL,
  events           BIGINT NOT NULL,
  decided_by       TEXT COLLATE "C" NOT NULL,
  rule_id          TEXT COLLATE "C" NOT NULL,
  rule_set_version BIGINT NOT NULL,
  inputs_digest    TEXT COLLATE "C" NOT NULL,
  scores           TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (cycle_id, customer_id)
);
)sql",
    // 3: answers and metrics keyed apart; cycle status, quality and who ran
    // it; refinements with their lifecycle; the append-only audit log.
    R"sql(
ALTER TABLE inputs DROP CONSTRAINT inputs_pkey;
ALTER TABLE inputs ADD PRIMARY KEY (customer_id, therapy_area, input_id, source, as_of, is_metric);
-- Autovacuum's pass after a bulk import (triggered by inserts: 30 s or more
-- over a million customers' inputs) would compete with the cycle that
-- usually follows the import; vacuum inputs after 100M inserts instead of
-- after 20% growth. Updates still trigger it as usual (docs/store.md).
ALTER TABLE inputs SET (autovacuum_vacuum_insert_threshold = 100000000,
                        autovacuum_vacuum_insert_scale_factor = 0);
ALTER TABLE cycles ADD COLUMN status TEXT COLLATE "C" NOT NULL DEFAULT 'committed';
ALTER TABLE cycles ADD COLUMN quality TEXT COLLATE "C" NOT NULL DEFAULT '{}';
ALTER TABLE cycles ADD COLUMN run_by TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE TABLE refinements (
  refinement_id  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  request_id     TEXT COLLATE "C" NOT NULL UNIQUE,
  country        TEXT COLLATE "C" NOT NULL,
  therapy_area   TEXT COLLATE "C" NOT NULL,
  customer_id    TEXT COLLATE "C" NOT NULL,
  segment        TEXT COLLATE "C" NOT NULL,
  calls_delta    BIGINT NOT NULL,
  reason         TEXT COLLATE "C" NOT NULL,
  comment        TEXT COLLATE "C" NOT NULL,
  submitted_by   TEXT COLLATE "C" NOT NULL,
  submitted_at   BIGINT NOT NULL,
  status         TEXT COLLATE "C" NOT NULL CHECK (status IN ('submitted', 'accepted',
                   'approved', 'rejected', 'applied', 'expired', 'withdrawn')),
  status_reason  TEXT COLLATE "C" NOT NULL,
  decided_by     TEXT COLLATE "C" NOT NULL,
  updated_at     BIGINT NOT NULL,
  cycles_applied BIGINT NOT NULL,
  last_cycle_id  BIGINT NOT NULL
);
CREATE INDEX refinements_by_market ON refinements (country, therapy_area, refinement_id);
CREATE TABLE audit_log (
  audit_id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at           BIGINT NOT NULL,
  principal    TEXT COLLATE "C" NOT NULL,
  action       TEXT COLLATE "C" NOT NULL,
  object       TEXT COLLATE "C" NOT NULL,
  state_before TEXT COLLATE "C" NOT NULL,
  state_after  TEXT COLLATE "C" NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
)sql",
    // 4: every distinct value of an input key, with its import order (a
    // cycle drops invalid values before it chooses, docs/store.md). Rows
    // stored before keep seq 0: they are one per key. No cache: a value
    // imported later by any connection must get a higher seq.
    R"sql(
-- A request_id is an idempotency key per country and therapy area: an id of
-- another country is another refinement (docs/store.md).
ALTER TABLE refinements DROP CONSTRAINT refinements_request_id_key;
ALTER TABLE refinements ADD CONSTRAINT refinements_request_key
  UNIQUE (country, therapy_area, request_id);
-- The audit log becomes a hash chain (docs/store.md "Audit log"); entries
-- already there stay as they were, counted in the head as "unchained".
ALTER TABLE audit_log ADD COLUMN country TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN hash TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE TABLE audit_head (
  last_id           BIGINT NOT NULL,
  last_hash         TEXT COLLATE "C" NOT NULL,
  unchained_entries BIGINT NOT NULL,
  unchained_last_id BIGINT NOT NULL
);
INSERT INTO audit_head SELECT COALESCE(MAX(audit_id), 0), '', COUNT(*), COALESCE(MAX(audit_id), 0)
  FROM audit_log;
-- Validity counts cycle periods from the first cycle that applied a
-- refinement; before, the last one is the best known.
ALTER TABLE refinements ADD COLUMN first_cycle_id BIGINT NOT NULL DEFAULT 0;
UPDATE refinements SET first_cycle_id = last_cycle_id;
-- Each cycle's period (its start day); cycles before knew none: their date.
ALTER TABLE cycles ADD COLUMN period BIGINT NOT NULL DEFAULT 0;
UPDATE cycles SET period = as_of;
CREATE SEQUENCE input_seq AS BIGINT;
ALTER TABLE inputs ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE inputs ALTER COLUMN seq SET DEFAULT nextval('input_seq');
ALTER SEQUENCE input_seq OWNED BY inputs.seq;
ALTER TABLE inputs DROP CONSTRAINT inputs_pkey;
ALTER TABLE inputs ADD PRIMARY KEY (customer_id, therapy_area, input_id, source, as_of, is_metric,
                                    value);
)sql",
    // 5: each assignment's drivers and barriers and its n=1 plan
    // (docs/cycle.md step 6). Assignments committed before have no tags and
    // a NULL plan, read as their targets (what the plan was then).
    R"sql(
ALTER TABLE assignments ADD COLUMN tags TEXT COLLATE "C" NOT NULL DEFAULT '',
  ADD COLUMN plan_calls BIGINT, ADD COLUMN plan_remote BIGINT, ADD COLUMN plan_email BIGINT,
  ADD COLUMN plan_events BIGINT;
)sql",
    // 6: activities carried out, from the CRM, and each assignment's
    // objective behaviour (docs/report.md "Did it work"). Assignments
    // committed before have none (NULL).
    R"sql(
CREATE TABLE activities (
  customer_id  TEXT COLLATE "C" NOT NULL,
  therapy_area TEXT COLLATE "C" NOT NULL,
  activity     TEXT COLLATE "C" NOT NULL
                 CHECK (activity IN ('calls', 'remote', 'email', 'events')),
  day          BIGINT NOT NULL,
  source       TEXT COLLATE "C" NOT NULL,
  count        BIGINT NOT NULL CHECK (count >= 0),
  PRIMARY KEY (customer_id, therapy_area, activity, day, source)
);
ALTER TABLE assignments ADD COLUMN objective DOUBLE PRECISION;
)sql",
    // 7: field territories, each country's alignment of customers to
    // territories and reps (docs/files.md territories.csv).
    R"sql(
CREATE TABLE territories (
  country     TEXT COLLATE "C" NOT NULL,
  territory   TEXT COLLATE "C" NOT NULL,
  customer_id TEXT COLLATE "C" NOT NULL,
  rep         TEXT COLLATE "C" NOT NULL,
  PRIMARY KEY (country, territory, customer_id)
);
CREATE INDEX territories_by_rep ON territories (country, rep, territory, customer_id);
)sql",
};
static_assert(std::size(kMigrations) == kSchemaVersion);

// The advisory lock (any fixed key) that serializes concurrent migrations.
constexpr int64_t kMigrationLock = 0x4861726d6f6e6961;  // "Harmonia"
// The advisory lock held from a transaction's first audit entry (a
// submission's: from its start) to its end, so audit ids are assigned in
// commit order: a reader that saw entry N and asks for those after N misses
// none (an identity is taken when a row is inserted, not when it commits).
constexpr int64_t kAuditLock = 0x4861726d2d617564;  // "Harm-aud"

// Type OIDs of the parameters we send (PostgreSQL's pg_type.h; fixed forever).
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;
constexpr Oid kTextArrayOid = 1009;
constexpr Oid kInt8ArrayOid = 1016;

constexpr int kFetchRows = 10000;       // rows per FETCH from a cursor
constexpr size_t kCopyChunk = 1 << 20;  // bytes per PQputCopyData
constexpr char kCursor[] = "harmonia_rows";

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// libpq's messages end in a newline and may span lines: one line, with runs
// of whitespace collapsed.
std::string OneLine(const char* text) {
  std::string out;
  for (const char* c = text != nullptr ? text : ""; *c != '\0'; ++c) {
    const bool space = *c == ' ' || *c == '\n' || *c == '\t';
    if (!space) {
      out.push_back(*c);
    } else if (!out.empty() && out.back() != ' ') {
      out.push_back(' ');
    }
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The status for a failed command: `res` is its result (null when libpq had
// none to give). A lost connection is Unavailable whatever the SQLSTATE.
absl::Status PgError(PGconn* conn, const PGresult* res, std::string_view what) {
  std::string message = absl::StrCat("postgresql: ", Sv(what), ": ");
  const char* state = res != nullptr ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = res != nullptr ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char* detail = res != nullptr ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : nullptr;
  if (primary != nullptr) {
    absl::StrAppend(&message, primary);
    if (detail != nullptr) absl::StrAppend(&message, " (", OneLine(detail), ")");
  } else if (res != nullptr && *PQresultErrorMessage(res) == '\0') {
    absl::StrAppend(&message, "unexpected result ", PQresStatus(PQresultStatus(res)));
  } else {
    const std::string text =
        OneLine(res != nullptr ? PQresultErrorMessage(res) : PQerrorMessage(conn));
    absl::StrAppend(&message, text.empty() ? "no result (out of memory?)" : text);
  }
  absl::StatusCode code = absl::StatusCode::kInternal;
  if (PQstatus(conn) == CONNECTION_BAD) {
    code = absl::StatusCode::kUnavailable;
  } else if (state != nullptr) {
    code = PostgresErrorCode(state);
  }
  return absl::Status(code, message);
}

int64_t IntAt(const PGresult* r, int row, int col) {
  const char* text = PQgetvalue(r, row, col);
  int64_t v = 0;
  std::from_chars(text, text + PQgetlength(r, row, col), v);
  return v;
}

std::string TextAt(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<size_t>(PQgetlength(r, row, col)));
}

bool BoolAt(const PGresult* r, int row, int col) { return PQgetvalue(r, row, col)[0] == 't'; }

// The row count of an INSERT or COPY ("INSERT 0 42" → 42).
int64_t CommandRows(const PGresult* r) {
  const char* text = PQcmdTuples(const_cast<PGresult*>(r));
  int64_t n = 0;
  std::from_chars(text, text + std::strlen(text), n);
  return n;
}

// One text-format array element: double-quoted, `"` and `\` escaped.
void AppendArrayElement(std::string* out, const std::string& s) {
  out->push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}

// Runs a command without parameters (possibly several, separated by `;`).
absl::Status Exec(PGconn* conn, const char* sql, std::string_view what) {
  Result r(PQexec(conn, sql));
  const ExecStatusType status = r != nullptr ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return absl::OkStatus();
  return PgError(conn, r.get(), what);
}

// BEGIN … COMMIT. Rolls back on destruction unless committed, so every early
// return leaves the store as it was.
class Transaction {
 public:
  static absl::StatusOr<Transaction> Begin(PGconn* conn, const char* begin, std::string_view what) {
    HARMONIA_RETURN_IF_ERROR(Exec(conn, begin, absl::StrCat("starting ", Sv(what))));
    return Transaction(conn);
  }
  Transaction(Transaction&& other) noexcept : conn_(std::exchange(other.conn_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction() {
    if (conn_ != nullptr) PQclear(PQexec(conn_, "ROLLBACK"));
  }

  absl::Status Commit(std::string_view what) {
    PGconn* conn = std::exchange(conn_, nullptr);
    const std::string context = absl::StrCat("committing ", Sv(what));
    Result r(PQexec(conn, "COMMIT"));
    if (r == nullptr || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      return PgError(conn, r.get(), context);
    }
    // COMMIT of a failed transaction "succeeds" as ROLLBACK.
    if (std::string_view(PQcmdStatus(r.get())) != "COMMIT") {
      return absl::InternalError(
          absl::StrCat("postgresql: ", context, ": the transaction was rolled back"));
    }
    return absl::OkStatus();
  }

 private:
  explicit Transaction(PGconn* conn) : conn_(conn) {}
  PGconn* conn_;
};

// COPY … FROM STDIN in text format: fields separated by tabs, rows by
// newlines, and backslash, tab, newline and carriage return escaped. (No
// column is nullable, so \N is never written, and a value "\N" arrives as
// itself.) The COPY is aborted on destruction unless finished.
class CopyIn {
 public:
  explicit CopyIn(PGconn* conn) : conn_(conn) {}
  ~CopyIn() {
    if (active_) Abort("abandoned by harmonia").IgnoreError();
  }
  CopyIn(const CopyIn&) = delete;
  CopyIn& operator=(const CopyIn&) = delete;

  absl::Status Start(const char* sql, std::string_view what) {
    what_ = std::string(what);
    Result r(PQexec(conn_, sql));
    if (r == nullptr || PQresultStatus(r.get()) != PGRES_COPY_IN) {
      return PgError(conn_, r.get(), what_);
    }
    active_ = true;
    buffer_.reserve(kCopyChunk + 4096);
    return absl::OkStatus();
  }

  void Text(std::string_view s) {
    Separate();
    size_t from = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      char escaped;
      switch (s[i]) {
        case '\\':
          escaped = '\\';
          break;
        case '\t':
          escaped = 't';
          break;
        case '\n':
          escaped = 'n';
          break;
        case '\r':
          escaped = 'r';
          break;
        default:
          continue;
      }
      buffer_.append(s.data() + from, i - from);
      buffer_.push_back('\\');
      buffer_.push_back(escaped);
      from = i + 1;
    }
    buffer_.append(s.data() + from, s.size() - from);
  }
  void Int(int64_t v) {
    Separate();
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
    buffer_.append(digits, end);
  }
  void Bool(bool b) {
    Separate();
    buffer_.push_back(b ? 't' : 'f');
  }
  // NULL for nullopt; else the shortest text that reads back as the same double.
  void Double(std::optional<double> v) {
    Separate();
    if (!v) {
      buffer_.append("\\N");
      return;
    }
    char digits[32];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, *v);
    buffer_.append(digits, end);
  }
  absl::Status EndRow() {
    buffer_.push_back('\n');
    row_started_ = false;
    return buffer_.size() >= kCopyChunk ? Flush() : absl::OkStatus();
  }

  // The SQLSTATE of the server's error when the COPY failed, else empty.
  const std::string& failed_sqlstate() const { return failed_sqlstate_; }

  // Sends what is buffered and ends the COPY: the number of rows copied.
  absl::StatusOr<int64_t> Finish() {
    HARMONIA_RETURN_IF_ERROR(Flush());
    active_ = false;
    absl::Status status =
        PQputCopyEnd(conn_, nullptr) == 1 ? Drain() : PgError(conn_, nullptr, what_);
    if (!status.ok()) return status;
    return rows_;
  }

 private:
  void Separate() {
    if (row_started_) buffer_.push_back('\t');
    row_started_ = true;
  }

  absl::Status Flush() {
    if (buffer_.empty()) return absl::OkStatus();
    const int sent = PQputCopyData(conn_, buffer_.data(), static_cast<int>(buffer_.size()));
    buffer_.clear();
    // -1: the connection failed, or the server ended the COPY with an error,
    // which the results now tell.
    return sent == 1 ? absl::OkStatus() : Abort("");
  }

  // Ends the COPY early and returns why it failed.
  absl::Status Abort(const char* reason) {
    active_ = false;
    PQputCopyEnd(conn_, reason[0] != '\0' ? reason : "aborted by harmonia");
    absl::Status status = Drain();
    return status.ok() ? absl::InternalError(absl::StrCat("postgresql: ", what_, ": COPY aborted"))
                       : status;
  }

  // Reads the COPY's results until libpq has none left: OK when it
  // completed (rows_ = rows copied), else its first error.
  absl::Status Drain() {
    absl::Status status;
    bool completed = false;
    for (int guard = 0; guard < 100; ++guard) {
      Result r(PQgetResult(conn_));
      if (r == nullptr) break;
      switch (PQresultStatus(r.get())) {
        case PGRES_COPY_IN:  // still copying: end it
          if (PQputCopyEnd(conn_, "aborted by harmonia") != 1 && status.ok()) {
            status = PgError(conn_, nullptr, what_);
          }
          break;
        case PGRES_COMMAND_OK:
          completed = true;
          rows_ = CommandRows(r.get());
          break;
        default:
          if (status.ok()) {
            status = PgError(conn_, r.get(), what_);
            const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
            failed_sqlstate_ = state != nullptr ? state : "";
          }
      }
      if (PQstatus(conn_) == CONNECTION_BAD && !status.ok()) break;
    }
    if (status.ok() && !completed) status = PgError(conn_, nullptr, what_);
    return status;
  }

  PGconn* conn_;
  std::string what_;
  std::string buffer_;
  bool active_ = false;
  bool row_started_ = false;
  int64_t rows_ = 0;
  std::string failed_sqlstate_;
};

// A bulk write into one table: the rows, in key order, go straight in with
// COPY — the cheapest way in, and what a first import is. When one of their
// keys is already stored, that COPY fails (unique_violation) and is rolled
// back, and the rows go the upsert way instead: COPY into a temporary table,
// then one INSERT … SELECT … ON CONFLICT … DO UPDATE whose WHERE makes an
// identical row a no-op, so its row count is WriteStats::written. (The rows
// are deduplicated first: ON CONFLICT cannot touch one row twice.) A
// re-import meets a stored key at its first rows, so little work is done in
// vain; a batch mixing new keys with stored ones pays for both ways. Key
// order keeps index pages hot and makes concurrent importers take row locks
// in one order, so they never deadlock each other.
struct BulkTable {
  const char* copy;         // COPY table (columns) FROM STDIN
  const char* stage;        // CREATE TEMP TABLE table_in …
  const char* copy_staged;  // COPY table_in (columns) FROM STDIN
  const char* upsert;       // INSERT INTO table … SELECT … FROM table_in ON CONFLICT …
  const char* what;         // for messages
};

constexpr BulkTable kCustomers = {
    .copy = "COPY customers (customer_id, country, customer_type, specialty, name) FROM STDIN",
    .stage = "CREATE TEMP TABLE customers_in (LIKE customers) ON COMMIT DROP",
    .copy_staged =
        "COPY customers_in (customer_id, country, customer_type, specialty, name) FROM STDIN",
    .upsert =
        "INSERT INTO customers AS c (customer_id, country, customer_type, specialty, name) "
        "SELECT customer_id, country, customer_type, specialty, name FROM customers_in "
        "ORDER BY customer_id "
        "ON CONFLICT (customer_id) DO UPDATE SET country = excluded.country, "
        "customer_type = excluded.customer_type, specialty = excluded.specialty, "
        "name = excluded.name WHERE (c.country, c.customer_type, c.specialty, c.name) "
        "IS DISTINCT FROM (excluded.country, excluded.customer_type, excluded.specialty, "
        "excluded.name)",
    .what = "importing customers",
};

// Inputs (store.h, InputRow): every distinct value of a key is kept; its
// seq comes from the sequence input_seq, taken in COPY order (the column's
// default). A stored value is made its key's latest again only when another
// value was imported after it, so a re-import writes nothing.
#define HARMONIA_INPUT_UPSERT(staged)                                                         \
  "INSERT INTO inputs AS i (customer_id, therapy_area, input_id, source, as_of, is_metric, "  \
  "value, seq) SELECT customer_id, therapy_area, input_id, source, as_of, is_metric, value, " \
  "seq FROM " staged                                                                          \
  " ORDER BY customer_id, therapy_area, input_id, source, as_of, "                            \
  "is_metric, value ON CONFLICT (customer_id, therapy_area, input_id, source, as_of, "        \
  "is_metric, value) DO UPDATE SET seq = excluded.seq"
constexpr BulkTable kInputs = {
    .copy =
        "COPY inputs (customer_id, therapy_area, input_id, source, as_of, is_metric, value) "
        "FROM STDIN",
    .stage = "CREATE TEMP TABLE inputs_in (LIKE inputs INCLUDING DEFAULTS) ON COMMIT DROP",
    .copy_staged =
        "COPY inputs_in (customer_id, therapy_area, input_id, source, as_of, "
        "is_metric, value) FROM STDIN",
    .upsert = HARMONIA_INPUT_UPSERT("inputs_in")
    " WHERE EXISTS (SELECT 1 FROM inputs o WHERE o.customer_id = i.customer_id AND "
    "o.therapy_area = i.therapy_area AND o.input_id = i.input_id AND o.source = i.source AND "
    "o.as_of = i.as_of AND o.is_metric = i.is_metric AND o.seq > i.seq)",
    .what = "importing inputs",
};
// Keys given several values in one batch: each value, in batch order (the
// COPY's, so their seqs increase in that order), becomes the latest. (A
// statement's subqueries do not see its own writes, so the condition above
// could not order them.)
// (Its own staging table: one batch may stage both kinds.)
constexpr BulkTable kInputsOfSeveralValues = {
    .copy = kInputs.copy,
    .stage = "CREATE TEMP TABLE inputs_several_in (LIKE inputs INCLUDING DEFAULTS) ON COMMIT DROP",
    .copy_staged =
        "COPY inputs_several_in (customer_id, therapy_area, input_id, source, as_of, is_metric, "
        "value) FROM STDIN",
    .upsert = HARMONIA_INPUT_UPSERT("inputs_several_in"),
    .what = "importing inputs",
};
#undef HARMONIA_INPUT_UPSERT

// Activities (store.h, ActivityRow): a key's count is replaced; an
// unchanged count is a no-op.
constexpr BulkTable kActivities = {
    .copy = "COPY activities (customer_id, therapy_area, activity, day, source, count) FROM STDIN",
    .stage = "CREATE TEMP TABLE activities_in (LIKE activities) ON COMMIT DROP",
    .copy_staged =
        "COPY activities_in (customer_id, therapy_area, activity, day, source, count) FROM STDIN",
    .upsert =
        "INSERT INTO activities AS a (customer_id, therapy_area, activity, day, source, "
        "count) SELECT customer_id, therapy_area, activity, day, source, count FROM "
        "activities_in ORDER BY customer_id, therapy_area, activity, day, source "
        "ON CONFLICT (customer_id, therapy_area, activity, day, source) DO UPDATE SET "
        "count = excluded.count WHERE a.count <> excluded.count",
    .what = "importing activities",
};

void Put(CopyIn& copy, const ActivityRow& r) {
  copy.Text(r.customer_id);
  copy.Text(r.therapy_area);
  copy.Text(r.activity);
  copy.Int(r.day);
  copy.Text(r.source);
  copy.Int(r.count);
}

void Put(CopyIn& copy, const CustomerRow& r) {
  copy.Text(r.customer_id);
  copy.Text(r.country);
  copy.Text(r.customer_type);
  copy.Text(r.specialty);
  copy.Text(r.name);
}

void Put(CopyIn& copy, const InputRow& r) {
  copy.Text(r.customer_id);
  copy.Text(r.therapy_area);
  copy.Text(r.input_id);
  copy.Text(r.source);
  copy.Int(r.as_of);
  copy.Bool(r.is_metric);
  copy.Text(r.value);
}

// Key order, bytewise as COLLATE "C" compares (and false before true, as
// PostgreSQL orders booleans).
bool KeyLess(const CustomerRow* a, const CustomerRow* b) { return a->customer_id < b->customer_id; }
bool KeyLess(const ActivityRow* a, const ActivityRow* b) { return KeyOf(*a) < KeyOf(*b); }
bool KeyLess(const InputRow* a, const InputRow* b) {
  return std::tie(a->customer_id, a->therapy_area, a->input_id, a->source, a->as_of, a->is_metric) <
         std::tie(b->customer_id, b->therapy_area, b->input_id, b->source, b->as_of, b->is_metric);
}

// Sorts `rows` by key, stably: the values of one input key stay in batch
// order. Files usually list a customer's rows together and customers in
// order: then only each customer's few rows need sorting.
template <typename Row>
void SortByKey(std::vector<const Row*>& rows) {
  auto less = [](const Row* a, const Row* b) { return KeyLess(a, b); };
  auto customer_less = [](const Row* a, const Row* b) { return a->customer_id < b->customer_id; };
  if (!std::is_sorted(rows.begin(), rows.end(), customer_less)) {
    std::stable_sort(rows.begin(), rows.end(), less);
    return;
  }
  for (auto run = rows.begin(); run != rows.end();) {
    auto end = std::find_if(run, rows.end(),
                            [&](const Row* r) { return r->customer_id != (*run)->customer_id; });
    std::stable_sort(run, end, less);
    run = end;
  }
}

template <typename Row>
absl::StatusOr<int64_t> CopyRows(CopyIn& copy, const char* sql, std::string_view what,
                                 const std::vector<const Row*>& rows) {
  HARMONIA_RETURN_IF_ERROR(copy.Start(sql, what));
  for (const Row* r : rows) {
    Put(copy, *r);
    HARMONIA_RETURN_IF_ERROR(copy.EndRow());
  }
  return copy.Finish();
}

// Writes `rows` (one per key) into `table` inside the caller's transaction:
// the rows written.
template <typename Row>
absl::StatusOr<int64_t> BulkWrite(PGconn* conn, const BulkTable& table,
                                  std::vector<const Row*> rows) {
  SortByKey(rows);
  HARMONIA_RETURN_IF_ERROR(Exec(conn, "SAVEPOINT new_keys", table.what));
  {
    CopyIn direct(conn);
    absl::StatusOr<int64_t> copied = CopyRows(direct, table.copy, table.what, rows);
    if (copied.ok() || direct.failed_sqlstate() != "23505") return copied;
  }
  HARMONIA_RETURN_IF_ERROR(Exec(conn, "ROLLBACK TO SAVEPOINT new_keys", table.what));
  HARMONIA_RETURN_IF_ERROR(Exec(conn, table.stage, table.what));
  {
    CopyIn staged(conn);
    HARMONIA_RETURN_IF_ERROR(CopyRows(staged, table.copy_staged, table.what, rows).status());
  }
  Result upserted(PQexec(conn, table.upsert));
  if (upserted == nullptr || PQresultStatus(upserted.get()) != PGRES_COMMAND_OK) {
    return PgError(conn, upserted.get(), table.what);
  }
  return CommandRows(upserted.get());
}

}  // namespace

absl::StatusCode PostgresErrorCode(std::string_view sqlstate) {
  if (sqlstate == "40001" || sqlstate == "40P01") return absl::StatusCode::kAborted;
  if (sqlstate == "XX001" || sqlstate == "XX002") return absl::StatusCode::kDataLoss;
  // Store trouble an operator fixes: the role may not, or the server (or
  // the database) is read-only.
  if (sqlstate == "42501" || sqlstate == "25006") return absl::StatusCode::kUnavailable;
  const std::string_view cls = sqlstate.substr(0, 2);
  if (cls == "23") return absl::StatusCode::kFailedPrecondition;
  if (cls == "08" || cls == "53" || cls == "57") return absl::StatusCode::kUnavailable;
  if (cls == "22") return absl::StatusCode::kInvalidArgument;
  return absl::StatusCode::kInternal;
}

std::string RedactPostgresUrl(const std::string& url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  // libpq reads user info up to the first '@' before the path's '/'.
  const size_t begin = scheme + 3;
  const size_t slash = std::min(url.find('/', begin), url.size());
  const size_t at = url.find('@', begin);
  std::string out = url.substr(0, begin);
  size_t rest = begin;
  if (at < slash) {
    const size_t colon = url.find(':', begin);
    out.append(url, begin, std::min(colon, at) - begin);
    rest = at;
  }
  const size_t query = url.find('?', rest);
  out.append(url, rest, std::min(query, url.size()) - rest);
  if (query == std::string::npos) return out;
  std::vector<std::string> kept;
  for (absl::string_view p : absl::StrSplit(absl::string_view(url).substr(query + 1), '&')) {
    if (!absl::StartsWith(p, "password=")) kept.emplace_back(p);
  }
  if (!kept.empty()) absl::StrAppend(&out, "?", absl::StrJoin(kept, "&"));
  return out;
}

// Parameters of one statement: text travels in binary format (its raw bytes,
// so nothing is cut at a NUL and the server checks the encoding), integers
// and array literals in text format. Types are explicit.
class PostgresStore::Params {
 public:
  Params& Text(const std::string& s) { return Add(kTextOid, s, 1); }
  Params& Int(int64_t v) { return Add(kInt8Oid, absl::StrCat(v), 0); }
  // A text[]; elements holding a NUL (which no stored text can) are left out.
  Params& TextArray(const std::vector<std::string>& items) {
    std::string literal = "{";
    bool first = true;
    for (const std::string& s : items) {
      if (s.find('\0') != std::string::npos) continue;
      if (!first) literal.push_back(',');
      first = false;
      AppendArrayElement(&literal, s);
    }
    literal.push_back('}');
    return Add(kTextArrayOid, std::move(literal), 0);
  }
  Params& IntArray(const std::vector<int64_t>& items) {
    return Add(kInt8ArrayOid, absl::StrCat("{", absl::StrJoin(items, ","), "}"), 0);
  }

  PGresult* Exec(PGconn* conn, const char* sql) const {
    std::vector<const char*> values;
    std::vector<int> lengths;
    values.reserve(values_.size());
    lengths.reserve(values_.size());
    for (const std::string& v : values_) {
      values.push_back(v.c_str());
      lengths.push_back(static_cast<int>(v.size()));
    }
    return PQexecParams(conn, sql, static_cast<int>(values_.size()), types_.data(), values.data(),
                        lengths.data(), formats_.data(), 0);
  }

 private:
  Params& Add(Oid type, std::string value, int format) {
    types_.push_back(type);
    values_.push_back(std::move(value));
    formats_.push_back(format);
    return *this;
  }

  std::vector<Oid> types_;
  std::vector<std::string> values_;
  std::vector<int> formats_;
};

namespace {

// Runs `sql` with `params`; OK when the result has status `expect`.
template <typename P>
absl::StatusOr<Result> Run(PGconn* conn, const char* sql, const P& params, ExecStatusType expect,
                           std::string_view what) {
  Result r(params.Exec(conn, sql));
  if (r == nullptr || PQresultStatus(r.get()) != expect) return PgError(conn, r.get(), what);
  return r;
}

constexpr const char* kSelectRefinement =
    "SELECT refinement_id, request_id, country, therapy_area, customer_id, segment, calls_delta, "
    "reason, comment, submitted_by, submitted_at, status, status_reason, decided_by, updated_at, "
    "cycles_applied, last_cycle_id, first_cycle_id FROM refinements";

RefinementRecord ReadRefinement(const PGresult* q, int i) {
  RefinementRecord r;
  r.refinement_id = IntAt(q, i, 0);
  r.request_id = TextAt(q, i, 1);
  r.country = TextAt(q, i, 2);
  r.therapy_area = TextAt(q, i, 3);
  r.customer_id = TextAt(q, i, 4);
  r.segment = TextAt(q, i, 5);
  r.calls_delta = static_cast<int32_t>(IntAt(q, i, 6));
  r.reason = TextAt(q, i, 7);
  r.comment = TextAt(q, i, 8);
  r.submitted_by = TextAt(q, i, 9);
  r.submitted_at_unix = IntAt(q, i, 10);
  // The CHECK constraint admits only the names ParseRefinementStatus knows.
  r.status = ParseRefinementStatus(TextAt(q, i, 11)).value_or(RefinementStatus::kSubmitted);
  r.status_reason = TextAt(q, i, 12);
  r.decided_by = TextAt(q, i, 13);
  r.updated_at_unix = IntAt(q, i, 14);
  r.cycles_applied = static_cast<int32_t>(IntAt(q, i, 15));
  r.last_cycle_id = IntAt(q, i, 16);
  r.first_cycle_id = IntAt(q, i, 17);
  return r;
}

// The record with `id` in `records` (sorted by id), or null.
RefinementRecord* FindRefinement(std::vector<RefinementRecord>& records, int64_t id) {
  auto it =
      std::lower_bound(records.begin(), records.end(), id,
                       [](const RefinementRecord& r, int64_t v) { return r.refinement_id < v; });
  return it != records.end() && it->refinement_id == id ? &*it : nullptr;
}

constexpr const char* kCycleColumns =
    "SELECT cycle_id, country, therapy_area, as_of, rule_set_version, options, country_config, "
    "customers, summary, committed_at, status, quality, run_by, period FROM cycles";

CycleRecord ReadCycle(const PGresult* q, int i) {
  CycleRecord c;
  c.cycle_id = IntAt(q, i, 0);
  c.country = TextAt(q, i, 1);
  c.therapy_area = TextAt(q, i, 2);
  c.as_of = static_cast<int32_t>(IntAt(q, i, 3));
  c.rule_set_version = IntAt(q, i, 4);
  c.options = TextAt(q, i, 5);
  c.country_config = TextAt(q, i, 6);
  c.customers = IntAt(q, i, 7);
  c.summary = TextAt(q, i, 8);
  c.committed_at_unix = IntAt(q, i, 9);
  c.status = TextAt(q, i, 10);
  c.quality = TextAt(q, i, 11);
  c.run_by = TextAt(q, i, 12);
  c.period = static_cast<int32_t>(IntAt(q, i, 13));
  return c;
}

constexpr const char* kAssignmentColumns =
    "SELECT customer_id, segment, tier, calls, remote, email, events, decided_by, rule_id, "
    "rule_set_version, inputs_digest, scores, tags, COALESCE(plan_calls, calls), "
    "COALESCE(plan_remote, remote), COALESCE(plan_email, email), COALESCE(plan_events, events), "
    "objective FROM assignments";

AssignmentRow ReadAssignment(const PGresult* q, int i) {
  AssignmentRow r;
  r.customer_id = TextAt(q, i, 0);
  r.segment = TextAt(q, i, 1);
  r.tier = TextAt(q, i, 2);
  r.calls = static_cast<int32_t>(IntAt(q, i, 3));
  r.remote = static_cast<int32_t>(IntAt(q, i, 4));
  r.email = static_cast<int32_t>(IntAt(q, i, 5));
  r.events = static_cast<int32_t>(IntAt(q, i, 6));
  r.decided_by = TextAt(q, i, 7);
  r.rule_id = TextAt(q, i, 8);
  r.rule_set_version = IntAt(q, i, 9);
  r.inputs_digest = TextAt(q, i, 10);
  r.scores = TextAt(q, i, 11);
  r.tags = TextAt(q, i, 12);
  r.plan_calls = static_cast<int32_t>(IntAt(q, i, 13));
  r.plan_remote = static_cast<int32_t>(IntAt(q, i, 14));
  r.plan_email = static_cast<int32_t>(IntAt(q, i, 15));
  r.plan_events = static_cast<int32_t>(IntAt(q, i, 16));
  if (!PQgetisnull(q, i, 17)) {
    const char* text = PQgetvalue(q, i, 17);
    double v = 0;
    std::from_chars(text, text + PQgetlength(q, i, 17), v);
    r.objective = v;
  }
  return r;
}

}  // namespace

PostgresStore::~PostgresStore() { PQfinish(conn_); }

absl::StatusOr<std::unique_ptr<PostgresStore>> PostgresStore::Open(const std::string& url) {
  const std::string shown = RedactPostgresUrl(url);
  char* parse_error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &parse_error);
  if (parsed == nullptr) {
    const std::string why = parse_error != nullptr ? OneLine(parse_error) : "out of memory";
    PQfreemem(parse_error);
    return absl::InvalidArgumentError(absl::StrCat("postgresql: store URL '", shown, "': ", why));
  }
  PQconninfoFree(parsed);
  PGconn* conn = PQconnectdb(url.c_str());
  std::unique_ptr<PostgresStore> store(new PostgresStore(conn, shown));
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("postgresql: cannot connect to ", shown, ": ",
                     conn != nullptr ? OneLine(PQerrorMessage(conn)) : "out of memory"));
  }
  // Notices (e.g. "relation already exists, skipping") are not errors.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  if (PQsetClientEncoding(conn, "UTF8") != 0) {
    return PgError(conn, nullptr, absl::StrCat("setting the client encoding for ", shown));
  }
  HARMONIA_RETURN_IF_ERROR(store->Migrate());
  return store;
}

absl::Status PostgresStore::Migrate() {
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx,
                            Transaction::Begin(conn_, "BEGIN", "the schema migration"));
  // Concurrent openers of a new database migrate one after the other, and
  // the second finds the work done.
  HARMONIA_RETURN_IF_ERROR(Run(conn_, "SELECT pg_advisory_xact_lock($1)",
                               Params().Int(kMigrationLock), PGRES_TUPLES_OK,
                               "locking the schema for migration")
                               .status());
  // Checked first: a role without CREATE may open an up-to-date store.
  HARMONIA_ASSIGN_OR_RETURN(Result exists,
                            Run(conn_, "SELECT to_regclass('schema_version') IS NOT NULL", Params(),
                                PGRES_TUPLES_OK, "reading the schema version"));
  if (!BoolAt(exists.get(), 0, 0)) {
    HARMONIA_RETURN_IF_ERROR(
        Exec(conn_, "CREATE TABLE schema_version (version BIGINT NOT NULL)", "schema_version"));
  }
  HARMONIA_ASSIGN_OR_RETURN(Result current_result,
                            Run(conn_, "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                                Params(), PGRES_TUPLES_OK, "reading the schema version"));
  const int64_t current = IntAt(current_result.get(), 0, 0);
  if (current > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store ", display_url_, " has schema version ", current, ", newer than this harmonia (",
        kSchemaVersion, "): upgrade harmonia to use it"));
  }
  for (int64_t v = current; v < kSchemaVersion; ++v) {
    HARMONIA_RETURN_IF_ERROR(
        Exec(conn_, kMigrations[v], absl::StrCat("schema migration to version ", v + 1)));
    HARMONIA_RETURN_IF_ERROR(Run(conn_, "INSERT INTO schema_version (version) VALUES ($1)",
                                 Params().Int(v + 1), PGRES_COMMAND_OK, "schema_version")
                                 .status());
  }
  HARMONIA_RETURN_IF_ERROR(tx.Commit("the schema migration"));
  schema_version_ = kSchemaVersion;
  return absl::OkStatus();
}

absl::StatusOr<WriteStats> PostgresStore::UpsertCustomers(
    const std::vector<CustomerRow>& all_rows) {
  // Rows of one batch with the same customer_id: the last one is the value.
  std::vector<const CustomerRow*> rows = LastPerKey(all_rows);
  if (rows.empty()) return WriteStats{};
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx,
                            Transaction::Begin(conn_, "BEGIN", "a customer import"));
  const int64_t n = static_cast<int64_t>(rows.size());
  HARMONIA_ASSIGN_OR_RETURN(const int64_t written, BulkWrite(conn_, kCustomers, std::move(rows)));
  HARMONIA_RETURN_IF_ERROR(tx.Commit("a customer import"));
  return WriteStats{.written = written, .unchanged = n - written};
}

absl::StatusOr<WriteStats> PostgresStore::WriteInputs(const std::vector<InputRow>& all_rows,
                                                      const AuditEntry* audit) {
  InputBatch batch = SplitInputs(all_rows);
  if (batch.size() == 0 && audit == nullptr) return WriteStats{};
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(conn_, "BEGIN", "an input import"));
  // Every row's customer must exist: one query for the batch, in the
  // transaction (customers are never deleted, so none can vanish before the
  // commit).
  HARMONIA_ASSIGN_OR_RETURN(std::optional<std::string> unknown,
                            FirstUnknownCustomer(batch.single, batch.several));
  if (unknown) {
    return absl::FailedPreconditionError(
        absl::StrCat("input of unknown customer '", *unknown, "': import customers first"));
  }
  const int64_t n = static_cast<int64_t>(batch.size());
  int64_t written = 0;
  std::optional<AuditEntry> audited;
  if (audit != nullptr) {  // what changes: each row's key's latest value before
    HARMONIA_ASSIGN_OR_RETURN(audited, WithValuesBefore(*audit, all_rows));
  }
  if (!batch.several.empty()) {  // rare: a key given several values in one batch
    // Their stored values, in one query, keyed by the batch rows' own keys.
    absl::flat_hash_set<InputKey> keys;
    std::vector<const InputRow*> distinct;
    for (const InputRow* r : batch.several) {
      if (keys.insert(KeyOf(*r)).second) distinct.push_back(r);
    }
    HARMONIA_ASSIGN_OR_RETURN(
        Result found,
        Run(conn_,
            "SELECT i.customer_id, i.therapy_area, i.input_id, i.source, i.as_of, i.is_metric, "
            "i.value, i.seq FROM inputs i JOIN unnest($1::text[], $2::text[], $3::text[], "
            "$4::text[], $5::bigint[], $6::bigint[]) AS k (c, t, n, s, d, m) ON i.customer_id = "
            "k.c AND i.therapy_area = k.t AND i.input_id = k.n AND i.source = k.s AND i.as_of = "
            "k.d AND i.is_metric = (k.m <> 0)",
            InputKeyArrays(distinct), PGRES_TUPLES_OK, "reading stored inputs"));
    absl::flat_hash_map<InputKey, std::vector<std::pair<std::string, int64_t>>> stored;
    for (int i = 0; i < PQntuples(found.get()); ++i) {
      const std::string c = TextAt(found.get(), i, 0), t = TextAt(found.get(), i, 1),
                        id = TextAt(found.get(), i, 2), src = TextAt(found.get(), i, 3);
      auto key = keys.find(InputKey{c, t, id, src, static_cast<int32_t>(IntAt(found.get(), i, 4)),
                                    BoolAt(found.get(), i, 5)});
      if (key == keys.end()) continue;  // not reached: the join returns the batch's keys
      stored[*key].emplace_back(TextAt(found.get(), i, 6), IntAt(found.get(), i, 7));
    }
    // What is dropped counts as unchanged: n - written below.
    DropKeysAlreadyInOrder(&batch.several, stored);
  }
  if (!batch.single.empty()) {
    HARMONIA_ASSIGN_OR_RETURN(written, BulkWrite(conn_, kInputs, std::move(batch.single)));
  }
  if (!batch.several.empty()) {
    HARMONIA_ASSIGN_OR_RETURN(const int64_t more,
                              BulkWrite(conn_, kInputsOfSeveralValues, std::move(batch.several)));
    written += more;
  }
  if (audited) HARMONIA_RETURN_IF_ERROR(InsertAudit(*audited).status());
  HARMONIA_RETURN_IF_ERROR(tx.Commit("an input import"));
  return WriteStats{.written = written, .unchanged = n - written};
}

PostgresStore::Params PostgresStore::InputKeyArrays(const std::vector<const InputRow*>& rows) {
  std::vector<std::string> customer, ta, input, source;
  std::vector<int64_t> as_of, metric;
  for (const InputRow* r : rows) {
    customer.push_back(r->customer_id);
    ta.push_back(r->therapy_area);
    input.push_back(r->input_id);
    source.push_back(r->source);
    as_of.push_back(r->as_of);
    metric.push_back(r->is_metric);
  }
  Params params;
  params.TextArray(customer)
      .TextArray(ta)
      .TextArray(input)
      .TextArray(source)
      .IntArray(as_of)
      .IntArray(metric);
  return params;
}

absl::StatusOr<AuditEntry> PostgresStore::WithValuesBefore(const AuditEntry& base,
                                                           const std::vector<InputRow>& rows) {
  std::vector<const InputRow*> pointers;
  for (const InputRow& r : rows) pointers.push_back(&r);
  HARMONIA_ASSIGN_OR_RETURN(
      Result found,
      Run(conn_,
          "SELECT k.i, (SELECT v.value FROM inputs v WHERE v.customer_id = k.c AND "
          "v.therapy_area = k.t AND v.input_id = k.n AND v.source = k.s AND v.as_of = k.d AND "
          "v.is_metric = (k.m <> 0) ORDER BY v.seq DESC LIMIT 1) FROM unnest($1::text[], "
          "$2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[]) WITH ORDINALITY AS k "
          "(c, t, n, s, d, m, i)",
          InputKeyArrays(pointers), PGRES_TUPLES_OK, "reading stored inputs"));
  std::vector<std::optional<std::string>> before(rows.size());
  for (int k = 0; k < PQntuples(found.get()); ++k) {
    const int64_t i = IntAt(found.get(), k, 0) - 1;
    if (!PQgetisnull(found.get(), k, 1)) before[i] = TextAt(found.get(), k, 1);
  }
  return ValuesAudit(base, pointers, before);
}

absl::StatusOr<std::optional<std::string>> PostgresStore::FirstUnknownCustomer(
    const std::vector<const InputRow*>& rows, const std::vector<const InputRow*>& more_rows) {
  std::vector<absl::string_view> ids;
  ids.reserve(rows.size() + more_rows.size());
  for (const InputRow* r : rows) ids.push_back(r->customer_id);
  for (const InputRow* r : more_rows) ids.push_back(r->customer_id);
  return FirstUnknownCustomerId(ids);
}

absl::StatusOr<std::optional<std::string>> PostgresStore::FirstUnknownCustomer(
    const std::vector<const ActivityRow*>& rows) {
  std::vector<absl::string_view> ids;
  ids.reserve(rows.size());
  for (const ActivityRow* r : rows) ids.push_back(r->customer_id);
  return FirstUnknownCustomerId(ids);
}

absl::StatusOr<std::optional<std::string>> PostgresStore::FirstUnknownCustomerId(
    const std::vector<absl::string_view>& in_order) {
  // Each customer once, in key order so the index lookups walk forward.
  absl::flat_hash_set<absl::string_view> distinct(in_order.begin(), in_order.end());
  std::vector<std::string> ids(distinct.begin(), distinct.end());
  std::sort(ids.begin(), ids.end());
  HARMONIA_ASSIGN_OR_RETURN(
      Result missing,
      Run(conn_,
          "SELECT u.id FROM unnest($1::text[]) AS u (id) WHERE NOT EXISTS (SELECT 1 FROM "
          "customers c WHERE c.customer_id = u.id)",
          Params().TextArray(ids), PGRES_TUPLES_OK, "looking up customers"));
  if (PQntuples(missing.get()) == 0) return std::optional<std::string>();
  absl::flat_hash_set<std::string> unknown;
  for (int i = 0; i < PQntuples(missing.get()); ++i) unknown.insert(TextAt(missing.get(), i, 0));
  for (absl::string_view id : in_order) {
    if (unknown.contains(id)) return std::optional<std::string>(id);
  }
  // Not reached: every id returned is one of the rows'.
  return std::optional<std::string>();
}

absl::Status PostgresStore::ForEachRow(const char* sql, const Params& params, std::string_view what,
                                       const std::function<void(const PGresult*, int)>& fn) {
  // A cursor keeps at most two batches of kFetchRows rows in memory. Planned
  // for the whole result (cursor_tuple_fraction), not for the first rows,
  // with room for a hash of a million ids (work_mem) so joins stay in memory.
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx,
                            Transaction::Begin(conn_,
                                               "BEGIN READ ONLY; SET LOCAL cursor_tuple_fraction = "
                                               "1; SET LOCAL work_mem = '256MB'",
                                               what));
  const std::string declare = absl::StrCat("DECLARE ", kCursor, " NO SCROLL CURSOR FOR ", sql);
  HARMONIA_RETURN_IF_ERROR(Run(conn_, declare.c_str(), params, PGRES_COMMAND_OK, what).status());
  // Each batch is requested before the previous one is handed to fn, so the
  // server produces it while fn runs.
  const std::string fetch = absl::StrCat("FETCH FORWARD ", kFetchRows, " FROM ", kCursor);
  auto request = [&] {
    return PQsendQueryParams(conn_, fetch.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 1
               ? absl::OkStatus()
               : PgError(conn_, nullptr, what);
  };
  HARMONIA_RETURN_IF_ERROR(request());
  for (;;) {
    Result batch(PQgetResult(conn_));
    // Read to the end of the command's results before anything else is sent.
    for (Result extra(PQgetResult(conn_)); extra != nullptr; extra.reset(PQgetResult(conn_))) {
    }
    if (batch == nullptr || PQresultStatus(batch.get()) != PGRES_TUPLES_OK) {
      return PgError(conn_, batch.get(), what);
    }
    const int n = PQntuples(batch.get());
    const bool more = n == kFetchRows;
    if (more) HARMONIA_RETURN_IF_ERROR(request());
    for (int i = 0; i < n; ++i) fn(batch.get(), i);
    if (!more) break;
  }
  return tx.Commit(what);
}

absl::StatusOr<int64_t> PostgresStore::CountRows(const char* sql) {
  HARMONIA_ASSIGN_OR_RETURN(Result r, Run(conn_, sql, Params(), PGRES_TUPLES_OK, "counting"));
  return IntAt(r.get(), 0, 0);
}

absl::StatusOr<WriteStats> PostgresStore::UpsertActivities(
    const std::vector<ActivityRow>& all_rows) {
  std::vector<const ActivityRow*> rows = LastPerKey(all_rows);
  if (rows.empty()) return WriteStats{};
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx,
                            Transaction::Begin(conn_, "BEGIN", "an activity import"));
  HARMONIA_ASSIGN_OR_RETURN(std::optional<std::string> unknown, FirstUnknownCustomer(rows));
  if (unknown) {
    return absl::FailedPreconditionError(
        absl::StrCat("activity of unknown customer '", *unknown, "': import customers first"));
  }
  const int64_t n = static_cast<int64_t>(rows.size());
  HARMONIA_ASSIGN_OR_RETURN(const int64_t written, BulkWrite(conn_, kActivities, std::move(rows)));
  HARMONIA_RETURN_IF_ERROR(tx.Commit("an activity import"));
  return WriteStats{.written = written, .unchanged = n - written};
}

absl::Status PostgresStore::ScanActivityTotals(
    const std::string& country, const std::string& therapy_area, int32_t from_day, int32_t to_day,
    const std::function<void(const std::string&, const ActivityCounts&)>& fn) {
  ActivityTotals totals(fn);
  HARMONIA_RETURN_IF_ERROR(ForEachRow(
      "SELECT a.customer_id, a.activity, a.count FROM activities a JOIN customers c ON "
      "c.customer_id = a.customer_id WHERE c.country = $1 AND a.therapy_area = $2 AND a.day >= "
      "$3 AND a.day < $4 ORDER BY a.customer_id",
      Params().Text(country).Text(therapy_area).Int(from_day).Int(to_day), "reading activities",
      [&](const PGresult* r, int i) {
        totals.Add(TextAt(r, i, 0), TextAt(r, i, 1), IntAt(r, i, 2));
      }));
  totals.Flush();
  return absl::OkStatus();
}

absl::StatusOr<AlignmentStats> PostgresStore::ReplaceTerritories(
    const std::vector<TerritoryRow>& all_rows) {
  const std::vector<const TerritoryRow*> rows = LastPerKey(all_rows);
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx,
                            Transaction::Begin(conn_, "BEGIN", "a territory import"));
  // Each customer's country, in one query.
  std::vector<std::string> ids;
  for (const TerritoryRow* r : rows) ids.push_back(r->customer_id);
  HARMONIA_ASSIGN_OR_RETURN(
      Result found,
      Run(conn_,
          "SELECT u.id, c.country FROM unnest($1::text[]) AS u (id) LEFT JOIN customers c ON "
          "c.customer_id = u.id",
          Params().TextArray(ids), PGRES_TUPLES_OK, "reading customers"));
  absl::flat_hash_map<std::string, std::string> country_of;
  for (int i = 0; i < PQntuples(found.get()); ++i) {
    if (PQgetisnull(found.get(), i, 1)) continue;
    country_of[TextAt(found.get(), i, 0)] = TextAt(found.get(), i, 1);
  }
  for (const TerritoryRow* r : rows) {
    if (!country_of.contains(r->customer_id)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "territory of unknown customer '", r->customer_id, "': import customers first"));
    }
  }
  std::vector<std::string> countries;
  for (const auto& [id, country] : country_of) countries.push_back(country);
  std::sort(countries.begin(), countries.end());
  countries.erase(std::unique(countries.begin(), countries.end()), countries.end());
  HARMONIA_ASSIGN_OR_RETURN(
      Result held,
      Run(conn_,
          "SELECT country, territory, customer_id, rep FROM territories WHERE country = "
          "ANY($1::text[])",
          Params().TextArray(countries), PGRES_TUPLES_OK, "reading territories"));
  std::map<AlignmentKey, std::string> stored;
  for (int i = 0; i < PQntuples(held.get()); ++i) {
    stored[{TextAt(held.get(), i, 0), TextAt(held.get(), i, 1), TextAt(held.get(), i, 2)}] =
        TextAt(held.get(), i, 3);
  }
  const AlignmentDiff diff = DiffAlignment(rows, country_of, std::move(stored));
  if (!diff.put.empty()) {
    std::vector<std::string> c, t, id, rep;
    for (const auto& [r, country] : diff.put) {
      c.push_back(country);
      t.push_back(r->territory);
      id.push_back(r->customer_id);
      rep.push_back(r->rep);
    }
    HARMONIA_RETURN_IF_ERROR(
        Run(conn_,
            "INSERT INTO territories (country, territory, customer_id, rep) SELECT * FROM "
            "unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT (country, "
            "territory, customer_id) DO UPDATE SET rep = excluded.rep",
            Params().TextArray(c).TextArray(t).TextArray(id).TextArray(rep), PGRES_COMMAND_OK,
            "writing territories")
            .status());
  }
  if (!diff.remove.empty()) {  // pairs the new alignment no longer holds
    std::vector<std::string> c, t, id;
    for (const AlignmentKey& key : diff.remove) {
      c.push_back(std::get<0>(key));
      t.push_back(std::get<1>(key));
      id.push_back(std::get<2>(key));
    }
    HARMONIA_RETURN_IF_ERROR(
        Run(conn_,
            "DELETE FROM territories x USING unnest($1::text[], $2::text[], $3::text[]) AS k (c, "
            "t, id) WHERE x.country = k.c AND x.territory = k.t AND x.customer_id = k.id",
            Params().TextArray(c).TextArray(t).TextArray(id), PGRES_COMMAND_OK,
            "writing territories")
            .status());
  }
  HARMONIA_RETURN_IF_ERROR(tx.Commit("a territory import"));
  return diff.stats;
}

absl::StatusOr<std::vector<TerritoryRow>> PostgresStore::ListTerritories(const std::string& country,
                                                                         const std::string& rep) {
  HARMONIA_ASSIGN_OR_RETURN(
      Result r, Run(conn_,
                    "SELECT territory, customer_id, rep FROM territories WHERE country = $1 AND "
                    "($2 = '' OR rep = $2) ORDER BY territory, customer_id",
                    Params().Text(country).Text(rep), PGRES_TUPLES_OK, "reading territories"));
  std::vector<TerritoryRow> out;
  out.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    out.push_back({TextAt(r.get(), i, 1), TextAt(r.get(), i, 0), TextAt(r.get(), i, 2), country});
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> PostgresStore::CustomerIds() {
  std::vector<std::string> ids;
  HARMONIA_RETURN_IF_ERROR(ForEachRow(
      "SELECT customer_id FROM customers ORDER BY customer_id", Params(), "listing customers",
      [&](const PGresult* r, int i) { ids.push_back(TextAt(r, i, 0)); }));
  return ids;
}

absl::StatusOr<std::vector<CustomerRow>> PostgresStore::ListCustomers(const std::string& country) {
  std::vector<CustomerRow> out;
  HARMONIA_RETURN_IF_ERROR(ForEachRow(
      "SELECT customer_id, customer_type, specialty, name FROM customers WHERE country = $1 "
      "ORDER BY customer_id",
      Params().Text(country), "listing a country's customers", [&](const PGresult* r, int i) {
        out.push_back(
            {TextAt(r, i, 0), country, TextAt(r, i, 1), TextAt(r, i, 2), TextAt(r, i, 3)});
      }));
  return out;
}

absl::StatusOr<int64_t> PostgresStore::CountCustomers() {
  return CountRows("SELECT COUNT(*) FROM customers");
}

absl::StatusOr<int64_t> PostgresStore::CountInputs() {
  return CountRows("SELECT COUNT(*) FROM inputs");
}

absl::StatusOr<std::optional<CustomerRow>> PostgresStore::GetCustomer(const std::string& id) {
  HARMONIA_ASSIGN_OR_RETURN(
      Result r, Run(conn_,
                    "SELECT country, customer_type, specialty, name FROM customers WHERE "
                    "customer_id = $1",
                    Params().Text(id), PGRES_TUPLES_OK, "reading a customer"));
  if (PQntuples(r.get()) == 0) return std::optional<CustomerRow>();
  const PGresult* q = r.get();
  return std::optional<CustomerRow>(
      CustomerRow{id, TextAt(q, 0, 0), TextAt(q, 0, 1), TextAt(q, 0, 2), TextAt(q, 0, 3)});
}

absl::Status PostgresStore::InsertRuleSet(const RuleSetRecord& r, const char* what) {
  return Run(conn_,
             "INSERT INTO rule_sets (therapy_area, version, source_text, checksum, published_by, "
             "published_at) VALUES ($1, $2, $3, $4, $5, $6)",
             Params()
                 .Text(r.therapy_area)
                 .Int(r.version)
                 .Text(r.source_text)
                 .Text(r.checksum)
                 .Text(r.published_by)
                 .Int(r.published_at_unix),
             PGRES_COMMAND_OK, what)
      .status();
}

absl::Status PostgresStore::PublishRuleSet(const RuleSetRecord& r) {
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(conn_, "BEGIN", "a publish"));
  // Publishers queue here (readers do not), so "versions increase" holds in
  // commit order, as with SQLite's single writer.
  HARMONIA_RETURN_IF_ERROR(
      Exec(conn_, "LOCK TABLE rule_sets IN SHARE ROW EXCLUSIVE MODE", "publishing"));
  HARMONIA_ASSIGN_OR_RETURN(
      Result latest,
      Run(conn_, "SELECT COALESCE(MAX(version), 0) FROM rule_sets WHERE therapy_area = $1",
          Params().Text(r.therapy_area), PGRES_TUPLES_OK, "publishing"));
  const int64_t current = IntAt(latest.get(), 0, 0);
  if (r.version <= current) {
    return VersionMustIncrease(r, current);
  }
  HARMONIA_RETURN_IF_ERROR(InsertRuleSet(r, "publishing"));
  HARMONIA_RETURN_IF_ERROR(InsertAudit(PublishAudit(r, current)).status());
  return tx.Commit("a publish");
}

absl::StatusOr<bool> PostgresStore::CopyRuleSet(const RuleSetRecord& r, const std::string& by,
                                                int64_t at_unix) {
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(conn_, "BEGIN", "a rule-set copy"));
  HARMONIA_RETURN_IF_ERROR(
      Exec(conn_, "LOCK TABLE rule_sets IN SHARE ROW EXCLUSIVE MODE", "copying a rule set"));
  HARMONIA_ASSIGN_OR_RETURN(
      Result held,
      Run(conn_, "SELECT checksum FROM rule_sets WHERE therapy_area = $1 AND version = $2",
          Params().Text(r.therapy_area).Int(r.version), PGRES_TUPLES_OK, "copying a rule set"));
  if (PQntuples(held.get()) > 0) {
    const std::string stored = TextAt(held.get(), 0, 0);
    if (stored != r.checksum) return CopyConflict(r, stored);
    return false;
  }
  HARMONIA_RETURN_IF_ERROR(InsertRuleSet(r, "copying a rule set"));
  HARMONIA_RETURN_IF_ERROR(InsertAudit(CopyAudit(r, by, at_unix)).status());
  HARMONIA_RETURN_IF_ERROR(tx.Commit("a rule-set copy"));
  return true;
}

absl::StatusOr<std::optional<RuleSetRecord>> PostgresStore::GetRuleSet(
    const std::string& therapy_area, std::optional<int64_t> version) {
  Params params;
  params.Text(therapy_area);
  if (version) params.Int(*version);
  HARMONIA_ASSIGN_OR_RETURN(
      Result r,
      Run(conn_,
          version ? "SELECT version, source_text, checksum, published_by, published_at FROM "
                    "rule_sets WHERE therapy_area = $1 AND version = $2"
                  : "SELECT version, source_text, checksum, published_by, published_at FROM "
                    "rule_sets WHERE therapy_area = $1 ORDER BY version DESC LIMIT 1",
          params, PGRES_TUPLES_OK, "reading a rule set"));
  if (PQntuples(r.get()) == 0) return std::optional<RuleSetRecord>();
  const PGresult* q = r.get();
  return std::optional<RuleSetRecord>(RuleSetRecord{therapy_area, IntAt(q, 0, 0), TextAt(q, 0, 1),
                                                    TextAt(q, 0, 2), TextAt(q, 0, 3),
                                                    IntAt(q, 0, 4)});
}

absl::StatusOr<std::vector<RuleSetRecord>> PostgresStore::ListRuleSets(
    const std::string& therapy_area) {
  std::vector<RuleSetRecord> out;
  HARMONIA_RETURN_IF_ERROR(ForEachRow(
      "SELECT therapy_area, version, checksum, published_by, published_at FROM rule_sets "
      "WHERE $1 = '' OR therapy_area = $1 ORDER BY therapy_area COLLATE \"C\", version",
      Params().Text(therapy_area), "listing rule sets", [&](const PGresult* r, int i) {
        out.push_back(RuleSetRecord{TextAt(r, i, 0), IntAt(r, i, 1), "", TextAt(r, i, 2),
                                    TextAt(r, i, 3), IntAt(r, i, 4)});
      }));
  return out;
}

absl::StatusOr<std::vector<InputRow>> PostgresStore::CustomerInputs(
    const std::string& customer_id, const std::string& therapy_area) {
  std::vector<InputRow> out;
  HARMONIA_RETURN_IF_ERROR(ForEachRow(
      "SELECT input_id, source, as_of, is_metric, value, seq FROM inputs WHERE customer_id = $1 "
      "AND therapy_area = $2 ORDER BY is_metric, input_id COLLATE \"C\", source COLLATE \"C\", "
      "as_of, seq",
      Params().Text(customer_id).Text(therapy_area), "reading a customer's inputs",
      [&](const PGresult* r, int i) {
        out.push_back({customer_id, therapy_area, BoolAt(r, i, 3), TextAt(r, i, 0), TextAt(r, i, 4),
                       TextAt(r, i, 1), static_cast<int32_t>(IntAt(r, i, 2)), IntAt(r, i, 5)});
      }));
  return out;
}

absl::StatusOr<std::vector<std::string>> PostgresStore::CustomersInScope(
    const std::string& country, const std::vector<std::string>& types) {
  std::vector<std::string> ids;
  HARMONIA_RETURN_IF_ERROR(
      ForEachRow("SELECT customer_id FROM customers WHERE country = $1 AND customer_type = "
                 "ANY ($2) ORDER BY customer_id",
                 Params().Text(country).TextArray(types), "reading customers in scope",
                 [&](const PGresult* r, int i) { ids.push_back(TextAt(r, i, 0)); }));
  return ids;
}

absl::Status PostgresStore::ScanInputs(const std::string& country, const std::string& therapy_area,
                                       const std::function<void(const InputRow&)>& fn) {
  InputRow row;
  row.therapy_area = therapy_area;
  return ForEachRow(
      "SELECT i.customer_id, i.input_id, i.source, i.as_of, i.is_metric, i.value, i.seq FROM "
      "inputs i JOIN customers c ON c.customer_id = i.customer_id WHERE c.country = $1 AND "
      "i.therapy_area = $2",
      Params().Text(country).Text(therapy_area), "reading inputs", [&](const PGresult* r, int i) {
        row.customer_id.assign(PQgetvalue(r, i, 0), static_cast<size_t>(PQgetlength(r, i, 0)));
        row.input_id.assign(PQgetvalue(r, i, 1), static_cast<size_t>(PQgetlength(r, i, 1)));
        row.source.assign(PQgetvalue(r, i, 2), static_cast<size_t>(PQgetlength(r, i, 2)));
        row.as_of = static_cast<int32_t>(IntAt(r, i, 3));
        row.is_metric = BoolAt(r, i, 4);
        row.value.assign(PQgetvalue(r, i, 5), static_cast<size_t>(PQgetlength(r, i, 5)));
        row.seq = IntAt(r, i, 6);
        fn(row);
      });
}

absl::StatusOr<int64_t> PostgresStore::CommitCycle(const CycleRecord& c,
                                                   const std::vector<AssignmentRow>& rows,
                                                   const std::vector<RefinementUpdate>& updates) {
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(conn_, "BEGIN", "a cycle commit"));
  // Commits of one market queue here (those of others do not), so each one
  // reads the one before it as its previous cycle, and the market's cycle
  // ids increase in commit order, as with SQLite's single writer. The read
  // is a statement of its own: a statement sees what was committed when it
  // started, which must be after the wait.
  HARMONIA_RETURN_IF_ERROR(Run(conn_, "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))",
                               Params().Text(c.country).Text(c.therapy_area), PGRES_TUPLES_OK,
                               "committing a cycle")
                               .status());
  HARMONIA_ASSIGN_OR_RETURN(
      Result previous,
      Run(conn_,
          "SELECT COALESCE(MAX(cycle_id), 0) FROM cycles WHERE country = $1 AND therapy_area = $2",
          Params().Text(c.country).Text(c.therapy_area), PGRES_TUPLES_OK, "committing a cycle"));
  const int64_t previous_cycle_id = IntAt(previous.get(), 0, 0);
  if (c.based_on_cycle_id >= 0 && c.based_on_cycle_id != previous_cycle_id) {
    return CycleRace(c, previous_cycle_id);
  }
  // The refinements are checked before the cycle is inserted: a commit the
  // lifecycle refuses does not use up a cycle id (SQLite's ids have no gaps).
  HARMONIA_ASSIGN_OR_RETURN(std::vector<RefinementRecord> refinements,
                            LockRefinements(updates, c.committed_at_unix));
  HARMONIA_ASSIGN_OR_RETURN(
      Result inserted,
      Run(conn_,
          "INSERT INTO cycles (country, therapy_area, as_of, rule_set_version, options, "
          "country_config, customers, summary, committed_at, status, quality, run_by, period) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING cycle_id",
          Params()
              .Text(c.country)
              .Text(c.therapy_area)
              .Int(c.as_of)
              .Int(c.rule_set_version)
              .Text(c.options)
              .Text(c.country_config)
              .Int(static_cast<int64_t>(rows.size()))
              .Text(c.summary)
              .Int(c.committed_at_unix)
              .Text(c.status)
              .Text(c.quality)
              .Text(c.run_by)
              .Int(c.period),
          PGRES_TUPLES_OK, "committing a cycle"));
  const int64_t cycle_id = IntAt(inserted.get(), 0, 0);
  // A re-run replaces its period's result.
  HARMONIA_RETURN_IF_ERROR(
      Run(conn_,
          "UPDATE cycles SET status = 'replaced' WHERE country = $1 AND "
          "therapy_area = $2 AND period = $3 AND cycle_id < $4 AND status = "
          "'committed'",
          Params().Text(c.country).Text(c.therapy_area).Int(c.period).Int(cycle_id),
          PGRES_COMMAND_OK, "committing a cycle")
          .status());
  CopyIn copy(conn_);
  HARMONIA_RETURN_IF_ERROR(
      copy.Start("COPY assignments (cycle_id, customer_id, segment, tier, calls, remote, email, "
                 "events, decided_by, rule_id, rule_set_version, inputs_digest, scores, tags, "
                 "plan_calls, plan_remote, plan_email, plan_events, objective) FROM STDIN",
                 "committing assignments"));
  for (const AssignmentRow& r : rows) {
    copy.Int(cycle_id);
    copy.Text(r.customer_id);
    copy.Text(r.segment);
    copy.Text(r.tier);
    copy.Int(r.calls);
    copy.Int(r.remote);
    copy.Int(r.email);
    copy.Int(r.events);
    copy.Text(r.decided_by);
    copy.Text(r.rule_id);
    copy.Int(r.rule_set_version);
    copy.Text(r.inputs_digest);
    copy.Text(r.scores);
    copy.Text(r.tags);
    copy.Int(r.plan_calls);
    copy.Int(r.plan_remote);
    copy.Int(r.plan_email);
    copy.Int(r.plan_events);
    copy.Double(r.objective);
    HARMONIA_RETURN_IF_ERROR(copy.EndRow());
  }
  HARMONIA_RETURN_IF_ERROR(copy.Finish().status());
  HARMONIA_RETURN_IF_ERROR(
      WriteRefinements(updates, cycle_id, c.committed_at_unix, std::move(refinements)));
  CycleRecord committed = c;
  committed.cycle_id = cycle_id;
  HARMONIA_RETURN_IF_ERROR(InsertAudit(CycleAudit(committed, static_cast<int64_t>(rows.size()),
                                                  previous_cycle_id, updates))
                               .status());
  HARMONIA_RETURN_IF_ERROR(tx.Commit("a cycle"));
  return cycle_id;
}

absl::StatusOr<std::vector<RefinementRecord>> PostgresStore::LockRefinements(
    const std::vector<RefinementUpdate>& updates, int64_t at_unix) {
  if (updates.empty()) return std::vector<RefinementRecord>();
  constexpr std::string_view kWhat = "committing refinement statuses";
  std::vector<int64_t> ids;
  ids.reserve(updates.size());
  for (const RefinementUpdate& u : updates) ids.push_back(u.refinement_id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  // One read for all, locking the rows in id order (concurrent commits never
  // deadlock): a decision taken meanwhile (a withdrawal, say) is waited for
  // and seen, never overwritten.
  const std::string read = absl::StrCat(
      kSelectRefinement, " WHERE refinement_id = ANY ($1) ORDER BY refinement_id FOR UPDATE");
  HARMONIA_ASSIGN_OR_RETURN(
      Result found, Run(conn_, read.c_str(), Params().IntArray(ids), PGRES_TUPLES_OK, kWhat));
  std::vector<RefinementRecord> records;
  records.reserve(static_cast<size_t>(PQntuples(found.get())));
  for (int i = 0; i < PQntuples(found.get()); ++i) {
    records.push_back(ReadRefinement(found.get(), i));
  }
  // Checked on a copy, in the caller's order as SQLite applies them: the
  // first unknown or forbidden update fails the commit.
  std::vector<RefinementRecord> checked = records;
  for (const RefinementUpdate& u : updates) {
    RefinementRecord* r = FindRefinement(checked, u.refinement_id);
    if (r == nullptr) {
      return absl::NotFoundError(absl::StrCat("cycle commit: no refinement ", u.refinement_id));
    }
    HARMONIA_RETURN_IF_ERROR(ApplyUpdate(u, 0, at_unix, r));
  }
  return records;
}

absl::Status PostgresStore::WriteRefinements(const std::vector<RefinementUpdate>& updates,
                                             int64_t cycle_id, int64_t at_unix,
                                             std::vector<RefinementRecord> records) {
  if (updates.empty()) return absl::OkStatus();
  constexpr std::string_view kWhat = "committing refinement statuses";
  for (const RefinementUpdate& u : updates) {
    RefinementRecord* r = FindRefinement(records, u.refinement_id);
    if (r == nullptr) {
      return absl::NotFoundError(absl::StrCat("cycle commit: no refinement ", u.refinement_id));
    }
    HARMONIA_RETURN_IF_ERROR(ApplyUpdate(u, cycle_id, at_unix, r));
  }
  // One write for all: the new states through COPY (text of any size and
  // content, as everywhere else), then one UPDATE.
  HARMONIA_RETURN_IF_ERROR(Exec(conn_,
                                "CREATE TEMP TABLE refinements_in (refinement_id BIGINT NOT NULL, "
                                "status TEXT COLLATE \"C\" NOT NULL, status_reason TEXT COLLATE "
                                "\"C\" NOT NULL, updated_at BIGINT NOT NULL, cycles_applied "
                                "BIGINT NOT NULL, last_cycle_id BIGINT NOT NULL, first_cycle_id "
                                "BIGINT NOT NULL) ON COMMIT DROP",
                                kWhat));
  {
    CopyIn copy(conn_);
    HARMONIA_RETURN_IF_ERROR(copy.Start(
        "COPY refinements_in (refinement_id, status, status_reason, updated_at, cycles_applied, "
        "last_cycle_id, first_cycle_id) FROM STDIN",
        kWhat));
    for (const RefinementRecord& r : records) {
      copy.Int(r.refinement_id);
      copy.Text(RefinementStatusName(r.status));
      copy.Text(r.status_reason);
      copy.Int(r.updated_at_unix);
      copy.Int(r.cycles_applied);
      copy.Int(r.last_cycle_id);
      copy.Int(r.first_cycle_id);
      HARMONIA_RETURN_IF_ERROR(copy.EndRow());
    }
    HARMONIA_RETURN_IF_ERROR(copy.Finish().status());
  }
  return Run(conn_,
             "UPDATE refinements r SET status = u.status, status_reason = u.status_reason, "
             "updated_at = u.updated_at, cycles_applied = u.cycles_applied, last_cycle_id = "
             "u.last_cycle_id, first_cycle_id = u.first_cycle_id FROM refinements_in u WHERE "
             "r.refinement_id = u.refinement_id",
             Params(), PGRES_COMMAND_OK, kWhat)
      .status();
}

absl::StatusOr<std::optional<CycleRecord>> PostgresStore::GetCycle(
    const std::string& country, const std::string& therapy_area, std::optional<int64_t> cycle_id) {
  Params params;
  params.Text(country).Text(therapy_area);
  if (cycle_id) params.Int(*cycle_id);
  const std::string sql =
      absl::StrCat(kCycleColumns, cycle_id ? " WHERE country = $1 AND therapy_area = $2 AND "
                                             "cycle_id = $3"
                                           : " WHERE country = $1 AND therapy_area = $2 ORDER BY "
                                             "cycle_id DESC LIMIT 1");
  HARMONIA_ASSIGN_OR_RETURN(Result r,
                            Run(conn_, sql.c_str(), params, PGRES_TUPLES_OK, "reading a cycle"));
  if (PQntuples(r.get()) == 0) return std::optional<CycleRecord>();
  return std::optional<CycleRecord>(ReadCycle(r.get(), 0));
}

absl::StatusOr<std::vector<CycleRecord>> PostgresStore::LatestCycles(
    const std::string& therapy_area) {
  const std::string sql =
      absl::StrCat(kCycleColumns,
                   " WHERE cycle_id IN (SELECT MAX(cycle_id) FROM cycles "
                   "WHERE therapy_area = $1 GROUP BY country) ORDER BY country");
  HARMONIA_ASSIGN_OR_RETURN(Result r, Run(conn_, sql.c_str(), Params().Text(therapy_area),
                                          PGRES_TUPLES_OK, "listing the latest cycles"));
  std::vector<CycleRecord> out;
  out.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(ReadCycle(r.get(), i));
  return out;
}

absl::StatusOr<std::vector<CycleRecord>> PostgresStore::ListCycles(
    const std::string& country, const std::string& therapy_area) {
  const std::string sql =
      absl::StrCat(kCycleColumns, " WHERE country = $1 AND therapy_area = $2 ORDER BY cycle_id");
  HARMONIA_ASSIGN_OR_RETURN(
      Result r, Run(conn_, sql.c_str(), Params().Text(country).Text(therapy_area), PGRES_TUPLES_OK,
                    "listing cycles"));
  std::vector<CycleRecord> out;
  out.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(ReadCycle(r.get(), i));
  return out;
}

absl::StatusOr<std::vector<AssignmentRow>> PostgresStore::GetAssignments(int64_t cycle_id) {
  std::vector<AssignmentRow> out;
  const std::string sql =
      absl::StrCat(kAssignmentColumns, " WHERE cycle_id = $1 ORDER BY customer_id");
  HARMONIA_RETURN_IF_ERROR(
      ForEachRow(sql.c_str(), Params().Int(cycle_id), "reading assignments",
                 [&](const PGresult* q, int i) { out.push_back(ReadAssignment(q, i)); }));
  return out;
}

absl::StatusOr<std::optional<AssignmentRow>> PostgresStore::GetAssignment(
    int64_t cycle_id, const std::string& customer_id) {
  const std::string sql =
      absl::StrCat(kAssignmentColumns, " WHERE cycle_id = $1 AND customer_id = $2");
  HARMONIA_ASSIGN_OR_RETURN(
      Result r, Run(conn_, sql.c_str(), Params().Int(cycle_id).Text(customer_id), PGRES_TUPLES_OK,
                    "reading an assignment"));
  if (PQntuples(r.get()) == 0) return std::optional<AssignmentRow>();
  return std::optional<AssignmentRow>(ReadAssignment(r.get(), 0));
}

absl::StatusOr<std::vector<PostgresStore::Submitted>> PostgresStore::SubmitRefinements(
    const std::vector<RefinementRecord>& rows) {
  HARMONIA_RETURN_IF_ERROR(CheckSubmission(rows));
  if (rows.empty()) return std::vector<Submitted>();
  constexpr std::string_view kWhat = "submitting refinements";
  // The first row of each (country, therapy area, request id) is the one to
  // store (as SQLite does, later ones find it stored); first[i] is that row's
  // index for row i.
  using RequestKey = std::tuple<absl::string_view, absl::string_view, absl::string_view>;
  absl::flat_hash_map<RequestKey, size_t> first_of;
  first_of.reserve(rows.size());
  std::vector<size_t> first(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    first[i] =
        first_of
            .try_emplace(RequestKey{rows[i].country, rows[i].therapy_area, rows[i].request_id}, i)
            .first->second;
  }
  auto row_of = [&](const std::string& country, const std::string& ta, const std::string& id) {
    return first_of.at(RequestKey{country, ta, id});
  };
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx,
                            Transaction::Begin(conn_, "BEGIN", "a refinement submission"));
  // The audit lock first, not at the first audit entry: a submitter holding
  // it never waits for another's uncommitted request id (which would wait
  // for the lock in turn: a deadlock), and submissions queue as SQLite's do.
  // It also covers the audit rows copied below, which do not take it again.
  HARMONIA_RETURN_IF_ERROR(Run(conn_, "SELECT pg_advisory_xact_lock($1)", Params().Int(kAuditLock),
                               PGRES_TUPLES_OK, kWhat)
                               .status());
  // One write for all: the rows to store (with their input position) through
  // COPY, then one INSERT … SELECT in input order, so refinement ids increase
  // in input order; a request id already stored is skipped.
  HARMONIA_RETURN_IF_ERROR(Exec(
      conn_,
      "CREATE TEMP TABLE submissions_in (position BIGINT NOT NULL, request_id TEXT COLLATE \"C\" "
      "NOT NULL, country TEXT COLLATE \"C\" NOT NULL, therapy_area TEXT COLLATE \"C\" NOT NULL, "
      "customer_id TEXT COLLATE \"C\" NOT NULL, segment TEXT COLLATE \"C\" NOT NULL, calls_delta "
      "BIGINT NOT NULL, reason TEXT COLLATE \"C\" NOT NULL, comment TEXT COLLATE \"C\" NOT NULL, "
      "submitted_by TEXT COLLATE \"C\" NOT NULL, submitted_at BIGINT NOT NULL, status TEXT COLLATE "
      "\"C\" NOT NULL, status_reason TEXT COLLATE \"C\" NOT NULL, decided_by TEXT COLLATE \"C\" "
      "NOT NULL) ON COMMIT DROP",
      kWhat));
  {
    CopyIn copy(conn_);
    HARMONIA_RETURN_IF_ERROR(copy.Start(
        "COPY submissions_in (position, request_id, country, therapy_area, customer_id, segment, "
        "calls_delta, reason, comment, submitted_by, submitted_at, status, status_reason, "
        "decided_by) FROM STDIN",
        kWhat));
    for (size_t i = 0; i < rows.size(); ++i) {
      if (first[i] != i) continue;
      const RefinementRecord& r = rows[i];
      copy.Int(static_cast<int64_t>(i));
      copy.Text(r.request_id);
      copy.Text(r.country);
      copy.Text(r.therapy_area);
      copy.Text(r.customer_id);
      copy.Text(r.segment);
      copy.Int(r.calls_delta);
      copy.Text(r.reason);
      copy.Text(r.comment);
      copy.Text(r.submitted_by);
      copy.Int(r.submitted_at_unix);
      copy.Text(RefinementStatusName(r.status));
      copy.Text(r.status_reason);
      copy.Text(r.decided_by);
      HARMONIA_RETURN_IF_ERROR(copy.EndRow());
    }
    HARMONIA_RETURN_IF_ERROR(copy.Finish().status());
  }
  HARMONIA_ASSIGN_OR_RETURN(
      Result inserted,
      Run(conn_,
          "INSERT INTO refinements (request_id, country, therapy_area, customer_id, segment, "
          "calls_delta, reason, comment, submitted_by, submitted_at, status, status_reason, "
          "decided_by, updated_at, cycles_applied, last_cycle_id) SELECT request_id, country, "
          "therapy_area, customer_id, segment, calls_delta, reason, comment, submitted_by, "
          "submitted_at, status, status_reason, decided_by, submitted_at, 0, 0 FROM "
          "submissions_in ORDER BY position ON CONFLICT (country, therapy_area, request_id) DO "
          "NOTHING RETURNING refinement_id, country, therapy_area, request_id",
          Params(), PGRES_TUPLES_OK, kWhat));
  std::vector<Submitted> out(rows.size());
  std::vector<bool> stored(rows.size(), false);
  for (int k = 0; k < PQntuples(inserted.get()); ++k) {
    const size_t i = row_of(TextAt(inserted.get(), k, 1), TextAt(inserted.get(), k, 2),
                            TextAt(inserted.get(), k, 3));
    Submitted& s = out[i];
    s.record = rows[i];
    s.record.refinement_id = IntAt(inserted.get(), k, 0);
    s.record.updated_at_unix = s.record.submitted_at_unix;
    s.record.cycles_applied = 0;
    s.record.last_cycle_id = 0;
    stored[i] = true;
  }
  // The request ids the INSERT skipped, stored before (a retry's original,
  // or a racing submitter's, which committed before this one got the audit
  // lock): their records as stored, in one read.
  std::vector<std::string> countries, tas, known;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (first[i] == i && !stored[i]) {
      countries.push_back(rows[i].country);
      tas.push_back(rows[i].therapy_area);
      known.push_back(rows[i].request_id);
    }
  }
  if (!known.empty()) {
    const std::string find = absl::StrCat(
        kSelectRefinement,
        " WHERE (country, therapy_area, request_id) IN (SELECT * FROM unnest($1::text[], "
        "$2::text[], $3::text[]))");
    HARMONIA_ASSIGN_OR_RETURN(
        Result found,
        Run(conn_, find.c_str(), Params().TextArray(countries).TextArray(tas).TextArray(known),
            PGRES_TUPLES_OK, kWhat));
    for (int k = 0; k < PQntuples(found.get()); ++k) {
      RefinementRecord record = ReadRefinement(found.get(), k);
      const size_t i = row_of(record.country, record.therapy_area, record.request_id);
      out[i] = {std::move(record), true};
    }
    for (size_t i = 0; i < rows.size(); ++i) {
      if (first[i] == i && !stored[i] && !out[i].duplicate) {
        return absl::AbortedError(absl::StrCat("postgresql: submitting refinement ",
                                               rows[i].request_id, ": lost a race; retry"));
      }
    }
  }
  // A request id repeated in the batch: its later rows return its first's
  // record, as stored now.
  for (size_t i = 0; i < rows.size(); ++i) {
    if (first[i] != i) out[i] = {out[first[i]].record, true};
  }
  // The new rows' audit entries, in input order (audit ids increase with
  // refinement ids), under the audit lock taken above.
  std::vector<AuditEntry> audits;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (stored[i]) audits.push_back(SubmitAudit(out[i].record));
  }
  if (!audits.empty()) HARMONIA_RETURN_IF_ERROR(InsertAudits(audits).status());
  HARMONIA_RETURN_IF_ERROR(tx.Commit("a refinement submission"));
  return out;
}

absl::StatusOr<std::vector<RefinementRecord>> PostgresStore::ListRefinements(
    const std::string& country, const std::string& therapy_area,
    const std::vector<RefinementStatus>& statuses) {
  Params params;
  params.Text(country).Text(therapy_area);
  if (!statuses.empty()) {
    std::vector<std::string> names;
    names.reserve(statuses.size());
    for (const RefinementStatus s : statuses) names.emplace_back(RefinementStatusName(s));
    params.TextArray(names);
  }
  const std::string sql =
      absl::StrCat(kSelectRefinement, " WHERE country = $1 AND therapy_area = $2",
                   statuses.empty() ? "" : " AND status = ANY ($3)", " ORDER BY refinement_id");
  std::vector<RefinementRecord> out;
  HARMONIA_RETURN_IF_ERROR(
      ForEachRow(sql.c_str(), params, "listing refinements",
                 [&](const PGresult* q, int i) { out.push_back(ReadRefinement(q, i)); }));
  return out;
}

constexpr const char* kByRequestId =
    " WHERE country = $1 AND therapy_area = $2 AND request_id = $3";

absl::StatusOr<std::optional<RefinementRecord>> PostgresStore::GetRefinement(
    const std::string& country, const std::string& therapy_area, const std::string& request_id) {
  const std::string sql = absl::StrCat(kSelectRefinement, kByRequestId);
  HARMONIA_ASSIGN_OR_RETURN(
      Result r, Run(conn_, sql.c_str(), Params().Text(country).Text(therapy_area).Text(request_id),
                    PGRES_TUPLES_OK, "reading a refinement"));
  if (PQntuples(r.get()) == 0) return std::optional<RefinementRecord>();
  return std::optional<RefinementRecord>(ReadRefinement(r.get(), 0));
}

absl::StatusOr<RefinementRecord> PostgresStore::DecideRefinement(
    const std::string& country, const std::string& therapy_area, const std::string& request_id,
    RefinementStatus status, const std::string& reason, const std::string& by, int64_t at_unix) {
  HARMONIA_RETURN_IF_ERROR(CheckDecision(request_id, status));
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx,
                            Transaction::Begin(conn_, "BEGIN", "a refinement decision"));
  // Locked: a concurrent decision or cycle commit waits, then sees this one.
  const std::string sql = absl::StrCat(kSelectRefinement, kByRequestId, " FOR UPDATE");
  HARMONIA_ASSIGN_OR_RETURN(
      Result found,
      Run(conn_, sql.c_str(), Params().Text(country).Text(therapy_area).Text(request_id),
          PGRES_TUPLES_OK, "reading a refinement"));
  if (PQntuples(found.get()) == 0) return UnknownRefinement(country, therapy_area, request_id);
  const RefinementRecord before = ReadRefinement(found.get(), 0);
  if (!RefinementTransitionAllowed(before.status, status)) {
    return ForbiddenTransition(before, status);
  }
  RefinementRecord after = before;
  after.status = status;
  after.status_reason = reason;
  after.decided_by = by;
  after.updated_at_unix = at_unix;
  HARMONIA_RETURN_IF_ERROR(Run(conn_,
                               "UPDATE refinements SET status = $1, status_reason = $2, "
                               "decided_by = $3, updated_at = $4 WHERE refinement_id = $5",
                               Params()
                                   .Text(RefinementStatusName(status))
                                   .Text(reason)
                                   .Text(by)
                                   .Int(at_unix)
                                   .Int(after.refinement_id),
                               PGRES_COMMAND_OK, "deciding a refinement")
                               .status());
  HARMONIA_RETURN_IF_ERROR(InsertAudit(DecideAudit(before, after)).status());
  HARMONIA_RETURN_IF_ERROR(tx.Commit("a refinement decision"));
  return after;
}

absl::StatusOr<int64_t> PostgresStore::AppendAudit(const AuditEntry& entry) {
  HARMONIA_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(conn_, "BEGIN", "an audit entry"));
  HARMONIA_ASSIGN_OR_RETURN(const int64_t id, InsertAudit(entry));
  HARMONIA_RETURN_IF_ERROR(tx.Commit("an audit entry"));
  return id;
}

absl::StatusOr<AuditHead> PostgresStore::ReadAuditHead() {
  HARMONIA_ASSIGN_OR_RETURN(
      Result r, Run(conn_,
                    "SELECT last_id, last_hash, unchained_entries, unchained_last_id FROM "
                    "audit_head",
                    Params(), PGRES_TUPLES_OK, "reading the audit log's head"));
  if (PQntuples(r.get()) != 1) {
    return absl::DataLossError("postgresql: the audit log's head is missing");
  }
  return AuditHead{IntAt(r.get(), 0, 0), TextAt(r.get(), 0, 1), IntAt(r.get(), 0, 2),
                   IntAt(r.get(), 0, 3)};
}

absl::Status PostgresStore::MoveAuditHead(int64_t last_id, const std::string& last_hash) {
  return Run(conn_, "UPDATE audit_head SET last_id = $1, last_hash = $2",
             Params().Int(last_id).Text(last_hash), PGRES_COMMAND_OK, "writing the audit log")
      .status();
}

absl::StatusOr<int64_t> PostgresStore::InsertAudits(const std::vector<AuditEntry>& entries) {
  // The lock first, held to the end of the transaction: audit ids are taken
  // in commit order, and each entry chains to the head its predecessor left.
  HARMONIA_RETURN_IF_ERROR(Run(conn_, "SELECT pg_advisory_xact_lock($1)", Params().Int(kAuditLock),
                               PGRES_TUPLES_OK, "writing the audit log")
                               .status());
  HARMONIA_ASSIGN_OR_RETURN(const AuditHead head, ReadAuditHead());
  std::string hash = head.last_hash;
  int64_t last_id = 0;
  if (entries.size() == 1) {  // one round trip for the common case
    const AuditEntry& e = entries[0];
    hash = AuditHash(head.last_hash, e);
    HARMONIA_ASSIGN_OR_RETURN(
        Result r, Run(conn_,
                      "INSERT INTO audit_log (at, principal, action, object, state_before, "
                      "state_after, country, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                      "$8, $9) RETURNING audit_id",
                      Params()
                          .Int(e.at_unix)
                          .Text(e.principal)
                          .Text(e.action)
                          .Text(e.object)
                          .Text(e.before)
                          .Text(e.after)
                          .Text(e.country)
                          .Text(head.last_hash)
                          .Text(hash),
                      PGRES_TUPLES_OK, "writing the audit log"));
    last_id = IntAt(r.get(), 0, 0);
  } else {
    CopyIn audit(conn_);
    HARMONIA_RETURN_IF_ERROR(
        audit.Start("COPY audit_log (at, principal, action, object, state_before, state_after, "
                    "country, prev_hash, hash) FROM STDIN",
                    "writing the audit log"));
    for (const AuditEntry& e : entries) {
      const std::string prev_hash = std::exchange(hash, AuditHash(hash, e));
      audit.Int(e.at_unix);
      audit.Text(e.principal);
      audit.Text(e.action);
      audit.Text(e.object);
      audit.Text(e.before);
      audit.Text(e.after);
      audit.Text(e.country);
      audit.Text(prev_hash);
      audit.Text(hash);
      HARMONIA_RETURN_IF_ERROR(audit.EndRow());
    }
    HARMONIA_RETURN_IF_ERROR(audit.Finish().status());
    HARMONIA_ASSIGN_OR_RETURN(Result last, Run(conn_, "SELECT MAX(audit_id) FROM audit_log",
                                               Params(), PGRES_TUPLES_OK, "writing the audit log"));
    last_id = IntAt(last.get(), 0, 0);
  }
  HARMONIA_RETURN_IF_ERROR(MoveAuditHead(last_id, hash));
  return last_id;
}

absl::StatusOr<std::vector<AuditEntry>> PostgresStore::ListAudit(const AuditQuery& query) {
  Params params;
  params.Int(query.after_id)
      .Text(query.principal)
      .Text(query.action)
      .Text(query.country)
      .Int(query.since_unix)
      .Int(query.until_unix);
  // As SQLite reads LIMIT: a negative one is none.
  if (query.limit >= 0) params.Int(query.limit);
  const std::string sql = absl::StrCat(
      "SELECT audit_id, at, principal, action, object, state_before, state_after, country, "
      "prev_hash, hash FROM audit_log WHERE audit_id > $1 AND ($2 = '' OR principal = $2) AND "
      "($3 = '' OR action = $3 OR (right($3, 1) = '.' AND left(action, length($3)) = $3)) AND "
      "($4 = '' OR country = $4) AND at >= $5 AND at < $6 ORDER BY audit_id",
      query.limit >= 0 ? " LIMIT $7" : "");
  std::vector<AuditEntry> out;
  HARMONIA_RETURN_IF_ERROR(
      ForEachRow(sql.c_str(), params, "reading the audit log", [&](const PGresult* q, int i) {
        out.push_back(AuditEntry{IntAt(q, i, 0), IntAt(q, i, 1), TextAt(q, i, 2), TextAt(q, i, 3),
                                 TextAt(q, i, 4), TextAt(q, i, 5), TextAt(q, i, 6), TextAt(q, i, 7),
                                 TextAt(q, i, 8), TextAt(q, i, 9)});
      }));
  return out;
}

absl::StatusOr<AuditHead> PostgresStore::GetAuditHead() { return ReadAuditHead(); }

absl::Status PostgresStore::Probe() {
  HARMONIA_ASSIGN_OR_RETURN(Result r, Run(conn_, "SELECT current_setting('transaction_read_only')",
                                          Params(), PGRES_TUPLES_OK, "a health probe"));
  if (TextAt(r.get(), 0, 0) == "on") {
    return absl::UnavailableError(
        absl::StrCat("postgresql: ", display_url_, ": the server is read-only (a standby?)"));
  }
  return absl::OkStatus();
}

}  // namespace harmonia::store::internal
