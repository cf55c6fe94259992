// A country worker killed with SIGKILL while it runs a cycle and takes
// refinements, then restarted: the store holds no partial cycle, and every
// refinement the worker acknowledged is there with the status it was
// acknowledged with.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "harmonia/v1/country.grpc.pb.h"
#include "services/country_service.h"
#include "services/grpc_util.h"
#include "store/store.h"
#include "tests/support/harness.h"

namespace harmonia {
namespace {

const std::string kSource = HARMONIA_SOURCE_DIR;

class WorkerCrash : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = std::filesystem::temp_directory_path() / absl::StrCat("harmonia-crash-data-", getpid());
    testing::ProcessResult gen = testing::Run(
        {HARMONIA_CLI, "gen", "--out", data_.string(), "--rules", kSource + "/rules/oncology.yaml",
         "--countries", "DE", "--customers", "60000", "--refinements", "0"});
    ASSERT_EQ(gen.exit_code, 0) << gen.err;
    std::ifstream customers(data_ / "customers.csv");
    std::string line;
    std::getline(customers, line);
    while (std::getline(customers, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ',');
      if (f.size() > 2 && (f[2] == "specialist" || f[2] == "pcp")) ids_.push_back(f[0]);
    }
    ASSERT_GT(ids_.size(), 10000u);
    h_ = std::make_unique<testing::Harness>(testing::HarnessOptions{.cli = HARMONIA_CLI,
                                                                    .rules = HARMONIA_RULES,
                                                                    .worker = HARMONIA_WORKER,
                                                                    .source_dir = kSource,
                                                                    .data_dir = data_.string()});
    ASSERT_TRUE(h_->SetUp("worker-crash").ok());
    ASSERT_TRUE(h_->StartRules().ok());
    StartWorker();
    ASSERT_EQ(h_->Publish(kSource + "/rules/oncology.yaml").exit_code, 0);
    ASSERT_TRUE(testing::WaitForLog(h_->worker_log(), "\"event\":\"serving\""));
  }
  void TearDown() override {
    stub_.reset();
    h_.reset();
    std::filesystem::remove_all(data_);
  }
  void StartWorker() {
    stub_.reset();
    ASSERT_TRUE(h_->StartWorker({"--scheduler=false"}).ok());
    stub_ = v1::CountryService::NewStub(*services::MakeChannel(h_->worker()->address(), {}));
  }
  // DE oncology as of 2026-11-01.
  static v1::RunCycleRequest CycleRequest() {
    v1::RunCycleRequest req;
    req.set_country("DE");
    req.set_therapy_area("oncology");
    req.set_as_of("2026-11-01");
    return req;
  }
  static std::unique_ptr<grpc::ClientContext> As(const std::string& principal) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", "Bearer " + principal + "-token");
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return ctx;
  }

  // Submits batches of 100 refinements until a call fails; records what was
  // acknowledged: request id → status.
  void SubmitUntilItFails(int round, std::map<std::string, v1::RefinementStatus>* acked) {
    for (int batch = 0;; ++batch) {
      v1::SubmitRefinementsRequest req;
      req.set_country("DE");
      for (int k = 0; k < 100; ++k) {
        const size_t n = (static_cast<size_t>(round) * 100000 + batch * 100 + k) % ids_.size();
        auto* item = req.add_items();
        item->set_request_id(absl::StrCat("crash-", round, "-", batch, "-", k));
        item->set_customer_id(ids_[n]);
        item->set_therapy_area("oncology");
        item->set_segment("conservative");
        item->set_reason("new_information");
      }
      v1::SubmitRefinementsResponse resp;
      grpc::Status s = stub_->SubmitRefinements(As("anna.rep").get(), req, &resp);
      if (!s.ok()) return;
      for (const auto& r : resp.results()) {
        (*acked)[r.refinement().request_id()] = r.refinement().status();
      }
    }
  }

  std::filesystem::path data_;
  std::vector<std::string> ids_;
  std::unique_ptr<testing::Harness> h_;
  std::unique_ptr<v1::CountryService::Stub> stub_;
};

TEST_F(WorkerCrash, KilledMidCycleNoPartialCycleAndNoLostAcknowledgedRefinement) {
  std::map<std::string, v1::RefinementStatus> acked;
  int64_t committed_before = 0;
  // Kill while the cycle reads inputs, evaluates, and commits.
  for (const std::string kill_at : {"inputs", "evaluate", "commit"}) {
    SCOPED_TRACE(kill_at);
    std::thread submitter(
        [&, round = static_cast<int>(acked.size())] { SubmitUntilItFails(round, &acked); });
    auto ctx = As("olaf.ops");
    auto stream = stub_->RunCycle(ctx.get(), CycleRequest());
    v1::RunCycleResponse event;
    bool killed = false;
    while (stream->Read(&event)) {
      if (event.has_progress() && event.progress().stage() == kill_at) {
        h_->KillWorker();
        killed = true;
        break;
      }
    }
    grpc::Status finished = stream->Finish();
    EXPECT_TRUE(killed) << "the cycle reached its " << kill_at << " stage";
    EXPECT_FALSE(finished.ok()) << "the client saw the worker die";
    if (!killed) h_->KillWorker();
    submitter.join();
    StartWorker();

    auto db = store::OpenStore(h_->worker_store());
    ASSERT_TRUE(db.ok()) << db.status();
    auto cycles = (*db)->ListCycles("DE", "oncology");
    ASSERT_TRUE(cycles.ok());
    for (const store::CycleRecord& c : *cycles) {
      auto rows = (*db)->GetAssignments(c.cycle_id);
      ASSERT_TRUE(rows.ok());
      EXPECT_EQ(static_cast<int64_t>(rows->size()), c.customers)
          << "cycle " << c.cycle_id << " is whole";
    }
    EXPECT_LE(static_cast<int64_t>(cycles->size()), committed_before + 1);
    if (kill_at != "commit") {
      EXPECT_EQ(static_cast<int64_t>(cycles->size()), committed_before)
          << "killed before its commit: no cycle";
    }
    committed_before = static_cast<int64_t>(cycles->size());

    int found = 0;
    for (const auto& [id, status] : acked) {
      auto stored = (*db)->GetRefinement("DE", "oncology", id);
      ASSERT_TRUE(stored.ok());
      ASSERT_TRUE(stored->has_value()) << "acknowledged refinement " << id << " lost";
      // A cycle may have moved it on since (accepted → applied/expired/rejected).
      if (status == v1::REJECTED) {
        EXPECT_EQ((*stored)->status, store::RefinementStatus::kRejected) << id;
      }
      ++found;
    }
    EXPECT_EQ(found, static_cast<int>(acked.size()));
  }
  EXPECT_GT(acked.size(), 0u) << "refinements were acknowledged while cycles ran";
  std::printf("acknowledged refinements: %zu, cycles committed by killed runs: %lld\n",
              acked.size(), static_cast<long long>(committed_before));

  // After all that, a cycle runs to the end.
  auto ctx = As("olaf.ops");
  auto stream = stub_->RunCycle(ctx.get(), CycleRequest());
  v1::RunCycleResponse event, last;
  while (stream->Read(&event)) last = event;
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_EQ(last.summary().customers(), static_cast<int64_t>(ids_.size()));
}

TEST_F(WorkerCrash, SigtermLetsTheRunningCycleFinishThenExitsCleanly) {
  auto ctx = As("olaf.ops");
  auto stream = stub_->RunCycle(ctx.get(), CycleRequest());
  v1::RunCycleResponse event, last;
  std::thread stopper;
  int exit_code = -1;
  testing::Daemon* worker = h_->worker();
  while (stream->Read(&event)) {
    if (!stopper.joinable() && event.has_progress()) {
      stopper = std::thread([&] { exit_code = worker->Stop(); });
    }
    last = event;
  }
  grpc::Status s = stream->Finish();
  ASSERT_TRUE(stopper.joinable()) << "the cycle reported progress";
  stopper.join();
  EXPECT_TRUE(s.ok()) << "the in-flight cycle completed: " << s.error_message();
  EXPECT_TRUE(last.has_summary());
  EXPECT_EQ(last.summary().customers(), static_cast<int64_t>(ids_.size()));
  EXPECT_EQ(exit_code, 0);
  const std::string log = worker->Log();
  EXPECT_LT(log.find("\"event\":\"stopping\""), log.find("\"event\":\"cycle_committed\""))
      << "SIGTERM arrived while the cycle ran";
  EXPECT_NE(log.find("\"event\":\"stopped\""), std::string::npos);
}

}  // namespace
}  // namespace harmonia
