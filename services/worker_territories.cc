// WorkerCore, who the customers are: a country's territories
// (territories.csv) and its customer directory, as the console's pages and
// the per-territory quota need them, kept fresh by a background refresher.
#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "common/text.h"
#include "services/log.h"
#include "services/worker_core.h"

namespace harmonia::services {
namespace {

template <typename T>
using DatedCache = std::map<std::string, std::pair<absl::Time, std::shared_ptr<const T>>>;

// A country's entry of `cache`. With the refresher running, whatever is
// there (the refresher keeps it fresh); else one younger than `max_age`, an
// older one being read again by one call while the others go on with it.
// An entry that is missing is read by its caller.
template <typename T, typename Read>
absl::StatusOr<std::shared_ptr<const T>> Cached(std::mutex& mu, std::mutex& loading,
                                                DatedCache<T>& cache, bool refreshing,
                                                const std::string& key, absl::Time now,
                                                absl::Duration max_age, Read read) {
  std::shared_ptr<const T> stale;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) {
      if (refreshing || now - it->second.first < max_age) return it->second.second;
      stale = it->second.second;
    }
  }
  std::unique_lock<std::mutex> reading(loading, std::defer_lock);
  if (stale != nullptr && !reading.try_lock()) return stale;  // another call re-reads it
  absl::StatusOr<std::shared_ptr<const T>> fresh = read();
  if (!fresh.ok()) return fresh.status();
  std::lock_guard<std::mutex> lock(mu);
  cache[key] = {now, *fresh};
  return fresh;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const WorkerCore::Alignment>> WorkerCore::ReadAlignment(
    const std::string& country) {
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  HARMONIA_ASSIGN_OR_RETURN(std::vector<store::TerritoryRow> rows,
                            db->ListTerritories(country, ""));
  auto a = std::make_shared<Alignment>();
  for (const store::TerritoryRow& r : rows) {  // by territory, then customer
    a->territories_of[r.customer_id].push_back(r.territory);
    a->customers_of[r.territory].push_back(r.customer_id);  // in order already
    std::vector<std::string>& reps = a->territories_by_rep[r.rep];
    if (reps.empty() || reps.back() != r.territory) reps.push_back(r.territory);
  }
  // Territories come in order, so each customer's list is sorted already.
  return std::shared_ptr<const Alignment>(std::move(a));
}

absl::StatusOr<std::shared_ptr<const WorkerCore::Directory>> WorkerCore::ReadDirectory(
    const std::string& country) {
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  HARMONIA_ASSIGN_OR_RETURN(std::vector<store::CustomerRow> rows, db->ListCustomers(country));
  auto d = std::make_shared<Directory>();
  d->by_id.reserve(rows.size());
  for (store::CustomerRow& r : rows) {
    std::string folded = FoldForSearch(r.customer_id + "\n" + r.name);
    d->by_id.emplace(
        std::move(r.customer_id),
        Directory::Entry{std::move(r.name), std::move(r.specialty), std::move(folded)});
  }
  return std::shared_ptr<const Directory>(std::move(d));
}

bool WorkerCore::NoteDirectoryUse(const std::string& country) {
  std::lock_guard<std::mutex> lock(directory_mu_);
  directory_used_[country] = absl::Now();
  return refreshing_;
}

absl::StatusOr<std::shared_ptr<const WorkerCore::Alignment>> WorkerCore::AlignmentOf(
    const std::string& country) {
  const bool refreshing = NoteDirectoryUse(country);
  return Cached<Alignment>(directory_mu_, directory_loading_mu_, alignments_, refreshing, country,
                           clock_->Now(), kDirectoryAge, [&] { return ReadAlignment(country); });
}

absl::StatusOr<std::shared_ptr<const WorkerCore::Directory>> WorkerCore::DirectoryOf(
    const std::string& country) {
  const bool refreshing = NoteDirectoryUse(country);
  return Cached<Directory>(directory_mu_, directory_loading_mu_, directories_, refreshing, country,
                           clock_->Now(), kDirectoryAge, [&] { return ReadDirectory(country); });
}

void WorkerCore::StartDirectoryRefresh() {
  std::lock_guard<std::mutex> lock(directory_mu_);
  if (refreshing_) return;
  refreshing_ = true;
  refresh_stop_ = false;
  // Every served country is warmed first, as if just used.
  for (const auto& [cc, market] : markets()) directory_used_[cc] = absl::Now();
  refresher_ = std::thread([this] { RefreshLoop(); });
}

void WorkerCore::StopDirectoryRefresh() {
  {
    std::lock_guard<std::mutex> lock(directory_mu_);
    if (!refreshing_) return;
    refresh_stop_ = true;
  }
  refresh_cv_.notify_all();
  refresher_.join();
  std::lock_guard<std::mutex> lock(directory_mu_);
  refreshing_ = false;
}

void WorkerCore::WarmAfterCycle(const std::string& country, const std::string& therapy_area) {
  {
    std::lock_guard<std::mutex> lock(directory_mu_);
    if (!refreshing_) return;
    to_warm_.emplace_back(country, therapy_area);
  }
  refresh_cv_.notify_all();
}

void WorkerCore::Warm(const std::string& country, const std::string& therapy_area) {
  // Errors are left for the call that needs the data to report.
  Markets all = markets();
  auto m = all.find(country);
  if (m == all.end()) return;
  (void)LatestCycle(*m->second, therapy_area);
  absl::StatusOr<std::shared_ptr<const engine::RuleSet>> rules =
      RuleSetFor(*m->second, therapy_area);
  if (!rules.ok()) return;
  absl::StatusOr<StorePool::Lease> db = pool_->Acquire();
  if (!db.ok()) return;
  (void)InScope(**db, country, **rules);
  std::lock_guard<std::mutex> lock(submit_mu_);
  (void)LiveCustomers(**db, country, therapy_area);
}

void WorkerCore::RefreshLoop() {
  // First the latest cycle's assignments of every market served, so the
  // first page anyone opens does not wait for them either.
  for (const auto& [cc, market] : markets()) {
    for (const engine::TherapyAreaConfig& ta : market->config.therapy_areas) {
      {
        std::lock_guard<std::mutex> lock(directory_mu_);
        if (refresh_stop_) return;
      }
      (void)LatestCycle(*market, ta.therapy_area);  // errors show when a call needs it
    }
  }
  // Read real time here: the refresher paces itself, whatever clock the
  // core's calls see.
  absl::Duration interval = kDirectoryAge;
  for (;;) {
    std::vector<std::string> countries;
    {
      std::lock_guard<std::mutex> lock(directory_mu_);
      if (refresh_stop_) return;
      for (const auto& [cc, used] : directory_used_) {
        if (absl::Now() - used < absl::Minutes(1)) countries.push_back(cc);  // in use
      }
    }
    const absl::Time start = absl::Now();
    for (const std::string& cc : countries) {
      absl::StatusOr<std::shared_ptr<const Alignment>> a = ReadAlignment(cc);
      absl::StatusOr<std::shared_ptr<const Directory>> d = ReadDirectory(cc);
      std::lock_guard<std::mutex> lock(directory_mu_);
      if (a.ok()) alignments_[cc] = {clock_->Now(), *a};
      if (d.ok()) directories_[cc] = {clock_->Now(), *d};
      if (!a.ok() || !d.ok()) {  // store trouble: keep what was read, say so, try again later
        Log(LogLevel::kWarning, "directory_refresh_failed",
            JsonObject()
                .Add("country", cc)
                .Add("message", std::string((a.ok() ? d.status() : a.status()).message())));
      }
    }
    // Reading takes at most a tenth of the time.
    interval = std::max(kDirectoryAge, 10 * (absl::Now() - start));
    const absl::Time next = absl::Now() + interval;
    for (;;) {  // until the next read, warm what cycles committed
      std::vector<std::pair<std::string, std::string>> warm;
      {
        std::unique_lock<std::mutex> lock(directory_mu_);
        refresh_cv_.wait_for(
            lock, absl::ToChronoNanoseconds(std::max(next - absl::Now(), absl::ZeroDuration())),
            [&] { return refresh_stop_ || !to_warm_.empty(); });
        if (refresh_stop_) return;
        warm.swap(to_warm_);
      }
      for (const auto& [cc, ta] : warm) Warm(cc, ta);
      if (absl::Now() >= next) break;
    }
  }
}

}  // namespace harmonia::services
