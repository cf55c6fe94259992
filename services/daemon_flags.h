// The flags both daemons share (defined once, in daemon_flags.cc), and the
// startup step they share: the tokens file and the server's TLS credentials.
// Each daemon defines its own --listen (the ports differ).
#ifndef HARMONIA_SERVICES_DAEMON_FLAGS_H_
#define HARMONIA_SERVICES_DAEMON_FLAGS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "auth/auth.h"
#include "common/json.h"

ABSL_DECLARE_FLAG(std::string, store);
ABSL_DECLARE_FLAG(std::string, tokens);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, tls_client_ca);
ABSL_DECLARE_FLAG(int, store_connections);
ABSL_DECLARE_FLAG(int, max_threads);

namespace harmonia::services {

struct DaemonSecurity {
  std::unique_ptr<auth::TokenHolder> tokens;
  std::shared_ptr<grpc::ServerCredentials> credentials;
};
// Loads --tokens and the --tls-* flags. The status names the flag at fault.
absl::StatusOr<DaemonSecurity> LoadDaemonSecurity();

// Reads --tokens again (SIGHUP): the whole file is checked first; on any
// error the table in force stays and the status says why (naming the flag).
absl::Status ReloadTokens(auth::TokenHolder& tokens);

// The fields every "listening" log line carries (store, tls, mtls).
JsonObject ListeningFields(const std::string& service, const std::string& address);

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_DAEMON_FLAGS_H_
