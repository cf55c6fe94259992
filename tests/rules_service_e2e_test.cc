// The rules service as users meet it: a real harmonia-rules process on
// loopback with a SQLite store, driven by the real `harmonia` CLI and by a
// gRPC stub (the watch stream a worker follows). Tokens, certificates and
// keys are generated here, at test time.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "auth/auth.h"
#include "common/sha256.h"
#include "harmonia/v1/rules.grpc.pb.h"
#include "services/grpc_util.h"
#include "tests/support/process.h"

namespace harmonia {
namespace {

using testing::Daemon;
using ::testing::HasSubstr;
using testing::ProcessResult;
using testing::Run;

const std::string kSource = HARMONIA_SOURCE_DIR;

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  testing::WriteText(path.string(), text);
}
std::string ReadFile(const std::filesystem::path& path) { return testing::ReadText(path.string()); }

class RulesServiceE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat("harmonia-rules-e2e-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::string tokens;
    for (const auto& [principal, token, roles] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"ops@hq", "ops-token", "[global_ops]"},
             {"anna.rep", "anna-token", "[field:DE]"},
             {"worker-de", "worker-token", "[service]"}}) {
      absl::StrAppend(&tokens, "- principal: ", principal, "\n  token_sha256: ", Sha256Hex(token),
                      "\n  roles: ", roles, "\n");
    }
    WriteFile(dir_ / "tokens.yaml", tokens);
  }
  void TearDown() override {
    rules_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartRules(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {HARMONIA_RULES,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--store",
                                     "sqlite:" + (dir_ / "store.db").string(),
                                     "--tokens",
                                     (dir_ / "tokens.yaml").string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto d = Daemon::Start(argv, (dir_ / "rules.log").string());
    ASSERT_TRUE(d.ok()) << d.status();
    rules_ = std::move(*d);
  }

  // `harmonia ARGS… --server ADDR --token TOKEN`, from the source folder.
  ProcessResult Cli(std::vector<std::string> args, const std::string& token,
                    const std::vector<std::string>& extra = {}) {
    args.insert(args.begin(), HARMONIA_CLI);
    args.insert(args.end(), {"--server", rules_->address(), "--token", token});
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<std::string> sh = {"/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", kSource};
    sh.insert(sh.end(), args.begin(), args.end());
    return testing::Run(sh);
  }

  std::string Candidate(int version) {
    std::string text = ReadFile(kSource + "/rules/oncology.yaml");
    return absl::StrReplaceAll(text, {{"version: 3", absl::StrCat("version: ", version)},
                                      {"segment: evidence_seeker}\n  default: unprofiled",
                                       "segment: conservative}\n  default: unprofiled"}});
  }

  std::filesystem::path dir_;
  std::unique_ptr<Daemon> rules_;
};

TEST_F(RulesServiceE2E, PublishListShowDiffAndRollBackThroughTheCli) {
  StartRules();
  ProcessResult pub = Cli({"rules", "publish", "rules/oncology.yaml"}, "ops-token");
  ASSERT_EQ(pub.exit_code, 0) << pub.err;
  EXPECT_EQ(pub.out, "rules/oncology.yaml: published oncology v3\n");
  ProcessResult retry = Cli({"rules", "publish", "rules/oncology.yaml"}, "ops-token");
  EXPECT_EQ(retry.exit_code, 0);
  EXPECT_EQ(retry.out, "rules/oncology.yaml: already published oncology v3\n");

  WriteFile(dir_ / "v4.yaml", Candidate(4));
  ASSERT_EQ(Cli({"rules", "publish", (dir_ / "v4.yaml").string()}, "ops-token").exit_code, 0);
  ProcessResult list = Cli({"rules", "list", "--json"}, "anna-token");
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("\"version\": \"4\""));
  EXPECT_THAT(list.out, HasSubstr("\"published_by\": \"ops@hq\""));

  ProcessResult show = Cli({"rules", "show", "--ta", "oncology", "--version", "3"}, "anna-token");
  ASSERT_EQ(show.exit_code, 0);
  EXPECT_EQ(show.out, ReadFile(kSource + "/rules/oncology.yaml"));

  ProcessResult diff = Cli({"rules", "diff", "--ta", "oncology", "--from", "3"}, "ops-token");
  ASSERT_EQ(diff.exit_code, 0) << diff.err;
  EXPECT_THAT(diff.out, HasSubstr("unprofiled rule u2: evidence_seeker when event_attendance: "
                                  ">= 6 → conservative when event_attendance: >= 6\n"));
  EXPECT_THAT(diff.out, HasSubstr("-version: 3\n+version: 4\n"));

  ProcessResult back = Cli({"rules", "rollback", "--ta", "oncology", "--to", "3"}, "ops-token");
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(back.out, "oncology v5: published with the content of v3\n");
  ProcessResult v5 = Cli({"rules", "show", "--ta", "oncology"}, "ops-token");
  EXPECT_THAT(v5.out, HasSubstr("\nversion: 5\n"));

  const std::string log = rules_->Log();
  EXPECT_THAT(log, HasSubstr("\"method\":\"PublishRuleSet\",\"principal\":\"ops@hq\""));
  EXPECT_EQ(rules_->Stop(), 0) << "SIGTERM stops it cleanly";
  EXPECT_THAT(rules_->Log(), HasSubstr("\"event\":\"stopped\""));
}

TEST_F(RulesServiceE2E, RefusesUnknownCallersWrongRolesAndInvalidRuleSets) {
  StartRules();
  ProcessResult none = Cli({"rules", "list"}, "not-a-token");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("UNAUTHENTICATED: unknown token"));

  ProcessResult field = Cli({"rules", "publish", "rules/oncology.yaml"}, "anna-token");
  EXPECT_EQ(field.exit_code, 2);
  EXPECT_THAT(field.err, HasSubstr("PERMISSION_DENIED: principal 'anna.rep': publishing rule "
                                   "sets needs role global_ops"));

  WriteFile(dir_ / "bad.yaml", absl::StrReplaceAll(ReadFile(kSource + "/rules/oncology.yaml"),
                                                   {{"hit_policy: first", "hit_policy: maybe"}}));
  ProcessResult bad = Cli({"rules", "publish", (dir_ / "bad.yaml").string()}, "ops-token");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(bad.err, HasSubstr("bad.yaml:50:15: error: assignment hit_policy: unknown 'maybe'; "
                                 "expected one of: first, priority, unique"))
      << "the issues travel as status details";
  EXPECT_EQ(Cli({"rules", "list"}, "ops-token").out.find("oncology"), std::string::npos);
}

TEST_F(RulesServiceE2E, WhoAmINamesTheCallersPrincipalAndRoles) {
  StartRules();
  auto channel = services::MakeChannel(rules_->address(), {});
  ASSERT_TRUE(channel.ok());
  auto stub = v1::RulesService::NewStub(*channel);
  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer anna-token");
  v1::WhoAmIResponse me;
  ASSERT_TRUE(stub->WhoAmI(&ctx, v1::WhoAmIRequest(), &me).ok());
  EXPECT_EQ(me.principal(), "anna.rep");
  EXPECT_THAT(me.roles(), ::testing::ElementsAre("field:DE"));

  grpc::ClientContext unknown;
  unknown.AddMetadata("authorization", "Bearer nobody");
  EXPECT_EQ(stub->WhoAmI(&unknown, v1::WhoAmIRequest(), &me).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(RulesServiceE2E, WatchStreamsTheLatestThenEveryNewVersion) {
  StartRules();
  ASSERT_EQ(Cli({"rules", "publish", "rules/oncology.yaml"}, "ops-token").exit_code, 0);
  auto channel = services::MakeChannel(rules_->address(), {});
  ASSERT_TRUE(channel.ok());
  auto stub = v1::RulesService::NewStub(*channel);

  grpc::ClientContext field_ctx;
  field_ctx.AddMetadata("authorization", "Bearer anna-token");
  v1::WatchRuleSetsRequest req;
  auto denied = stub->WatchRuleSets(&field_ctx, req);
  v1::RuleSet ignored;
  EXPECT_FALSE(denied->Read(&ignored));
  EXPECT_EQ(denied->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);

  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", "Bearer worker-token");
  (*req.mutable_known_versions())["oncology"] = 2;
  auto stream = stub->WatchRuleSets(&ctx, req);
  v1::RuleSet got;
  ASSERT_TRUE(stream->Read(&got));
  EXPECT_EQ(got.info().version(), 3);
  EXPECT_EQ(got.source_text(), ReadFile(kSource + "/rules/oncology.yaml"));

  WriteFile(dir_ / "v4.yaml", Candidate(4));
  ASSERT_EQ(Cli({"rules", "publish", (dir_ / "v4.yaml").string()}, "ops-token").exit_code, 0);
  ASSERT_TRUE(stream->Read(&got));
  EXPECT_EQ(got.info().version(), 4);
  EXPECT_EQ(got.info().published_by(), "ops@hq");

  // A stopping server ends the stream instead of hanging on it.
  bool more = true;
  std::thread reader([&] { more = stream->Read(&got); });
  EXPECT_EQ(rules_->Stop(), 0);
  reader.join();
  EXPECT_FALSE(more);
}

TEST_F(RulesServiceE2E, ServesTlsAndMutualTlsWhenGivenCertificates) {
  ASSERT_TRUE(testing::MakeTestCertificates(dir_.string()).ok());
  const std::string d = dir_.string() + "/";
  StartRules({"--tls-cert", d + "server.pem", "--tls-key", d + "server.key"});
  ProcessResult tls = Cli({"rules", "list"}, "ops-token", {"--tls-ca", d + "ca.pem"});
  EXPECT_EQ(tls.exit_code, 0) << tls.err;
  ProcessResult plain = Cli({"rules", "list", "--timeout", "3"}, "ops-token");
  EXPECT_EQ(plain.exit_code, 1) << "a plaintext client cannot talk to a TLS server";
  EXPECT_THAT(plain.err, HasSubstr("UNAVAILABLE"));
  ASSERT_EQ(rules_->Stop(), 0);

  StartRules({"--tls-cert", d + "server.pem", "--tls-key", d + "server.key", "--tls-client-ca",
              d + "ca.pem"});
  ProcessResult no_cert =
      Cli({"rules", "list", "--timeout", "3"}, "ops-token", {"--tls-ca", d + "ca.pem"});
  EXPECT_EQ(no_cert.exit_code, 1) << "mutual TLS refuses a client without a certificate";
  EXPECT_THAT(no_cert.err, HasSubstr("UNAVAILABLE"));
  ProcessResult mtls = Cli(
      {"rules", "list"}, "ops-token",
      {"--tls-ca", d + "ca.pem", "--tls-cert", d + "client.pem", "--tls-key", d + "client.key"});
  EXPECT_EQ(mtls.exit_code, 0) << mtls.err;
  ProcessResult mtls_bad_token = Cli(
      {"rules", "list"}, "nope",
      {"--tls-ca", d + "ca.pem", "--tls-cert", d + "client.pem", "--tls-key", d + "client.key"});
  EXPECT_EQ(mtls_bad_token.exit_code, 2) << "a certificate does not replace the token";
}

TEST_F(RulesServiceE2E, RefusesToStartWithABadTokensFile) {
  WriteFile(dir_ / "tokens.yaml", "- principal: x\n  token_sha256: abc\n  roles: [boss]\n");
  auto d = Daemon::Start(
      {HARMONIA_RULES, "--listen", "127.0.0.1:0", "--store", "sqlite:" + (dir_ / "s.db").string(),
       "--tokens", (dir_ / "tokens.yaml").string()},
      (dir_ / "bad.log").string(), absl::Seconds(10));
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(std::string(d.status().message()), HasSubstr("exited with 2"));
  const std::string log = ReadFile(dir_ / "bad.log");
  EXPECT_THAT(log, HasSubstr("tokens.yaml:2:17: error: token_sha256: expected 64 hex digits"));
  EXPECT_THAT(log, HasSubstr("'boss' is not a role"));
}

}  // namespace
}  // namespace harmonia
