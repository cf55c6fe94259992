// Start here: the harmonized customer store (docs/store.md).
//
// One interface, two real backends chosen by URL:
//   sqlite:PATH              the embedded default: one file, WAL journal
//   postgresql://…           production (libpq; postgres:// too): a libpq
//                            connection URI, e.g. postgresql://USER@HOST:PORT/DB
// Both pass the same contract suite (store_test.cc) and behave alike: same
// results, same orders (ids compare bytewise), same error codes and messages
// for the errors documented below.
//
// The store holds customers, their answers and metrics (raw, as imported:
// validation against a rule set happens when a cycle selects inputs),
// published rule-set versions, committed cycles with their assignments and
// quality figures, field refinements with their lifecycle, and an
// append-only audit log. Every mutation that the audit log records (publish,
// refinement submitted or decided, cycle) is written in the same transaction
// as its audit entry: there is never a change without its entry.
//
// Errors: absl::Status codes per STYLE.md — InvalidArgument (bad URL or
// rows, e.g. text that is not UTF-8 for PostgreSQL), NotFound,
// FailedPrecondition (a store newer than this binary, a version that does
// not increase, a broken key constraint), Aborted (a lost race: PostgreSQL
// serialization failure or deadlock — retry), Unavailable (store trouble
// that an operator or time fixes: busy/locked, server unreachable or shutting
// down, connection lost, a file or database role that may not write, a full
// disk, an I/O error), DataLoss (corrupt file or index), Internal (anything
// else from the database). A caller's permissions are never the store's
// business: it does not answer PermissionDenied. Database errors start
// with the backend ("sqlite: …", "postgresql: …"); a URL in a message never
// shows its password.
//
// Thread-safety: a Store may be used from one thread at a time; open one per
// thread (or process) for concurrency — the database arbitrates.
#ifndef HARMONIA_STORE_STORE_H_
#define HARMONIA_STORE_STORE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace harmonia::store {

// The schema version this binary writes; a store at a higher version is refused.
inline constexpr int kSchemaVersion = 7;

struct CustomerRow {
  std::string customer_id;
  std::string country;
  std::string customer_type;
  std::string specialty;
  std::string name;
};

// One answer or metric value as users exchange them (docs/store.md). The key
// is (customer, therapy area, answer or metric, input, source, as_of). The
// store keeps every distinct value given under a key, each with its import
// order `seq`: validity depends on the rule set, so a cycle must be able to
// drop an invalid value and still choose among the others, the one imported
// last first (docs/store.md "Inputs"). Importing a value again makes it the
// key's latest.
struct InputRow {
  std::string customer_id;
  std::string therapy_area;
  bool is_metric = false;
  std::string input_id;
  std::string value;
  std::string source;  // rep | external | local
  int32_t as_of = 0;   // days since 1970-01-01
  // Import order, assigned by the store (ignored on write): among the values
  // of one key, the one imported last has the highest seq. 1 to 2^46 - 1.
  int64_t seq = 0;
};

// What an import changed.
// (One upsert per row tells "changed" from "unchanged" without reading the
// row first; telling new from updated would cost a lookup per row.)
struct WriteStats {
  // A new value for its key, or a stored value that becomes its key's latest
  // again (another value had been imported after it). A key given several
  // values in one batch counts each of them.
  int64_t written = 0;
  int64_t unchanged = 0;  // the key's latest value already (idempotent re-import)
};

// A published rule-set version: immutable once stored.
struct RuleSetRecord {
  std::string therapy_area;
  int64_t version = 0;
  std::string source_text;  // the YAML as published
  std::string checksum;     // hex SHA-256 or XXH3 of source_text, as computed by the caller
  std::string published_by;
  int64_t published_at_unix = 0;
  // For PublishRuleSet: the version this publish restores (audited as
  // rules.rollback); 0 = an ordinary publish. Not stored.
  int64_t rolled_back_from = 0;
};

// One entry of the append-only audit log (docs/store.md "Audit log"): who
// did what, when, and the state before and after (JSON objects; "" when there
// is none). The log is a hash chain: each entry's hash covers the previous
// entry's hash and its own canonical content (AuditHash), so an edited,
// removed, replaced or inserted entry is found by VerifyAuditLog.
struct AuditEntry {
  int64_t audit_id = 0;  // assigned by the store, increasing
  int64_t at_unix = 0;
  std::string principal;  // who
  // e.g. rules.publish, rules.rollback, refinement.submit, cycle.commit,
  // answers.submit, import
  std::string action;
  std::string object;  // what, e.g. "oncology v3", "DE/oncology cycle 7", a request id
  std::string before;
  std::string after;
  std::string country;  // the market the change belongs to; "" = global or several
  // Assigned by the store (ignored on write): the previous entry's hash (""
  // for the first) and this entry's, as 64 lowercase hex digits. Entries
  // written before the chain existed (schema < 4) have neither.
  std::string prev_hash;
  std::string hash;
};

// The hash of an entry whose predecessor's hash is `prev_hash`: SHA-256 over
// a versioned, length-prefixed encoding of prev_hash, at_unix, principal,
// action, object, country, before and after (not audit_id: the chain itself
// fixes each entry's place).
std::string AuditHash(const std::string& prev_hash, const AuditEntry& entry);

// Which audit entries to read.
struct AuditQuery {
  int64_t after_id = 0;   // entries with audit_id > after_id (paging)
  int64_t limit = -1;     // at most this many; negative = all
  std::string principal;  // "" = anyone's
  std::string action;     // "" = every action; "refinement." = every refinement action
  std::string country;    // "" = every entry; else that country's entries only
  int64_t since_unix = std::numeric_limits<int64_t>::min();  // at_unix >= since
  int64_t until_unix = std::numeric_limits<int64_t>::max();  // at_unix < until
};

// The audit log's last entry as the store recorded it when it wrote it, kept
// apart from the entries, so entries cut from the end are noticed too.
struct AuditHead {
  int64_t last_id = 0;    // 0 = no entry yet
  std::string last_hash;  // "" = none, or only entries from before the chain
  // Entries from before the chain (a store that had a log at schema 3): how
  // many, and the last one's id. They carry no hash; every later one does.
  int64_t unchained_entries = 0;
  int64_t unchained_last_id = 0;
};

// One committed cycle of one (country, therapy area).
struct CycleRecord {
  int64_t cycle_id = 0;  // assigned by CommitCycle, increasing
  std::string country;
  std::string therapy_area;
  int32_t as_of = 0;  // the cycle date, days since 1970-01-01
  int64_t rule_set_version = 0;
  std::string options;         // canonical option text (engine::Options::canonical)
  std::string country_config;  // the country file as used
  int64_t customers = 0;
  std::string summary;  // human-readable counts (decided by, data quality)
  int64_t committed_at_unix = 0;
  // The start (days since 1970-01-01) of the cycle period its as_of falls in
  // (engine::CyclePeriodOf). A re-run in the same period replaces the
  // period's result: the earlier cycle becomes "replaced" on commit.
  int32_t period = 0;
  std::string status = "committed";  // committed, or replaced (by a re-run in its period)
  std::string quality;               // the quality figures, a JSON object
  std::string run_by;                // the principal that ran it (audited)
  // For CommitCycle: the latest cycle of the market when the run read its
  // previous assignments and refinements (0 = there was none); -1 = do not
  // check. Not stored.
  int64_t based_on_cycle_id = -1;
};

// A field refinement's lifecycle (docs/cycle.md step 6, docs/store.md "Refinements"):
//
//   submitted ─┬─▶ accepted ─┬─▶ applied ─▶ expired
//              ├─▶ approved ─┘
//              ├─▶ rejected
//              └─▶ withdrawn
//   and from accepted, approved or applied: ─▶ rejected (by a cycle: over
//   the quota, say), ─▶ expired (superseded), ─▶ withdrawn; applied ─▶
//   applied (one more cycle). rejected, expired and withdrawn are final.
//
// accepted: valid and no approval needed; approved: valid and approved by
// country ops. A cycle applies accepted, approved and applied refinements; a
// refinement applied in `valid_cycles` cycles, or superseded by a later one
// for the same customer, expires. RefinementTransitionAllowed is the rule.
enum class RefinementStatus : uint8_t {
  kSubmitted,
  kAccepted,
  kApproved,
  kRejected,
  kApplied,
  kExpired,
  kWithdrawn,
};
const char* RefinementStatusName(RefinementStatus status);
std::optional<RefinementStatus> ParseRefinementStatus(std::string_view name);
// Whether the lifecycle above allows `from` → `to`.
bool RefinementTransitionAllowed(RefinementStatus from, RefinementStatus to);

struct RefinementRecord {
  int64_t refinement_id = 0;  // assigned by the store: submission order
  // The submitter's idempotency key, unique per (country, therapy area): an
  // id of another country or therapy area is another refinement.
  std::string request_id;
  std::string country;
  std::string therapy_area;
  std::string customer_id;
  std::string segment;  // empty = keep the segment, change calls only
  int32_t calls_delta = 0;
  std::string reason;
  std::string comment;
  std::string submitted_by;
  int64_t submitted_at_unix = 0;
  RefinementStatus status = RefinementStatus::kSubmitted;
  std::string status_reason;  // why rejected / expired / withdrawn
  std::string decided_by;     // who approved, rejected or withdrew it
  int64_t updated_at_unix = 0;
  int32_t cycles_applied = 0;  // cycles whose assignments it changed
  int64_t last_cycle_id = 0;   // the latest of them, 0 = none
  int64_t first_cycle_id = 0;  // the first of them (its period starts the validity), 0 = none
};

// What a cycle commit does to one refinement.
struct RefinementUpdate {
  int64_t refinement_id = 0;
  RefinementStatus status = RefinementStatus::kApplied;
  std::string status_reason;
  bool applied = false;  // counts the cycle in cycles_applied / last_cycle_id
};

// One row of assignments.csv (docs/files.md) plus the scores, the tags and
// the n=1 plan (docs/cycle.md step 6).
struct AssignmentRow {
  std::string customer_id;
  std::string segment;  // empty = none (conflict)
  std::string tier;
  int32_t calls = 0, remote = 0, email = 0, events = 0;
  std::string decided_by;
  std::string rule_id;
  int64_t rule_set_version = 0;
  std::string inputs_digest;
  std::string scores;  // "id=value;…" in rule-set order, empty value = missing
  // Drivers and barriers, "|"-joined in rule order; "" = none.
  std::string tags;
  // The n=1 plan: the targets unless the channel_preference option apportioned
  // the calls. Assignments committed by a store older than schema 5 read as
  // their targets.
  int32_t plan_calls = 0, plan_remote = 0, plan_email = 0, plan_events = 0;
  // The customer's objective behaviour (the rule set's objective_behavior
  // metric) as the cycle saw it; nullopt = no value, no objective, or a store
  // older than schema 6. Compared across cycles (docs/report.md "Did it work").
  std::optional<double> objective;
};

// Activities carried out, as the CRM reports them (docs/files.md
// activities.csv). The key is (customer, therapy area, activity, day,
// source); importing a key again replaces its count.
struct ActivityRow {
  std::string customer_id;
  std::string therapy_area;
  std::string activity;  // calls | remote | email | events
  int32_t day = 0;       // days since 1970-01-01
  std::string source;    // the CRM or system that reported it
  int64_t count = 0;     // >= 0
};

// One customer's place in a field territory (docs/files.md territories.csv):
// a rep's set of customers in a country. A customer may sit in several
// territories.
struct TerritoryRow {
  std::string customer_id;
  std::string territory;
  std::string rep;      // the principal of the field user
  std::string country;  // the customer's country (set by the store on read)
};

// What replacing alignments changed, in (customer, territory) pairs.
struct AlignmentStats {
  int64_t written = 0;  // new pairs, and pairs whose rep changed
  int64_t unchanged = 0;
  int64_t removed = 0;  // pairs of the countries replaced that the rows no longer hold
};

// Counts per activity, in the order calls, remote, email, events. (The store
// sits below engine/, whose kActivityNames is the list; this copy is the
// schema's CHECK constraint on activities.activity.)
using ActivityCounts = std::array<int64_t, 4>;
inline constexpr const char* kActivityNames[] = {"calls", "remote", "email", "events"};

class Store {
 public:
  virtual ~Store() = default;

  // The schema version of the open store (== kSchemaVersion after Open).
  virtual int schema_version() const = 0;

  // Checks, without writing and without waiting for a writer, that the store
  // can be read and is not read-only (a health probe; meant for a fresh
  // connection). Unavailable, with the backend's reason, when it cannot.
  virtual absl::Status Probe() = 0;

  // Inserts or updates customers by customer_id, in one transaction. Rows of
  // the batch with the same customer_id: the last one is the value, and the
  // stats count it once.
  virtual absl::StatusOr<WriteStats> UpsertCustomers(const std::vector<CustomerRow>& rows) = 0;

  // Stores input values in one transaction, in batch order: each row's value
  // becomes its key's latest (InputRow). A row repeating an earlier row of the
  // batch (same key and value) counts once. Every row's customer must exist
  // (FailedPrecondition naming the first unknown one; no row of the batch is
  // written).
  virtual absl::StatusOr<WriteStats> UpsertInputs(const std::vector<InputRow>& rows) = 0;

  // UpsertInputs with an audit entry in the same transaction, for a change
  // made on someone's behalf (profiling answers submitted through a worker):
  // the rows and the entry are written together or not at all. The entry
  // records what changed: `audit.after` gains "values" (each row) and its
  // `before` the key's latest value before the write (null when none).
  virtual absl::StatusOr<WriteStats> UpsertInputsAudited(const std::vector<InputRow>& rows,
                                                         const AuditEntry& audit) = 0;

  // Stores activity counts in one transaction. Rows of the batch with the
  // same key: the last one is the count. `written` counts keys whose count is
  // new or changed. Every row's customer must exist (FailedPrecondition
  // naming the first unknown one; nothing is written).
  virtual absl::StatusOr<WriteStats> UpsertActivities(const std::vector<ActivityRow>& rows) = 0;

  // Calls fn once per customer of `country` with activities of
  // `therapy_area` dated in [from_day, to_day), with their counts summed per
  // activity, customers in bytewise order, streaming. REQUIRES: fn does not
  // call this Store.
  virtual absl::Status ScanActivityTotals(
      const std::string& country, const std::string& therapy_area, int32_t from_day, int32_t to_day,
      const std::function<void(const std::string& customer_id, const ActivityCounts& counts)>&
          fn) = 0;

  // Replaces, in one transaction, the territory alignment of every country
  // whose customers `rows` name (a territories.csv is the whole alignment of
  // the countries it covers): pairs the rows hold are written, the
  // countries' other pairs removed. A (customer, territory) given twice: the
  // last row's rep. FailedPrecondition naming the first unknown customer
  // (nothing written).
  virtual absl::StatusOr<AlignmentStats> ReplaceTerritories(
      const std::vector<TerritoryRow>& rows) = 0;

  // `country`'s alignment, by territory then customer id (bytewise); with
  // `rep` not empty, that rep's pairs only ("my customers").
  virtual absl::StatusOr<std::vector<TerritoryRow>> ListTerritories(const std::string& country,
                                                                    const std::string& rep) = 0;

  // Every customer id in the store, in bytewise order.
  virtual absl::StatusOr<std::vector<std::string>> CustomerIds() = 0;
  // `country`'s customers, in customer-id order (bytewise): the directory a
  // console searches and shows names from.
  virtual absl::StatusOr<std::vector<CustomerRow>> ListCustomers(const std::string& country) = 0;

  virtual absl::StatusOr<int64_t> CountCustomers() = 0;
  virtual absl::StatusOr<int64_t> CountInputs() = 0;
  virtual absl::StatusOr<std::optional<CustomerRow>> GetCustomer(const std::string& id) = 0;

  // Stores a new version with its audit entry (rules.publish, by
  // published_by). FailedPrecondition when `version` is not above the latest
  // stored version of the therapy area (versions strictly increase).
  virtual absl::Status PublishRuleSet(const RuleSetRecord& record) = 0;

  // Stores a version published elsewhere (a country worker's copy of what the
  // rules service sent), with its audit entry (rules.copy, by `by`). Versions
  // may arrive in any order (a pinned older one after the latest). Returns
  // false, writing nothing, when the store already holds the version with the
  // same checksum (e.g. a store shared with the rules service);
  // FailedPrecondition when it holds other content under that version.
  virtual absl::StatusOr<bool> CopyRuleSet(const RuleSetRecord& record, const std::string& by,
                                           int64_t at_unix) = 0;

  // A stored version, or the latest when `version` is nullopt; nullopt when
  // there is none.
  virtual absl::StatusOr<std::optional<RuleSetRecord>> GetRuleSet(
      const std::string& therapy_area, std::optional<int64_t> version) = 0;

  // The published versions of `therapy_area` (of every therapy area when
  // empty), by therapy area then version, without their source_text.
  virtual absl::StatusOr<std::vector<RuleSetRecord>> ListRuleSets(
      const std::string& therapy_area) = 0;

  // Customer ids of `country` whose type is in `types`, bytewise ascending.
  virtual absl::StatusOr<std::vector<std::string>> CustomersInScope(
      const std::string& country, const std::vector<std::string>& types) = 0;

  // Calls fn for every stored value of `therapy_area` whose customer is in
  // `country` (every value of a key, with its seq), in no particular order,
  // streaming (the rows are not all held in memory at once). REQUIRES: fn
  // does not call this Store.
  virtual absl::Status ScanInputs(const std::string& country, const std::string& therapy_area,
                                  const std::function<void(const InputRow&)>& fn) = 0;

  // One customer's stored values of `therapy_area` (answers, then metrics, by
  // input id, source, as_of and seq), for explaining an assignment.
  virtual absl::StatusOr<std::vector<InputRow>> CustomerInputs(const std::string& customer_id,
                                                               const std::string& therapy_area) = 0;

  // Writes the cycle, all its assignments, the refinements' new statuses and
  // an audit entry (cycle.commit, by cycle.run_by) in one transaction:
  // readers see the whole previous cycle or the whole new one; committed
  // cycles of the market in the same period become "replaced". Returns the
  // new cycle_id. Aborted (nothing written; run the cycle again) when
  // cycle.based_on_cycle_id >= 0 and another cycle of the market was
  // committed since. NotFound (nothing written) when an update names an unknown
  // refinement; FailedPrecondition when the lifecycle forbids the change.
  // REQUIRES: each refinement appears in `refinements` at most once.
  virtual absl::StatusOr<int64_t> CommitCycle(const CycleRecord& cycle,
                                              const std::vector<AssignmentRow>& rows,
                                              const std::vector<RefinementUpdate>& refinements) = 0;

  // The latest committed cycle of (country, therapy area), or the one with
  // `cycle_id`; nullopt when there is none.
  virtual absl::StatusOr<std::optional<CycleRecord>> GetCycle(const std::string& country,
                                                              const std::string& therapy_area,
                                                              std::optional<int64_t> cycle_id) = 0;

  // The latest committed cycle of every country that has run `therapy_area`,
  // by country (a report's markets).
  virtual absl::StatusOr<std::vector<CycleRecord>> LatestCycles(
      const std::string& therapy_area) = 0;

  // A cycle's assignments in customer-id order.
  virtual absl::StatusOr<std::vector<AssignmentRow>> GetAssignments(int64_t cycle_id) = 0;

  // The committed cycles of (country, therapy area), oldest first.
  virtual absl::StatusOr<std::vector<CycleRecord>> ListCycles(const std::string& country,
                                                              const std::string& therapy_area) = 0;

  // One customer's assignment in a cycle (history: "segment of X as of cycle
  // N"); nullopt when the cycle does not hold the customer.
  virtual absl::StatusOr<std::optional<AssignmentRow>> GetAssignment(
      int64_t cycle_id, const std::string& customer_id) = 0;

  // Stores new refinements in one transaction, each with its audit entry
  // (refinement.submit, by submitted_by), and returns them as stored, in
  // order. A request_id already stored for the row's country and therapy
  // area (or given by an earlier row of the batch) is not written again: the
  // original record is returned (idempotent retries), and `duplicate` says
  // so. The same id in another country or therapy area is another refinement. The
  // status given is kept (the caller validated: submitted, accepted or
  // rejected; InvalidArgument for any other, nothing written);
  // refinement_id, cycles_applied and last_cycle_id are assigned.
  struct Submitted {
    RefinementRecord record;
    bool duplicate = false;
  };
  virtual absl::StatusOr<std::vector<Submitted>> SubmitRefinements(
      const std::vector<RefinementRecord>& rows) = 0;

  // The refinements of (country, therapy area) whose status is in
  // `statuses` (all when empty), in submission order.
  virtual absl::StatusOr<std::vector<RefinementRecord>> ListRefinements(
      const std::string& country, const std::string& therapy_area,
      const std::vector<RefinementStatus>& statuses) = 0;

  // The refinement with `request_id` in (country, therapy area); nullopt when
  // there is none.
  virtual absl::StatusOr<std::optional<RefinementRecord>> GetRefinement(
      const std::string& country, const std::string& therapy_area,
      const std::string& request_id) = 0;

  // Moves one refinement of (country, therapy area) to `status` (approve,
  // reject, withdraw) with its audit entry (refinement.<status>, by `by`),
  // and returns it as stored. NotFound for an unknown request_id;
  // FailedPrecondition, naming both statuses, when the lifecycle forbids the
  // change.
  virtual absl::StatusOr<RefinementRecord> DecideRefinement(
      const std::string& country, const std::string& therapy_area, const std::string& request_id,
      RefinementStatus status, const std::string& reason, const std::string& by,
      int64_t at_unix) = 0;

  // Appends an entry to the audit log for a change the store does not audit
  // itself (e.g. an import); returns its audit_id.
  virtual absl::StatusOr<int64_t> AppendAudit(const AuditEntry& entry) = 0;

  // The audit entries `query` selects, oldest first, as stored (hashes
  // included). Ids increase in commit order, so paging with the last id seen
  // never misses an entry.
  virtual absl::StatusOr<std::vector<AuditEntry>> ListAudit(const AuditQuery& query) = 0;

  // The audit log's head (AuditHead).
  virtual absl::StatusOr<AuditHead> GetAuditHead() = 0;
};

// Opens (creating if needed) the store at `url` and brings its schema up to
// kSchemaVersion, never destroying data. FailedPrecondition for a store whose
// schema is newer than this binary; InvalidArgument for an unknown URL scheme.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& url);

// `url` as messages and logs may show it: without any password.
std::string DisplayUrl(const std::string& url);

// What VerifyAuditLog found.
struct AuditVerification {
  bool intact = true;
  int64_t entries = 0;       // read
  int64_t before_chain = 0;  // entries from before the chain (schema < 4)
  int64_t head_id = 0;       // the last entry
  std::string head_hash;     // its hash: keep it elsewhere to notice a rewrite of the whole log
  int64_t first_bad_id = 0;  // when not intact: the first entry found wrong (0 = the end)
  std::string problem;       // when not intact: what is wrong, naming the entry
};

// Reads the whole audit log in id order and checks the chain: every entry's
// hash matches its content and its predecessor's hash, entries from before
// the chain only precede it, and the head names the last entry. Reports the
// first problem (an edited, replaced, removed or inserted entry). Errors:
// the store's, when it cannot be read.
absl::StatusOr<AuditVerification> VerifyAuditLog(Store& store);

}  // namespace harmonia::store

#endif  // HARMONIA_STORE_STORE_H_
