#include "cli/remote.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/issue.h"
#include "services/grpc_util.h"
#include "services/rules_core.h"

namespace harmonia::cli {

std::vector<FlagSpec> WithRemoteFlags(std::vector<FlagSpec> specs) {
  const std::vector<FlagSpec> remote = {
      {"server", "ADDR", "the server, host:port (or $HARMONIA_SERVER)"},
      {"token", "TOKEN", "bearer token (default: $HARMONIA_TOKEN)"},
      {"tls-ca", "FILE", "PEM CA bundle: connect with TLS and verify the server"},
      {"tls-cert", "FILE", "PEM client certificate, for mutual TLS"},
      {"tls-key", "FILE", "PEM private key of --tls-cert"},
      {"tls-server-name", "NAME", "the name to check in the server's certificate"},
      {"timeout", "SECONDS", "deadline of each call (default 60)"},
      {"json", "", "print JSON instead of tables"}};
  auto help =
      std::find_if(specs.begin(), specs.end(), [](const FlagSpec& f) { return f.name == "help"; });
  specs.insert(help, remote.begin(), remote.end());  // --help stays last
  return specs;
}

absl::StatusOr<Remote> Remote::Connect(const Args& args) {
  Remote r;
  std::string server = args.Get("server");
  if (server.empty()) {
    if (const char* env = std::getenv("HARMONIA_SERVER")) server = env;
  }
  if (server.empty()) {
    return absl::InvalidArgumentError("--server: missing (host:port of the service)");
  }
  r.token_ = args.Get("token");
  if (r.token_.empty()) {
    if (const char* env = std::getenv("HARMONIA_TOKEN")) r.token_ = env;
  }
  if (r.token_.empty()) {
    return absl::InvalidArgumentError("--token: missing (or set HARMONIA_TOKEN)");
  }
  absl::StatusOr<long long> timeout = args.GetInt("timeout", 60, 1, 86400);
  if (!timeout.ok()) return timeout.status();
  r.timeout_seconds_ = static_cast<int>(*timeout);
  r.json_ = args.Has("json");
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      services::MakeChannel(server, {.ca_file = args.Get("tls-ca"),
                                     .cert_file = args.Get("tls-cert"),
                                     .key_file = args.Get("tls-key"),
                                     .server_name = args.Get("tls-server-name")});
  if (!channel.ok()) return channel.status();
  r.channel_ = std::move(*channel);
  return r;
}

std::unique_ptr<grpc::ClientContext> Remote::Context(bool stream) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", "Bearer " + token_);
  if (!stream) {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_seconds_));
  }
  return ctx;
}

std::optional<RemoteCommand> StartRemote(const char* name, const char* usage,
                                         std::vector<FlagSpec> specs, int argc, char** argv,
                                         int first, int* exit) {
  specs.push_back({"help", "", "show this help"});
  specs = WithRemoteFlags(std::move(specs));
  if (WantsHelp(argc, argv, first, usage, specs)) {
    *exit = 0;
    return std::nullopt;
  }
  absl::StatusOr<Args> args = ParseArgs(name, specs, argc, argv, first);
  if (!args.ok()) {
    std::fprintf(stderr, "harmonia: %s\n", std::string(args.status().message()).c_str());
    *exit = 2;
    return std::nullopt;
  }
  absl::StatusOr<Remote> remote = Remote::Connect(*args);
  if (!remote.ok()) {
    std::fprintf(stderr, "harmonia: %s\n", std::string(remote.status().message()).c_str());
    *exit = 2;
    return std::nullopt;
  }
  return RemoteCommand{std::move(*args), std::move(*remote)};
}

ProgressBar::ProgressBar() : tty_(isatty(2) != 0) {}

void ProgressBar::Update(int64_t done, int64_t total, const std::string& what) {
  if (!tty_) return;
  constexpr int kWidth = 30;
  if (total > 0) {
    const int filled = static_cast<int>(kWidth * std::min(done, total) / total);
    std::string bar(filled, '=');
    if (filled < kWidth) bar += '>';
    bar.resize(kWidth, ' ');
    std::fprintf(stderr, "\r[%s] %3lld%% %lld/%lld %s\x1b[K", bar.c_str(),
                 static_cast<long long>(100 * std::min(done, total) / total),
                 static_cast<long long>(done), static_cast<long long>(total), what.c_str());
  } else {
    std::fprintf(stderr, "\r%s %lld\x1b[K", what.c_str(), static_cast<long long>(done));
  }
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (drawn_) std::fputs("\r\x1b[K", stderr);
  drawn_ = false;
}

int FailCall(const grpc::Status& status, const std::string& what) {
  const absl::Status s = services::FromGrpcStatus(status);
  std::fprintf(stderr, "harmonia: %s: %s: %s\n", what.c_str(),
               absl::StatusCodeToString(s.code()).c_str(), std::string(s.message()).c_str());
  for (const Issue& i : services::IssuesOf(s)) {
    std::fprintf(stderr, "%s\n", FormatIssue(i).c_str());
  }
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kOutOfRange:
      return 2;
    default:
      return 1;
  }
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

std::string FormatUnix(int64_t unix_seconds) {
  return absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::FromUnixSeconds(unix_seconds),
                          absl::UTCTimeZone());
}

}  // namespace harmonia::cli
