// The HTTP shim of the console: sessions, CSRF and CSP rules, and the
// Connect framing around the gateway (docs/console.md). Everything a call
// does is the gateway's and the services'.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <utility>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/json.h"
#include "common/strings.h"
#include "console/console.h"
#include "console/internal/connect.h"
#include "console/internal/gateway.h"
#include "console/internal/sessions.h"
#include "services/log.h"

namespace harmonia::console {
namespace {

constexpr size_t kMaxBodyBytes = 32 << 20;  // a 5,000-item refinement upload fits many times

// Who a request acts for, and how that was established.
struct Caller {
  std::string token;
  std::string principal;  // known for sessions and the proxy; empty for a bare bearer token
  std::vector<std::string> roles;
  enum class Via { kSession, kBearer, kProxy } via = Via::kBearer;
  std::string session_id;
};

// A refusal made by the console itself, before anything is forwarded.
struct Refusal {
  int http = 400;
  grpc::Status status;
};

std::string CookieValue(const httplib::Request& req, std::string_view name) {
  for (absl::string_view part : absl::StrSplit(req.get_header_value("Cookie"), ';')) {
    part = absl::StripAsciiWhitespace(part);
    if (absl::ConsumePrefix(&part, Sv(name)) && absl::ConsumePrefix(&part, "=")) {
      return std::string(part);
    }
  }
  return "";
}

// A failure between the console and a service (no connection, a reset)
// comes from gRPC naming internal addresses: callers get what it means, the
// log keeps the detail.
grpc::Status Shown(const grpc::Status& status) {
  const std::string& m = status.error_message();
  const bool transport =
      absl::StrContains(m, "ipv4:") || absl::StrContains(m, "ipv6:") ||
      absl::StrContains(m, "failed to connect") || absl::StrContains(m, "Socket closed") ||
      absl::StrContains(m, "Connection reset") || absl::StrContains(m, "Broken pipe");
  if (!transport) return status;
  return grpc::Status(status.error_code(),
                      "the service that answers this request cannot be reached right now");
}

void SendError(httplib::Response& res, int http, const grpc::Status& status) {
  res.status = http;
  res.set_content(ConnectErrorJson(status), "application/json");
}

const char* ViaName(Caller::Via via) {
  switch (via) {
    case Caller::Via::kSession:
      return "session";
    case Caller::Via::kProxy:
      return "proxy";
    case Caller::Via::kBearer:
      break;
  }
  return "bearer";
}

class ConsoleServer final : public Console {
 public:
  ConsoleServer(ConsoleOptions options, std::unique_ptr<Gateway> gateway)
      : options_(std::move(options)),
        gateway_(std::move(gateway)),
        sessions_(options_.session_idle, options_.session_absolute),
        tls_(!options_.tls_cert.empty()),
        secure_(tls_ || options_.cookie_secure),
        // Under HTTPS the __Host- prefix: no other host (a sibling
        // subdomain) can set this cookie for the console.
        cookie_(secure_ ? "__Host-harmonia_session" : "harmonia_session") {}

  ~ConsoleServer() override { Stop(); }

  absl::Status Init() {
    if (tls_) {
      server_ =
          std::make_unique<httplib::SSLServer>(options_.tls_cert.c_str(), options_.tls_key.c_str());
      if (!server_->is_valid()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--tls-cert/--tls-key: cannot serve HTTPS with ", options_.tls_cert,
                         " and ", options_.tls_key, " (unreadable, or not a key pair)"));
      }
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
    const int threads = std::max(options_.http_threads, 4);
    server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server_->set_payload_max_length(kMaxBodyBytes);
    // A page makes many small calls on one connection: keep it (cpp-httplib
    // closes after 5 requests by default), and send each answer at once
    // (Nagle's algorithm would hold a response's body for the client's
    // delayed ACK, 40 ms a call).
    server_->set_keep_alive_timeout(5);  // an idle connection holds a thread
    server_->set_keep_alive_max_count(100000);
    server_->set_tcp_nodelay(true);
    // SO_REUSEADDR only: cpp-httplib's default (SO_REUSEPORT) would let a
    // second console bind the same port silently. The socket is kept to
    // widen its listen backlog below.
    server_->set_socket_options([this](int sock) {
      const int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      listen_socket_ = sock;
    });
    server_->set_post_routing_handler(
        [this](const httplib::Request& req, httplib::Response& res) { SecurityHeaders(req, res); });
    // Before any body is read: cpp-httplib 0.11 bounds a body only by its
    // Content-Length, so a chunked or compressed body could grow without
    // limit. The console's clients send neither.
    server_->set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      if (req.method != "POST") return httplib::Server::HandlerResponse::Unhandled;
      const char* why = nullptr;
      if (req.has_header("Transfer-Encoding")) {
        why = "send the body with a Content-Length, not chunked";
      } else if (req.has_header("Content-Encoding")) {
        why = "send the body uncompressed";
      } else if (!req.has_header("Content-Length")) {
        why = "a Content-Length is required";
      }
      if (why == nullptr) return httplib::Server::HandlerResponse::Unhandled;
      res.status = 411;
      res.set_header("Connection", "close");
      res.set_content(ConnectErrorJson(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why)),
                      "application/json");
      return httplib::Server::HandlerResponse::Handled;
    });
    server_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{\"status\":\"serving\"}", "application/json");
    });
    server_->Post(R"(/api/([^/]+/[^/]+))",
                  [this](const httplib::Request& req, httplib::Response& res) { Api(req, res); });
    server_->Post("/auth/sign-in", [this](const httplib::Request& req, httplib::Response& res) {
      SignIn(req, res);
    });
    server_->Post("/auth/sign-out", [this](const httplib::Request& req, httplib::Response& res) {
      SignOut(req, res);
    });
    server_->Get("/auth/session",
                 [this](const httplib::Request& req, httplib::Response& res) { WhoAmI(req, res); });
    if (!options_.web_root.empty() && !server_->set_mount_point("/", options_.web_root)) {
      return absl::InvalidArgumentError(absl::StrCat("--web-root: ", Quoted(options_.web_root),
                                                     " is not a folder (build the web app)"));
    }
    const size_t colon = options_.listen.rfind(':');
    int port = -1;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(Sv(std::string_view(options_.listen).substr(colon + 1)), &port) ||
        port < 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("--listen: ", Quoted(options_.listen), " is not host:port"));
    }
    const std::string host = options_.listen.substr(0, colon);
    if (port == 0) {
      port = server_->bind_to_any_port(host);
      if (port < 0) return absl::UnavailableError("--listen: cannot bind " + options_.listen);
    } else if (!server_->bind_to_port(host, port)) {
      return absl::UnavailableError("--listen: cannot bind " + options_.listen);
    }
    // cpp-httplib listens with a backlog of 5 (compiled into Debian's
    // library): 50 people opening the console at once would see dropped
    // connections. listen() again on a listening socket only widens it.
    if (listen_socket_ >= 0) ::listen(listen_socket_, SOMAXCONN);
    address_ = absl::StrCat(host, ":", port);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // Serving before Start returns, so that a Stop right after it stops it
    // (cpp-httplib's stop() does nothing until then).
    for (int i = 0; i < 5000 && !server_->is_running(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return absl::OkStatus();
  }

  const std::string& address() const override { return address_; }

  void Stop() override {
    if (server_ != nullptr) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void SecurityHeaders(const httplib::Request& req, httplib::Response& res) const {
    // No inline script or style anywhere: the web app is files of its own.
    res.set_header("Content-Security-Policy",
                   absl::StrCat("default-src 'self'; script-src 'self'; style-src 'self'; "
                                "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors ",
                                options_.frame_ancestors));
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Referrer-Policy", "no-referrer");
    if (options_.frame_ancestors == "'none'") res.set_header("X-Frame-Options", "DENY");
    if (tls_) res.set_header("Strict-Transport-Security", "max-age=31536000");
    if (absl::StartsWith(req.path, "/api/") || absl::StartsWith(req.path, "/auth/")) {
      res.set_header("Cache-Control", "no-store");
    } else if (absl::StartsWith(req.path, "/assets/")) {
      res.set_header("Cache-Control", "public, max-age=31536000, immutable");  // hashed names
    } else {
      res.set_header("Cache-Control", "no-cache");
    }
  }

  // The request's own origin as the browser sees it, and whether the
  // request's Origin (when it sends one) is that or an allowed one.
  bool SameOrigin(const httplib::Request& req) const {
    if (req.get_header_value("Sec-Fetch-Site") == "cross-site") return false;
    if (!req.has_header("Origin")) return true;
    const std::string origin = req.get_header_value("Origin");
    if (origin == absl::StrCat(tls_ ? "https://" : "http://", req.get_header_value("Host"))) {
      return true;
    }
    return std::find(options_.allowed_origins.begin(), options_.allowed_origins.end(), origin) !=
           options_.allowed_origins.end();
  }

  // The caller, from (in this order) the trusted proxy's header, a bearer
  // token or the session cookie.
  std::variant<Caller, Refusal> Identify(const httplib::Request& req) {
    const TrustedProxy& proxy = options_.proxy;
    if (!proxy.header.empty() && req.has_header(proxy.header)) {
      if (req.get_header_value_count(proxy.header) != 1) {  // a client's copy beside the proxy's
        return Refusal{401, grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                         absl::StrCat("the ", proxy.header,
                                                      " header must appear exactly once"))};
      }
      if (std::find(proxy.addresses.begin(), proxy.addresses.end(), req.remote_addr) ==
          proxy.addresses.end()) {
        return Refusal{401, grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                         absl::StrCat("the ", proxy.header,
                                                      " header is accepted only from the "
                                                      "trusted sign-on proxy"))};
      }
      const std::string principal = req.get_header_value(proxy.header);
      auto it = proxy.tokens.find(principal);
      if (it == proxy.tokens.end()) {
        return Refusal{401, grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                         absl::StrCat("principal ", Quoted(principal),
                                                      " has no token in the console's proxy "
                                                      "tokens file"))};
      }
      return Caller{.token = it->second, .principal = principal, .via = Caller::Via::kProxy};
    }
    const std::string authorization = req.get_header_value("Authorization");
    if (!authorization.empty()) {
      absl::string_view token = authorization;
      if (!absl::ConsumePrefix(&token, "Bearer ")) {
        return Refusal{401, grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                         "the Authorization header must be 'Bearer <token>'")};
      }
      return Caller{.token = std::string(token), .via = Caller::Via::kBearer};
    }
    const std::string id = CookieValue(req, cookie_);
    if (!id.empty()) {
      // Marked used only once the request passes every check (Api()).
      std::optional<Session> s = sessions_.Peek(id, absl::Now());
      if (!s.has_value()) {
        return Refusal{401, grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                         "your session has ended: sign in again")};
      }
      return Caller{.token = std::move(s->token),
                    .principal = std::move(s->principal),
                    .roles = std::move(s->roles),
                    .via = Caller::Via::kSession,
                    .session_id = id};
    }
    return Refusal{401, grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                     "not signed in: sign in, or send 'Authorization: Bearer "
                                     "<token>'")};
  }

  // The caller's deadline (Connect-Timeout-Ms) when shorter than ours.
  static absl::Duration Timeout(const httplib::Request& req, absl::Duration ours) {
    int64_t ms = 0;
    const std::string header = req.get_header_value("Connect-Timeout-Ms");
    if (header.empty() || header.size() > 10 || !absl::SimpleAtoi(header, &ms) || ms <= 0) {
      return ours;
    }
    return std::min(ours, absl::Milliseconds(ms));
  }

  // CSRF: a call the browser may have made on its own (cookie or proxy)
  // must come from the console's own pages.
  std::optional<Refusal> CheckOrigin(const httplib::Request& req, const Caller& caller) const {
    if (caller.via == Caller::Via::kBearer || SameOrigin(req)) return std::nullopt;
    return Refusal{
        403, grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                          absl::StrCat("a request from another site (Origin ",
                                       Quoted(req.get_header_value("Origin")), ") is refused"))};
  }

  void Api(const httplib::Request& req, httplib::Response& res) {
    const absl::Time start = absl::Now();
    const std::string name = req.matches[1];
    const Method* method = gateway_->Find(name);
    Caller caller;
    grpc::Status status;
    int http = 200;
    const auto refuse = [&](const Refusal& r) {
      status = r.status;
      http = r.http;
      SendError(res, http, status);
    };
    if (method == nullptr) {
      refuse({404, grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                absl::StrCat("no method ", Quoted(name),
                                             " (the console serves harmonia.v1.RulesService "
                                             "and harmonia.v1.CountryService)"))});
    } else if (std::variant<Caller, Refusal> who = Identify(req);
               std::holds_alternative<Refusal>(who)) {
      refuse(std::get<Refusal>(who));
    } else {
      caller = std::move(std::get<Caller>(who));
      const std::string type = absl::AsciiStrToLower(absl::StripAsciiWhitespace(
          absl::string_view(req.get_header_value("Content-Type"))
              .substr(0, req.get_header_value("Content-Type").find(';'))));
      const char* want = method->server_streaming ? "application/connect+json" : "application/json";
      if (std::optional<Refusal> r = CheckOrigin(req, caller)) {
        refuse(*r);
      } else if (type != want) {
        refuse({415,
                grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                             absl::StrCat("Content-Type must be ", want, ", not ", Quoted(type)))});
      } else if (req.get_header_value("Connect-Protocol-Version") != "1") {
        refuse({400, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                  "the Connect-Protocol-Version: 1 header is required")});
      } else if (!caller.session_id.empty() &&
                 !sessions_.Use(caller.session_id, absl::Now()).has_value()) {
        refuse({401, grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                  "your session has ended: sign in again")});
      } else if (method->server_streaming) {
        Stream(*method, req, res, caller);
        return;  // the stream logs when it ends
      } else {
        std::string out;
        status = gateway_->Unary(*method, req.body, caller.token,
                                 Timeout(req, options_.call_timeout), &out);
        http = HttpStatusFor(status.error_code());
        if (status.ok()) {
          res.set_content(out, "application/json");
        } else {
          SendError(res, http, Shown(status));
        }
      }
    }
    LogCall(name, caller, status, http, absl::Now() - start);
  }

  void Stream(const Method& method, const httplib::Request& req, httplib::Response& res,
              const Caller& caller) {
    const absl::Time start = absl::Now();
    const std::string name =
        absl::StrCat(method.descriptor->service()->full_name(), "/", method.descriptor->name());
    const auto refuse = [&](int http, const grpc::Status& status) {
      SendError(res, http, status);
      LogCall(name, caller, status, http, absl::Now() - start);
    };
    std::optional<std::string_view> body = OpenSingleEnvelope(req.body);
    if (!body.has_value()) {
      return refuse(400, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                      "a stream's request body must be one uncompressed envelope"));
    }
    // A stream holds a connection's thread while it lasts: at most a few at
    // once, so streams can never take every thread from people's pages.
    if (streams_.fetch_add(1) >= kMaxStreams) {
      streams_.fetch_sub(1);
      return refuse(429, grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                      absl::StrCat("the console runs ", kMaxStreams,
                                                   " streams already; try again shortly")));
    }
    std::unique_ptr<Gateway::Stream> stream;
    grpc::Status status = gateway_->OpenStream(method, *body, caller.token,
                                               Timeout(req, options_.stream_timeout), &stream);
    // Until its first message, a stream can still answer with an HTTP error,
    // as a unary call does (a refused caller gets 403, not 200).
    std::string first;
    if (status.ok() && !stream->Next(&first)) status = stream->Finish();
    if (!status.ok()) {
      streams_.fetch_sub(1);
      return refuse(HttpStatusFor(status.error_code()), Shown(status));
    }
    res.status = 200;
    res.set_chunked_content_provider(
        "application/connect+json",
        [this, name, caller, start, first = std::move(first),
         shared = std::shared_ptr<Gateway::Stream>(std::move(stream))](size_t,
                                                                       httplib::DataSink& sink) {
          std::string json = first;
          bool more = true;
          while (more) {
            const std::string e = Envelope(0, json);
            if (!sink.is_writable() || !sink.write(e.data(), e.size())) {
              shared->Cancel();  // the client went away
            }
            more = shared->Next(&json);
          }
          const grpc::Status status = shared->Finish();
          const std::string end = EndOfStream(Shown(status));
          if (sink.is_writable()) sink.write(end.data(), end.size());
          sink.done();
          LogCall(name, caller, status, 200, absl::Now() - start);
          return true;
        },
        [this](bool) { streams_.fetch_sub(1); });
  }

  void SignIn(const httplib::Request& req, httplib::Response& res) {
    if (!SameOrigin(req)) {
      SendError(res, 403,
                grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                             "a sign-in from another site is refused"));
      return;
    }
    google::protobuf::Struct body;
    const auto parsed = google::protobuf::util::JsonStringToMessage(req.body, &body);
    const auto field = body.fields().find("token");
    if (!absl::StartsWith(req.get_header_value("Content-Type"), "application/json") ||
        !parsed.ok() || field == body.fields().end() || !field->second.has_string_value()) {
      SendError(res, 400,
                grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                             "send {\"token\": \"…\"} as application/json"));
      return;
    }
    Session s;
    s.token = field->second.string_value();
    const grpc::Status status =
        gateway_->WhoAmI(s.token, options_.call_timeout, &s.principal, &s.roles);
    if (!status.ok()) {
      grpc::Status shown = status;
      if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
        shown = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                             "this token is not known: check it and try again");
      }
      SendError(res, HttpStatusFor(shown.error_code()), shown);
      services::Log(services::LogLevel::kWarning, "sign_in_refused",
                    JsonObject().Add("code", ConnectCodeName(status.error_code())));
      return;
    }
    std::string json = SessionJson(s.principal, s.roles, "session");
    const std::string principal = s.principal;
    const std::string id = sessions_.Create(std::move(s), absl::Now());
    res.set_header("Set-Cookie",
                   absl::StrCat(cookie_, "=", id, "; Path=/; HttpOnly; SameSite=Strict",
                                secure_ ? "; Secure" : ""));
    res.set_content(json, "application/json");
    services::Log(services::LogLevel::kInfo, "signed_in", JsonObject().Add("principal", principal));
  }

  void SignOut(const httplib::Request& req, httplib::Response& res) {
    if (!SameOrigin(req)) {
      SendError(res, 403,
                grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                             "a sign-out from another site is refused"));
      return;
    }
    const std::string id = CookieValue(req, cookie_);
    if (!id.empty()) sessions_.End(id);
    res.set_header("Set-Cookie",
                   absl::StrCat(cookie_, "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict",
                                secure_ ? "; Secure" : ""));
    res.set_content("{}", "application/json");
  }

  void WhoAmI(const httplib::Request& req, httplib::Response& res) {
    std::variant<Caller, Refusal> who = Identify(req);
    const bool ambient = !req.has_header("Authorization") &&
                         (options_.proxy.header.empty() || !req.has_header(options_.proxy.header));
    if (std::holds_alternative<Refusal>(who) && ambient) {
      // Not signed in (no cookie, or one whose session ended) is an answer
      // here, not an error: the web app asks before showing its sign-in page.
      res.set_content("{\"signed_in\":false}", "application/json");
      return;
    }
    if (std::holds_alternative<Refusal>(who)) {
      const Refusal& r = std::get<Refusal>(who);
      SendError(res, r.http, r.status);
      return;
    }
    Caller& caller = std::get<Caller>(who);
    if (caller.via != Caller::Via::kSession) {
      const grpc::Status status =
          gateway_->WhoAmI(caller.token, options_.call_timeout, &caller.principal, &caller.roles);
      if (!status.ok()) {
        SendError(res, HttpStatusFor(status.error_code()), status);
        return;
      }
    }
    res.set_content(SessionJson(caller.principal, caller.roles, ViaName(caller.via)),
                    "application/json");
  }

  std::string SessionJson(const std::string& principal, const std::vector<std::string>& roles,
                          const char* via) const {
    std::string list = "[";
    for (const std::string& r : roles) {
      if (list.size() > 1) list += ",";
      list += JsonString(r);
    }
    list += "]";
    return JsonObject()
        .Add("signed_in", true)
        .Add("principal", principal)
        .AddRaw("roles", list)
        .Add("via", via)
        .Add("idle_timeout_s", absl::ToInt64Seconds(sessions_.idle()))
        .str();
  }

  void LogCall(std::string_view method, const Caller& caller, const grpc::Status& status, int http,
               absl::Duration took) const {
    JsonObject f;
    f.Add("method", method)
        .Add("code", ConnectCodeName(status.error_code()))
        .Add("http", http)
        .Add("ms", absl::ToDoubleMilliseconds(took))
        .Add("via", ViaName(caller.via));
    if (!caller.principal.empty()) f.Add("principal", caller.principal);
    if (!status.ok()) f.Add("message", status.error_message());
    services::Log(status.ok() ? services::LogLevel::kInfo : services::LogLevel::kWarning, "api", f);
  }

  const ConsoleOptions options_;
  const std::unique_ptr<Gateway> gateway_;
  Sessions sessions_;
  const bool tls_;
  const bool secure_;         // the cookie is Secure (HTTPS here or at a proxy)
  const std::string cookie_;  // the session cookie's name
  static constexpr int kMaxStreams = 16;
  std::atomic<int> streams_{0};
  std::unique_ptr<httplib::Server> server_;
  std::string address_;
  int listen_socket_ = -1;
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Console>> Console::Start(const ConsoleOptions& options) {
  absl::StatusOr<std::unique_ptr<Gateway>> gateway = Gateway::Create(options.upstreams);
  if (!gateway.ok()) return gateway.status();
  auto console = std::make_unique<ConsoleServer>(options, std::move(*gateway));
  if (absl::Status s = console->Init(); !s.ok()) return s;
  return console;
}

}  // namespace harmonia::console
