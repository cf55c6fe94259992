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
#include "services/daemon_flags.h"
#include "services/grpc_util.h"
#include "services/log.h"
#include "services/rules_core.h"
#include "services/rules_service.h"
#include "services/serving_state.h"
#include "store/store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7440", "address:port to serve on (port 0: any free one)");

int main(int argc, char** argv) {
  using namespace harmonia;
  using namespace harmonia::services;
  BlockStopSignals();
  InstallFaultHandlers();
  ParseDaemonFlags(
      argc, argv,
      "the central rules service: harmonia-rules --listen ADDR --store URL --tokens FILE "
      "[--tls-cert F --tls-key F [--tls-client-ca F]]");

  absl::StatusOr<DaemonSecurity> security = LoadDaemonSecurity();
  if (!security.ok()) return ExitWith(security.status(), "startup");
  absl::StatusOr<std::unique_ptr<RulesCore>> core =
      RulesCore::Create({.store_url = absl::GetFlag(FLAGS_store),
                         .store_connections = absl::GetFlag(FLAGS_store_connections)});
  if (!core.ok()) return ExitWith(core.status(), "store");

  RulesServiceImpl service(core->get(), security->tokens.get());
  absl::StatusOr<StartedServer> server =
      StartServer(absl::GetFlag(FLAGS_listen), security->credentials, {&service},
                  absl::GetFlag(FLAGS_max_threads));
  if (!server.ok()) return ExitWith(server.status(), "listen");
  // SERVING while the store is healthy (docs/operations.md).
  ServingState serving(server->server->GetHealthCheckService(), {"harmonia.v1.RulesService", ""},
                       {"store"}, "starting");
  serving.Set("store", absl::OkStatus());
  (*core)->store_pool().StartProbing(
      [&serving](const absl::Status& store) { serving.Set("store", store); });
  Log(LogLevel::kInfo, "listening",
      ListeningFields("harmonia-rules", server->address)
          .Add("principals", static_cast<int64_t>(security->tokens->Get()->size())));

  // SIGHUP: read the tokens file again (checked whole; on error the one in
  // force stays).
  const char* signal = WaitForStopSignal([&] {
    absl::Status reloaded = ReloadTokens(*security->tokens);
    if (reloaded.ok()) {
      Log(LogLevel::kInfo, "reloaded",
          JsonObject().Add("principals", static_cast<int64_t>(security->tokens->Get()->size())));
    } else {
      Log(LogLevel::kError, "reload_failed",
          JsonObject()
              .Add("message", std::string(reloaded.message()))
              .Add("kept", "the tokens file in force"));
    }
  });
  Log(LogLevel::kInfo, "stopping", JsonObject().Add("signal", signal));
  (*core)->store_pool().StopProbing();  // before `serving` goes
  server->server->GetHealthCheckService()->Shutdown();
  service.Shutdown();
  (*core)->Shutdown();
  server->server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  server->server->Wait();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}
