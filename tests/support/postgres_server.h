// A real, throwaway PostgreSQL 15 server for tests: start here.
//
//   auto server = harmonia::testing::PostgresServer::Start({});
//   ASSERT_TRUE(server.ok()) << server.status();
//   PGconn* conn = PQconnectdb((*server)->url().c_str());
//
// Start() runs initdb in a fresh directory (/tmp/harmonia-pg-XXXXXX by
// default), starts the server with pg_ctl on 127.0.0.1 and a free port, waits
// until it accepts connections and creates the test database. Destroying the
// object stops the server (fast shutdown) and removes the directory. No mock:
// this is the PostgreSQL the store runs against in production.
//
// PostgreSQL refuses to run as root. When the test process is root, the server
// runs as the OS user `harmonia-pg`, which scripts/setup.sh creates once
// (FailedPrecondition naming the script when it is missing); initdb and pg_ctl
// are run through runuser. Otherwise it runs as the current user.
//
// A killed test does not leave its server behind: Start() also launches a tiny
// detached watchdog (sh) holding one end of a socket pair whose other end only
// this process holds. When this process dies, however it dies, the watchdog
// sees end-of-file, stops the server and removes the directory.
// tests/support/stop_stray_postgres.sh cleans up what is left if even the
// watchdog was killed.
//
// Thread safety: a PostgresServer is not safe for concurrent mutation (Stop,
// destruction); the const accessors may be called from any thread. Several
// servers may run at once, in one process or many.
#ifndef HARMONIA_TESTS_SUPPORT_POSTGRES_SERVER_H_
#define HARMONIA_TESTS_SUPPORT_POSTGRES_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace harmonia::testing {

class PostgresServer {
 public:
  struct Options {
    // Directory for the cluster (data/), its Unix socket (socket/) and the
    // server log (server.log). Empty: a new mkdtemp directory
    // /tmp/harmonia-pg-XXXXXX, removed by the destructor. Otherwise it must not
    // exist yet (its parent must); it is created, handed to the server's OS
    // user, and left in place, log included, for the caller to inspect.
    std::string root_dir;

    // The database Start() creates and url() names.
    std::string database = "harmonia_test";

    // How long to wait for the server to accept connections, per attempt.
    absl::Duration startup_timeout = absl::Seconds(30);

    // Where initdb, pg_ctl and postgres live.
    std::string bin_dir = "/usr/lib/postgresql/15/bin";
  };

  // Starts a server and creates `options.database` in it. Errors name the step
  // that failed: FailedPrecondition when the binaries or a usable OS user are
  // missing, Internal when a command fails (with its exit code, its output and
  // the tail of the server log), DeadlineExceeded when the server does not
  // accept connections within `startup_timeout`. A port taken by someone else
  // between choosing and binding it is retried with a new port (5 attempts).
  // Nothing is left running or on disk after an error (except a caller-chosen
  // root_dir).
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start(const Options& options);

  // Stops the server and removes the directory Start() created. Never fails;
  // a failure to stop is reported on stderr, after which the postmaster is
  // sent SIGQUIT (immediate shutdown).
  ~PostgresServer();

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Stops the server now (fast shutdown: open sessions are rolled back), for
  // tests of what clients do when the database goes away. The directory stays
  // until destruction. Idempotent; Internal when pg_ctl fails.
  absl::Status Stop();

  // libpq URI of the test database over TCP, e.g.
  // postgresql://harmonia@127.0.0.1:54321/harmonia_test. The database user
  // `harmonia` is a superuser; authentication is `trust`.
  std::string url() const;
  // The TCP port on 127.0.0.1.
  int port() const { return port_; }
  // Directory of the server's Unix socket (host=<socket_dir> in libpq terms).
  std::string socket_dir() const { return root_dir_ + "/socket"; }
  // The directory holding data/, socket/ and server.log.
  const std::string& root_dir() const { return root_dir_; }
  std::string log_path() const { return root_dir_ + "/server.log"; }
  const std::string& database() const { return database_; }

 private:
  PostgresServer() = default;
  // Runs bin_dir/tool with args as the server's OS user, in root_dir;
  // Internal, with the command's output, when it exits non-zero.
  absl::Status RunTool(const std::string& tool, const std::vector<std::string>& args) const;

  std::string bin_dir_;
  std::string root_dir_;
  bool owns_root_dir_ = false;
  std::string database_;
  std::string run_as_;  // OS user for runuser; empty: this process's user
  int port_ = 0;
  bool running_ = false;
  int watchdog_fd_ = -1;  // our end of the watchdog's socket pair
};

}  // namespace harmonia::testing

#endif  // HARMONIA_TESTS_SUPPORT_POSTGRES_SERVER_H_
