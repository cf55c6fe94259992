// A pool of store connections for a server's handler threads: a Store may be
// used from one thread at a time (store.h), so each call leases one.
// Connections open lazily, up to `size`; a caller waits when all are leased.
//
// The pool also watches the store's health (docs/operations.md): every call
// made through a lease is checked as it returns. A call that fails with
// store trouble (Unavailable, Internal, DataLoss) closes its connection
// rather than reusing it (it may be broken, or read-only for good) and has
// the store probed at once. The probe, on a fresh connection (Store::Probe;
// also every 2 s while unhealthy, every 30 s while healthy), alone decides
// the store's health: a fault is logged as an error; on recovery the idle
// connections are reopened too. The daemon hears of every change, in order.
//
// Thread-safety: safe for concurrent use.
#ifndef HARMONIA_SERVICES_STORE_POOL_H_
#define HARMONIA_SERVICES_STORE_POOL_H_

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "store/store.h"

namespace harmonia::services {

class StorePool {
 public:
  // Opens one connection at once, so a bad URL or an unreachable server
  // fails here (with OpenStore's status) and not on the first request.
  static absl::StatusOr<std::unique_ptr<StorePool>> Create(const std::string& url, int size);
  ~StorePool();

  // One leased connection. Every call through it is checked (see above):
  // callers just return the status they get.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    store::Store* operator->() const;
    store::Store& operator*() const;

   private:
    friend class StorePool;
    class Checked;
    Lease(StorePool* pool, std::unique_ptr<store::Store> store);
    StorePool* pool_;
    std::unique_ptr<Checked> checked_;
  };

  // A connection: an idle one, a new one while fewer than `size` are open,
  // or the next one returned. Unavailable when a new one cannot be opened
  // (which marks the store unhealthy, as a failed call does).
  absl::StatusOr<Lease> Acquire();

  const std::string& url() const { return url_; }

  // OK, or the store trouble last seen (until a probe succeeds).
  absl::Status health() const;

  // Starts the probe thread; `on_change` is called (from a pool thread or a
  // failing call's) with the new health each time it changes.
  // REQUIRES: called once, before the pool is shared.
  void StartProbing(std::function<void(const absl::Status& health)> on_change,
                    absl::Duration healthy_every = absl::Seconds(30),
                    absl::Duration unhealthy_every = absl::Seconds(2));
  // Stops the probe thread and further `on_change` calls (idempotent; the
  // destructor calls it too). Call it before whatever `on_change` uses dies.
  void StopProbing();

 private:
  StorePool(std::string url, int size) : url_(std::move(url)), size_(size) {}
  void Return(std::unique_ptr<store::Store> store);
  // A call's or a probe's outcome: store trouble makes the store unhealthy;
  // a probe's success makes it healthy.
  void Observe(const absl::Status& status, bool from_probe);
  void ProbeLoop();

  const std::string url_;
  const int size_;
  mutable std::mutex mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<store::Store>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status health_ ABSL_GUARDED_BY(mu_);
  std::function<void(const absl::Status&)> on_change_ ABSL_GUARDED_BY(mu_);
  absl::Duration healthy_every_, unhealthy_every_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool probe_now_ ABSL_GUARDED_BY(mu_) = false;  // a call met store trouble
  std::condition_variable wake_;
  std::thread prober_;
};

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_STORE_POOL_H_
