// Start here (country worker): the logic of a country worker (docs/architecture.md,
// docs/cycle.md), free of gRPC; CountryServiceImpl (country_service.h) only translates.
//
// A worker serves one or more countries: their country files (read at
// start), refinements validated against the country's policy and stored
// before they are acknowledged, cycles (on demand and, through the
// Scheduler, on the country's cron), assignments and their explanations, and
// profiling answers from the field. Rule sets come from the store, where the
// worker caches every version the rules service sends (CacheRuleSet), so
// cycles keep running on the cached version while the rules service is down.
//
// Every method takes the calling principal and checks its role for the
// request's country first (PermissionDenied), then that the worker serves
// the country (NotFound).
//
// One worker per market: the refinement quota is counted in this process
// (from the store at first use), so two workers must not serve one country.
//
// Thread-safety: safe for concurrent use.
#ifndef HARMONIA_SERVICES_WORKER_CORE_H_
#define HARMONIA_SERVICES_WORKER_CORE_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/auth.h"
#include "common/cron.h"
#include "common/issue.h"
#include "cycle/cycle.h"
#include "delivery/delivery.h"
#include "engine/country_config.h"
#include "engine/rule_set.h"
#include "harmonia/v1/report.pb.h"
#include "services/clock.h"
#include "services/scheduler.h"
#include "services/store_pool.h"
#include "store/store.h"

namespace harmonia::services {

struct WorkerCoreOptions {
  std::string store_url;
  int store_connections = 8;
  std::vector<std::string> countries;       // served, e.g. {"DE", "AT"}
  std::string countries_dir = "countries";  // holds CC.yaml for each
  Clock* clock = nullptr;                   // null = RealClock()
  int cycle_threads = 1;                    // evaluation threads per cycle
};

class WorkerCore {
 public:
  // Reads and checks every country file (shape, time zone, schedule; options
  // are checked against the rule set when a cycle runs). InvalidArgument
  // listing every issue; NotFound for a missing file.
  static absl::StatusOr<std::unique_ptr<WorkerCore>> Create(const WorkerCoreOptions& options);
  ~WorkerCore() { StopDirectoryRefresh(); }

  const std::vector<std::string>& countries() const { return options_.countries; }
  // A served country's file in force (null when not served).
  std::shared_ptr<const engine::CountryConfig> Country(const std::string& cc) const;

  // Reads every country file again (SIGHUP), checked whole as Create checks
  // them: on any problem the files in force stay and the status lists every
  // problem. On success the new files apply to every call that starts from
  // now on (a running cycle finishes with the file it started with).
  absl::Status ReloadCountries();
  // The scheduler's entries for the files in force (parsed cron and zone).
  std::vector<ScheduleEntry> ScheduleEntries() const;

  // ------------------------------------------------------------ rule sets
  // Stores a version the rules service sent (idempotent). FailedPrecondition
  // when the store holds other content under its version.
  absl::Status CacheRuleSet(const store::RuleSetRecord& record, const std::string& by);
  // The (therapy area, pinned version or 0 = latest) pairs the served
  // countries need and the store lacks; empty = ready to run every cycle.
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> MissingRuleSets();
  // The latest version of `therapy_area` the store holds; nullopt = none.
  absl::StatusOr<std::optional<int64_t>> LatestStoredVersion(const std::string& therapy_area);
  // Every therapy area a served country runs.
  std::vector<std::string> TherapyAreas() const;

  // ------------------------------------------------- customers, territories
  // A country's alignment (territories.csv) and directory, as read from the
  // store. Imports happen outside the worker: with the refresher running
  // (StartDirectoryRefresh, as the daemon does) they are read again in the
  // background for the countries in use, every max(kDirectoryAge, 10 × the
  // time a read takes), so no call waits for a read but the very first;
  // without it (tests), a call finding one older than kDirectoryAge reads it
  // again.
  struct Alignment {
    // customer → its territories, bytewise; the first is its quota territory
    absl::flat_hash_map<std::string, std::vector<std::string>> territories_of;
    std::map<std::string, std::vector<std::string>> territories_by_rep;
    std::map<std::string, std::vector<std::string>>
        customers_of;  // territory → customers, bytewise
  };
  struct Directory {
    struct Entry {
      std::string name, specialty;
      std::string folded;  // FoldForSearch(id + "\n" + name): what a search looks in
    };
    absl::flat_hash_map<std::string, Entry> by_id;
  };
  // Warms the served countries' directories and alignments, then keeps them
  // fresh on a thread of its own until StopDirectoryRefresh (idempotent).
  void StartDirectoryRefresh();
  void StopDirectoryRefresh();
  // With the refresher running: reads a market's new cycle (its assignments,
  // the customers in scope, the live refinements) in the background, so the
  // first page opened after a cycle does not wait for them.
  void WarmAfterCycle(const std::string& country, const std::string& therapy_area);

  // ---------------------------------------------------------- refinements
  struct RefinementInput {
    std::string request_id;
    std::string customer_id;
    std::string therapy_area;
    std::string segment;
    int32_t calls_delta = 0;
    std::string reason;
    std::string comment;
  };
  // One result per item, in order. Valid items are stored (accepted, or
  // submitted when the country requires approval) before this returns;
  // invalid ones are stored as rejected with their reason (or, without a
  // request_id, only returned). A request_id known in the item's country and
  // therapy area returns its original record with `duplicate`; one known only
  // in another country is another refinement (request ids are per country
  // and therapy area).
  absl::StatusOr<std::vector<store::Store::Submitted>> SubmitRefinements(
      const auth::Principal& who, const std::string& country,
      const std::vector<RefinementInput>& items);
  // Which refinements ListRefinements returns; empty fields match all.
  struct RefinementFilter {
    std::vector<store::RefinementStatus> statuses;
    std::string territory;  // customers of this territory (territories.csv)
    std::string submitted_by;
    std::string reason;
  };
  // With `territories`, each record's customer's territories (parallel).
  absl::StatusOr<std::vector<store::RefinementRecord>> ListRefinements(
      const auth::Principal& who, const std::string& country, const std::string& therapy_area,
      const RefinementFilter& filter, std::vector<std::vector<std::string>>* territories = nullptr);
  // What `who` may refine now in one therapy area (CountryService.
  // GetRefinementPolicy): window, quotas left, segments and reasons.
  struct TerritoryQuota {
    std::string territory;  // empty = the country's quota
    int64_t customers = 0, quota = 0, used = 0;
  };
  struct RefinementPolicyView {
    bool accepting = false;
    std::string why_not;
    bool data_driven = false;
    bool window_open = false;
    int32_t period_start = 0;     // days since 1970-01-01; 0 = no schedule
    int32_t window_last_day = 0;  // 0 = always open
    engine::RefinementPolicy policy;
    std::vector<TerritoryQuota> quotas;
    std::vector<std::pair<std::string, std::string>> segments;  // id, local label
    std::vector<std::string> reasons;
  };
  absl::StatusOr<RefinementPolicyView> RefinementPolicyFor(const auth::Principal& who,
                                                           const std::string& country,
                                                           const std::string& therapy_area);
  // `to` is kApproved, kRejected or kWithdrawn. `therapy_area` empty = the
  // country's therapy area that has the request id (InvalidArgument when
  // several have it). NotFound for an id the country does not have (an id of
  // another country answers the same); FailedPrecondition when the lifecycle
  // forbids it.
  absl::StatusOr<store::RefinementRecord> DecideRefinement(
      const auth::Principal& who, const std::string& country, const std::string& therapy_area,
      const std::string& request_id, store::RefinementStatus to, const std::string& reason);

  // ---------------------------------------------------------- country file
  struct CountryFile {
    engine::CountryConfig config;
    std::string text;
    std::map<std::string, int64_t> running_version;  // therapy area → version (0 = none)
  };
  // The country file in force (any role of the country).
  absl::StatusOr<CountryFile> GetCountryFile(const auth::Principal& who,
                                             const std::string& country);
  // Checks a proposed file as a reload would, options against the rule sets
  // held (country_ops of the country); the issues, none stored or applied.
  absl::StatusOr<std::vector<Issue>> ValidateCountryFile(const auth::Principal& who,
                                                         const std::string& country,
                                                         const std::string& text);

  // --------------------------------------------------------------- cycles
  using Progress = std::function<void(const char* stage, int64_t done, int64_t total)>;
  // Runs and commits one cycle. `as_of` nullopt = today in the country's
  // zone. Aborted when a cycle of the (country, therapy area) is running.
  absl::StatusOr<cycle::StoreCycleResult> RunCycle(const auth::Principal& who,
                                                   const std::string& country,
                                                   const std::string& therapy_area,
                                                   std::optional<int32_t> as_of,
                                                   const Progress& progress);
  // The scheduler's entry point: runs as principal "scheduler", logs.
  void RunScheduledCycle(const std::string& country, const std::string& therapy_area,
                         absl::CivilDay as_of, const char* why);
  // When the latest cycle committed (for the scheduler's catch-up).
  std::optional<absl::Time> LastCycleTime(const std::string& country,
                                          const std::string& therapy_area);

  // `cycle_id` 0 = the latest. NotFound when there is none.
  absl::StatusOr<store::CycleRecord> GetCycle(const auth::Principal& who,
                                              const std::string& country,
                                              const std::string& therapy_area, int64_t cycle_id);
  // The report of one market's cycle (0 = the latest) with `history`
  // cycles of figures over time (report/report.h).
  absl::StatusOr<harmonia::v1::Report> Report(const auth::Principal& who,
                                              const std::string& country,
                                              const std::string& therapy_area, int64_t cycle_id,
                                              int history);
  absl::StatusOr<std::vector<store::CycleRecord>> ListCycles(const auth::Principal& who,
                                                             const std::string& country,
                                                             const std::string& therapy_area);
  // The audit entries of `country` in the worker's store (query.country is
  // set to it). Roles: country_ops:CC, global_ops.
  absl::StatusOr<std::vector<store::AuditEntry>> ListAudit(const auth::Principal& who,
                                                           const std::string& country,
                                                           store::AuditQuery query);

  // ---------------------------------------------------------- assignments
  struct AssignmentQuery {
    std::string country, therapy_area;
    int64_t cycle_id = 0;  // 0 = the latest
    std::vector<std::string> customer_ids;
    std::string segment, tier;
    int page_size = 1000;
    std::string after_customer_id;  // the page token
    std::string territory;          // its customers only; empty = all
    bool mine = false;              // the customers of the caller's territories
    std::string search;             // id or name contains it (FoldForSearch)
    bool include_customer = false;  // fill `customers`
  };
  // Who a customer is, for people reading a page.
  struct CustomerInfo {
    std::string name, specialty;
    std::vector<std::string> territories;
  };
  struct AssignmentPage {
    int64_t cycle_id = 0;
    std::vector<store::AssignmentRow> rows;
    std::vector<CustomerInfo> customers;  // parallel to rows, with include_customer
    std::string next_after;               // empty = no more
    // Each segment's directives, in the labels of the country file in force.
    std::shared_ptr<const delivery::Directives> directives;
  };
  absl::StatusOr<AssignmentPage> QueryAssignments(const auth::Principal& who,
                                                  const AssignmentQuery& query);

  // What changed from cycle `since_cycle_id` to `cycle_id` (0 = the latest)
  // of one market (delivery::Changes), paged in customer-id order. NotFound
  // when either is not a cycle of the market (another market's id answers
  // as an unknown one); PermissionDenied as QueryAssignments.
  struct ChangesQuery {
    std::string country, therapy_area;
    int64_t since_cycle_id = 0;
    int64_t cycle_id = 0;
    int page_size = 0;              // 1..10000; 0 = 1000
    std::string after_customer_id;  // the page token
  };
  struct ChangesPage {
    int64_t cycle_id = 0, since_cycle_id = 0;
    // The two cycles' rows the changes point into, kept alive with them.
    std::shared_ptr<const std::vector<store::AssignmentRow>> now, before;
    std::vector<delivery::Change> changes;
    std::string next_after;  // empty = no more
    std::shared_ptr<const delivery::Directives> directives;
  };
  absl::StatusOr<ChangesPage> ListChanges(const auth::Principal& who, const ChangesQuery& query);

  // One customer's assignment layer by layer: the effective inputs (and the
  // candidates passed over, with why), scores, the table and rule that
  // fired, the options, pull-through and the refinement applied. The inputs
  // are those the store holds now, selected as of the cycle's date (values
  // dated later are "future"), evaluated with the cycle's rule-set version
  // and country file (cycle_id 0 = the latest). NotFound when the customer
  // is not one of the country's (the same answer for an unknown id) or the
  // cycle does not hold it; PermissionDenied when the caller may not read
  // the country.
  absl::StatusOr<cycle::Explanation> Explain(const auth::Principal& who, const std::string& country,
                                             const std::string& therapy_area,
                                             const std::string& customer_id, int64_t cycle_id);

  // ------------------------------------------------------------ profiling
  absl::StatusOr<std::shared_ptr<const engine::RuleSet>> Questionnaire(
      const auth::Principal& who, const std::string& country, const std::string& therapy_area);
  struct AnswerInput {
    std::string customer_id, therapy_area, question_id, value, as_of;
  };
  struct AnswerResult {
    bool accepted = false;
    std::string reason;
  };
  absl::StatusOr<std::vector<AnswerResult>> SubmitAnswers(const auth::Principal& who,
                                                          const std::string& country,
                                                          const std::vector<AnswerInput>& items);

  Clock* clock() const { return clock_; }
  // The store connections, and their health (store_pool.h).
  StorePool& store_pool() const { return *pool_; }

 private:
  struct Market {
    engine::CountryConfig config;  // with its zone and schedule parsed
    std::string text;
  };
  // The cached assignments of one (country, therapy area)'s latest cycle.
  struct CycleCache {
    int64_t cycle_id = 0;  // 0 = no cycle yet
    // customer-id order; shared with the changes pages that point into it
    std::shared_ptr<const std::vector<store::AssignmentRow>> rows =
        std::make_shared<const std::vector<store::AssignmentRow>>();
    std::shared_ptr<const delivery::Directives> directives;
    // The country file the directives' labels come from: a cache built from another
    // (before a reload, or by a call that began before it) is stale.
    std::string country_text;
  };
  // One cycle's rows and directives: the latest from the cache, another
  // read from the store. NotFound when the market has no such cycle.
  struct CycleRows {
    int64_t cycle_id = 0;
    std::shared_ptr<const std::vector<store::AssignmentRow>> rows;
    std::shared_ptr<const delivery::Directives> directives;
  };
  absl::StatusOr<CycleRows> RowsOf(const Market& market, const std::string& ta, int64_t cycle_id);
  // The customers in scope of one (country, therapy area) for refinements.
  using Scope = absl::flat_hash_set<std::string>;

  using Markets = std::map<std::string, std::shared_ptr<const Market>>;

  WorkerCore(const WorkerCoreOptions& options, std::unique_ptr<StorePool> pool);
  // Every served country's file, read and checked; InvalidArgument listing
  // every problem when any file is wrong.
  static absl::StatusOr<Markets> LoadMarkets(const WorkerCoreOptions& options);
  Markets markets() const;  // the files in force
  // The text of `country`'s file in force ("" when not served).
  std::string CurrentText(const std::string& country) const;
  // The market a request names, as in force when the call began (a reload
  // replaces markets whole; a call keeps the one it started with).
  absl::StatusOr<std::shared_ptr<const Market>> Served(
      const auth::Principal& who, const std::string& country, std::string_view action,
      std::initializer_list<auth::Role> roles) const;
  absl::StatusOr<std::shared_ptr<const engine::RuleSet>> RuleSetFor(const Market& market,
                                                                    const std::string& ta);
  // A stored version, compiled (cached).
  absl::StatusOr<std::shared_ptr<const engine::RuleSet>> Compiled(store::Store& db,
                                                                  const std::string& ta,
                                                                  int64_t version);
  absl::StatusOr<std::shared_ptr<const engine::RuleSet>> Compiled(
      const store::RuleSetRecord& record);
  int32_t Today(const Market& market);
  std::mutex& CycleLock(const std::string& country, const std::string& ta);
  absl::StatusOr<std::shared_ptr<const CycleCache>> LatestCycle(const Market& market,
                                                                const std::string& ta);
  absl::StatusOr<std::shared_ptr<const Scope>> InScope(store::Store& db, const std::string& country,
                                                       const engine::RuleSet& rules);
  // A country's territories (territories.csv) and customer directory, read
  // from the store at most kDirectoryAge ago: imports happen outside the
  // worker, so this is how they reach it.
  static constexpr absl::Duration kDirectoryAge = absl::Seconds(5);
  absl::StatusOr<std::shared_ptr<const Alignment>> AlignmentOf(const std::string& country);
  absl::StatusOr<std::shared_ptr<const Directory>> DirectoryOf(const std::string& country);
  absl::StatusOr<std::shared_ptr<const Alignment>> ReadAlignment(const std::string& country);
  absl::StatusOr<std::shared_ptr<const Directory>> ReadDirectory(const std::string& country);
  void RefreshLoop();
  // Marks `country`'s directory as in use (the refresher keeps it fresh);
  // whether the refresher runs.
  bool NoteDirectoryUse(const std::string& country);
  // Customers with a live refinement, for the quota; REQUIRES: submit_mu_ held.
  absl::StatusOr<std::set<std::string>*> LiveCustomers(store::Store& db, const std::string& country,
                                                       const std::string& ta);

  const WorkerCoreOptions options_;
  Clock* clock_;
  std::unique_ptr<StorePool> pool_;
  mutable std::mutex markets_mu_;
  Markets markets_ ABSL_GUARDED_BY(markets_mu_);  // replaced whole by ReloadCountries

  std::mutex mu_;
  // (therapy area, version) → compiled; guarded by mu_.
  std::map<std::pair<std::string, int64_t>, std::shared_ptr<const engine::RuleSet>> compiled_;
  std::mutex submit_mu_;  // serialises submissions: the quota is counted in order
  // "CC/ta" → customers with a live refinement; guarded by submit_mu_.
  std::map<std::string, std::set<std::string>> live_;
  std::map<std::string, std::unique_ptr<std::mutex>> cycle_locks_;  // guarded by mu_
  // The rows of the earlier cycles paged against (ListChanges' since_cycle_id):
  // committed rows never change, so a CRM paging a delta reads them once.
  // (country, therapy area, cycle id) → rows and rule-set version; at most
  // kEarlierCycles, the least recently used dropped first; guarded by mu_.
  static constexpr size_t kEarlierCycles = 2;
  struct EarlierCycle {
    std::tuple<std::string, std::string, int64_t> key;
    std::shared_ptr<const std::vector<store::AssignmentRow>> rows;
    int64_t rule_set_version = 0;
  };
  std::vector<EarlierCycle> earlier_;                                // most recently used last
  std::map<std::string, std::shared_ptr<const CycleCache>> cycles_;  // guarded by mu_
  std::map<std::string, absl::Time> cycles_checked_;                 // guarded by mu_
  std::mutex loading_mu_;            // held while a cycle's assignments are first loaded
  std::mutex directory_mu_;          // country → when read, and what
  std::mutex directory_loading_mu_;  // held by the one call re-reading a stale entry
  std::thread refresher_;
  std::condition_variable refresh_cv_;                      // with directory_mu_
  bool refreshing_ ABSL_GUARDED_BY(directory_mu_) = false;  // the refresher runs
  bool refresh_stop_ ABSL_GUARDED_BY(directory_mu_) = false;
  std::map<std::string, absl::Time> directory_used_ ABSL_GUARDED_BY(directory_mu_);  // country →
  std::vector<std::pair<std::string, std::string>> to_warm_ ABSL_GUARDED_BY(directory_mu_);
  void Warm(const std::string& country, const std::string& therapy_area);
  std::map<std::string, std::pair<absl::Time, std::shared_ptr<const Alignment>>> alignments_
      ABSL_GUARDED_BY(directory_mu_);
  std::map<std::string, std::pair<absl::Time, std::shared_ptr<const Directory>>> directories_
      ABSL_GUARDED_BY(directory_mu_);
  // "CC/ta/version" → customers in scope; guarded by mu_, dropped after a cycle.
  std::map<std::string, std::shared_ptr<const Scope>> scopes_;
};

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_WORKER_CORE_H_
