// How every RPC handler runs: authenticate the bearer token, call the core
// with the principal, log, convert the status. Keeps the ServiceImpl classes
// to pure request/response translation.
#ifndef HARMONIA_SERVICES_CALL_H_
#define HARMONIA_SERVICES_CALL_H_

#include <grpcpp/grpcpp.h>

#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "auth/auth.h"
#include "services/grpc_util.h"

namespace harmonia::services {

// Logs one finished call: always when it failed or `mutation`, so reads at
// thousands per second do not flood the log.
void LogCall(std::string_view method, const auth::Principal* who,
             const grpc::ServerContextBase& ctx, const absl::Status& status, absl::Duration took,
             bool mutation);

enum class CallKind { kRead, kMutation };

// Runs `body(const auth::Principal&) -> absl::Status` for an authenticated
// caller.
template <typename Body>
grpc::Status RunCall(grpc::ServerContextBase* ctx, const auth::TokenTable& tokens,
                     std::string_view method, CallKind kind, Body&& body) {
  const absl::Time start = absl::Now();
  absl::StatusOr<const auth::Principal*> who = Authenticate(*ctx, tokens);
  absl::Status status = who.ok() ? std::forward<Body>(body)(**who) : who.status();
  LogCall(method, who.ok() ? *who : nullptr, *ctx, status, absl::Now() - start,
          kind == CallKind::kMutation);
  return ToGrpcStatus(status);
}

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_CALL_H_
