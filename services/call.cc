#include "services/call.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "common/text.h"
#include "services/log.h"

namespace harmonia::services {
namespace {

constexpr size_t kMaxLoggedMessageBytes = 2048;

// Depth-first over the set fields of `m`; `path` names `m` ("" at the top).
absl::Status CheckText(const google::protobuf::Message& m, const std::string& path) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* r = m.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  std::string scratch;
  for (const FieldDescriptor* f : fields) {
    const std::string name = path.empty() ? f->name() : absl::StrCat(path, ".", f->name());
    if (f->type() == FieldDescriptor::TYPE_STRING) {
      const int n = f->is_repeated() ? r->FieldSize(m, f) : 1;
      for (int i = 0; i < n; ++i) {
        const std::string& value = f->is_repeated()
                                       ? r->GetRepeatedStringReference(m, f, i, &scratch)
                                       : r->GetStringReference(m, f, &scratch);
        if (std::string why = WhyNotText(value); !why.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, f->is_repeated() ? absl::StrCat("[", i, "]") : "", ": ", why,
                           "; text must be UTF-8 without NUL bytes"));
        }
      }
    } else if (f->type() == FieldDescriptor::TYPE_MESSAGE && !f->is_repeated()) {
      HARMONIA_RETURN_IF_ERROR(CheckText(r->GetMessage(m, f), name));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckRequestText(const google::protobuf::Message& request) {
  return CheckText(request, "");
}

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
  // Bounded: a message may echo request text (each value is bounded already;
  // this keeps one hostile request from filling the log).
  if (!status.ok()) {
    f.Add("message", Echo(std::string_view(status.message().data(), status.message().size()),
                          kMaxLoggedMessageBytes));
  }
  const bool server_fault = status.code() == absl::StatusCode::kInternal ||
                            status.code() == absl::StatusCode::kDataLoss ||
                            status.code() == absl::StatusCode::kUnknown;
  Log(server_fault ? LogLevel::kError : LogLevel::kInfo, "rpc", f);
}

}  // namespace harmonia::services
