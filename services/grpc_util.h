// The gRPC edge shared by both daemons and the CLI: status conversion,
// bearer-token authentication, TLS credentials, and starting a server with
// health checking and reflection. Nothing here knows about rule sets or
// countries.
#ifndef HARMONIA_SERVICES_GRPC_UTIL_H_
#define HARMONIA_SERVICES_GRPC_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "auth/auth.h"

namespace harmonia::services {

// absl::Status → grpc::Status: same code and message; every payload of the
// status (e.g. a rejected rule set's IssueList) becomes a google.protobuf.Any
// in the google.rpc.Status details.
grpc::Status ToGrpcStatus(const absl::Status& status);
// The inverse, for clients: payloads back from the details.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The principal of the call's "authorization: Bearer <token>" metadata;
// Unauthenticated when the metadata is missing, malformed or the token is
// unknown. The returned pointer lives as long as `tokens`.
absl::StatusOr<const auth::Principal*> Authenticate(const grpc::ServerContextBase& context,
                                                    const auth::TokenTable& tokens);

// Server-side TLS. No cert_file = plaintext. With client_ca_file, clients
// must present a certificate signed by that CA (mutual TLS).
struct ServerTlsOptions {
  std::string cert_file;       // PEM certificate chain
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // PEM CA bundle for client certificates
};
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& tls);

// Client-side TLS. No ca_file = plaintext. cert_file and key_file present a
// client certificate (for mutual TLS).
struct ClientTlsOptions {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string server_name;  // overrides the name checked against the certificate
};
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& address,
                                                           const ClientTlsOptions& tls);

// Builds and starts a server on `listen` (host:port; port 0 = any free one)
// with gRPC's default health service (the overall status "" SERVING; the
// caller sets each service's status) and server reflection. Unavailable when it cannot listen.
struct StartedServer {
  std::unique_ptr<grpc::Server> server;
  std::string address;  // as bound, e.g. 127.0.0.1:43219
};
absl::StatusOr<StartedServer> StartServer(const std::string& listen,
                                          std::shared_ptr<grpc::ServerCredentials> credentials,
                                          const std::vector<grpc::Service*>& services,
                                          int max_threads);

// Reads a whole file for a credentials flag; the message names the flag.
absl::StatusOr<std::string> ReadPemFile(const std::string& path, const char* flag);

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_GRPC_UTIL_H_
