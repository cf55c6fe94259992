// harmonia-console: the web console and its JSON API (docs/console.md).
//
//   harmonia-console --listen 127.0.0.1:7480 --rules-server 127.0.0.1:7440
//                    --workers DE=127.0.0.1:7441,FR=127.0.0.1:7442
//
// Logs JSON lines on stderr; stops gracefully on SIGTERM or SIGINT.
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file.h"
#include "common/json.h"
#include "common/strings.h"
#include "console/console.h"
#include "services/daemon.h"
#include "services/log.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7480", "address:port to serve on (port 0: any free one)");
ABSL_FLAG(std::string, rules_server, "127.0.0.1:7440", "the rules service, host:port");
ABSL_FLAG(std::vector<std::string>, workers, {},
          "country workers: CC=host:port,… (* = every other country)");
ABSL_FLAG(std::string, workers_file, "",
          "file of country workers, one CC=host:port per line (# comments)");
ABSL_FLAG(std::string, web_root, "",
          "the built web app (default: ../web/dist or ../share/harmonia/web from the binary)");
ABSL_FLAG(std::string, https_cert, "", "PEM certificate chain: serve HTTPS");
ABSL_FLAG(std::string, https_key, "", "PEM private key of --https-cert");
ABSL_FLAG(bool, cookie_secure, false,
          "mark the session cookie Secure behind a proxy that terminates HTTPS");
ABSL_FLAG(std::string, upstream_tls_ca, "", "PEM CA bundle: reach the services over TLS");
ABSL_FLAG(std::string, upstream_tls_cert, "", "PEM client certificate for the services (mTLS)");
ABSL_FLAG(std::string, upstream_tls_key, "", "PEM private key of --upstream-tls-cert");
ABSL_FLAG(absl::Duration, session_idle, absl::Minutes(30), "a session ends after this long unused");
ABSL_FLAG(absl::Duration, session_max, absl::Hours(12), "a session ends this long after sign-in");
ABSL_FLAG(std::vector<std::string>, allowed_origins, {},
          "origins allowed besides the console's own (e.g. https://console.example.com)");
ABSL_FLAG(std::string, frame_ancestors, "'none'",
          "who may embed the pages (CSP frame-ancestors), e.g. https://crm.example.com");
ABSL_FLAG(std::string, trusted_proxy_header, "",
          "single sign-on: the header the proxy names the principal in (off when empty)");
ABSL_FLAG(std::vector<std::string>, trusted_proxy_addresses, {},
          "single sign-on: the proxy's IP addresses (the header is refused from others)");
ABSL_FLAG(std::string, proxy_tokens, "",
          "single sign-on: YAML list of {principal, token} (mode 0600) to forward for each");
ABSL_FLAG(int, http_threads, 64, "HTTP connections served at once");

namespace harmonia::console {
namespace {

using services::Log;
using services::LogLevel;

absl::Status AddWorker(std::string_view entry, const std::string& where, Upstreams* up) {
  std::pair<std::string, std::string> kv = absl::StrSplit(Sv(entry), absl::MaxSplits('=', 1));
  if (kv.first.empty() || kv.second.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", Quoted(entry), " is not CC=host:port"));
  }
  if (!up->workers.emplace(kv.first, kv.second).second) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": country ", kv.first, " is given twice"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Upstreams> UpstreamsFromFlags() {
  Upstreams up;
  up.rules = absl::GetFlag(FLAGS_rules_server);
  for (const std::string& w : absl::GetFlag(FLAGS_workers)) {
    if (absl::Status s = AddWorker(w, "--workers", &up); !s.ok()) return s;
  }
  const std::string file = absl::GetFlag(FLAGS_workers_file);
  if (!file.empty()) {
    absl::StatusOr<std::string> text = ReadFileToString(file, 1 << 20);
    if (!text.ok())
      return absl::InvalidArgumentError("--workers-file: " + std::string(text.status().message()));
    int line = 0;
    for (absl::string_view l : absl::StrSplit(*text, '\n')) {
      ++line;
      l = absl::StripAsciiWhitespace(l);
      if (l.empty() || l[0] == '#') continue;
      if (absl::Status s =
              AddWorker(std::string_view(l.data(), l.size()), absl::StrCat(file, ":", line), &up);
          !s.ok()) {
        return s;
      }
    }
  }
  if (up.workers.empty()) {
    return absl::InvalidArgumentError("--workers or --workers-file: name at least one worker");
  }
  up.tls = {.ca_file = absl::GetFlag(FLAGS_upstream_tls_ca),
            .cert_file = absl::GetFlag(FLAGS_upstream_tls_cert),
            .key_file = absl::GetFlag(FLAGS_upstream_tls_key)};
  return up;
}

// The single sign-on proxy's principal → token file. It holds tokens in
// clear, so it must be readable by its owner only (like an SSH key).
absl::StatusOr<std::map<std::string, std::string>> LoadProxyTokens(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--proxy-tokens: cannot read ", path));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--proxy-tokens: ", path, " is readable by others; chmod 600 it (it holds tokens)"));
  }
  std::map<std::string, std::string> tokens;
  try {
    const YAML::Node root = YAML::LoadFile(path);
    if (!root.IsSequence()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": expected a list of {principal, token}"));
    }
    for (const YAML::Node& item : root) {
      const YAML::Mark m = item.Mark();
      const std::string where = absl::StrCat(path, ":", m.line + 1, ":", m.column + 1);
      if (!item.IsMap() || !item["principal"] || !item["token"] || !item["principal"].IsScalar() ||
          !item["token"].IsScalar()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": each entry needs principal and token"));
      }
      if (!tokens.emplace(item["principal"].as<std::string>(), item["token"].as<std::string>())
               .second) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": principal given twice"));
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", e.mark.line + 1, ":", e.mark.column + 1, ": ", e.msg));
  }
  return tokens;
}

// The web app beside the binary: build/web/dist in a build tree
// (build/console/harmonia-console), share/harmonia/web in an installation
// (/usr/local/bin/harmonia-console → /usr/local/share/harmonia/web).
std::string DefaultWebRoot() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const std::filesystem::path up = exe.parent_path().parent_path();
  for (const std::filesystem::path& root :
       {up / "web" / "dist", up / "share" / "harmonia" / "web"}) {
    if (std::filesystem::is_regular_file(root / "index.html", ec)) return root.string();
  }
  return "";
}

int Main(int argc, char** argv) {
  services::BlockStopSignals();
  services::ParseDaemonFlags(
      argc, argv, "harmonia-console: the web console and JSON API (docs/console.md)", "console/");
  absl::StatusOr<Upstreams> upstreams = UpstreamsFromFlags();
  if (!upstreams.ok()) return services::ExitWith(upstreams.status(), "bad_flags");
  ConsoleOptions options{.listen = absl::GetFlag(FLAGS_listen),
                         .upstreams = *upstreams,
                         .web_root = absl::GetFlag(FLAGS_web_root),
                         .tls_cert = absl::GetFlag(FLAGS_https_cert),
                         .tls_key = absl::GetFlag(FLAGS_https_key),
                         .cookie_secure = absl::GetFlag(FLAGS_cookie_secure),
                         .session_idle = absl::GetFlag(FLAGS_session_idle),
                         .session_absolute = absl::GetFlag(FLAGS_session_max),
                         .allowed_origins = absl::GetFlag(FLAGS_allowed_origins),
                         .frame_ancestors = absl::GetFlag(FLAGS_frame_ancestors),
                         .proxy = {.header = absl::GetFlag(FLAGS_trusted_proxy_header),
                                   .addresses = absl::GetFlag(FLAGS_trusted_proxy_addresses)},
                         .http_threads = absl::GetFlag(FLAGS_http_threads)};
  if (options.web_root.empty()) options.web_root = DefaultWebRoot();
  if (!options.proxy.header.empty()) {
    if (options.proxy.addresses.empty()) {
      return services::ExitWith(
          absl::InvalidArgumentError(
              "--trusted-proxy-addresses: required with --trusted-proxy-header"),
          "bad_flags");
    }
    absl::StatusOr<std::map<std::string, std::string>> tokens =
        LoadProxyTokens(absl::GetFlag(FLAGS_proxy_tokens));
    if (!tokens.ok()) return services::ExitWith(tokens.status(), "bad_flags");
    options.proxy.tokens = std::move(*tokens);
  }
  absl::StatusOr<std::unique_ptr<Console>> console = Console::Start(options);
  if (!console.ok()) return services::ExitWith(console.status(), "cannot_start");
  std::string workers;
  for (const auto& [cc, address] : options.upstreams.workers) {
    absl::StrAppend(&workers, workers.empty() ? "" : ",", cc, "=", address);
  }
  Log(LogLevel::kInfo, "listening",
      JsonObject()
          .Add("service", "harmonia-console")
          .Add("address", (*console)->address())
          .Add("url", absl::StrCat(options.tls_cert.empty() ? "http://" : "https://",
                                   (*console)->address(), "/"))
          .Add("rules", options.upstreams.rules)
          .Add("workers", workers)
          .Add("web_root", options.web_root.empty() ? "(none: API only)" : options.web_root)
          .Add("tls", !options.tls_cert.empty())
          .Add("sso_proxy", !options.proxy.header.empty()));
  const char* signal = services::WaitForStopSignal();
  Log(LogLevel::kInfo, "stopping", JsonObject().Add("signal", signal));
  (*console)->Stop();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace
}  // namespace harmonia::console

int main(int argc, char** argv) { return harmonia::console::Main(argc, argv); }
