// WorkerCore, cycles: run (manual and scheduled), history, reports, audit.
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/date.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "report/report.h"
#include "services/internal/worker_helpers.h"
#include "services/log.h"
#include "services/worker_core.h"

namespace harmonia::services {

// --------------------------------------------------------------------- cycles

std::mutex& WorkerCore::CycleLock(const std::string& country, const std::string& ta) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<std::mutex>& m = cycle_locks_[Key(country, ta)];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

absl::StatusOr<cycle::StoreCycleResult> WorkerCore::RunCycle(const auth::Principal& who,
                                                             const std::string& country,
                                                             const std::string& therapy_area,
                                                             std::optional<int32_t> as_of,
                                                             const Progress& progress) {
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const Market> market,
                            Served(who, country, "running cycles", {Role::kCountryOps}));
  if (market->config.FindTherapyArea(therapy_area) == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("country ", country, ": does not run therapy area ", Quoted(therapy_area)));
  }
  std::unique_lock<std::mutex> running(CycleLock(country, therapy_area), std::try_to_lock);
  if (!running.owns_lock()) {
    return absl::AbortedError(absl::StrCat("country ", country, " ", therapy_area,
                                           ": a cycle is already running; try again when it ends"));
  }
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const engine::RuleSet> rules,
                            RuleSetFor(*market, therapy_area));
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  const absl::Time start = clock_->Now();
  cycle::StoreCycleOptions o{.country = &market->config,
                             .country_text = market->text,
                             .therapy_area = therapy_area,
                             .as_of = as_of.value_or(Today(*market)),
                             .threads = options_.cycle_threads,
                             .now_unix = absl::ToUnixSeconds(start),
                             .run_by = who.name,
                             .rule_set = rules,
                             .progress = progress};
  absl::StatusOr<cycle::StoreCycleResult> result = cycle::RunStoreCycle(*db, o);
  {
    std::lock_guard<std::mutex> lock(submit_mu_);
    live_.erase(Key(country, therapy_area));  // statuses moved: recount
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    cycles_.erase(Key(country, therapy_area));
    // The scope is read again after each cycle (an import may have changed it).
    const std::string prefix = Key(country, therapy_area) + "/";
    for (auto it = scopes_.lower_bound(prefix);
         it != scopes_.end() && it->first.rfind(prefix, 0) == 0;) {
      it = scopes_.erase(it);
    }
  }
  if (!result.ok()) return result.status();
  Log(LogLevel::kInfo, "cycle_committed",
      JsonObject()
          .Add("country", country)
          .Add("therapy_area", therapy_area)
          .Add("cycle_id", result->cycle.cycle_id)
          .Add("as_of", FormatIsoDate(o.as_of))
          .Add("rule_set_version", result->cycle.rule_set_version)
          .Add("customers", result->cycle.customers)
          .Add("run_by", who.name)
          .Add("seconds", absl::ToDoubleSeconds(clock_->Now() - start)));
  WarmAfterCycle(country, therapy_area);
  return result;
}

void WorkerCore::RunScheduledCycle(const std::string& country, const std::string& therapy_area,
                                   absl::CivilDay as_of, const char* why) {
  const auth::Principal scheduler{"scheduler", {{Role::kCountryOps, country}}};
  absl::StatusOr<cycle::StoreCycleResult> r = RunCycle(
      scheduler, country, therapy_area, ParseIsoDate(absl::FormatCivilTime(as_of)), nullptr);
  if (!r.ok()) {
    Log(LogLevel::kWarning, "scheduled_cycle_failed",
        JsonObject()
            .Add("country", country)
            .Add("therapy_area", therapy_area)
            .Add("why", why)
            .Add("code", absl::StatusCodeToString(r.status().code()))
            .Add("message", std::string(r.status().message())));
  }
}

std::optional<absl::Time> WorkerCore::LastCycleTime(const std::string& country,
                                                    const std::string& therapy_area) {
  absl::StatusOr<StorePool::Lease> db = pool_->Acquire();
  if (!db.ok()) return std::nullopt;
  absl::StatusOr<std::optional<store::CycleRecord>> c =
      (*db)->GetCycle(country, therapy_area, std::nullopt);
  if (!c.ok() || !*c) return std::nullopt;
  return absl::FromUnixSeconds((*c)->committed_at_unix);
}

absl::StatusOr<store::CycleRecord> WorkerCore::GetCycle(const auth::Principal& who,
                                                        const std::string& country,
                                                        const std::string& therapy_area,
                                                        int64_t cycle_id) {
  HARMONIA_RETURN_IF_ERROR(Served(who, country, "reading cycles", kReaders).status());
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  absl::StatusOr<std::optional<store::CycleRecord>> c = db->GetCycle(
      country, therapy_area, cycle_id == 0 ? std::nullopt : std::optional<int64_t>(cycle_id));
  if (!c.ok()) return c.status();
  if (!*c) {
    return absl::NotFoundError(
        cycle_id == 0
            ? absl::StrCat("country ", country, " ", therapy_area, ": no cycle yet")
            : absl::StrCat("country ", country, " ", therapy_area, ": no cycle ", cycle_id));
  }
  return std::move(**c);
}

absl::StatusOr<std::vector<store::AuditEntry>> WorkerCore::ListAudit(const auth::Principal& who,
                                                                     const std::string& country,
                                                                     store::AuditQuery query) {
  HARMONIA_RETURN_IF_ERROR(
      Served(who, country, "reading the audit log", {Role::kCountryOps, Role::kGlobalOps})
          .status());
  query.country = country;
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  return db->ListAudit(query);
}

absl::StatusOr<v1::Report> WorkerCore::Report(const auth::Principal& who,
                                              const std::string& country,
                                              const std::string& therapy_area, int64_t cycle_id,
                                              int history) {
  HARMONIA_RETURN_IF_ERROR(Served(who, country, "reading reports", kReaders).status());
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  return report::BuildReport(*db, {.therapy_area = therapy_area,
                                   .countries = {country},
                                   .cycle_id = cycle_id,
                                   .history = history,
                                   .now_unix = absl::ToUnixSeconds(clock_->Now())});
}

absl::StatusOr<std::vector<store::CycleRecord>> WorkerCore::ListCycles(
    const auth::Principal& who, const std::string& country, const std::string& therapy_area) {
  HARMONIA_RETURN_IF_ERROR(Served(who, country, "reading cycles", kReaders).status());
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  return db->ListCycles(country, therapy_area);
}

}  // namespace harmonia::services
