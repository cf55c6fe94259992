#include "tests/support/postgres_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace harmonia::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

struct ConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using Conn = std::unique_ptr<PGconn, ConnCloser>;
struct ResultClearer {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ResultClearer>;

Conn Connect(const std::string& conninfo) { return Conn(PQconnectdb(conninfo.c_str())); }

// Runs one statement; the single value of a one-row, one-column result or ""
// for a command. Failures are test failures (with the server's message).
std::string Query(PGconn* conn, const std::string& sql) {
  Result result(PQexec(conn, sql.c_str()));
  ExecStatusType status = PQresultStatus(result.get());
  EXPECT_TRUE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
      << sql << ": " << PQresultErrorMessage(result.get());
  if (status == PGRES_TUPLES_OK && PQntuples(result.get()) == 1 && PQnfields(result.get()) == 1) {
    return PQgetvalue(result.get(), 0, 0);
  }
  return "";
}

// Whether any process's command line contains `needle` (zombies have none).
bool AnyProcessMentions(const std::string& needle) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (!std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::stringstream cmdline;
    cmdline << in.rdbuf();
    if (cmdline.str().find(needle) != std::string::npos) return true;
  }
  return false;
}

// errno of a TCP connect to 127.0.0.1:port, 0 when it succeeds.
int TcpConnectError(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  int err = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 ? 0 : errno;
  close(fd);
  return err;
}

TEST(PostgresServerTest, RoundTripsRowsThroughARealServer) {
  auto started = std::chrono::steady_clock::now();
  absl::StatusOr<std::unique_ptr<PostgresServer>> server = PostgresServer::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  std::cerr << "server started in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
            << " s\n";
  const PostgresServer& pg = **server;
  EXPECT_EQ(pg.url(),
            absl::StrCat("postgresql://harmonia@127.0.0.1:", pg.port(), "/harmonia_test"));
  EXPECT_THAT(pg.root_dir(), StartsWith("/tmp/harmonia-pg-"));

  Conn conn = Connect(pg.url());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_EQ(PQserverVersion(conn.get()) / 10000, 15);
  EXPECT_EQ(Query(conn.get(), "SELECT current_database()"), "harmonia_test");
  EXPECT_EQ(Query(conn.get(), "SHOW server_encoding"), "UTF8");
  EXPECT_EQ(Query(conn.get(), "SHOW listen_addresses"), "127.0.0.1");

  Query(conn.get(), "CREATE TABLE segments (id bigint PRIMARY KEY, name text NOT NULL)");
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"1", "oncology"}, {"2", "Zoë's cardiology"}, {"3", "rare — diseases"}};
  for (const auto& [id, name] : rows) {
    const char* params[] = {id.c_str(), name.c_str()};
    Result inserted(PQexecParams(conn.get(), "INSERT INTO segments (id, name) VALUES ($1, $2)", 2,
                                 nullptr, params, nullptr, nullptr, 0));
    ASSERT_EQ(PQresultStatus(inserted.get()), PGRES_COMMAND_OK)
        << PQresultErrorMessage(inserted.get());
  }
  Result selected(PQexec(conn.get(), "SELECT id, name FROM segments ORDER BY id"));
  ASSERT_EQ(PQresultStatus(selected.get()), PGRES_TUPLES_OK)
      << PQresultErrorMessage(selected.get());
  ASSERT_EQ(PQntuples(selected.get()), static_cast<int>(rows.size()));
  for (int i = 0; i < PQntuples(selected.get()); ++i) {
    EXPECT_EQ(PQgetvalue(selected.get(), i, 0), rows[i].first) << "row " << i;
    EXPECT_EQ(PQgetvalue(selected.get(), i, 1), rows[i].second) << "row " << i;
  }

  // The Unix socket works too, and the server is not running as root.
  Conn local = Connect(absl::StrCat("host=", pg.socket_dir(), " port=", pg.port(),
                                    " user=harmonia dbname=harmonia_test"));
  ASSERT_EQ(PQstatus(local.get()), CONNECTION_OK) << PQerrorMessage(local.get());
  EXPECT_EQ(Query(local.get(), "SELECT count(*) FROM segments"), "3");
  struct stat data_dir;
  ASSERT_EQ(stat((pg.root_dir() + "/data").c_str(), &data_dir), 0);
  EXPECT_NE(data_dir.st_uid, 0u);
  if (geteuid() != 0) {
    EXPECT_EQ(data_dir.st_uid, geteuid());
  }

  conn.reset();
  local.reset();
  started = std::chrono::steady_clock::now();
  server->reset();
  std::cerr << "server stopped and removed in "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
            << " s\n";
}

TEST(PostgresServerTest, TwoServersRunAtOnce) {
  absl::StatusOr<std::unique_ptr<PostgresServer>> a = PostgresServer::Start({});
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<std::unique_ptr<PostgresServer>> b =
      PostgresServer::Start({.database = "other_db"});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE((*a)->port(), (*b)->port());
  EXPECT_NE((*a)->root_dir(), (*b)->root_dir());
  EXPECT_THAT((*b)->url(), HasSubstr("/other_db"));

  Conn conn_a = Connect((*a)->url());
  Conn conn_b = Connect((*b)->url());
  ASSERT_EQ(PQstatus(conn_a.get()), CONNECTION_OK) << PQerrorMessage(conn_a.get());
  ASSERT_EQ(PQstatus(conn_b.get()), CONNECTION_OK) << PQerrorMessage(conn_b.get());
  Query(conn_a.get(), "CREATE TABLE only_in_a (x int)");
  Query(conn_a.get(), "INSERT INTO only_in_a VALUES (7)");
  EXPECT_EQ(Query(conn_a.get(), "SELECT x FROM only_in_a"), "7");
  EXPECT_EQ(Query(conn_b.get(), "SELECT to_regclass('only_in_a') IS NULL"), "t");
  EXPECT_EQ(Query(conn_b.get(), "SELECT current_database()"), "other_db");
}

TEST(PostgresServerTest, DestructorStopsTheServerAndRemovesItsDirectory) {
  absl::StatusOr<std::unique_ptr<PostgresServer>> server = PostgresServer::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string url = (*server)->url();
  const std::string root = (*server)->root_dir();
  const int port = (*server)->port();
  ASSERT_EQ(PQping(url.c_str()), PQPING_OK);
  ASSERT_TRUE(AnyProcessMentions(root + "/data"));

  server->reset();
  EXPECT_EQ(PQping(url.c_str()), PQPING_NO_RESPONSE);
  EXPECT_EQ(TcpConnectError(port), ECONNREFUSED);
  EXPECT_FALSE(std::filesystem::exists(root));
  EXPECT_FALSE(AnyProcessMentions(root + "/data"));
}

TEST(PostgresServerTest, StopMakesTheDatabaseUnreachable) {
  absl::StatusOr<std::unique_ptr<PostgresServer>> server = PostgresServer::Start({});
  ASSERT_TRUE(server.ok()) << server.status();
  Conn conn = Connect((*server)->url());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());

  ASSERT_TRUE((*server)->Stop().ok());
  EXPECT_EQ(PQping((*server)->url().c_str()), PQPING_NO_RESPONSE);
  Result result(PQexec(conn.get(), "SELECT 1"));
  EXPECT_EQ(PQresultStatus(result.get()), PGRES_FATAL_ERROR);
  EXPECT_TRUE(std::filesystem::exists((*server)->log_path()));
  EXPECT_TRUE((*server)->Stop().ok()) << "Stop() is idempotent";
}

TEST(PostgresServerTest, CallerChosenRootDirIsKeptWithItsLog) {
  char parent[] = "/tmp/harmonia-pgtest-parent-XXXXXX";
  ASSERT_NE(mkdtemp(parent), nullptr);
  chmod(parent, 0755);  // the server's OS user must be able to enter it
  const std::string root = std::string(parent) + "/cluster";
  {
    absl::StatusOr<std::unique_ptr<PostgresServer>> server =
        PostgresServer::Start({.root_dir = root, .database = "with space"});
    ASSERT_TRUE(server.ok()) << server.status();
    EXPECT_EQ((*server)->root_dir(), root);
    EXPECT_EQ((*server)->socket_dir(), root + "/socket");
    Conn conn = Connect((*server)->url());
    ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
    EXPECT_EQ(Query(conn.get(), "SELECT current_database()"), "with space");

    absl::StatusOr<std::unique_ptr<PostgresServer>> again =
        PostgresServer::Start({.root_dir = root});
    EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(again.status().message(), HasSubstr(root));
  }
  EXPECT_TRUE(std::filesystem::exists(root + "/server.log"));
  EXPECT_FALSE(AnyProcessMentions(root + "/data"));
  std::filesystem::remove_all(parent);
}

TEST(PostgresServerTest, MissingBinariesAreAClearError) {
  absl::StatusOr<std::unique_ptr<PostgresServer>> server =
      PostgresServer::Start({.bin_dir = "/nonexistent/pg/bin"});
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(server.status().message(), HasSubstr("/nonexistent/pg/bin/initdb"));
}

TEST(PostgresServerTest, DatabaseNameIsQuotedNotSpliced) {
  absl::StatusOr<std::unique_ptr<PostgresServer>> server =
      PostgresServer::Start({.database = "x\"; DROP DATABASE postgres; --"});
  ASSERT_TRUE(server.ok()) << server.status();
  Conn conn = Connect((*server)->url());
  ASSERT_EQ(PQstatus(conn.get()), CONNECTION_OK) << PQerrorMessage(conn.get());
  EXPECT_EQ(Query(conn.get(), "SELECT count(*) FROM pg_database WHERE datname = 'postgres'"), "1");
}

TEST(PostgresServerTest, FailingCommandIsReportedWithItsExitCodeAndOutput) {
  char bin[] = "/tmp/harmonia-pgtest-bin-XXXXXX";
  ASSERT_NE(mkdtemp(bin), nullptr);
  chmod(bin, 0755);  // the server's OS user runs the scripts
  for (const char* tool : {"initdb", "pg_ctl", "postgres"}) {
    const std::string path = absl::StrCat(bin, "/", tool);
    std::ofstream(path) << "#!/bin/sh\necho \"" << tool << ": disk full\" >&2\nexit 3\n";
    chmod(path.c_str(), 0755);
  }
  absl::StatusOr<std::unique_ptr<PostgresServer>> server = PostgresServer::Start({.bin_dir = bin});
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(server.status().message(), HasSubstr("initdb exited with code 3"));
  EXPECT_THAT(server.status().message(), HasSubstr("initdb: disk full"));
  std::filesystem::remove_all(bin);
}

// The point of the watchdog: a test killed with SIGKILL (a CTest timeout, a
// crash, Ctrl-C) does not leave its server running or its directory behind.
TEST(PostgresServerTest, ServerOfAKilledProcessIsStoppedAndRemoved) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pipe_fds[0]);
    absl::StatusOr<std::unique_ptr<PostgresServer>> server = PostgresServer::Start({});
    std::string line = server.ok() ? absl::StrCat((*server)->port(), " ", (*server)->root_dir())
                                   : absl::StrCat("error ", server.status().ToString());
    line.push_back('\n');
    if (write(pipe_fds[1], line.data(), line.size()) < 0) _exit(2);
    for (;;) pause();  // until SIGKILL
  }
  close(pipe_fds[1]);
  std::string line;
  char c;
  while (read(pipe_fds[0], &c, 1) == 1 && c != '\n') line.push_back(c);
  close(pipe_fds[0]);
  std::istringstream fields(line);
  int port = 0;
  std::string root;
  fields >> port >> root;
  if (port == 0) {
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    FAIL() << "child: " << line;
  }
  const std::string url = absl::StrCat("postgresql://harmonia@127.0.0.1:", port, "/harmonia_test");
  ASSERT_EQ(PQping(url.c_str()), PQPING_OK);

  ASSERT_EQ(kill(child, SIGKILL), 0);
  ASSERT_EQ(waitpid(child, nullptr, 0), child);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((std::filesystem::exists(root) || AnyProcessMentions(root + "/data")) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(PQping(url.c_str()), PQPING_NO_RESPONSE);
  EXPECT_FALSE(std::filesystem::exists(root));
  EXPECT_FALSE(AnyProcessMentions(root + "/data"));
}

}  // namespace
}  // namespace harmonia::testing
