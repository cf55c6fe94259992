// The Connect protocol's wire details (https://connectrpc.com/docs/protocol),
// the part the console speaks: unary calls as plain JSON bodies, server
// streams as enveloped JSON messages, and errors as {code, message, details}.
// Transport-free: no HTTP library and no gRPC channel in here.
#ifndef HARMONIA_CONSOLE_INTERNAL_CONNECT_H_
#define HARMONIA_CONSOLE_INTERNAL_CONNECT_H_

#include <grpcpp/support/status.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace harmonia::console {

// The Connect name of a gRPC code: "permission_denied", "not_found"…
std::string_view ConnectCodeName(grpc::StatusCode code);
// The HTTP status a unary call answers with for `code` (the protocol's
// table: unauthenticated 401, permission_denied 403, not_found 404…).
int HttpStatusFor(grpc::StatusCode code);

// The error body {"code":…, "message":…, "details":[…]} of `status`. The
// details are those of the gRPC status (google.rpc.Status in
// error_details()): each as {"type", "value" (base64 of the message), "debug"
// (its JSON, when the type is one the console knows)}, so the web app can
// show a rule set's positioned issues.
std::string ConnectErrorJson(const grpc::Status& status);

// Streams: each message travels in an envelope of one flags byte and a
// big-endian 32-bit length. The last envelope of a response carries the
// end-of-stream flag and {"error": …} or {}.
inline constexpr uint8_t kEndOfStream = 0x02;
std::string Envelope(uint8_t flags, std::string_view payload);
// The payload of a request body that is exactly one envelope without flags;
// nullopt otherwise (no envelope, several, compressed, trailing bytes).
std::optional<std::string_view> OpenSingleEnvelope(std::string_view body);
// The end-of-stream envelope for `status` (an OK status ends with {}).
std::string EndOfStream(const grpc::Status& status);

}  // namespace harmonia::console

#endif  // HARMONIA_CONSOLE_INTERNAL_CONNECT_H_
