// `harmonia health`: asks a daemon's gRPC health service whether
// it serves — for Kubernetes exec probes (native gRPC probes cannot speak
// TLS), systemd and operators. No token: health is open by design.
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/grpc_util.h"

namespace harmonia::cli {

int RunHealth(int argc, char** argv, int first) {
  const std::vector<FlagSpec> specs = {
      {"server", "ADDR", "the daemon, host:port", true},
      {"service", "NAME",
       "the service to ask about, e.g. harmonia.v1.CountryService (default: \"\", the server)"},
      {"tls-ca", "FILE", "PEM CA bundle: connect with TLS and verify the server"},
      {"tls-cert", "FILE", "PEM client certificate, for mutual TLS"},
      {"tls-key", "FILE", "PEM private key of --tls-cert"},
      {"tls-server-name", "NAME", "the name to check in the server's certificate"},
      {"timeout", "SECONDS", "deadline of the check (default 5)"},
      {"wait", "SECONDS", "keep asking until SERVING or this many seconds passed"},
      {"help", "", "show this help"}};
  const char* usage =
      "usage: harmonia health --server ADDR [--service NAME] [--wait SECONDS] [TLS flags]\n\n"
      "Asks the daemon's gRPC health service (grpc.health.v1.Health/Check) and prints the\n"
      "status. Exit 0: SERVING; 3: NOT_SERVING or unknown service; 1: unreachable; 2: bad "
      "usage.\n";
  if (WantsHelp(argc, argv, first, usage, specs)) return 0;
  absl::StatusOr<Args> args = ParseArgs("health", specs, argc, argv, first);
  if (!args.ok()) {
    std::fprintf(stderr, "harmonia: %s\n", std::string(args.status().message()).c_str());
    return 2;
  }
  absl::StatusOr<long long> timeout = args->GetInt("timeout", 5, 1, 3600);
  absl::StatusOr<long long> wait = args->GetInt("wait", 0, 0, 86400);
  if (!timeout.ok() || !wait.ok()) {
    std::fprintf(stderr, "harmonia: %s\n",
                 std::string((timeout.ok() ? wait : timeout).status().message()).c_str());
    return 2;
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      services::MakeChannel(args->Get("server"), {.ca_file = args->Get("tls-ca"),
                                                  .cert_file = args->Get("tls-cert"),
                                                  .key_file = args->Get("tls-key"),
                                                  .server_name = args->Get("tls-server-name")});
  if (!channel.ok()) {
    std::fprintf(stderr, "harmonia: %s\n", std::string(channel.status().message()).c_str());
    return 2;
  }
  auto stub = grpc::health::v1::Health::NewStub(*channel);
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(args->Get("service"));
  const absl::Time give_up = absl::Now() + absl::Seconds(*wait);
  for (;;) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(*timeout));
    grpc::health::v1::HealthCheckResponse resp;
    const grpc::Status s = stub->Check(&ctx, req, &resp);
    int exit = 0;
    std::string line;
    if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND) {
      line = absl::StrCat("unreachable: ", s.error_message());
      exit = 1;
    } else if (!s.ok()) {
      line = "SERVICE_UNKNOWN";
      exit = 3;
    } else {
      line = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status());
      exit = resp.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 3;
      if (exit == 3 && !absl::StartsWith(req.service(), "harmonia.condition.")) {
        // Which of the daemon's conditions fail (services/serving_state.h);
        // the reasons are in its log (event not_serving).
        std::vector<std::string> failing;
        for (const char* condition : {"store", "rule_sets", "config"}) {
          grpc::ClientContext c;
          c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(*timeout));
          grpc::health::v1::HealthCheckRequest q;
          q.set_service(absl::StrCat("harmonia.condition.", condition));
          grpc::health::v1::HealthCheckResponse r;
          if (stub->Check(&c, q, &r).ok() &&
              r.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
            failing.push_back(condition);
          }
        }
        if (!failing.empty()) {
          absl::StrAppend(&line, " (failing: ", absl::StrJoin(failing, ", "),
                          "; the daemon's log says why: event not_serving)");
        }
      }
    }
    if (exit == 0 || absl::Now() >= give_up) {
      std::fprintf(exit == 0 ? stdout : stderr, "%s%s\n", exit == 1 ? "harmonia: health: " : "",
                   line.c_str());
      return exit;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace harmonia::cli
