// A pool of store connections for a server's handler threads: a Store may be
// used from one thread at a time (store.h), so each call leases one.
// Connections open lazily, up to `size`; a caller waits when all are leased.
// A connection whose call failed with Unavailable, Internal or DataLoss is
// dropped rather than reused (its connection may be broken).
//
// Thread-safety: safe for concurrent use.
#ifndef HARMONIA_SERVICES_STORE_POOL_H_
#define HARMONIA_SERVICES_STORE_POOL_H_

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "store/store.h"

namespace harmonia::services {

class StorePool {
 public:
  // Opens one connection at once, so a bad URL or an unreachable server
  // fails here (with OpenStore's status) and not on the first request.
  static absl::StatusOr<std::unique_ptr<StorePool>> Create(const std::string& url, int size);

  class Lease {
   public:
    Lease(Lease&& other) noexcept : pool_(other.pool_), store_(std::move(other.store_)) {
      other.pool_ = nullptr;
    }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    store::Store* operator->() const { return store_.get(); }
    store::Store& operator*() const { return *store_; }
    // Marks the connection as suspect: it is closed, not returned.
    void Discard() { store_.reset(); }
    // Discards the connection when `status` says it may be broken; returns it.
    const absl::Status& Check(const absl::Status& status);

   private:
    friend class StorePool;
    Lease(StorePool* pool, std::unique_ptr<store::Store> store)
        : pool_(pool), store_(std::move(store)) {}
    StorePool* pool_;
    std::unique_ptr<store::Store> store_;
  };

  // A connection: an idle one, a new one while fewer than `size` are open,
  // or the next one returned. Unavailable when a new one cannot be opened.
  absl::StatusOr<Lease> Acquire();

  const std::string& url() const { return url_; }

 private:
  StorePool(std::string url, int size) : url_(std::move(url)), size_(size) {}
  void Return(std::unique_ptr<store::Store> store);

  const std::string url_;
  const int size_;
  std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<store::Store>> idle_;  // guarded by mu_
  int open_ = 0;                                     // guarded by mu_
};

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_STORE_POOL_H_
