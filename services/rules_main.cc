// harmonia-rules: the central rules service (docs/operations.md).
//
//   harmonia-rules --listen 127.0.0.1:7440 --store sqlite:harmonia.db --tokens tokens.yaml
//
// Logs JSON lines on stderr; stops gracefully on SIGTERM or SIGINT (open
// watch streams end, in-flight calls complete).
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/clock.h"
#include "common/json.h"
#include "services/daemon.h"
#include "services/grpc_util.h"
#include "services/log.h"
#include "services/rules_core.h"
#include "services/rules_service.h"
#include "store/store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7440", "address:port to serve on (port 0: any free one)");
ABSL_FLAG(std::string, store, "sqlite:harmonia.db", "the store: sqlite:PATH or postgresql://…");
ABSL_FLAG(std::string, tokens, "tokens.yaml",
          "tokens file: a YAML list of {principal, token_sha256, roles}");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain: serve TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls-cert");
ABSL_FLAG(std::string, tls_client_ca, "", "PEM CA bundle: require client certificates (mTLS)");
ABSL_FLAG(int, store_connections, 8, "store connections for concurrent calls");
ABSL_FLAG(int, max_threads, 64, "most threads serving calls at once");

int main(int argc, char** argv) {
  using namespace harmonia;
  using namespace harmonia::services;
  BlockStopSignals();
  absl::SetProgramUsageMessage(
      "the central rules service: harmonia-rules --listen ADDR --store URL --tokens FILE "
      "[--tls-cert F --tls-key F [--tls-client-ca F]]");
  NormalizeFlagNames(argc, argv);
  absl::ParseCommandLine(argc, argv);

  absl::StatusOr<std::unique_ptr<const auth::TokenTable>> tokens =
      auth::TokenTable::Load(absl::GetFlag(FLAGS_tokens));
  if (!tokens.ok()) return ExitWith(tokens.status(), "tokens");
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials({.cert_file = absl::GetFlag(FLAGS_tls_cert),
                             .key_file = absl::GetFlag(FLAGS_tls_key),
                             .client_ca_file = absl::GetFlag(FLAGS_tls_client_ca)});
  if (!credentials.ok()) return ExitWith(credentials.status(), "tls");
  absl::StatusOr<std::unique_ptr<RulesCore>> core =
      RulesCore::Create({.store_url = absl::GetFlag(FLAGS_store),
                         .store_connections = absl::GetFlag(FLAGS_store_connections)});
  if (!core.ok()) return ExitWith(core.status(), "store");

  RulesServiceImpl service(core->get(), tokens->get());
  absl::StatusOr<StartedServer> server = StartServer(absl::GetFlag(FLAGS_listen), *credentials,
                                                     {&service}, absl::GetFlag(FLAGS_max_threads));
  if (!server.ok()) return ExitWith(server.status(), "listen");
  server->server->GetHealthCheckService()->SetServingStatus("harmonia.v1.RulesService", true);
  Log(LogLevel::kInfo, "listening",
      JsonObject()
          .Add("service", "harmonia-rules")
          .Add("address", server->address)
          .Add("store", store::DisplayUrl(absl::GetFlag(FLAGS_store)))
          .Add("tls", !absl::GetFlag(FLAGS_tls_cert).empty())
          .Add("mtls", !absl::GetFlag(FLAGS_tls_client_ca).empty())
          .Add("principals", static_cast<int64_t>((*tokens)->size())));

  const char* signal = WaitForStopSignal();
  Log(LogLevel::kInfo, "stopping", JsonObject().Add("signal", signal));
  server->server->GetHealthCheckService()->Shutdown();
  service.Shutdown();
  (*core)->Shutdown();
  server->server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  server->server->Wait();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}
