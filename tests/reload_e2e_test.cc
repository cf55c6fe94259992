// SIGHUP reloads a daemon's configuration without a restart
// (docs/operations.md): the tokens file and, for a worker, its country files
// are read again and checked whole; a good file replaces the one in force,
// a bad one is refused (logged why) and the one in force stays. A pin to a
// version never published leaves the worker NOT_SERVING, saying why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "common/sha256.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "harmonia/v1/country.grpc.pb.h"
#include "services/grpc_util.h"
#include "tests/support/harness.h"

namespace harmonia {
namespace {

using ::testing::HasSubstr;
const std::string kSource = HARMONIA_SOURCE_DIR;

class Reload : public ::testing::Test {
 protected:
  void SetUp() override {
    h_ = std::make_unique<testing::Harness>(testing::HarnessOptions{.cli = HARMONIA_CLI,
                                                                    .rules = HARMONIA_RULES,
                                                                    .worker = HARMONIA_WORKER,
                                                                    .source_dir = kSource});
    ASSERT_TRUE(h_->SetUp("reload").ok());
    ASSERT_TRUE(h_->StartRules().ok());
    ASSERT_TRUE(h_->StartWorker({"--scheduler=false"}).ok());
    ASSERT_EQ(h_->Publish(kSource + "/rules/oncology.yaml").exit_code, 0);
    ASSERT_TRUE(testing::WaitForLog(h_->worker_log(), "\"event\":\"serving\""));
    auto channel = *services::MakeChannel(h_->worker()->address(), {});
    stub_ = v1::CountryService::NewStub(channel);
    health_ = grpc::health::v1::Health::NewStub(channel);
  }
  void TearDown() override {
    stub_.reset();
    health_.reset();
    h_.reset();
  }
  // SIGHUP to the worker, then waits for the log line that answers it (the
  // n-th "reloaded"/"reload_failed" of `what`).
  void Hup(const std::string& expect) {
    const size_t from = h_->worker()->Log().size();
    ASSERT_EQ(kill(h_->worker()->pid(), SIGHUP), 0);
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (h_->worker()->Log().find(expect, from) == std::string::npos) {
      ASSERT_LT(absl::Now(), give_up) << "no " << expect << " in:\n" << h_->worker()->Log();
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  grpc::StatusCode ListCycles(const std::string& principal) {
    v1::ListCyclesRequest req;
    req.set_country("DE");
    req.set_therapy_area("oncology");
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + principal + "-token");
    v1::ListCyclesResponse resp;
    return stub_->ListCycles(&ctx, req, &resp).error_code();
  }
  bool Serving() {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckResponse resp;
    return health_->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp).ok() &&
           resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
  }

  std::unique_ptr<testing::Harness> h_;
  std::unique_ptr<v1::CountryService::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

TEST_F(Reload, TokensAndCountryFilesReloadOnSighupAndABadFileIsRefused) {
  const std::string tokens_path = (h_->dir() / "tokens.yaml").string();
  const std::string country_path = (h_->dir() / "countries" / "DE.yaml").string();
  const std::string tokens = testing::ReadText(tokens_path);
  const std::string country = testing::ReadText(country_path);
  EXPECT_EQ(ListCycles("nina.new"), grpc::StatusCode::UNAUTHENTICATED);

  // A good tokens file: a new principal works at once, without a restart.
  testing::WriteText(tokens_path, tokens + "- principal: nina.new\n  token_sha256: " +
                                      Sha256Hex("nina.new-token") + "\n  roles: [viewer:DE]\n");
  Hup("\"event\":\"reloaded\",\"what\":\"tokens\"");
  EXPECT_EQ(ListCycles("nina.new"), grpc::StatusCode::OK) << "known now";

  // A bad tokens file is refused, naming the line; the one in force stays.
  testing::WriteText(tokens_path, tokens + "- principal: ''\n  token_sha256: 12\n  roles: []\n");
  Hup("\"event\":\"reload_failed\",\"what\":\"tokens\"");
  EXPECT_THAT(h_->worker()->Log(), HasSubstr("principal: empty"));
  EXPECT_EQ(ListCycles("nina.new"), grpc::StatusCode::OK) << "still the reloaded table";
  EXPECT_EQ(ListCycles("vera.view"), grpc::StatusCode::OK);

  // A bad country file is refused too; the market keeps running.
  testing::WriteText(country_path, country + "max_input_age_days: forever\n");
  Hup("\"event\":\"reload_failed\",\"what\":\"countries\"");
  EXPECT_THAT(h_->worker()->Log(), HasSubstr("max_input_age_days"));
  EXPECT_TRUE(Serving());

  // A pin to a version never published: the worker says why it cannot serve.
  testing::WriteText(
      country_path,
      absl::StrReplaceAll(country, {{"oncology:\n", "oncology:\n    rule_set_version: 9\n"}}));
  Hup("\"event\":\"reloaded\",\"what\":\"countries\"");
  EXPECT_TRUE(testing::WaitForLog(h_->worker_log(), "waiting for oncology v9"))
      << h_->worker()->Log();
  EXPECT_FALSE(Serving());
  testing::ProcessResult health =
      testing::Run({HARMONIA_CLI, "health", "--server", h_->worker()->address()});
  EXPECT_EQ(health.exit_code, 3);
  EXPECT_THAT(health.err, HasSubstr("failing: rule_sets"));

  // The good file again: serving again, without a restart.
  testing::WriteText(country_path, country);
  Hup("\"event\":\"serving\",\"reason\":\"every condition holds\"");
  EXPECT_TRUE(Serving());
}

// A SQLite store's shared-memory file truncated under a running worker: no
// process survives touching that mapping (SIGBUS), so the worker says why in
// its log and exits with 75 for the service manager to restart it.
TEST_F(Reload, ATruncatedSharedMemoryFileEndsTheWorkerWithAReason) {
  const std::string shm = h_->worker_store().substr(std::string("sqlite:").size()) + "-shm";
  ASSERT_EQ(ListCycles("vera.view"), grpc::StatusCode::OK);
  ASSERT_EQ(truncate(shm.c_str(), 0), 0) << shm;
  ListCycles("vera.view");  // touches the mapping, if the probe has not already
  ASSERT_TRUE(testing::WaitForLog(h_->worker_log(), "\"signal\":\"SIGBUS\""))
      << h_->worker()->Log();
  EXPECT_THAT(h_->worker()->Log(), HasSubstr("\"level\":\"error\",\"event\":\"store_fault\""));
  EXPECT_EQ(h_->worker()->Stop(), 75);
}

}  // namespace
}  // namespace harmonia
