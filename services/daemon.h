// What the daemons' main()s share: TLS flags, the tokens file, waiting for
// SIGTERM/SIGINT, and a graceful stop.
#ifndef HARMONIA_SERVICES_DAEMON_H_
#define HARMONIA_SERVICES_DAEMON_H_

#include <functional>
#include <string>

#include "absl/status/status.h"

namespace harmonia::services {

// Blocks SIGTERM, SIGINT, SIGHUP and SIGPIPE in the calling thread and every
// thread it starts afterwards. REQUIRES: called first thing in main().
void BlockStopSignals();
// On SIGBUS (a memory-mapped store file truncated under the daemon: no
// process survives it) logs a store_fault error line saying so and exits
// with 75, for the service manager to restart the daemon.
void InstallFaultHandlers();
// Waits for SIGTERM or SIGINT; returns its name. Each SIGHUP meanwhile runs
// `on_reload` on this thread (reload the configuration; nothing when null).
const char* WaitForStopSignal(const std::function<void()>& on_reload = nullptr);

// Lets flags be written with dashes (--tls-cert, as the docs do) as well as
// with the underscores Abseil flag names need (--tls_cert): rewrites the name
// part of every "--a-b[=v]" argument before absl::ParseCommandLine.
void NormalizeFlagNames(int argc, char** argv);

// Sets the usage message, makes --help list the daemon's own flags (those
// defined in files under `flags_folder`), accepts dashed flag names
// (NormalizeFlagNames) and parses the command line; exits on --help or a bad
// flag.
void ParseDaemonFlags(int argc, char** argv, const char* usage,
                      const char* flags_folder = "services/");

// Prints `status` as a structured log line and returns the exit code: 2 for
// bad flags or files (InvalidArgument, NotFound, PermissionDenied,
// FailedPrecondition), 1 otherwise.
int ExitWith(const absl::Status& status, const char* event);

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_DAEMON_H_
