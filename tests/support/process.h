// Real processes for cross-process tests: run a command to completion, or
// start a daemon (harmonia-rules, harmonia-worker) and wait until it listens.
//
//   auto rules = Daemon::Start({HARMONIA_RULES, "--listen", "127.0.0.1:0", …}, dir + "/rules.log");
//   Run({HARMONIA_CLI, "rules", "list", "--server", (*rules)->address(), …});
//
// A daemon logs JSON lines on stderr (services/log.h); Start() sends them to
// a file and reads the "listening" line's address, so tests never race for a
// port. Destroying a Daemon that still runs kills it (SIGKILL).
#ifndef HARMONIA_TESTS_SUPPORT_PROCESS_H_
#define HARMONIA_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace harmonia::testing {

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
};

// Runs argv (argv[0] an absolute path) with `env` added to this process's
// environment ("NAME=value"), stdin from /dev/null. Never fails: a command
// that cannot run gives exit code 127 and the reason in `err`.
ProcessResult Run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});

class Daemon {
 public:
  // Starts argv with stderr (and stdout) appended to `log_path` and waits up
  // to `timeout` for its "listening" log line. DeadlineExceeded or Internal
  // (with the log's tail) when it exits or stays silent.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const std::vector<std::string>& argv,
                                                       const std::string& log_path,
                                                       absl::Duration timeout = absl::Seconds(30));
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  // SIGTERM, then waits up to `timeout` (SIGKILL after); the exit code.
  int Stop(absl::Duration timeout = absl::Seconds(30));
  // SIGKILL and reap.
  void Kill();
  // The log so far.
  std::string Log() const;

 private:
  Daemon() = default;
  pid_t pid_ = -1;
  std::string address_;
  std::string log_path_;
};

// Whole files, for test fixtures ("" when unreadable).
std::string ReadText(const std::string& path);
void WriteText(const std::string& path, const std::string& text);

// A CA (ca.pem), a server certificate for localhost and 127.0.0.1
// (server.pem, server.key) and a client certificate (client.pem, client.key)
// in `dir`, made with the openssl command (RSA 2048, valid one day).
// Internal with the command's output when one fails.
absl::Status MakeTestCertificates(const std::string& dir);

// Waits until `log_path` contains `needle` (or `timeout` passes).
bool WaitForLog(const std::string& log_path, const std::string& needle,
                absl::Duration timeout = absl::Seconds(30));

}  // namespace harmonia::testing

#endif  // HARMONIA_TESTS_SUPPORT_PROCESS_H_
