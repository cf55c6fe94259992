// Start here (rules service): the logic of the central rules service
// (docs/architecture.md), free of gRPC so it is unit-tested directly; RulesServiceImpl
// (rules_service.h) only translates requests.
//
// Rule sets are validated and compiled on publish, stored as immutable,
// audited versions, and announced to watchers (the country workers). Every
// method takes the calling principal and checks its role first
// (PermissionDenied otherwise; docs/api.md has the matrix).
//
// Thread-safety: safe for concurrent use; each call takes a store
// connection from a pool.
#ifndef HARMONIA_SERVICES_RULES_CORE_H_
#define HARMONIA_SERVICES_RULES_CORE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/auth.h"
#include "common/issue.h"
#include "engine/rule_set.h"
#include "harmonia/v1/report.pb.h"
#include "services/store_pool.h"
#include "store/store.h"

namespace harmonia::services {

struct RulesCoreOptions {
  std::string store_url;  // sqlite:PATH or postgresql://…
  int store_connections = 4;
  // How often a watcher re-reads the store, to see versions published by
  // another rules service sharing it.
  absl::Duration watch_poll = absl::Seconds(5);
  std::function<absl::Time()> now = [] { return absl::Now(); };
};

class RulesCore {
 public:
  static absl::StatusOr<std::unique_ptr<RulesCore>> Create(const RulesCoreOptions& options);
  ~RulesCore();

  struct Validation {
    bool valid = false;
    std::vector<Issue> issues;
    std::string therapy_area;
    int64_t version = 0;
    int tests_passed = 0;
    int tests_total = 0;
    int64_t latest_published_version = 0;
  };
  absl::StatusOr<Validation> Validate(const auth::Principal& who, const std::string& text,
                                      const std::string& file);

  struct Published {
    store::RuleSetRecord record;  // without source_text
    std::vector<Issue> warnings;
    bool already_published = false;
  };
  // InvalidArgument, with the issues attached (IssuesOf), when the text has
  // errors; FailedPrecondition when its version does not increase.
  absl::StatusOr<Published> Publish(const auth::Principal& who, const std::string& text,
                                    const std::string& file);
  // `new_version` 0 = latest + 1. NotFound for an unknown version;
  // FailedPrecondition when new_version does not increase.
  absl::StatusOr<Published> Rollback(const auth::Principal& who, const std::string& therapy_area,
                                     int64_t to_version, int64_t new_version);

  // `version` 0 = the latest. NotFound when there is none.
  absl::StatusOr<store::RuleSetRecord> Get(const auth::Principal& who,
                                           const std::string& therapy_area, int64_t version);
  absl::StatusOr<std::vector<store::RuleSetRecord>> List(const auth::Principal& who,
                                                         const std::string& therapy_area);

  struct Diff {
    std::vector<std::string> changes;
    std::string unified_diff;
  };
  absl::StatusOr<Diff> DiffVersions(const auth::Principal& who, const std::string& therapy_area,
                                    int64_t from_version, int64_t to_version);

  // Watching: the versions newer than `known` (therapy area → version held)
  // among `therapy_areas` (all when empty), latest per therapy area. Waits
  // until there is one, `deadline` passes (then an empty list) or Shutdown().
  absl::Status CheckWatch(const auth::Principal& who);
  absl::StatusOr<std::vector<store::RuleSetRecord>> WaitForNewer(
      const std::vector<std::string>& therapy_areas, const std::map<std::string, int64_t>& known,
      absl::Time deadline);

  struct Transition {
    std::string from_segment, to_segment;
    int64_t customers = 0;
  };
  struct Preview {
    // "" for a customer not in the baseline cycle; those who left are not counted.
    std::vector<Transition> transitions;
    int64_t changed = 0;  // customers whose segment would change
    // The baseline cycle, the candidate's warnings and quality figures
    // (customers in scope: preview.quality().customers()).
    harmonia::v1::ImpactPreview preview;
  };
  // `as_of` nullopt = the latest cycle's date.
  absl::StatusOr<Preview> PreviewImpact(const auth::Principal& who, const std::string& text,
                                        const std::string& country, std::optional<int32_t> as_of);

  // A therapy area's report across markets (report/report.h); with a
  // candidate rule set's text, over exactly one country, with its impact
  // preview. Roles: global_ops.
  struct ReportQuery {
    std::string therapy_area;
    std::vector<std::string> countries;  // empty = all with a cycle
    int history = 8;
    std::string candidate_text;  // empty = no preview
    std::optional<int32_t> as_of;
  };
  absl::StatusOr<harmonia::v1::Report> Report(const auth::Principal& who, const ReportQuery& query);

  // Audit entries of the store (store::AuditQuery): every entry for
  // global_ops; with query.country set, that country's entries, also for its
  // country_ops. PermissionDenied otherwise.
  absl::StatusOr<std::vector<store::AuditEntry>> ListAudit(const auth::Principal& who,
                                                           const store::AuditQuery& query);

  // Wakes every watcher and makes further waits return at once.
  void Shutdown();

  // The store connections, and their health (store_pool.h).
  StorePool& store_pool() const { return *pool_; }

 private:
  explicit RulesCore(const RulesCoreOptions& options, std::unique_ptr<StorePool> pool);
  // PreviewImpact of a candidate compiled without errors.
  absl::StatusOr<Preview> PreviewCompiled(const auth::Principal& who,
                                          const engine::CompileResult& candidate,
                                          const std::string& country, std::optional<int32_t> as_of);
  // Compiles and publishes `text`; `rolled_back_from` > 0: a rollback
  // restoring that version (audited as such).
  absl::StatusOr<Published> Store(const auth::Principal& who, const std::string& text,
                                  const std::string& file, int64_t rolled_back_from = 0);

  const RulesCoreOptions options_;
  std::unique_ptr<StorePool> pool_;
  std::mutex mu_;
  std::condition_variable published_;  // notified on every publish and on Shutdown
  int64_t publish_count_ = 0;          // guarded by mu_
  bool shutdown_ = false;              // guarded by mu_
};

// The issues a Publish error carries (empty when none).
std::vector<Issue> IssuesOf(const absl::Status& status);

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_RULES_CORE_H_
