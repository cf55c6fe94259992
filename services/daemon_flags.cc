#include "services/daemon_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "services/grpc_util.h"
#include "store/store.h"

ABSL_FLAG(std::string, store, "sqlite:harmonia.db", "the store: sqlite:PATH or postgresql://…");
ABSL_FLAG(std::string, tokens, "tokens.yaml",
          "tokens file: a YAML list of {principal, token_sha256, roles}");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain: serve TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert");
ABSL_FLAG(std::string, tls_client_ca, "", "PEM CA bundle: require client certificates (mTLS)");
ABSL_FLAG(int, store_connections, 8, "store connections for concurrent calls");
ABSL_FLAG(int, max_threads, 64, "most threads serving calls at once");

namespace harmonia::services {

namespace {

absl::StatusOr<std::shared_ptr<const auth::TokenTable>> LoadTokensFlag() {
  absl::StatusOr<std::unique_ptr<const auth::TokenTable>> tokens =
      auth::TokenTable::Load(absl::GetFlag(FLAGS_tokens));
  if (!tokens.ok()) {
    return absl::Status(tokens.status().code(),
                        absl::StrCat("--tokens: ", tokens.status().message()));
  }
  return std::shared_ptr<const auth::TokenTable>(std::move(*tokens));
}

}  // namespace

absl::Status ReloadTokens(auth::TokenHolder& tokens) {
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const auth::TokenTable> table, LoadTokensFlag());
  tokens.Set(std::move(table));
  return absl::OkStatus();
}

absl::StatusOr<DaemonSecurity> LoadDaemonSecurity() {
  DaemonSecurity out;
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const auth::TokenTable> tokens, LoadTokensFlag());
  out.tokens = std::make_unique<auth::TokenHolder>(std::move(tokens));
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials({.cert_file = absl::GetFlag(FLAGS_tls_cert),
                             .key_file = absl::GetFlag(FLAGS_tls_key),
                             .client_ca_file = absl::GetFlag(FLAGS_tls_client_ca)});
  if (!credentials.ok()) return credentials.status();
  out.credentials = std::move(*credentials);
  return out;
}

JsonObject ListeningFields(const std::string& service, const std::string& address) {
  JsonObject f;
  f.Add("service", service)
      .Add("address", address)
      .Add("store", store::DisplayUrl(absl::GetFlag(FLAGS_store)))
      .Add("tls", !absl::GetFlag(FLAGS_tls_cert).empty())
      .Add("mtls", !absl::GetFlag(FLAGS_tls_client_ca).empty());
  return f;
}

}  // namespace harmonia::services
