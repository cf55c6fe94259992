// A country worker's link to the rules service: follows WatchRuleSets and
// caches every version it receives in the store (WorkerCore::CacheRuleSet),
// fetches pinned older versions with GetRuleSet, and reconnects with backoff
// when the stream ends or the rules service is down — meanwhile the worker
// keeps running cycles on what the store holds.
//
// Thread-safety: Start/Stop from one thread.
#ifndef HARMONIA_SERVICES_RULES_FOLLOWER_H_
#define HARMONIA_SERVICES_RULES_FOLLOWER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "harmonia/v1/rules.grpc.pb.h"
#include "services/worker_core.h"

namespace harmonia::services {

struct RulesFollowerOptions {
  std::shared_ptr<grpc::Channel> channel;  // to the rules service
  std::string token;                       // a `service` principal's bearer token
  std::string cached_by;                   // who the audit log says cached a version
};

class RulesFollower {
 public:
  // `on_change` is called after every version cached and before every
  // (re)connection (the store may have changed by another way),
  // e.g. to update the health status. REQUIRES: core outlives the follower.
  RulesFollower(RulesFollowerOptions options, WorkerCore* core, std::function<void()> on_change);
  ~RulesFollower();

  void Start();
  // Cancels the stream and joins the thread.
  void Stop();

 private:
  void Loop();
  // One connection: fetch pinned versions, then watch until the stream ends.
  absl::Status FollowOnce();
  absl::Status FetchPinned(v1::RulesService::Stub& stub);

  const RulesFollowerOptions options_;
  WorkerCore* const core_;
  std::function<void()> on_change_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  grpc::ClientContext* current_ = nullptr;  // guarded by mu_: the open stream, to cancel
  std::thread thread_;
};

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_RULES_FOLLOWER_H_
