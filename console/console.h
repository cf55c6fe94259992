// Start here: harmonia-console, one web address for every user
// (docs/console.md). It serves the web app and a JSON API: every unary and
// server-streaming RPC of harmonia.v1.RulesService and CountryService at
//
//   POST /api/harmonia.v1.<Service>/<Method>     (the Connect protocol)
//
// forwarded generically over gRPC to the rules service, or to the worker of
// the request's `country`, with the signed-in person's own token. The console
// holds no business rule: the services decide every call.
//
// Also: POST /auth/sign-in {"token":…} (a server-side session in an HttpOnly,
// SameSite=Strict cookie), GET /auth/session (who am I), POST /auth/sign-out,
// GET /healthz. API clients may send "Authorization: Bearer …" instead of a
// cookie; a trusted single-sign-on proxy may name the principal in a header.
#ifndef HARMONIA_CONSOLE_CONSOLE_H_
#define HARMONIA_CONSOLE_CONSOLE_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/grpc_util.h"

namespace harmonia::console {

// Where the console forwards calls.
struct Upstreams {
  std::string rules;                           // host:port of the rules service
  std::map<std::string, std::string> workers;  // country → host:port; "*" = every other country
  services::ClientTlsOptions tls;              // CA and client certificate (mutual TLS)
};

// Trusted single-sign-on proxy mode (off unless `header` is set): a request
// from one of `addresses` whose `header` names a principal acts as that
// principal, with the token `tokens` holds for it. The header from any other
// address is refused.
struct TrustedProxy {
  std::string header;                         // e.g. X-Forwarded-User
  std::vector<std::string> addresses;         // the proxy's IP addresses
  std::map<std::string, std::string> tokens;  // principal → its bearer token
};

struct ConsoleOptions {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 = any free port
  Upstreams upstreams;
  std::string web_root;  // the built web app (index.html …); empty = the API only
  std::string tls_cert;  // PEM: serve HTTPS (and mark the cookie Secure)
  std::string tls_key;
  // Mark the session cookie Secure (named __Host-…) though the console
  // serves plain HTTP: behind a proxy that terminates HTTPS.
  bool cookie_secure = false;
  absl::Duration session_idle = absl::Minutes(30);
  absl::Duration session_absolute = absl::Hours(12);
  absl::Duration call_timeout = absl::Seconds(30);
  absl::Duration stream_timeout = absl::Minutes(30);
  // Origins allowed besides the console's own (as the browser sees it, e.g.
  // behind a reverse proxy with another host name).
  std::vector<std::string> allowed_origins;
  // The Content-Security-Policy's frame-ancestors: who may embed the pages
  // (e.g. "https://crm.example.com"); 'none' by default.
  std::string frame_ancestors = "'none'";
  TrustedProxy proxy;
  int http_threads = 64;  // connections served at once (keep-alive holds one each)
};

class Console {
 public:
  // Binds and starts serving on a thread of its own. Unavailable when it
  // cannot listen; InvalidArgument for unusable options.
  static absl::StatusOr<std::unique_ptr<Console>> Start(const ConsoleOptions& options);
  virtual ~Console() = default;

  virtual const std::string& address() const = 0;  // as bound, e.g. 127.0.0.1:43219
  // Stops accepting, finishes the requests in flight, returns.
  virtual void Stop() = 0;
};

}  // namespace harmonia::console

#endif  // HARMONIA_CONSOLE_CONSOLE_H_
