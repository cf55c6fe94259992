// harmonia-console as its users and an outside probe meet it: a real console
// process in front of real harmonia-rules and harmonia-worker processes on
// loopback (one worker serving DE and FR), called over HTTP exactly as the web
// app and curl call it (docs/console.md).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "console/internal/connect.h"
#include "harmonia/v1/country.pb.h"
#include "harmonia/v1/rules.pb.h"
#include "tests/support/harness.h"
#include "tests/support/process.h"

namespace harmonia {
namespace {

using testing::Daemon;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kSource = HARMONIA_SOURCE_DIR;

class ConsoleE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    h_ = std::make_unique<testing::Harness>(testing::HarnessOptions{.cli = HARMONIA_CLI,
                                                                    .rules = HARMONIA_RULES,
                                                                    .worker = HARMONIA_WORKER,
                                                                    .source_dir = kSource});
    absl::Status s = h_->SetUp(absl::StrCat(
        "console-e2e-", ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    ASSERT_TRUE(s.ok()) << s;
    dir_ = h_->dir();
    const std::string de = testing::ReadText((dir_ / "countries" / "DE.yaml").string());
    testing::WriteText((dir_ / "countries" / "FR.yaml").string(),
                       absl::StrReplaceAll(de, {{"country: DE", "country: FR"},
                                                {"Europe/Berlin", "Europe/Paris"}}));
    ASSERT_TRUE((s = h_->StartRules()).ok()) << s;
    ASSERT_TRUE((s = h_->StartWorker({"--countries", "DE,FR"})).ok()) << s;
    ASSERT_EQ(h_->Publish(kSource + "/rules/oncology.yaml").exit_code, 0);
    ASSERT_TRUE(testing::WaitForLog(h_->worker_log(), "\"event\":\"serving\""));
    std::filesystem::create_directories(dir_ / "web");
    testing::WriteText((dir_ / "web" / "index.html").string(), "<!doctype html><title>t</title>");
  }
  void TearDown() override {
    console_.reset();
    h_.reset();
  }

  void StartConsole(const std::vector<std::string>& extra = {}) {
    const std::string worker = h_->worker()->address();
    std::vector<std::string> argv = {HARMONIA_CONSOLE,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--rules-server",
                                     h_->rules()->address(),
                                     "--workers",
                                     "DE=" + worker + ",FR=" + worker,
                                     "--web-root",
                                     (dir_ / "web").string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto d = Daemon::Start(argv, (dir_ / "console.log").string());
    ASSERT_TRUE(d.ok()) << d.status();
    console_ = std::move(*d);
    const std::string& a = console_->address();
    host_ = a.substr(0, a.rfind(':'));
    port_ = std::stoi(a.substr(a.rfind(':') + 1));
  }

  httplib::Client Client() { return httplib::Client(host_, port_); }

  // A Connect unary call: JSON with the protocol header, plus `headers`.
  httplib::Result Call(const std::string& method, const std::string& json,
                       httplib::Headers headers = {}) {
    headers.emplace("Connect-Protocol-Version", "1");
    return Client().Post(("/api/harmonia.v1." + method).c_str(), headers, json, "application/json");
  }
  // A Connect server stream: the request in one envelope, plus `headers`.
  httplib::Result StreamCall(const std::string& method, const std::string& json,
                             httplib::Headers headers) {
    headers.emplace("Connect-Protocol-Version", "1");
    return Client().Post(("/api/harmonia.v1." + method).c_str(), headers,
                         console::Envelope(0, json), "application/connect+json");
  }
  static httplib::Headers Bearer(const std::string& principal) {
    return {{"Authorization", "Bearer " + principal + "-token"}};
  }
  // Signs in; the Cookie header that carries the session.
  httplib::Headers SignIn(const std::string& principal) {
    auto r = Client().Post("/auth/sign-in", "{\"token\":\"" + principal + "-token\"}",
                           "application/json");
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, 200) << r->body;
    const std::string set = r->get_header_value("Set-Cookie");
    EXPECT_THAT(set, HasSubstr("HttpOnly"));
    EXPECT_THAT(set, HasSubstr("SameSite=Strict"));
    return {{"Cookie", set.substr(0, set.find(';'))}};
  }

  std::unique_ptr<testing::Harness> h_;
  std::filesystem::path dir_;
  std::unique_ptr<Daemon> console_;
  std::string host_;
  int port_ = 0;
};

// Every method the console serves: those of the two services' descriptors.
std::vector<const google::protobuf::MethodDescriptor*> AllMethods() {
  std::vector<const google::protobuf::MethodDescriptor*> out;
  for (const google::protobuf::ServiceDescriptor* s :
       {v1::WhoAmIRequest::descriptor()->file()->FindServiceByName("RulesService"),
        v1::RunCycleRequest::descriptor()->file()->FindServiceByName("CountryService")}) {
    for (int i = 0; i < s->method_count(); ++i) out.push_back(s->method(i));
  }
  return out;
}

TEST_F(ConsoleE2E, EveryMethodWithoutCredentialsIsUnauthenticatedAndNothingIsForwarded) {
  StartConsole();
  const std::string rules_log_before = testing::ReadText((dir_ / "rules.log").string());
  const std::string worker_log_before = testing::ReadText(h_->worker_log());
  int checked = 0;
  for (const google::protobuf::MethodDescriptor* m : AllMethods()) {
    const std::string path = m->service()->name() + "/" + m->name();
    httplib::Headers headers = {{"Connect-Protocol-Version", "1"}};
    const bool stream = m->server_streaming();
    auto r = Client().Post(
        ("/api/harmonia.v1." + path).c_str(), headers,
        stream ? console::Envelope(0, R"({"country":"DE"})") : std::string(R"({"country":"DE"})"),
        stream ? "application/connect+json" : "application/json");
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path << ": " << r->body;
    EXPECT_THAT(r->body, HasSubstr(R"("code":"unauthenticated")")) << path;
    ++checked;
  }
  EXPECT_EQ(checked, 29);  // 11 of RulesService, 18 of CountryService
  // The services saw none of it.
  EXPECT_EQ(testing::ReadText((dir_ / "rules.log").string()), rules_log_before);
  EXPECT_EQ(testing::ReadText(h_->worker_log()), worker_log_before);
}

TEST_F(ConsoleE2E, ASignedInRepReadsHerCountryAndSigningOutEndsTheSession) {
  StartConsole();
  auto bad = Client().Post("/auth/sign-in", R"({"token":"guess"})", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 401);
  EXPECT_THAT(bad->body, HasSubstr("this token is not known"));
  EXPECT_FALSE(bad->has_header("Set-Cookie"));

  httplib::Headers cookie = SignIn("anna.rep");
  auto me = Client().Get("/auth/session", cookie);
  ASSERT_TRUE(me);
  EXPECT_EQ(me->status, 200);
  EXPECT_EQ(me->body,
            R"({"signed_in":true,"principal":"anna.rep","roles":["field:DE"],"via":"session",)"
            R"("idle_timeout_s":1800})");

  auto cycles =
      Call("CountryService/ListCycles", R"({"country":"DE","therapy_area":"oncology"})", cookie);
  ASSERT_TRUE(cycles);
  EXPECT_EQ(cycles->status, 200) << cycles->body;
  EXPECT_EQ(cycles->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(cycles->body, R"({"cycles":[]})");

  auto out = Client().Post("/auth/sign-out", cookie, "", "application/json");
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, 200);
  auto after = Call("CountryService/ListCycles", R"({"country":"DE"})", cookie);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 401);
  EXPECT_THAT(after->body, HasSubstr("your session has ended"));
  EXPECT_EQ(Client().Get("/auth/session", cookie)->body, R"({"signed_in":false})");
}

TEST_F(ConsoleE2E, RefusesCallsWithoutTheConnectHeaderAsOtherTypesOrFromAnotherSite) {
  StartConsole();
  httplib::Headers cookie = SignIn("anna.rep");
  const std::string body = R"({"country":"DE"})";
  const char* path = "/api/harmonia.v1.CountryService/ListCycles";

  auto no_header = Client().Post(path, cookie, body, "application/json");
  ASSERT_TRUE(no_header);
  EXPECT_EQ(no_header->status, 400);
  EXPECT_THAT(no_header->body, HasSubstr("Connect-Protocol-Version: 1"));

  httplib::Headers h = cookie;
  h.emplace("Connect-Protocol-Version", "1");
  auto form = Client().Post(path, h, "country=DE", "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 415);

  httplib::Headers foreign = cookie;
  foreign.emplace("Origin", "https://evil.example");
  auto cross = Call("CountryService/ListCycles", body, foreign);
  ASSERT_TRUE(cross);
  EXPECT_EQ(cross->status, 403);
  EXPECT_THAT(cross->body, HasSubstr("another site"));

  httplib::Headers fetch_site = cookie;
  fetch_site.emplace("Sec-Fetch-Site", "cross-site");
  EXPECT_EQ(Call("CountryService/ListCycles", body, fetch_site)->status, 403);

  httplib::Headers own = cookie;
  own.emplace("Origin", "http://" + console_->address());
  EXPECT_EQ(Call("CountryService/ListCycles", body, own)->status, 200);

  // A bearer token is not ambient authority: no Origin needed.
  EXPECT_EQ(Call("CountryService/ListCycles", body, Bearer("anna.rep"))->status, 200);

  // A sign-in from another site does not get a session.
  auto login = Client().Post("/auth/sign-in", {{"Origin", "https://evil.example"}},
                             R"({"token":"anna.rep-token"})", "application/json");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 403);
  EXPECT_FALSE(login->has_header("Set-Cookie"));
}

TEST_F(ConsoleE2E, AGermanRepGetsPermissionDeniedOnFranceAndNothingChanges) {
  StartConsole();
  httplib::Headers anna = SignIn("anna.rep");
  auto submit =
      Call("CountryService/SubmitRefinements",
           R"({"country":"FR","items":[{"request_id":"x1","customer_id":"F001",)"
           R"("therapy_area":"oncology","segment":"conservative","reason":"access_change"}]})",
           anna);
  ASSERT_TRUE(submit);
  EXPECT_EQ(submit->status, 403) << submit->body;
  EXPECT_THAT(submit->body, HasSubstr(R"("code":"permission_denied")"));
  for (const char* m : {"CountryService/QueryAssignments", "CountryService/ListRefinements",
                        "CountryService/ExplainAssignment", "CountryService/GetReport"}) {
    auto r = Call(m, R"({"country":"FR","therapy_area":"oncology"})", anna);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << m << ": " << r->body;
  }
  auto fr = Call("CountryService/ListRefinements", R"({"country":"FR"})", Bearer("fanny.ops"));
  ASSERT_TRUE(fr);
  EXPECT_EQ(fr->status, 200) << fr->body;
  EXPECT_EQ(fr->body, R"({"refinements":[]})") << "nothing was stored for FR";
}

TEST_F(ConsoleE2E, RunCycleStreamsProgressThenTheCommittedCycle) {
  StartConsole();
  const httplib::Headers h = SignIn("olaf.ops");
  auto r = StreamCall("CountryService/RunCycle",
                      R"({"country":"DE","therapy_area":"oncology","as_of":"2026-11-01"})", h);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/connect+json");
  // Unwrap the envelopes.
  std::vector<std::pair<int, std::string>> messages;
  std::string_view rest = r->body;
  while (rest.size() >= 5) {
    uint32_t n = 0;
    for (int i = 1; i <= 4; ++i) n = (n << 8) | static_cast<uint8_t>(rest[i]);
    ASSERT_LE(5 + n, rest.size());
    messages.emplace_back(static_cast<uint8_t>(rest[0]), std::string(rest.substr(5, n)));
    rest.remove_prefix(5 + n);
  }
  EXPECT_TRUE(rest.empty());
  ASSERT_GE(messages.size(), 3u);
  EXPECT_THAT(messages.front().second, HasSubstr(R"("progress":{"stage":)"));
  EXPECT_THAT(messages[messages.size() - 2].second, HasSubstr(R"("summary":{"cycle_id":")"));
  EXPECT_EQ(messages.back(), std::make_pair(int{console::kEndOfStream}, std::string("{}")));

  // The caller's own deadline, when shorter than the console's: the stream
  // fails before its first message (504), or after it, in its last one.
  httplib::Headers hurried = h;
  hurried.emplace("Connect-Timeout-Ms", "1");
  auto late =
      StreamCall("CountryService/RunCycle",
                 R"({"country":"DE","therapy_area":"oncology","as_of":"2026-11-02"})", hurried);
  ASSERT_TRUE(late);
  EXPECT_TRUE(late->status == 504 || late->status == 200) << late->status;
  EXPECT_THAT(late->body, HasSubstr(R"("code":"deadline_exceeded")"));

  // Anna now sees the committed assignments through the console.
  auto page =
      Call("CountryService/QueryAssignments",
           R"({"country":"DE","therapy_area":"oncology","page_size":2})", Bearer("anna.rep"));
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200) << page->body;
  EXPECT_THAT(page->body, HasSubstr(R"("next_page_token":")"));

  // A field rep may not run a cycle, nor a DE rep touch FR: a stream that
  // fails before its first message answers with the HTTP status, as a
  // unary call does.
  for (const char* country : {"DE", "FR"}) {
    auto denied =
        StreamCall("CountryService/RunCycle",
                   absl::StrCat(R"({"country":")", country, R"(","therapy_area":"oncology"})"),
                   Bearer("anna.rep"));
    ASSERT_TRUE(denied);
    EXPECT_EQ(denied->status, 403) << country;
    EXPECT_EQ(denied->get_header_value("Content-Type"), "application/json");
    EXPECT_THAT(denied->body, HasSubstr(R"({"code":"permission_denied")"));
  }
}

TEST_F(ConsoleE2E, BadRequestsGetPreciseErrorsWithTheServicesDetails) {
  StartConsole();
  auto unknown_field =
      Call("CountryService/ListCycles", R"({"country":"DE","colour":"red"})", Bearer("anna.rep"));
  ASSERT_TRUE(unknown_field);
  EXPECT_EQ(unknown_field->status, 400);
  EXPECT_THAT(unknown_field->body, HasSubstr("harmonia.v1.ListCyclesRequest"));
  EXPECT_THAT(unknown_field->body, HasSubstr("colour"));

  auto no_country = Call("CountryService/ListCycles", "{}", Bearer("anna.rep"));
  EXPECT_EQ(no_country->status, 400);
  EXPECT_THAT(no_country->body, HasSubstr("country: required"));

  auto not_served = Call("CountryService/ListCycles", R"({"country":"IT"})", Bearer("anna.rep"));
  EXPECT_EQ(not_served->status, 404);
  EXPECT_THAT(not_served->body, HasSubstr("no worker serves country 'IT'"));

  auto no_method = Call("CountryService/DropTables", "{}", Bearer("ops@hq"));
  EXPECT_EQ(no_method->status, 404);
  EXPECT_THAT(no_method->body, HasSubstr(R"("code":"unimplemented")"));

  const std::string broken =
      absl::StrReplaceAll(testing::ReadText(kSource + "/rules/oncology.yaml"),
                          {{"hit_policy: first", "hit_policy: maybe"}});
  std::string text;
  for (char c : broken) {
    if (c == '"' || c == '\\') text += '\\';
    if (c == '\n') {
      text += "\\n";
      continue;
    }
    text += c;
  }
  auto publish =
      Call("RulesService/PublishRuleSet",
           R"({"file_name":"bad.yaml","source_text":")" + text + "\"}", Bearer("ops@hq"));
  ASSERT_TRUE(publish);
  EXPECT_EQ(publish->status, 400) << publish->body;
  EXPECT_THAT(publish->body, HasSubstr(R"("type":"harmonia.v1.IssueList")"));
  EXPECT_THAT(publish->body, HasSubstr("unknown 'maybe'"));
}

TEST_F(ConsoleE2E, RefusesBodiesItCannotBoundBeforeReadingThem) {
  StartConsole();
  // Chunked: no Content-Length to bound it by.
  httplib::Client c = Client();
  auto chunked = c.Post(
      "/api/harmonia.v1.CountryService/ListCycles",
      {{"Connect-Protocol-Version", "1"}, {"Authorization", "Bearer anna.rep-token"}},
      [](size_t offset, httplib::DataSink& sink) {
        if (offset < 64) {
          const std::string part = offset == 0 ? R"({"country":)" : R"("DE"})";
          sink.write(part.data(), part.size());
        } else {
          sink.done();
        }
        return true;
      },
      "application/json");
  ASSERT_TRUE(chunked);
  EXPECT_EQ(chunked->status, 411);
  EXPECT_THAT(chunked->body, HasSubstr("not chunked"));
  auto gzip = Call("CountryService/ListCycles", R"({"country":"DE"})",
                   {{"Content-Encoding", "gzip"}, {"Authorization", "Bearer anna.rep-token"}});
  ASSERT_TRUE(gzip);
  EXPECT_EQ(gzip->status, 411);
  EXPECT_THAT(gzip->body, HasSubstr("uncompressed"));
  // Media types are case-insensitive.
  auto upper =
      Client().Post("/api/harmonia.v1.CountryService/ListCycles",
                    {{"Connect-Protocol-Version", "1"}, {"Authorization", "Bearer anna.rep-token"}},
                    R"({"country":"DE"})", "Application/JSON; charset=utf-8");
  ASSERT_TRUE(upper);
  EXPECT_EQ(upper->status, 200) << upper->body;
}

TEST_F(ConsoleE2E, ServesTheAppWithAStrictContentSecurityPolicy) {
  StartConsole({"--frame-ancestors", "https://crm.example.com"});
  auto page = Client().Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr("<title>t</title>"));
  const std::string csp = page->get_header_value("Content-Security-Policy");
  EXPECT_THAT(csp, HasSubstr("script-src 'self';"));
  EXPECT_THAT(csp, Not(HasSubstr("unsafe-inline")));
  EXPECT_THAT(csp, HasSubstr("frame-ancestors https://crm.example.com"));
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  auto health = Client().Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(ConsoleE2E, ATrustedSignOnProxyNamesThePrincipalOnlyFromItsAddress) {
  const std::string tokens = (dir_ / "proxy-tokens.yaml").string();
  testing::WriteText(tokens, "- principal: anna.rep\n  token: anna.rep-token\n");
  chmod(tokens.c_str(), 0644);
  std::vector<std::string> proxy = {"--trusted-proxy-header",
                                    "X-Forwarded-User",
                                    "--trusted-proxy-addresses",
                                    "127.0.0.1",
                                    "--proxy-tokens",
                                    tokens};
  {
    auto refused =
        Daemon::Start({HARMONIA_CONSOLE, "--listen", "127.0.0.1:0", "--workers", "DE=127.0.0.1:1",
                       "--trusted-proxy-header", "X-Forwarded-User", "--trusted-proxy-addresses",
                       "127.0.0.1", "--proxy-tokens", tokens},
                      (dir_ / "refused.log").string());
    EXPECT_FALSE(refused.ok());
    EXPECT_THAT(testing::ReadText((dir_ / "refused.log").string()), HasSubstr("chmod 600"));
  }
  chmod(tokens.c_str(), 0600);
  StartConsole(proxy);
  auto me = Client().Get("/auth/session", {{"X-Forwarded-User", "anna.rep"}});
  ASSERT_TRUE(me);
  EXPECT_EQ(me->status, 200) << me->body;
  EXPECT_THAT(me->body, HasSubstr(R"("principal":"anna.rep","roles":["field:DE"],"via":"proxy")"));
  EXPECT_EQ(Client().Get("/auth/session")->body, R"({"signed_in":false})");
  auto stranger = Client().Get("/auth/session", {{"X-Forwarded-User", "eve"}});
  EXPECT_EQ(stranger->status, 401);
  auto twice = Client().Get("/auth/session",
                            {{"X-Forwarded-User", "eve"}, {"X-Forwarded-User", "anna.rep"}});
  EXPECT_EQ(twice->status, 401) << "a client's copy beside the proxy's";
  EXPECT_THAT(twice->body, HasSubstr("exactly once"));

  console_.reset();
  proxy[3] = "10.9.9.9";  // the proxy is elsewhere: loopback may not use the header
  StartConsole(proxy);
  auto spoofed =
      Call("CountryService/ListCycles", R"({"country":"DE"})", {{"X-Forwarded-User", "anna.rep"}});
  ASSERT_TRUE(spoofed);
  EXPECT_EQ(spoofed->status, 401);
  EXPECT_THAT(spoofed->body, HasSubstr("only from the trusted sign-on proxy"));
}

}  // namespace
}  // namespace harmonia
