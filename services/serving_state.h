// What a daemon's health service says (docs/operations.md "What each health
// status means"): SERVING while every named condition holds — the store is
// healthy, a worker's rule sets are loaded, its configuration is valid.
// Each condition is also its own health service, "harmonia.condition.NAME",
// so `harmonia health` can tell which one fails; each change is logged (a
// NOT_SERVING one as a warning, with every failing condition and its
// reason; the store's own faults are logged as errors by the StorePool).
//
// Thread-safety: safe for concurrent use.
#ifndef HARMONIA_SERVICES_SERVING_STATE_H_
#define HARMONIA_SERVICES_SERVING_STATE_H_

#include <grpcpp/health_check_service_interface.h>

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"

namespace harmonia::services {

// The health service name of condition `name`.
std::string ConditionService(const std::string& name);

class ServingState {
 public:
  // `services`: the names that follow the overall state ("" and the
  // daemon's gRPC service). `conditions`: every condition, initially failing
  // with `starting` until first Set.
  ServingState(grpc::HealthCheckServiceInterface* health, std::vector<std::string> services,
               const std::vector<std::string>& conditions, const std::string& starting);

  // Sets one condition: OK holds, anything else fails with its message.
  void Set(const std::string& condition, const absl::Status& status);

  bool serving() const;
  // "store: sqlite: …; rule_sets: waiting for oncology v3" (empty when serving).
  std::string Why() const;

 private:
  std::string WhyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  grpc::HealthCheckServiceInterface* const health_;
  const std::vector<std::string> services_;
  mutable std::mutex mu_;
  std::map<std::string, absl::Status> conditions_ ABSL_GUARDED_BY(mu_);
  bool serving_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_SERVING_STATE_H_
