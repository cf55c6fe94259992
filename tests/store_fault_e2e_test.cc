// Store trouble seen from a running worker (docs/operations.md): the store
// made read-only answers writes UNAVAILABLE (never PERMISSION_DENIED or an
// empty INTERNAL), is logged as an error and turns health NOT_SERVING; made
// writable again, the worker recovers by itself, without a restart. (SQLite:
// services/store_pool_test.cc, on a file made immutable.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "harmonia/v1/country.grpc.pb.h"
#include "services/grpc_util.h"
#include "tests/support/harness.h"
#include "tests/support/postgres_server.h"

namespace harmonia {
namespace {

using ::testing::HasSubstr;
const std::string kSource = HARMONIA_SOURCE_DIR;

class StoreFault : public ::testing::Test {
 protected:
  void SetUp() override {
    h_ = std::make_unique<testing::Harness>(testing::HarnessOptions{.cli = HARMONIA_CLI,
                                                                    .rules = HARMONIA_RULES,
                                                                    .worker = HARMONIA_WORKER,
                                                                    .source_dir = kSource});
    ASSERT_TRUE(h_->SetUp(::testing::UnitTest::GetInstance()->current_test_info()->name()).ok());
    ASSERT_TRUE(h_->StartRules().ok());
  }
  void TearDown() override {
    stub_.reset();
    health_.reset();
    h_.reset();
  }
  void StartWorker(const std::vector<std::string>& extra) {
    std::vector<std::string> flags = {"--scheduler=false"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    ASSERT_TRUE(h_->StartWorker(flags).ok());
    auto channel = *services::MakeChannel(h_->worker()->address(), {});
    stub_ = v1::CountryService::NewStub(channel);
    health_ = grpc::health::v1::Health::NewStub(channel);
    ASSERT_EQ(h_->Publish(kSource + "/rules/oncology.yaml").exit_code, 0);
    ASSERT_TRUE(testing::WaitForLog(h_->worker_log(), "\"event\":\"serving\""));
  }

  // Submits one refinement as anna.rep; the call's status.
  grpc::Status Refine(const std::string& id) {
    v1::SubmitRefinementsRequest req;
    req.set_country("DE");
    v1::RefinementInput* in = req.add_items();
    in->set_request_id(id);
    in->set_customer_id("D003");
    in->set_therapy_area("oncology");
    in->set_segment("conservative");
    in->set_reason("new_information");
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer anna.rep-token");
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::SubmitRefinementsResponse resp;
    return stub_->SubmitRefinements(&ctx, req, &resp);
  }

  // The health of `service` ("" = the server), asked every 100 ms until it
  // is `want` or 30 s passed.
  bool HealthBecomes(grpc::health::v1::HealthCheckResponse::ServingStatus want,
                     const std::string& service = "") {
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (absl::Now() < give_up) {
      grpc::ClientContext ctx;
      grpc::health::v1::HealthCheckRequest req;
      req.set_service(service);
      grpc::health::v1::HealthCheckResponse resp;
      if (health_->Check(&ctx, req, &resp).ok() && resp.status() == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // The whole sequence, with `break_store` and `mend_store` doing the harm.
  void ReadOnlyThenWritable(const std::function<void()>& break_store,
                            const std::function<void()>& mend_store) {
    ASSERT_TRUE(Refine("before").ok());
    break_store();
    // Writes now fail as store trouble: UNAVAILABLE, with the store's reason.
    grpc::Status failed;
    for (int attempt = 0; attempt < 5; ++attempt) {
      failed = Refine(absl::StrCat("during-", attempt));
      EXPECT_NE(failed.error_code(), grpc::StatusCode::PERMISSION_DENIED) << failed.error_message();
      EXPECT_NE(failed.error_code(), grpc::StatusCode::INTERNAL) << failed.error_message();
      EXPECT_NE(failed.error_code(), grpc::StatusCode::OK);
    }
    EXPECT_EQ(failed.error_code(), grpc::StatusCode::UNAVAILABLE) << failed.error_message();
    EXPECT_TRUE(HealthBecomes(grpc::health::v1::HealthCheckResponse::NOT_SERVING));
    EXPECT_TRUE(HealthBecomes(grpc::health::v1::HealthCheckResponse::NOT_SERVING,
                              "harmonia.condition.store"));
    testing::ProcessResult health =
        testing::Run({HARMONIA_CLI, "health", "--server", h_->worker()->address()});
    EXPECT_EQ(health.exit_code, 3);
    EXPECT_THAT(health.err, HasSubstr("NOT_SERVING (failing: store; the daemon's log says why"));
    EXPECT_THAT(h_->worker()->Log(), HasSubstr("\"level\":\"error\",\"event\":\"store_fault\""));
    mend_store();
    // Recovered by itself: health first (the probe), then every call.
    EXPECT_TRUE(HealthBecomes(grpc::health::v1::HealthCheckResponse::SERVING));
    grpc::Status after = Refine("after");
    EXPECT_TRUE(after.ok()) << after.error_code() << " " << after.error_message();
    EXPECT_THAT(h_->worker()->Log(), HasSubstr("\"event\":\"store_recovered\""));
  }

  std::unique_ptr<testing::Harness> h_;
  std::unique_ptr<v1::CountryService::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

TEST_F(StoreFault, APostgresStoreMadeReadOnlyThenWritableRecoversWithoutARestart) {
  absl::StatusOr<std::unique_ptr<testing::PostgresServer>> pg = testing::PostgresServer::Start({});
  ASSERT_TRUE(pg.ok()) << pg.status();
  const std::string url = (*pg)->url();
  ASSERT_EQ(
      h_->Cli({"import", "--quiet", "--store", url, kSource + "/tests/golden/data"}, "").exit_code,
      0);
  StartWorker({"--store", url});
  const std::string db = (*pg)->database();
  // Runs `statements` one after the other on one connection.
  auto sql = [&](std::vector<std::string> statements) {
    PGconn* conn = PQconnectdb(url.c_str());
    for (const std::string& statement : statements) {
      PGresult* r = PQexec(conn, statement.c_str());
      const ExecStatusType status = PQresultStatus(r);
      EXPECT_TRUE(status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
          << statement << ": " << PQerrorMessage(conn);
      PQclear(r);
    }
    PQfinish(conn);
  };
  ReadOnlyThenWritable(
      [&] {
        sql({"ALTER DATABASE " + db + " SET default_transaction_read_only = on",
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" + db +
                 "' AND pid <> pg_backend_pid()"});
      },
      [&] {
        sql({"SET default_transaction_read_only = off",
             "ALTER DATABASE " + db + " SET default_transaction_read_only = off"});
      });
}

}  // namespace
}  // namespace harmonia
