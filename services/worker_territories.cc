// WorkerCore, who the customers are: a country's territories
// (territories.csv) and its customer directory, as the console's pages and
// the per-territory quota need them.
#include <algorithm>
#include <utility>

#include "common/status_macros.h"
#include "services/worker_core.h"

namespace harmonia::services {
namespace {

template <typename T>
using DatedCache = std::map<std::string, std::pair<absl::Time, std::shared_ptr<const T>>>;

// The cached value of `key` when it is younger than `max_age`. An older one
// is read again by one call while the others go on with it (so a re-read
// never stalls every reader at once); a missing one is read by its caller.
template <typename T, typename Read>
absl::StatusOr<std::shared_ptr<const T>> Fresh(std::mutex& mu, std::mutex& loading,
                                               DatedCache<T>& cache, const std::string& key,
                                               absl::Time now, absl::Duration max_age, Read read) {
  std::shared_ptr<const T> stale;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) {
      if (now - it->second.first < max_age) return it->second.second;
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

absl::StatusOr<std::shared_ptr<const WorkerCore::Alignment>> WorkerCore::AlignmentOf(
    store::Store& db, const std::string& country) {
  return Fresh<Alignment>(
      directory_mu_, directory_loading_mu_, alignments_, country, clock_->Now(), kDirectoryAge,
      [&]() -> absl::StatusOr<std::shared_ptr<const Alignment>> {
        HARMONIA_ASSIGN_OR_RETURN(std::vector<store::TerritoryRow> rows,
                                  db.ListTerritories(country, ""));
        auto a = std::make_shared<Alignment>();
        for (const store::TerritoryRow& r : rows) {  // by territory, then customer
          a->territories_of[r.customer_id].push_back(r.territory);
          a->customers_of[r.territory].insert(r.customer_id);
          std::vector<std::string>& reps = a->territories_by_rep[r.rep];
          if (reps.empty() || reps.back() != r.territory) reps.push_back(r.territory);
        }
        // Territories come in order, so each customer's list is sorted already.
        return std::shared_ptr<const Alignment>(std::move(a));
      });
}

absl::StatusOr<std::shared_ptr<const WorkerCore::Directory>> WorkerCore::DirectoryOf(
    store::Store& db, const std::string& country) {
  return Fresh<Directory>(
      directory_mu_, directory_loading_mu_, directories_, country, clock_->Now(), kDirectoryAge,
      [&]() -> absl::StatusOr<std::shared_ptr<const Directory>> {
        HARMONIA_ASSIGN_OR_RETURN(std::vector<store::CustomerRow> rows, db.ListCustomers(country));
        auto d = std::make_shared<Directory>();
        d->by_id.reserve(rows.size());
        for (store::CustomerRow& r : rows) {
          std::string id = r.customer_id;
          d->by_id.emplace(std::move(id), std::move(r));
        }
        return std::shared_ptr<const Directory>(std::move(d));
      });
}

}  // namespace harmonia::services
