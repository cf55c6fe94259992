#include "tests/support/postgres_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

extern char** environ;

namespace harmonia::testing {
namespace {

constexpr char kDbUser[] = "harmonia";               // the cluster's superuser (initdb --username)
constexpr char kDedicatedOsUser[] = "harmonia-pg";   // scripts/setup.sh creates it
constexpr char kTempPrefix[] = "/tmp/harmonia-pg-";  // stop_stray_postgres.sh looks here
constexpr int kPortAttempts = 5;
constexpr int kStopTimeoutSeconds = 60;
constexpr int kTailLines = 20;

// Output of a finished command: stdout and stderr interleaved.
struct CommandResult {
  int exit_code = 0;  // 128 + signal number when killed by a signal
  std::string output;
};

std::string ErrnoText(int err) { return std::strerror(err); }

// The last `lines` lines of `text`, indented, for error messages.
std::string Tail(const std::string& text, int lines = kTailLines) {
  size_t end = text.size();
  while (end > 0 && text[end - 1] == '\n') --end;
  size_t start = end;
  for (int n = 0; start > 0; --start) {
    if (text[start - 1] == '\n' && ++n == lines) break;
  }
  if (start == end) return "(no output)";
  std::string out = "\n  ";
  for (size_t i = start; i < end; ++i) {
    out.push_back(text[i]);
    if (text[i] == '\n') out += "  ";
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// This process's environment for a child, minus what would redirect or
// translate PostgreSQL's tools (PG*, locale variables), plus LC_ALL=C so
// messages stay in English.
std::vector<std::string> ChildEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string var = *e;
    if (absl::StartsWith(var, "PG") || absl::StartsWith(var, "LC_") ||
        absl::StartsWith(var, "LANG")) {
      continue;
    }
    env.push_back(std::move(var));
  }
  env.push_back("LC_ALL=C");
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Waits for `pid`, returning its exit code (128 + signal when killed).
int WaitForExit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Owns a posix_spawn_file_actions_t.
class FileActions {
 public:
  FileActions() { posix_spawn_file_actions_init(&actions_); }
  ~FileActions() { posix_spawn_file_actions_destroy(&actions_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// Runs argv[0] (an absolute path) with `argv`, stdin from /dev/null and
// stdout+stderr captured, in directory `cwd`. A non-zero exit is a result,
// not an error; only failing to run the command at all is.
absl::StatusOr<CommandResult> RunCommand(std::vector<std::string> argv, const std::string& cwd) {
  // An anonymous file rather than a pipe: a daemon that inherits the output
  // (pg_ctl's postmaster) can never make us wait for end-of-file.
  Fd out(memfd_create("harmonia-pg-command", MFD_CLOEXEC));
  if (out.get() < 0) return absl::InternalError(absl::StrCat("memfd_create: ", ErrnoText(errno)));
  FileActions actions;
  posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(actions.get(), out.get(), 1);
  posix_spawn_file_actions_adddup2(actions.get(), out.get(), 2);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(actions.get(), cwd.c_str());
  std::vector<std::string> env = ChildEnvironment();
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);
  pid_t pid = 0;
  int err = posix_spawn(&pid, c_argv[0], actions.get(), nullptr, c_argv.data(), c_env.data());
  if (err != 0) {
    return absl::InternalError(absl::StrCat("cannot run ", argv[0], ": ", ErrnoText(err)));
  }
  CommandResult result;
  result.exit_code = WaitForExit(pid);
  char buffer[4096];
  off_t offset = 0;
  for (ssize_t n; (n = pread(out.get(), buffer, sizeof(buffer), offset)) > 0; offset += n) {
    result.output.append(buffer, static_cast<size_t>(n));
  }
  return result;
}

std::optional<std::pair<uid_t, gid_t>> LookUpOsUser(const std::string& name) {
  passwd entry;
  passwd* found = nullptr;
  std::vector<char> buffer(16384);
  if (getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    return std::nullopt;
  }
  return std::make_pair(entry.pw_uid, entry.pw_gid);
}

// The OS user to run the server as when this process is root: harmonia-pg.
// scripts/setup.sh creates it once, before any test runs: test processes
// running in parallel must not create it themselves (concurrent useradd
// calls corrupt each other's entries: "could not look up effective user ID").
absl::StatusOr<std::string> ServerOsUserForRoot() {
  if (LookUpOsUser(kDedicatedOsUser)) return std::string(kDedicatedOsUser);
  return absl::FailedPreconditionError(absl::StrCat(
      "PostgreSQL test server: running as root, PostgreSQL needs an unprivileged OS user, and ",
      kDedicatedOsUser, " does not exist; run scripts/setup.sh (it creates it once)"));
}

// A TCP port on 127.0.0.1 that was free a moment ago.
absl::StatusOr<int> PickFreePort() {
  Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return absl::InternalError(absl::StrCat("socket: ", ErrnoText(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError(
        absl::StrCat("choosing a free port on 127.0.0.1: ", ErrnoText(errno)));
  }
  return ntohs(addr.sin_port);
}

// "pid starttime" of this process, which stop_stray_postgres.sh compares with
// /proc to tell a live test from a dead one (pids are reused).
std::string OwnerLine() {
  std::string stat = ReadFile("/proc/self/stat");
  std::string start_time = "0";
  size_t paren = stat.rfind(')');
  if (paren != std::string::npos) {
    std::istringstream fields(stat.substr(paren + 2));
    std::string field;
    // Fields after the command name start at 3 (state); starttime is 22.
    for (int i = 3; i <= 22 && (fields >> field); ++i) {
      if (i == 22) start_time = field;
    }
  }
  return absl::StrCat(getpid(), " ", start_time, "\n");
}

// A value for postgresql.conf, single-quoted.
std::string ConfString(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

// `s` for the path of a URI: unreserved characters kept, others %-encoded.
std::string PercentEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// `argv` as one would type it in a shell, for error messages.
std::string CommandLine(const std::vector<std::string>& argv) {
  std::vector<std::string> words;
  for (const std::string& arg : argv) {
    const bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](unsigned char c) {
      return std::isalnum(c) || std::strchr("_./=:@%+-", c) != nullptr;
    });
    if (plain) {
      words.push_back(arg);
    } else {
      std::string quoted = "'";
      for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
      words.push_back(quoted + "'");
    }
  }
  return absl::StrJoin(words, " ");
}

bool IsBindFailure(const std::string& log) {
  return absl::StrContains(log, "could not bind") ||
         absl::StrContains(log, "Address already in use") ||
         absl::StrContains(log, "could not create any TCP/IP sockets");
}

// The watchdog: a detached sh that waits on one end of a socket pair. The
// other end is ours alone (close-on-exec), so the watchdog reads "done" when
// we shut down normally and end-of-file when this process dies any other way;
// then it stops the postmaster (fast shutdown, immediate after 30 s) and
// removes the directory if we created it. It runs in its own session and is
// re-parented to init, so neither Ctrl-C nor a kill of our process tree
// reaches it.
constexpr char kWatchdogScript[] = R"sh(
watch() {
  if read -r line <&3 && [ "$line" = done ]; then exit 0; fi
  data="$1/data"
  pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null)
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "-D $data "; then
    kill -INT "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null; do
      i=$((i + 1))
      [ "$i" -eq 300 ] && kill -QUIT "$pid"
      [ "$i" -ge 600 ] && kill -KILL "$pid" && break
      sleep 0.1
    done
  fi
  [ "$2" = remove ] && rm -rf -- "$1"
}
watch "$@" </dev/null >/dev/null 2>&1 &
)sh";

absl::StatusOr<int> StartWatchdog(const std::string& root_dir, bool remove_root_dir) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    return absl::InternalError(absl::StrCat("watchdog socketpair: ", ErrnoText(errno)));
  }
  Fd ours(pair[0]);
  // Well away from 3, which the dup2 below targets.
  Fd theirs(fcntl(pair[1], F_DUPFD_CLOEXEC, 10));
  close(pair[1]);
  if (theirs.get() < 0) return absl::InternalError(absl::StrCat("fcntl: ", ErrnoText(errno)));

  FileActions actions;
  posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(actions.get(), 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(actions.get(), 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(actions.get(), theirs.get(), 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID);
  std::vector<std::string> argv = {"/bin/sh",       "-c",
                                   kWatchdogScript, "harmonia-pg-watchdog",
                                   root_dir,        remove_root_dir ? "remove" : "keep"};
  std::vector<std::string> env = ChildEnvironment();
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);
  pid_t pid = 0;
  int err = posix_spawn(&pid, c_argv[0], actions.get(), &attr, c_argv.data(), c_env.data());
  posix_spawnattr_destroy(&attr);
  if (err != 0) return absl::InternalError(absl::StrCat("starting the watchdog: ", ErrnoText(err)));
  // The outer sh exits as soon as it has put the watchdog in the background.
  int exit_code = WaitForExit(pid);
  if (exit_code != 0) {
    return absl::InternalError(absl::StrCat("watchdog shell exited with code ", exit_code));
  }
  return ours.release();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start(const Options& options) {
  if (options.database.empty()) {
    return absl::InvalidArgumentError("PostgreSQL test server: empty database name");
  }
  for (const char* tool : {"initdb", "pg_ctl", "postgres"}) {
    std::string path = absl::StrCat(options.bin_dir, "/", tool);
    if (access(path.c_str(), X_OK) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("PostgreSQL test server: ", path, " not found or not executable (",
                       ErrnoText(errno), "); install postgresql-15 (scripts/setup.sh)"));
    }
  }

  std::optional<std::pair<uid_t, gid_t>> os_user;
  std::string run_as;
  if (geteuid() == 0) {
    HARMONIA_ASSIGN_OR_RETURN(run_as, ServerOsUserForRoot());
    os_user = LookUpOsUser(run_as);
    if (!os_user) return absl::InternalError(absl::StrCat("OS user ", run_as, " vanished"));
  }

  // From here on the object exists, so every early return stops and cleans up.
  auto server = std::unique_ptr<PostgresServer>(new PostgresServer());
  server->bin_dir_ = options.bin_dir;
  server->database_ = options.database;
  server->run_as_ = run_as;
  if (options.root_dir.empty()) {
    std::string templ = absl::StrCat(kTempPrefix, "XXXXXX");
    if (mkdtemp(templ.data()) == nullptr) {
      return absl::InternalError(
          absl::StrCat("PostgreSQL test server: mkdtemp ", templ, ": ", ErrnoText(errno)));
    }
    server->root_dir_ = templ;
    server->owns_root_dir_ = true;
  } else {
    std::error_code ec;
    server->root_dir_ = std::filesystem::absolute(options.root_dir, ec).lexically_normal();
    if (mkdir(server->root_dir_.c_str(), 0700) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("PostgreSQL test server: cannot create root_dir ", server->root_dir_, ": ",
                       ErrnoText(errno), " (it must not exist yet)"));
    }
  }
  const std::string& root = server->root_dir_;
  const std::string data_dir = root + "/data";
  const std::string prefix = absl::StrCat("PostgreSQL test server ", root, ": ");

  {
    std::ofstream owner(root + "/owner");  // for stop_stray_postgres.sh
    owner << OwnerLine();
  }
  HARMONIA_ASSIGN_OR_RETURN(server->watchdog_fd_, StartWatchdog(root, server->owns_root_dir_));
  if (mkdir(server->socket_dir().c_str(), 0700) != 0) {
    return absl::InternalError(
        absl::StrCat(prefix, "mkdir ", server->socket_dir(), ": ", ErrnoText(errno)));
  }
  if (os_user) {
    for (const std::string& path : {root, server->socket_dir(), root + "/owner"}) {
      if (chown(path.c_str(), os_user->first, os_user->second) != 0) {
        return absl::InternalError(
            absl::StrCat(prefix, "chown ", path, " to ", run_as, ": ", ErrnoText(errno)));
      }
    }
  }

  HARMONIA_RETURN_IF_ERROR(server->RunTool(
      "initdb", {"-D", data_dir, "--auth=trust", absl::StrCat("--username=", kDbUser), "-E", "UTF8",
                 "--locale=C", "--no-sync", "--no-instructions"}));

  // Settings that do not change between attempts; the port comes with -o.
  {
    std::ofstream conf(data_dir + "/postgresql.conf", std::ios::app);
    conf << "\n# Added by tests/support/postgres_server.cc\n"
         << "listen_addresses = '127.0.0.1'\n"
         << "unix_socket_directories = " << ConfString(server->socket_dir()) << "\n"
         << "fsync = off\n"
         << "full_page_writes = off\n"
         << "synchronous_commit = off\n"
         << "shared_buffers = 32MB\n"
         << "timezone = 'UTC'\n";
    if (!conf) {
      return absl::InternalError(
          absl::StrCat(prefix, "cannot append to ", data_dir, "/postgresql.conf"));
    }
  }

  const int timeout_seconds =
      std::max(1, static_cast<int>(std::ceil(absl::ToDoubleSeconds(options.startup_timeout))));
  for (int attempt = 1;; ++attempt) {
    HARMONIA_ASSIGN_OR_RETURN(server->port_, PickFreePort());
    const size_t log_size_before = ReadFile(server->log_path()).size();
    server->running_ = true;  // from now on Stop() has something to stop
    absl::Status started = server->RunTool(
        "pg_ctl", {"start", "-w", "-t", absl::StrCat(timeout_seconds), "-D", data_dir, "-l",
                   server->log_path(), "-o", absl::StrCat("-p ", server->port_)});
    if (started.ok()) break;
    std::string log = ReadFile(server->log_path());
    log.erase(0, std::min(log_size_before, log.size()));
    const bool still_running = access((data_dir + "/postmaster.pid").c_str(), F_OK) == 0;
    if (!still_running) server->running_ = false;
    if (!still_running && IsBindFailure(log) && attempt < kPortAttempts) continue;
    return absl::Status(
        started.code(),
        absl::StrCat(started.message(), "\nserver log (", server->log_path(), ", attempt ", attempt,
                     " of ", kPortAttempts, ", port ", server->port_, "):", Tail(log)));
  }

  // pg_ctl -w has seen the postmaster report "ready"; make sure a client gets
  // through on the TCP address the tests will use.
  const std::string port = absl::StrCat(server->port_);
  const char* keywords[] = {"host",    "port",       "dbname", "user", "connect_timeout",
                            "sslmode", "gssencmode", nullptr};
  const char* values[] = {"127.0.0.1", port.c_str(), "postgres", kDbUser,
                          "5",         "disable",    "disable",  nullptr};
  const absl::Time deadline = absl::Now() + options.startup_timeout;
  PGPing ping = PQPING_NO_RESPONSE;
  while ((ping = PQpingParams(keywords, values, 0)) != PQPING_OK && absl::Now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (ping != PQPING_OK) {
    return absl::DeadlineExceededError(
        absl::StrCat(prefix, "no connection to 127.0.0.1:", port, " within ",
                     absl::FormatDuration(options.startup_timeout), " (PQping ",
                     static_cast<int>(ping), "); server log:", Tail(ReadFile(server->log_path()))));
  }

  PGconn* conn = PQconnectdbParams(keywords, values, 0);
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    char* name = PQescapeIdentifier(conn, options.database.c_str(), options.database.size());
    PGresult* result = PQexec(conn, absl::StrCat("CREATE DATABASE ", name).c_str());
    if (PQresultStatus(result) != PGRES_COMMAND_OK) error = PQresultErrorMessage(result);
    PQclear(result);
    PQfreemem(name);
  }
  PQfinish(conn);
  if (!error.empty()) {
    return absl::InternalError(
        absl::StrCat(prefix, "CREATE DATABASE ", options.database, " on port ", port, ": ", error));
  }
  return server;
}

absl::Status PostgresServer::RunTool(const std::string& tool,
                                     const std::vector<std::string>& args) const {
  std::vector<std::string> argv;
  if (!run_as_.empty()) argv = {"/usr/sbin/runuser", "-u", run_as_, "--"};
  argv.push_back(absl::StrCat(bin_dir_, "/", tool));
  argv.insert(argv.end(), args.begin(), args.end());
  // The server's user may not be able to enter our working directory.
  absl::StatusOr<CommandResult> result = RunCommand(argv, root_dir_);
  if (!result.ok()) {
    return absl::InternalError(
        absl::StrCat("PostgreSQL test server ", root_dir_, ": ", result.status().message()));
  }
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat("PostgreSQL test server ", root_dir_, ": ", tool,
                                            " exited with code ", result->exit_code, " (",
                                            CommandLine(argv), "):", Tail(result->output)));
  }
  return absl::OkStatus();
}

absl::Status PostgresServer::Stop() {
  if (!running_) return absl::OkStatus();
  running_ = false;
  const std::string data_dir = root_dir_ + "/data";
  absl::Status stopped = RunTool("pg_ctl", {"stop", "-w", "-t", absl::StrCat(kStopTimeoutSeconds),
                                            "-D", data_dir, "-m", "fast"});
  if (stopped.ok()) return stopped;
  // No postmaster.pid: the server had already gone (crashed or killed).
  std::string pid_file = ReadFile(data_dir + "/postmaster.pid");
  if (pid_file.empty()) return absl::OkStatus();
  const pid_t pid = static_cast<pid_t>(std::atol(pid_file.c_str()));
  std::string cmdline = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  if (pid > 0 && absl::StrContains(cmdline, absl::StrCat("-D ", data_dir, " "))) {
    kill(pid, SIGQUIT);  // immediate shutdown
  }
  return absl::Status(stopped.code(),
                      absl::StrCat(stopped.message(), "\nsent SIGQUIT to postmaster ", pid,
                                   "; server log:", Tail(ReadFile(log_path()))));
}

PostgresServer::~PostgresServer() {
  absl::Status stopped = Stop();
  if (!stopped.ok()) std::fprintf(stderr, "%s\n", stopped.ToString().c_str());
  if (watchdog_fd_ >= 0) {
    // MSG_NOSIGNAL: a dead watchdog must not take this process with it.
    send(watchdog_fd_, "done\n", 5, MSG_NOSIGNAL);
    close(watchdog_fd_);
  }
  if (owns_root_dir_) {
    std::error_code ec;
    std::filesystem::remove_all(root_dir_, ec);
    if (ec) std::fprintf(stderr, "removing %s: %s\n", root_dir_.c_str(), ec.message().c_str());
  }
}

std::string PostgresServer::url() const {
  return absl::StrCat("postgresql://", kDbUser, "@127.0.0.1:", port_, "/",
                      PercentEncode(database_));
}

}  // namespace harmonia::testing
