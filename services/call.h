// How every RPC handler runs: authenticate the bearer token, call the core
// with the principal, log, convert the status. Keeps the ServiceImpl classes
// to pure request/response translation.
#ifndef HARMONIA_SERVICES_CALL_H_
#define HARMONIA_SERVICES_CALL_H_

#include <google/protobuf/message.h>
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

// InvalidArgument naming the first string field of `request` that is not
// text (UTF-8 without NUL bytes, docs/api.md "Text"), e.g. "customer_ids[2]:
// a NUL byte at position 3". Lists of items (repeated message fields) are not
// looked into: the cores check each item and reject only the bad ones.
absl::Status CheckRequestText(const google::protobuf::Message& request);

// Runs `body(const auth::Principal&) -> absl::Status` for an authenticated
// caller whose request is text (CheckRequestText).
// (The tokens table in force is held for the whole call: a reload cannot
// pull the principal from under it.)
template <typename Body>
grpc::Status RunCall(grpc::ServerContextBase* ctx, const auth::TokenHolder& tokens,
                     std::string_view method, CallKind kind,
                     const google::protobuf::Message& request, Body&& body) {
  const absl::Time start = absl::Now();
  const std::shared_ptr<const auth::TokenTable> table = tokens.Get();
  absl::StatusOr<const auth::Principal*> who = Authenticate(*ctx, *table);
  absl::Status status = who.status();
  if (status.ok()) status = CheckRequestText(request);
  if (status.ok()) status = std::forward<Body>(body)(**who);
  LogCall(method, who.ok() ? *who : nullptr, *ctx, status, absl::Now() - start,
          kind == CallKind::kMutation);
  return ToGrpcStatus(status);
}

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_CALL_H_
