// What every command that talks to a server shares: the connection flags
// (--server, --token or $HARMONIA_TOKEN, TLS), calls with the bearer token
// and a deadline, --json output, and exit codes from gRPC status codes.
#ifndef HARMONIA_CLI_REMOTE_H_
#define HARMONIA_CLI_REMOTE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/args.h"
#include "google/protobuf/message.h"

namespace harmonia::cli {

// --server, --token, --tls-ca, --tls-cert, --tls-key, --tls-server-name,
// --timeout, --json: appended to a command's own flags.
std::vector<FlagSpec> WithRemoteFlags(std::vector<FlagSpec> specs);

class Remote {
 public:
  // InvalidArgument for a missing --server or token, or bad TLS files.
  static absl::StatusOr<Remote> Connect(const Args& args);

  // A context carrying the token and the deadline (--timeout seconds; none
  // for streams when `stream`).
  std::unique_ptr<grpc::ClientContext> Context(bool stream = false) const;
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  bool json() const { return json_; }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::string token_;
  int timeout_seconds_ = 60;
  bool json_ = false;
};

// A remote command's parsed flags and connection.
struct RemoteCommand {
  Args args;
  Remote remote;
};
// Parses `specs` plus the remote flags and connects. On --help (exit 0) or an
// error (printed; exit 2) returns nullopt with *exit set.
std::optional<RemoteCommand> StartRemote(const char* name, const char* usage,
                                         std::vector<FlagSpec> specs, int argc, char** argv,
                                         int first, int* exit);

// A remote command with a stub of `Service` (v1::RulesService,
// v1::CountryService) on its connection.
template <typename Service>
struct ServiceCommand {
  Args args;
  Remote remote;
  std::unique_ptr<typename Service::Stub> stub;
};
template <typename Service>
std::optional<ServiceCommand<Service>> StartService(const char* name, const char* usage,
                                                    std::vector<FlagSpec> specs, int argc,
                                                    char** argv, int first, int* exit) {
  std::optional<RemoteCommand> c =
      StartRemote(name, usage, std::move(specs), argc, argv, first, exit);
  if (!c) return std::nullopt;
  auto stub = Service::NewStub(c->remote.channel());
  return ServiceCommand<Service>{std::move(c->args), std::move(c->remote), std::move(stub)};
}

// A progress line on stderr when it is a terminal ("\r[=====>   ] 45% 4500/10000 what");
// nothing otherwise. Finish() ends the line.
class ProgressBar {
 public:
  ProgressBar();
  void Update(int64_t done, int64_t total, const std::string& what);
  void Finish();

 private:
  bool tty_;
  bool drawn_ = false;
};

// Prints a failed call on stderr ("harmonia: <server>: CODE: message", the
// issues of a rejected rule set one per line) and returns the exit status:
// 2 when the request was refused (invalid, not found, not allowed, wrong
// state), 1 when the machine failed (unavailable, internal).
int FailCall(const grpc::Status& status, const std::string& what);

// The message as JSON (proto3 JSON mapping, field names as in the .proto).
std::string ToJson(const google::protobuf::Message& message);

// "2026-11-24 23:40 UTC" for an instant in seconds.
std::string FormatUnix(int64_t unix_seconds);

}  // namespace harmonia::cli

#endif  // HARMONIA_CLI_REMOTE_H_
