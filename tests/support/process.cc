#include "tests/support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace harmonia::testing {
namespace {

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> Environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (const std::string& x : extra) {
    const std::string name = x.substr(0, x.find('=') + 1);
    std::erase_if(env, [&](const std::string& e) { return e.rfind(name, 0) == 0; });
    env.push_back(x);
  }
  return env;
}

std::string ReadFd(int fd) {
  std::string out;
  char buffer[65536];
  off_t offset = 0;
  for (ssize_t n; (n = pread(fd, buffer, sizeof buffer, offset)) > 0; offset += n) {
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int WaitFor(pid_t pid, int options, bool* exited) {
  int status = 0;
  pid_t r;
  while ((r = waitpid(pid, &status, options)) < 0 && errno == EINTR) {
  }
  *exited = r == pid;
  if (!*exited) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

pid_t Spawn(std::vector<std::string> argv, const std::vector<std::string>& extra_env, int out_fd,
            int err_fd, std::string* error) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  std::vector<std::string> env = Environment(extra_env);
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_env = CStrings(env);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, c_argv[0], &actions, nullptr, c_argv.data(), c_env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    *error = absl::StrCat("cannot run ", argv[0], ": ", std::strerror(rc));
    return -1;
  }
  return pid;
}

}  // namespace

ProcessResult Run(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  ProcessResult result;
  const int out = memfd_create("harmonia-test-out", MFD_CLOEXEC);
  const int err = memfd_create("harmonia-test-err", MFD_CLOEXEC);
  std::string error;
  const pid_t pid = Spawn(argv, env, out, err, &error);
  if (pid < 0) {
    result.exit_code = 127;
    result.err = error;
  } else {
    bool exited = false;
    result.exit_code = WaitFor(pid, 0, &exited);
    result.out = ReadFd(out);
    result.err = ReadFd(err);
  }
  close(out);
  close(err);
  return result;
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const std::vector<std::string>& argv,
                                                      const std::string& log_path,
                                                      absl::Duration timeout) {
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return absl::InternalError(absl::StrCat(log_path, ": ", std::strerror(errno)));
  const off_t start = lseek(log, 0, SEEK_END);
  std::unique_ptr<Daemon> d(new Daemon());
  d->log_path_ = log_path;
  std::string error;
  d->pid_ = Spawn(argv, {}, log, log, &error);
  close(log);
  if (d->pid_ < 0) return absl::InternalError(error);
  const absl::Time deadline = absl::Now() + timeout;
  constexpr std::string_view kKey = "\"address\":\"";
  while (absl::Now() < deadline) {
    const std::string text = ReadFile(log_path).substr(static_cast<size_t>(start));
    const size_t at = text.find("\"event\":\"listening\"");
    if (at != std::string::npos) {
      const size_t a = text.find(kKey, at);
      if (a != std::string::npos) {
        const size_t b = text.find('"', a + kKey.size());
        d->address_ = text.substr(a + kKey.size(), b - a - kKey.size());
        return d;
      }
    }
    bool exited = false;
    const int code = WaitFor(d->pid_, WNOHANG, &exited);
    if (exited) {
      d->pid_ = -1;
      return absl::InternalError(
          absl::StrCat(argv[0], " exited with ", code, " before listening:\n", text));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat(argv[0], " did not listen within ",
                                                  absl::FormatDuration(timeout), ":\n", d->Log()));
}

Daemon::~Daemon() { Kill(); }

int Daemon::Stop(absl::Duration timeout) {
  if (pid_ < 0) return -1;
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    bool exited = false;
    const int code = WaitFor(pid_, WNOHANG, &exited);
    if (exited) {
      pid_ = -1;
      return code;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  Kill();
  return 128 + SIGKILL;
}

void Daemon::Kill() {
  if (pid_ < 0) return;
  kill(pid_, SIGKILL);
  bool exited = false;
  WaitFor(pid_, 0, &exited);
  pid_ = -1;
}

std::string Daemon::Log() const { return ReadFile(log_path_); }

std::string ReadText(const std::string& path) { return ReadFile(path); }

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

absl::Status MakeTestCertificates(const std::string& dir) {
  const std::vector<std::string> commands = {
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=harmonia-test-ca -keyout "
      "ca.key -out ca.pem",
      "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out "
      "server.csr",
      "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext",
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile server.ext -out server.pem",
      "openssl req -newkey rsa:2048 -nodes -subj /CN=harmonia-client -keyout client.key -out "
      "client.csr",
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -out "
      "client.pem"};
  for (const std::string& c : commands) {
    ProcessResult r = Run({"/bin/sh", "-c", "cd '" + dir + "' && " + c + " 2>&1"});
    if (r.exit_code != 0) return absl::InternalError(absl::StrCat(c, ":\n", r.out));
  }
  return absl::OkStatus();
}

bool WaitForLog(const std::string& log_path, const std::string& needle, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  do {
    if (ReadFile(log_path).find(needle) != std::string::npos) return true;
    absl::SleepFor(absl::Milliseconds(20));
  } while (absl::Now() < deadline);
  return false;
}

}  // namespace harmonia::testing
