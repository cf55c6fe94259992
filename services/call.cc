#include "services/call.h"

#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "services/log.h"

namespace harmonia::services {

void LogCall(std::string_view method, const auth::Principal* who,
             const grpc::ServerContextBase& ctx, const absl::Status& status, absl::Duration took,
             bool mutation) {
  if (status.ok() && !mutation) return;
  JsonObject f;
  f.Add("method", method)
      .Add("principal", who ? who->name : "")
      .Add("peer", ctx.peer())
      .Add("code", absl::StatusCodeToString(status.code()))
      .Add("ms", absl::ToDoubleMilliseconds(took));
  if (!status.ok()) f.Add("message", std::string(status.message()));
  const bool server_fault = status.code() == absl::StatusCode::kInternal ||
                            status.code() == absl::StatusCode::kDataLoss ||
                            status.code() == absl::StatusCode::kUnknown;
  Log(server_fault ? LogLevel::kError : LogLevel::kInfo, "rpc", f);
}

}  // namespace harmonia::services
