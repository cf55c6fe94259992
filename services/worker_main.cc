// harmonia-worker: a country worker (docs/operations.md).
//
//   harmonia-worker --listen 127.0.0.1:7441 --store sqlite:harmonia.db
//       --rules-server 127.0.0.1:7440 --countries DE,AT --countries-dir countries
//       --tokens tokens.yaml
//
// The token it presents to the rules service (a `service` principal's) comes
// from --rules-token-file or $HARMONIA_RULES_TOKEN, never from a flag value.
// Logs JSON lines on stderr; stops gracefully on SIGTERM or SIGINT: no new
// calls, the running cycles finish (each commits whole or not at all), then
// exit 0.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/file.h"
#include "common/json.h"
#include "services/country_service.h"
#include "services/daemon.h"
#include "services/daemon_flags.h"
#include "services/grpc_util.h"
#include "services/log.h"
#include "services/rules_follower.h"
#include "services/scheduler.h"
#include "services/serving_state.h"
#include "services/worker_core.h"
#include "store/store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7441", "address:port to serve on (port 0: any free one)");
ABSL_FLAG(std::string, rules_server, "127.0.0.1:7440", "the rules service, host:port");
ABSL_FLAG(std::string, rules_token_file, "",
          "file holding the bearer token for the rules service (default: $HARMONIA_RULES_TOKEN)");
ABSL_FLAG(std::string, rules_tls_ca, "", "PEM CA bundle: reach the rules service over TLS");
ABSL_FLAG(std::string, rules_tls_cert, "", "PEM client certificate for the rules service (mTLS)");
ABSL_FLAG(std::string, rules_tls_key, "", "PEM private key of --rules-tls-cert");
ABSL_FLAG(std::string, countries, "", "the countries served, e.g. DE,AT (required)");
ABSL_FLAG(std::string, countries_dir, "countries", "folder of country files CC.yaml");
ABSL_FLAG(bool, scheduler, true, "run cycles on each country's schedule");
ABSL_FLAG(int, cycle_threads, 2, "evaluation threads per cycle");

int main(int argc, char** argv) {
  using namespace harmonia;
  using namespace harmonia::services;
  BlockStopSignals();
  InstallFaultHandlers();
  ParseDaemonFlags(
      argc, argv,
      "a country worker: harmonia-worker --listen ADDR --store URL --rules-server ADDR "
      "--countries CC[,CC…] --countries-dir DIR --tokens FILE");

  std::vector<std::string> countries =
      absl::StrSplit(absl::GetFlag(FLAGS_countries), ',', absl::SkipWhitespace());
  for (std::string& c : countries) c = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(c));
  std::string rules_token;
  if (!absl::GetFlag(FLAGS_rules_token_file).empty()) {
    absl::StatusOr<std::string> t = ReadFileToString(absl::GetFlag(FLAGS_rules_token_file), 4096);
    if (!t.ok()) return ExitWith(t.status(), "rules_token");
    rules_token = std::string(absl::StripAsciiWhitespace(*t));
  } else if (const char* env = std::getenv("HARMONIA_RULES_TOKEN")) {
    rules_token = env;
  }
  if (rules_token.empty()) {
    return ExitWith(
        absl::InvalidArgumentError("no token for the rules service: --rules-token-file or "
                                   "$HARMONIA_RULES_TOKEN (a principal with role service)"),
        "rules_token");
  }
  absl::StatusOr<DaemonSecurity> security = LoadDaemonSecurity();
  if (!security.ok()) return ExitWith(security.status(), "startup");
  absl::StatusOr<std::shared_ptr<grpc::Channel>> rules_channel = MakeChannel(
      absl::GetFlag(FLAGS_rules_server), {.ca_file = absl::GetFlag(FLAGS_rules_tls_ca),
                                          .cert_file = absl::GetFlag(FLAGS_rules_tls_cert),
                                          .key_file = absl::GetFlag(FLAGS_rules_tls_key)});
  if (!rules_channel.ok()) return ExitWith(rules_channel.status(), "rules_tls");
  absl::StatusOr<std::unique_ptr<WorkerCore>> core =
      WorkerCore::Create({.store_url = absl::GetFlag(FLAGS_store),
                          .store_connections = absl::GetFlag(FLAGS_store_connections),
                          .countries = countries,
                          .countries_dir = absl::GetFlag(FLAGS_countries_dir),
                          .cycle_threads = absl::GetFlag(FLAGS_cycle_threads)});
  if (!core.ok()) return ExitWith(core.status(), "countries");

  CountryServiceImpl service(core->get(), security->tokens.get());
  absl::StatusOr<StartedServer> server =
      StartServer(absl::GetFlag(FLAGS_listen), security->credentials, {&service},
                  absl::GetFlag(FLAGS_max_threads));
  if (!server.ok()) return ExitWith(server.status(), "listen");
  grpc::HealthCheckServiceInterface* health = server->server->GetHealthCheckService();
  const std::string name = absl::StrCat("worker:", absl::StrJoin(countries, ","));

  // SERVING while the store is healthy and every rule set the countries
  // need is in it (docs/operations.md).
  ServingState serving(health, {"harmonia.v1.CountryService", ""}, {"store", "rule_sets"},
                       "starting");
  serving.Set("store", absl::OkStatus());
  (*core)->store_pool().StartProbing(
      [&serving](const absl::Status& store) { serving.Set("store", store); });
  auto update_health = [&] {
    absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> missing =
        (*core)->MissingRuleSets();
    if (!missing.ok()) return;  // store trouble: the store condition says so
    std::string waiting;
    for (const auto& [ta, version] : *missing) {
      absl::StrAppend(&waiting, waiting.empty() ? "waiting for " : ", ", ta,
                      version == 0 ? "" : absl::StrCat(" v", version));
    }
    serving.Set("rule_sets", missing->empty() ? absl::OkStatus()
                                              : absl::UnavailableError(absl::StrCat(
                                                    waiting, " (from the rules service)")));
  };
  RulesFollower follower({.channel = *rules_channel, .token = rules_token, .cached_by = name},
                         core->get(), update_health);
  follower.Start();

  std::vector<ScheduleEntry> entries = (*core)->ScheduleEntries();
  WorkerCore* worker = core->get();
  Scheduler scheduler(
      entries, worker->clock(),
      [worker](const std::string& cc, const std::string& ta, absl::CivilDay as_of,
               const char* why) { worker->RunScheduledCycle(cc, ta, as_of, why); },
      [worker](const std::string& cc, const std::string& ta) {
        return worker->LastCycleTime(cc, ta);
      });
  if (absl::GetFlag(FLAGS_scheduler)) scheduler.Start();
  worker->StartDirectoryRefresh();  // territories and names for the console's pages

  Log(LogLevel::kInfo, "listening",
      ListeningFields("harmonia-worker", server->address)
          .Add("countries", absl::StrJoin(countries, ","))
          .Add("rules_server", absl::GetFlag(FLAGS_rules_server))
          .Add("scheduled_countries", static_cast<int64_t>(entries.size())));

  // SIGHUP: read the tokens file and the country files again, each checked
  // whole before it replaces the one in force (on error that one stays and
  // the log says why); new schedules apply at once.
  const char* signal = WaitForStopSignal([&] {
    const absl::Status tokens = ReloadTokens(*security->tokens);
    const absl::Status countries_reloaded = worker->ReloadCountries();
    if (countries_reloaded.ok()) {
      scheduler.Replace(worker->ScheduleEntries());
      update_health();  // a pin may have changed
    }
    for (const auto& [what, status] : {std::pair<const char*, absl::Status>{"tokens", tokens},
                                       {"countries", countries_reloaded}}) {
      if (status.ok()) {
        Log(LogLevel::kInfo, "reloaded", JsonObject().Add("what", what));
      } else {
        Log(LogLevel::kError, "reload_failed",
            JsonObject()
                .Add("what", what)
                .Add("message", std::string(status.message()))
                .Add("kept", "the files in force"));
      }
    }
  });
  Log(LogLevel::kInfo, "stopping", JsonObject().Add("signal", signal));
  (*core)->store_pool().StopProbing();  // before `serving` goes
  health->Shutdown();
  scheduler.Stop();  // waits for a scheduled cycle in progress
  worker->StopDirectoryRefresh();
  follower.Stop();
  // In-flight calls (a manual cycle included) get a minute to finish.
  server->server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  server->server->Wait();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}
