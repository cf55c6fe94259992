#include "services/daemon.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "common/json.h"
#include "services/log.h"

namespace harmonia::services {
namespace {

// The signals main() waits for: stop (TERM, INT) and reload (HUP).
sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

// Appends the decimal digits of `v` (at least `width`) to `out`: no
// allocation, so a signal handler may call it.
char* PutNumber(char* out, int64_t v, int width) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0 || n < width);
  while (n > 0) *out++ = digits[--n];
  return out;
}

char* PutText(char* out, const char* text) {
  while (*text != '\0') *out++ = *text++;
  return out;
}

// SIGBUS: a memory-mapped file shrank under the process — for a daemon, the
// SQLite store's shared-memory file (PATH-shm) or database file truncated or
// replaced. No process survives touching such a page, and SQLite keeps that
// mapping for its WAL index, so the daemon logs why, in the structured form
// of services/log.h, and exits with 75 (EX_TEMPFAIL); the service manager
// restarts it (deploy/systemd: Restart=on-failure) and SQLite rebuilds the
// file on open. Any other SIGBUS (misaligned access, a hardware fault) is
// not the store's: it takes the default action (a core dump). Only
// async-signal-safe calls here: clock_gettime, write, _exit, signal, raise.
void OnSigbus(int sig, siginfo_t* info, void*) {
  if (info == nullptr || info->si_code != BUS_ADRERR) {  // not a mapping past its file's end
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  char line[512];
  char* p = PutText(line, "{\"ts\":\"");
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  // Civil date from days since 1970-01-01 (Howard Hinnant's days_from_civil, inverted).
  const int64_t secs = now.tv_sec, days = secs / 86400, rem = secs % 86400;
  const int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  const int64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2);
  p = PutNumber(p, y, 4);
  *p++ = '-';
  p = PutNumber(p, m, 2);
  *p++ = '-';
  p = PutNumber(p, d, 2);
  *p++ = 'T';
  p = PutNumber(p, rem / 3600, 2);
  *p++ = ':';
  p = PutNumber(p, rem / 60 % 60, 2);
  *p++ = ':';
  p = PutNumber(p, rem % 60, 2);
  *p++ = '.';
  p = PutNumber(p, now.tv_nsec / 1000000, 3);
  p = PutText(p,
              "Z\",\"level\":\"error\",\"event\":\"store_fault\",\"signal\":\"SIGBUS\","
              "\"message\":\"a memory-mapped store file shrank under the daemon (a SQLite "
              "store's -shm or database file truncated or replaced); exiting with 75 for the "
              "service manager to restart it\"}\n");
  ssize_t ignored = write(STDERR_FILENO, line, p - line);
  (void)ignored;
  _exit(75);
}

}  // namespace

void InstallFaultHandlers() {
  struct sigaction action {};
  action.sa_sigaction = OnSigbus;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaction(SIGBUS, &action, nullptr);
}

void BlockStopSignals() {
  sigset_t set = StopSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

const char* WaitForStopSignal(const std::function<void()>& on_reload) {
  sigset_t set = StopSignals();
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig != SIGHUP) return sig == SIGTERM ? "SIGTERM" : "SIGINT";
    if (on_reload) on_reload();
  }
}

void NormalizeFlagNames(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    char* a = argv[i];
    if (a[0] != '-' || a[1] != '-') continue;
    if (a[2] == '\0') break;  // "--": the rest are not flags
    for (char* c = a + 2; *c != '\0' && *c != '='; ++c) {
      if (*c == '-') *c = '_';
    }
  }
}

void ParseDaemonFlags(int argc, char** argv, const char* usage, const char* flags_folder) {
  absl::SetProgramUsageMessage(usage);
  absl::FlagsUsageConfig config;
  const auto ours = [flags_folder](absl::string_view file) {
    return absl::StrContains(file, flags_folder);
  };
  config.contains_helpshort_flags = ours;
  config.contains_help_flags = ours;
  absl::SetFlagsUsageConfig(config);
  NormalizeFlagNames(argc, argv);
  absl::ParseCommandLine(argc, argv);
}

int ExitWith(const absl::Status& status, const char* event) {
  Log(LogLevel::kError, event,
      JsonObject()
          .Add("code", absl::StatusCodeToString(status.code()))
          .Add("message", std::string(status.message())));
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kFailedPrecondition:
      return 2;
    default:
      return 1;
  }
}

}  // namespace harmonia::services
