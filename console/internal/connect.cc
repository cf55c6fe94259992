#include "console/internal/connect.h"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/json_util.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "common/json.h"
#include "google/rpc/status.pb.h"

namespace harmonia::console {

std::string_view ConnectCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "ok";
    case grpc::StatusCode::CANCELLED:
      return "canceled";
    case grpc::StatusCode::UNKNOWN:
      return "unknown";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "invalid_argument";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "deadline_exceeded";
    case grpc::StatusCode::NOT_FOUND:
      return "not_found";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "already_exists";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "permission_denied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "resource_exhausted";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "failed_precondition";
    case grpc::StatusCode::ABORTED:
      return "aborted";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "out_of_range";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "unimplemented";
    case grpc::StatusCode::INTERNAL:
      return "internal";
    case grpc::StatusCode::UNAVAILABLE:
      return "unavailable";
    case grpc::StatusCode::DATA_LOSS:
      return "data_loss";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "unauthenticated";
    default:
      return "unknown";
  }
}

int HttpStatusFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    default:
      return 500;
  }
}

namespace {

// The detail's message as JSON, when its type is compiled into the console
// (harmonia.v1.IssueList and the like); empty otherwise.
std::string DebugJson(const google::protobuf::Any& any) {
  const std::string_view url = any.type_url();
  const size_t slash = url.rfind('/');
  const std::string type(url.substr(slash == std::string_view::npos ? 0 : slash + 1));
  const google::protobuf::Descriptor* d =
      google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(type);
  if (d == nullptr) return "";
  const google::protobuf::Message* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(d);
  if (prototype == nullptr) return "";
  std::unique_ptr<google::protobuf::Message> m(prototype->New());
  if (!m->ParseFromString(any.value())) return "";
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(*m, &out, options).ok()) return "";
  return out;
}

}  // namespace

std::string ConnectErrorJson(const grpc::Status& status) {
  JsonObject o;
  o.Add("code", ConnectCodeName(status.error_code()));
  o.Add("message", status.error_message());
  google::rpc::Status rich;
  if (!status.error_details().empty() && rich.ParseFromString(status.error_details()) &&
      rich.details_size() > 0) {
    std::string details = "[";
    for (const google::protobuf::Any& any : rich.details()) {
      if (details.size() > 1) details += ",";
      const std::string_view url = any.type_url();
      const size_t slash = url.rfind('/');
      JsonObject d;
      d.Add("type", url.substr(slash == std::string_view::npos ? 0 : slash + 1));
      std::string value;
      absl::Base64Escape(any.value(), &value);
      while (!value.empty() && value.back() == '=') value.pop_back();  // Connect: unpadded
      d.Add("value", value);
      const std::string debug = DebugJson(any);
      if (!debug.empty()) d.AddRaw("debug", debug);
      details += d.str();
    }
    details += "]";
    o.AddRaw("details", details);
  }
  return o.str();
}

std::string Envelope(uint8_t flags, std::string_view payload) {
  std::string out;
  out.reserve(5 + payload.size());
  out.push_back(static_cast<char>(flags));
  const uint32_t n = static_cast<uint32_t>(payload.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(payload);
  return out;
}

std::optional<std::string_view> OpenSingleEnvelope(std::string_view body) {
  if (body.size() < 5 || body[0] != 0) return std::nullopt;
  uint32_t n = 0;
  for (int i = 1; i <= 4; ++i) n = (n << 8) | static_cast<uint8_t>(body[i]);
  if (body.size() - 5 != n) return std::nullopt;
  return body.substr(5);
}

std::string EndOfStream(const grpc::Status& status) {
  if (status.ok()) return Envelope(kEndOfStream, "{}");
  return Envelope(kEndOfStream, "{\"error\":" + ConnectErrorJson(status) + "}");
}

}  // namespace harmonia::console
