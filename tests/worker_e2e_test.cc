// A country worker as its users meet it: real harmonia-rules and
// harmonia-worker processes on loopback, each with its own SQLite store, the
// worker following the rules service's watch stream. Clients are gRPC stubs
// (as a CRM integration would be) and the real CLI for publishing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "auth/auth.h"
#include "harmonia/v1/country.grpc.pb.h"
#include "services/grpc_util.h"
#include "tests/support/harness.h"
#include "tests/support/process.h"

namespace harmonia {
namespace {

using testing::Daemon;
using ::testing::HasSubstr;
using testing::ProcessResult;
using testing::WaitForLog;

const std::string kSource = HARMONIA_SOURCE_DIR;

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  testing::WriteText(path.string(), text);
}
std::string ReadFile(const std::filesystem::path& path) { return testing::ReadText(path.string()); }

class WorkerE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    h_ = std::make_unique<testing::Harness>(testing::HarnessOptions{.cli = HARMONIA_CLI,
                                                                    .rules = HARMONIA_RULES,
                                                                    .worker = HARMONIA_WORKER,
                                                                    .source_dir = kSource,
                                                                    .country_text = country_text_});
    absl::Status s = h_->SetUp(absl::StrCat(
        "worker-e2e-", ::testing::UnitTest::GetInstance()->current_test_info()->name()));
    ASSERT_TRUE(s.ok()) << s;
    dir_ = h_->dir();
  }
  void TearDown() override {
    stub_.reset();
    h_.reset();
  }

  void StartRules() {
    absl::Status s = h_->StartRules();
    ASSERT_TRUE(s.ok()) << s;
    rules_ = h_->rules();
  }
  void StartWorker() {
    stub_.reset();
    absl::Status s = h_->StartWorker();
    ASSERT_TRUE(s.ok()) << s;
    worker_ = h_->worker();
    auto channel = services::MakeChannel(worker_->address(), {});
    ASSERT_TRUE(channel.ok());
    stub_ = v1::CountryService::NewStub(*channel);
  }
  int Publish(const std::string& file) {
    ProcessResult r = h_->Publish(file);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code;
  }

  std::unique_ptr<grpc::ClientContext> As(const std::string& principal) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->AddMetadata("authorization", "Bearer " + principal + "-token");
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    return ctx;
  }

  // Runs a cycle as country ops; the summary, and the progress stages seen.
  grpc::Status RunCycle(v1::Cycle* summary, std::vector<std::string>* stages = nullptr,
                        const std::string& as = "olaf.ops",
                        const std::string& as_of = "2026-11-01") {
    v1::RunCycleRequest req;
    req.set_country("DE");
    req.set_therapy_area("oncology");
    req.set_as_of(as_of);
    auto ctx = As(as);
    auto stream = stub_->RunCycle(ctx.get(), req);
    v1::RunCycleResponse event;
    while (stream->Read(&event)) {
      if (event.has_summary()) *summary = event.summary();
      if (event.has_progress() && stages) stages->push_back(event.progress().stage());
    }
    return stream->Finish();
  }

  std::map<std::string, v1::Assignment> Assignments(const std::string& as = "vera.view") {
    std::map<std::string, v1::Assignment> out;
    v1::QueryAssignmentsRequest req;
    req.set_country("DE");
    req.set_therapy_area("oncology");
    req.set_page_size(3);
    for (int pages = 0; pages < 10; ++pages) {
      v1::QueryAssignmentsResponse resp;
      grpc::Status s = stub_->QueryAssignments(As(as).get(), req, &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      EXPECT_LE(resp.assignments_size(), 3);
      for (const auto& a : resp.assignments()) out[a.customer_id()] = a;
      if (resp.next_page_token().empty()) break;
      req.set_page_token(resp.next_page_token());
    }
    return out;
  }

  std::string country_text_;  // empty: the golden DE market without its schedule
  std::unique_ptr<testing::Harness> h_;
  std::filesystem::path dir_;
  Daemon* rules_ = nullptr;
  Daemon* worker_ = nullptr;
  std::unique_ptr<v1::CountryService::Stub> stub_;
};

v1::RefinementInput Refinement(const std::string& id, const std::string& customer,
                               const std::string& segment, const std::string& reason) {
  v1::RefinementInput r;
  r.set_request_id(id);
  r.set_customer_id(customer);
  r.set_therapy_area("oncology");
  r.set_segment(segment);
  r.set_reason(reason);
  return r;
}

TEST_F(WorkerE2E, PublishWatchCycleQueryAndRefine) {
  StartRules();
  StartWorker();
  v1::Cycle summary;
  grpc::Status early = RunCycle(&summary);
  EXPECT_EQ(early.error_code(), grpc::StatusCode::UNAVAILABLE) << "no rule set yet";
  EXPECT_THAT(early.error_message(), HasSubstr("not loaded yet"));

  ASSERT_EQ(Publish(kSource + "/rules/oncology.yaml"), 0);
  const std::string log = (dir_ / "worker.log").string();
  ASSERT_TRUE(WaitForLog(log, "\"event\":\"serving\"")) << worker_->Log();
  EXPECT_THAT(worker_->Log(), HasSubstr("\"event\":\"rule_set_cached\",\"therapy_area\":"
                                        "\"oncology\",\"version\":3"));

  std::vector<std::string> stages;
  grpc::Status s = RunCycle(&summary, &stages);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(summary.customers(), 7);
  EXPECT_EQ(summary.rule_set_version(), 3);
  EXPECT_EQ(summary.run_by(), "olaf.ops");
  EXPECT_EQ(summary.as_of(), "2026-11-01");
  EXPECT_THAT(stages, ::testing::IsSupersetOf({"inputs", "evaluate", "commit"}));

  std::map<std::string, v1::Assignment> first = Assignments();
  ASSERT_EQ(first.size(), 7u) << "all pages";
  EXPECT_EQ(first["D001"].segment(), "early_adopter");
  EXPECT_EQ(first["D001"].rule_id(), "r1");
  EXPECT_EQ(first["D003"].segment(), "pragmatist");

  // A field user refines one of their customers; one of another country's is
  // refused, with the reason, and the good item still goes through.
  v1::SubmitRefinementsRequest req;
  req.set_country("DE");
  *req.add_items() = Refinement("crm-1", "D003", "conservative", "new_information");
  *req.add_items() = Refinement("crm-2", "F001", "conservative", "new_information");
  *req.add_items() = Refinement("crm-3", "D004", "conservative", "because");
  v1::SubmitRefinementsResponse resp;
  s = stub_->SubmitRefinements(As("anna.rep").get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.results_size(), 3);
  EXPECT_EQ(resp.results(0).refinement().status(), v1::ACCEPTED);
  EXPECT_EQ(resp.results(0).refinement().submitted_by(), "anna.rep");
  EXPECT_EQ(resp.results(1).refinement().status(), v1::REJECTED);
  EXPECT_THAT(resp.results(1).refinement().status_reason(),
              HasSubstr("customer_id 'F001': not a customer of DE"));
  EXPECT_EQ(resp.results(2).refinement().status(), v1::REJECTED);
  EXPECT_THAT(resp.results(2).refinement().status_reason(),
              HasSubstr("reason 'because': not a refinement reason; expected one of:"));

  // A retry returns the original results.
  v1::SubmitRefinementsResponse again;
  ASSERT_TRUE(stub_->SubmitRefinements(As("anna.rep").get(), req, &again).ok());
  EXPECT_TRUE(again.results(0).duplicate());
  EXPECT_EQ(again.results(0).refinement().status(), v1::ACCEPTED);

  // Roles: a viewer may not refine; a DE field user may not touch FR.
  EXPECT_EQ(stub_->SubmitRefinements(As("vera.view").get(), req, &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::SubmitRefinementsRequest fr = req;
  fr.set_country("FR");
  grpc::Status denied = stub_->SubmitRefinements(As("anna.rep").get(), fr, &resp);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(denied.error_message(),
              HasSubstr("principal 'anna.rep': submitting refinements needs role field:FR or "
                        "country_ops:FR"));
  EXPECT_EQ(RunCycle(&summary, nullptr, "anna.rep").error_code(),
            grpc::StatusCode::PERMISSION_DENIED)
      << "field users do not run cycles";

  ASSERT_TRUE(RunCycle(&summary).ok());
  EXPECT_EQ(summary.cycle_id(), 2);
  std::map<std::string, v1::Assignment> second = Assignments("anna.rep");
  EXPECT_EQ(second["D003"].segment(), "conservative");
  EXPECT_EQ(second["D003"].decided_by(), "refinement");
  EXPECT_EQ(second["D001"].decided_by(), "pull_through");
  // Each assignment carries its segment's directives, tags and plan.
  EXPECT_EQ(second["D001"].segment_name(), "Early adopter");
  EXPECT_THAT(second["D001"].message(), ::testing::HasSubstr("overall survival"));
  EXPECT_THAT(second["D001"].channels(), ::testing::ElementsAre("face_to_face", "digital"));
  EXPECT_EQ(second["D001"].plan_calls(), second["D001"].calls()) << "no channel preference";

  // What changed from cycle 1 to 2, a page of one customer at a time: the
  // customers whose segment, tier, targets, tags or plan differ.
  std::set<std::string> differ;
  for (const auto& [id, now] : second) {
    const v1::Assignment& was = first[id];
    if (now.segment() != was.segment() || now.tier() != was.tier() || now.calls() != was.calls() ||
        now.remote() != was.remote() || now.email() != was.email() ||
        now.events() != was.events() ||
        !std::equal(now.tags().begin(), now.tags().end(), was.tags().begin(), was.tags().end()) ||
        now.plan_calls() != was.plan_calls() || now.plan_remote() != was.plan_remote() ||
        now.plan_email() != was.plan_email() || now.plan_events() != was.plan_events()) {
      differ.insert(id);
    }
  }
  ASSERT_TRUE(differ.count("D003"));
  v1::ListChangesRequest changes;
  changes.set_country("DE");
  changes.set_therapy_area("oncology");
  changes.set_since_cycle_id(1);
  changes.set_page_size(1);
  std::set<std::string> listed_changes;
  for (int pages = 0; pages < 10; ++pages) {
    v1::ListChangesResponse resp;
    grpc::Status s = stub_->ListChanges(As("anna.rep").get(), changes, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.cycle_id(), 2);
    ASSERT_LE(resp.changes_size(), 1);
    for (const v1::AssignmentChange& c : resp.changes()) {
      EXPECT_EQ(c.change(), "changed");
      listed_changes.insert(c.assignment().customer_id());
      if (c.assignment().customer_id() == "D003") {
        EXPECT_EQ(c.previous().segment(), "pragmatist");
        EXPECT_EQ(c.assignment().segment(), "conservative");
      }
    }
    if (resp.next_page_token().empty()) break;
    changes.set_page_token(resp.next_page_token());
  }
  EXPECT_EQ(listed_changes, differ);
  changes.set_since_cycle_id(99);
  v1::ListChangesResponse none;
  EXPECT_EQ(stub_->ListChanges(As("anna.rep").get(), changes, &none).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::ListRefinementsRequest list;
  list.set_country("DE");
  list.set_therapy_area("oncology");
  v1::ListRefinementsResponse listed;
  ASSERT_TRUE(stub_->ListRefinements(As("olaf.ops").get(), list, &listed).ok());
  ASSERT_EQ(listed.refinements_size(), 3) << "rejected items are kept, with their reason";
  EXPECT_EQ(listed.refinements(0).status(), v1::APPLIED);
  EXPECT_EQ(listed.refinements(0).last_cycle_id(), 2);
  EXPECT_EQ(listed.refinements(1).status(), v1::REJECTED);
  EXPECT_EQ(listed.refinements(2).status(), v1::REJECTED);

  // Text that is not UTF-8 never reaches a handler (proto3 refuses it while
  // parsing): the request is INVALID_ARGUMENT, saying why. A NUL byte is
  // valid UTF-8 to protobuf: the edge refuses it naming the field, and in a
  // list of items only the bad item is refused, nothing of it stored.
  v1::ExplainAssignmentRequest bad_country;
  bad_country.set_country("D\xC5");
  bad_country.set_therapy_area("oncology");
  bad_country.set_customer_id("D001");
  v1::Explanation explanation;
  grpc::Status refused = stub_->ExplainAssignment(As("anna.rep").get(), bad_country, &explanation);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(),
              HasSubstr("could not be read: a string field that is not valid UTF-8"));
  bad_country.set_country(std::string("D\0E", 3));
  refused = stub_->ExplainAssignment(As("anna.rep").get(), bad_country, &explanation);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(refused.error_message(),
            "country: a NUL byte at position 2; text must be UTF-8 without NUL bytes");
  v1::SubmitRefinementsRequest mixed;
  mixed.set_country("DE");
  *mixed.add_items() = Refinement("crm-4", "D003", "pragmatist", "new_information");
  *mixed.add_items() = Refinement("crm-5", "D004", "conservative", "new_information");
  mixed.mutable_items(1)->set_comment(std::string("nul\0byte", 8));
  ASSERT_TRUE(stub_->SubmitRefinements(As("anna.rep").get(), mixed, &resp).ok());
  EXPECT_EQ(resp.results(0).refinement().status(), v1::ACCEPTED);
  EXPECT_EQ(resp.results(1).refinement().status_reason(),
            "comment: a NUL byte at position 4; text must be UTF-8 without NUL bytes");
  // A 9,000-byte id is answered NOT_FOUND with a bounded echo, not
  // RESOURCE_EXHAUSTED for an oversized error.
  v1::ExplainAssignmentRequest long_id;
  long_id.set_country("DE");
  long_id.set_therapy_area("oncology");
  long_id.set_customer_id(std::string(9000, 'x'));
  grpc::Status not_found = stub_->ExplainAssignment(As("anna.rep").get(), long_id, &explanation);
  EXPECT_EQ(not_found.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LT(not_found.error_message().size(), 200u) << not_found.error_message();
  EXPECT_THAT(not_found.error_message(), HasSubstr("…(9000 bytes)': not a customer of DE"));
  ASSERT_TRUE(stub_->ListRefinements(As("olaf.ops").get(), list, &listed).ok());
  EXPECT_EQ(listed.refinements_size(), 4) << "crm-4 only";
  EXPECT_LT(worker_->Log().size(), 100000u) << "the log stays bounded";

  stub_.reset();  // an idle client connection would hold up the graceful stop
  EXPECT_EQ(worker_->Stop(), 0);
  EXPECT_THAT(worker_->Log(), HasSubstr("\"event\":\"stopped\""));
}

TEST_F(WorkerE2E, ReportsFromTheWorkerAndFromTheRulesService) {
  // The rules service shares the worker's store here, as in the demo, so it
  // sees the market's cycles.
  ASSERT_TRUE(h_->StartRules({"--store", h_->worker_store()}).ok());
  rules_ = h_->rules();
  StartWorker();
  ASSERT_EQ(Publish(kSource + "/rules/oncology.yaml"), 0);
  ASSERT_TRUE(WaitForLog((dir_ / "worker.log").string(), "\"event\":\"serving\""));
  auto cli = [&](const std::string& server, std::vector<std::string> args, const std::string& who) {
    args.insert(args.begin(), HARMONIA_CLI);
    args.insert(args.end(), {"--server", server});
    return testing::Run(args, {"HARMONIA_TOKEN=" + who + "-token"});
  };
  const std::string worker = worker_->address(), rules = rules_->address();
  const std::vector<std::string> cycle = {"cycle", "run",      "--country", "DE",
                                          "--ta",  "oncology", "--as-of",   "2026-11-01"};
  ASSERT_EQ(cli(worker, cycle, "olaf.ops").exit_code, 0);
  ASSERT_EQ(
      cli(worker,
          {"refine", "submit", "--country", "DE", kSource + "/tests/golden/data/refinements.csv"},
          "anna.rep")
          .exit_code,
      0);
  ASSERT_EQ(cli(worker, cycle, "olaf.ops").exit_code, 0);

  ProcessResult status =
      cli(worker, {"cycle", "status", "--country", "DE", "--ta", "oncology"}, "vera.view");
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("separation on trx_share: eta-squared 1.0000 "
                                    "(min_differentiation 0.06), Kruskal-Wallis p 0.317"));
  EXPECT_THAT(status.out, HasSubstr("churn: 0 of 7 customers moved segment"));
  EXPECT_THAT(status.out, HasSubstr("all figures: harmonia report --ta oncology --country DE "
                                    "--cycle 2"));

  // One market from its worker, for a viewer of the country.
  ProcessResult market =
      cli(worker, {"report", "--ta", "oncology", "--country", "DE", "--json"}, "vera.view");
  ASSERT_EQ(market.exit_code, 0) << market.err;
  EXPECT_THAT(market.out, HasSubstr("\"schema\": \"harmonia.report/1\""));
  EXPECT_THAT(market.out, HasSubstr("\"country\": \"DE\""));
  EXPECT_THAT(market.out, HasSubstr("\"previous_cycle_id\": \"1\""));  // churn
  EXPECT_THAT(market.out, HasSubstr("\"objective_metric\": \"trx_share\""));
  // R1 and R5 both refine D006: the later one (R5) is applied, R1 expires.
  EXPECT_THAT(market.out, HasSubstr("\"applied\": \"1\""));
  EXPECT_THAT(market.out, HasSubstr("\"expired\": \"1\""));
  ProcessResult tables =
      cli(worker, {"report", "--ta", "oncology", "--country", "DE", "--history", "1"}, "olaf.ops");
  ASSERT_EQ(tables.exit_code, 0) << tables.err;
  EXPECT_THAT(tables.out, HasSubstr("DE: cycle 2 as of 2026-11-01, oncology v3"));
  EXPECT_THAT(tables.out, HasSubstr("Churn against the previous cycle (cycle 1)"));
  const std::string html = (dir_ / "de.html").string();
  ProcessResult page =
      cli(worker, {"report", "--ta", "oncology", "--country", "DE", "--html", html}, "anna.rep");
  ASSERT_EQ(page.exit_code, 0) << page.err;
  EXPECT_THAT(page.err, HasSubstr("wrote " + html + " (1 markets"));
  std::ifstream in(html);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("class=\"chart-churn\" data-country=\"DE\""));
  ProcessResult foreign =
      cli(worker, {"report", "--ta", "oncology", "--country", "FR"}, "anna.rep");
  EXPECT_EQ(foreign.exit_code, 2);
  EXPECT_THAT(foreign.err, HasSubstr("PERMISSION_DENIED"));

  // Across markets, and a candidate's preview, from the rules service: global ops only.
  ProcessResult all = cli(rules, {"report", "--ta", "oncology", "--json"}, "ops@hq");
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_THAT(all.out, HasSubstr("\"country\": \"DE\""));
  EXPECT_THAT(all.out, HasSubstr("\"rule_set_version\": \"3\""));
  ProcessResult denied = cli(rules, {"report", "--ta", "oncology"}, "olaf.ops");
  EXPECT_EQ(denied.exit_code, 2);
  EXPECT_THAT(denied.err, HasSubstr("reading reports needs role global_ops"));
  const std::string scrambled = kSource + "/tests/data/rules/scrambled/oncology.yaml";
  ProcessResult preview =
      cli(rules, {"report", "--country", "DE", "--candidate", scrambled, "--json"}, "ops@hq");
  ASSERT_EQ(preview.exit_code, 0) << preview.err;
  EXPECT_THAT(preview.out, HasSubstr("\"candidate_version\": \"4\""));
  EXPECT_THAT(preview.out, HasSubstr("\"baseline_cycle_id\": \"2\""));
  ProcessResult wrong_ta = cli(
      rules, {"report", "--ta", "diabetes", "--country", "DE", "--candidate", scrambled}, "ops@hq");
  EXPECT_EQ(wrong_ta.exit_code, 2);
  EXPECT_THAT(wrong_ta.err, HasSubstr("the candidate is a rule set of oncology, not diabetes"));

  stub_.reset();
}

TEST_F(WorkerE2E, ServesRuleSetsThatReachItsStoreAnotherWay) {
  // The worker's store is shared (with a rules service, or an operator's
  // `harmonia rules publish --store`): versions that arrive there while the
  // watch cannot deliver them still make the worker ready. Here the rules
  // service is not running at all.
  StartWorker();
  ASSERT_TRUE(WaitForLog((dir_ / "worker.log").string(), "\"event\":\"rules_stream_lost\""));
  ProcessResult published = testing::Run({HARMONIA_CLI, "rules", "publish", "--store",
                                          h_->worker_store(), kSource + "/rules/oncology.yaml"});
  ASSERT_EQ(published.exit_code, 0) << published.err;
  EXPECT_TRUE(WaitForLog((dir_ / "worker.log").string(), "\"event\":\"serving\""))
      << worker_->Log();
  stub_.reset();
}

TEST_F(WorkerE2E, CyclesRunOnTheCachedRuleSetWhileTheRulesServiceIsDown) {
  StartRules();
  StartWorker();
  ASSERT_EQ(Publish(kSource + "/rules/oncology.yaml"), 0);
  ASSERT_TRUE(WaitForLog((dir_ / "worker.log").string(), "\"event\":\"serving\""));
  ASSERT_EQ(rules_->Stop(), 0);
  ASSERT_TRUE(WaitForLog((dir_ / "worker.log").string(), "\"event\":\"rules_stream_lost\""));

  v1::Cycle summary;
  grpc::Status s = RunCycle(&summary);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(summary.rule_set_version(), 3);

  // A restarted worker is ready at once from its store, rules service or not.
  stub_.reset();
  ASSERT_EQ(worker_->Stop(), 0);
  StartWorker();
  ASSERT_TRUE(WaitForLog((dir_ / "worker.log").string(), "\"event\":\"serving\""));
  s = RunCycle(&summary);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(summary.cycle_id(), 2);

  // The rules service comes back with a new version: the worker picks it up.
  StartRules();
  const std::string v4 = absl::StrReplaceAll(ReadFile(kSource + "/rules/oncology.yaml"),
                                             {{"version: 3", "version: 4"}});
  WriteFile(dir_ / "v4.yaml", v4);
  ASSERT_EQ(Publish((dir_ / "v4.yaml").string()), 0);
  ASSERT_TRUE(WaitForLog((dir_ / "worker.log").string(), "\"version\":4", absl::Seconds(60)))
      << worker_->Log();
  ASSERT_TRUE(RunCycle(&summary).ok());
  EXPECT_EQ(summary.rule_set_version(), 4);
}

TEST_F(WorkerE2E, TheCliDrivesEveryCountryJob) {
  StartRules();
  StartWorker();
  ASSERT_EQ(Publish(kSource + "/rules/oncology.yaml"), 0);
  ASSERT_TRUE(WaitForLog((dir_ / "worker.log").string(), "\"event\":\"serving\""));
  auto cli = [&](std::vector<std::string> args, const std::string& who) {
    args.insert(args.begin(), HARMONIA_CLI);
    args.insert(args.end(), {"--server", worker_->address(), "--country", "DE"});
    return testing::Run(args, {"HARMONIA_TOKEN=" + who + "-token"});
  };
  ProcessResult run =
      cli({"cycle", "run", "--ta", "oncology", "--as-of", "2026-11-01"}, "olaf.ops");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("DE oncology: cycle 1 committed as of 2026-11-01, rule set v3, "
                                 "7 customers"));

  const std::string file = kSource + "/tests/golden/data/refinements.csv";
  ProcessResult refine = cli({"refine", "submit", file}, "anna.rep");
  ASSERT_EQ(refine.exit_code, 0) << refine.err;
  EXPECT_THAT(refine.err,
              HasSubstr(file + ":3: rejected: customer_id 'F001': not a customer of DE"));
  EXPECT_THAT(refine.err, HasSubstr(file + ":4: rejected: segment 'teleporter': unknown"));
  EXPECT_THAT(refine.err, HasSubstr(file + ":5: rejected: over the refinement quota: 1 customers"));
  EXPECT_THAT(refine.out, HasSubstr("refine submit: 5 sent: 2 accepted, 3 rejected"));
  ProcessResult retry = cli({"refine", "submit", "--quiet", file}, "anna.rep");
  EXPECT_THAT(retry.out, HasSubstr("2 duplicate of an earlier accepted, 3 duplicate of an earlier "
                                   "rejected"));

  ProcessResult listed =
      cli({"refine", "list", "--ta", "oncology", "--status", "accepted"}, "vera.view");
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("R1 "));
  EXPECT_THAT(listed.out, HasSubstr("R5 "));
  EXPECT_EQ(listed.out.find("R2 "), std::string::npos);
  ProcessResult withdraw = cli({"refine", "withdraw", "R1"}, "anna.rep");
  EXPECT_EQ(withdraw.exit_code, 0) << withdraw.err;
  EXPECT_EQ(withdraw.out, "R1: withdrawn\n");

  ASSERT_EQ(
      cli({"cycle", "run", "--ta", "oncology", "--as-of", "2026-11-01"}, "olaf.ops").exit_code, 0);
  ProcessResult assignments =
      cli({"assignments", "--ta", "oncology", "--customer", "D006,D001"}, "anna.rep");
  ASSERT_EQ(assignments.exit_code, 0) << assignments.err;
  EXPECT_THAT(assignments.out, HasSubstr("D006         conservative"));
  EXPECT_THAT(assignments.out, HasSubstr("refinement"));
  // The n=1 plan (no channel preference in tests/golden/DE.yaml: the targets;
  // D006's refinement took calls 2 - 5 to 0).
  EXPECT_THAT(assignments.out, HasSubstr("PLAN        TAGS"));
  EXPECT_THAT(assignments.out, HasSubstr(" 0/0/1/0 "));

  ProcessResult explain = cli({"explain", "--ta", "oncology", "--customer", "D001"}, "vera.view");
  ASSERT_EQ(explain.exit_code, 0) << explain.err;
  EXPECT_THAT(explain.out, HasSubstr("D001 in DE oncology, cycle 2 (as of 2026-11-01)"));
  EXPECT_THAT(explain.out, HasSubstr("passed over: 1 (rep, 2026-11-15): future"));
  EXPECT_THAT(explain.out, HasSubstr("pull-through: inputs unchanged since cycle 1"));
  // Each score as its weighted terms (innovation = 3.3).
  EXPECT_THAT(explain.out, HasSubstr("= -3 + 0.6 × q1 (5 → 3) + 0.5 × q2 (5 → 2.5) - 0.4 × q3 "
                                     "(1 → -0.4) + 0.3 × q8 (4 → 1.2)"));
  ProcessResult refined = cli({"explain", "--ta", "oncology", "--customer", "D006"}, "olaf.ops");
  EXPECT_THAT(refined.out, HasSubstr("refinement R5 by anna.rep (practice_change: Back to old "
                                     "habits): segment conservative, calls -5"));
  EXPECT_THAT(refined.out, HasSubstr("7. plan: targets\n"));
  EXPECT_THAT(refined.out, HasSubstr("   plan: calls 0, remote 0, email 1, events 0; tags: "));
  EXPECT_THAT(refined.out, HasSubstr("   message: Guideline-endorsed, with years of experience "
                                     "behind it; channels: face_to_face\n"));
  // A customer of FR answers exactly as an unknown id: nothing tells it exists.
  ProcessResult foreign = cli({"explain", "--ta", "oncology", "--customer", "F001"}, "anna.rep");
  ProcessResult unknown = cli({"explain", "--ta", "oncology", "--customer", "X999"}, "anna.rep");
  EXPECT_EQ(foreign.exit_code, 2);
  EXPECT_EQ(foreign.exit_code, unknown.exit_code);
  EXPECT_EQ(foreign.err,
            "harmonia: explain: NOT_FOUND: customer_id 'F001': not a customer of DE\n");
  EXPECT_EQ(unknown.err,
            "harmonia: explain: NOT_FOUND: customer_id 'X999': not a customer of DE\n");

  ProcessResult cycles = cli({"cycle", "list", "--ta", "oncology"}, "vera.view");
  EXPECT_THAT(cycles.out, HasSubstr("     2  2026-11-01       3          7"));
  ProcessResult status = cli({"cycle", "status", "--ta", "oncology", "--json"}, "vera.view");
  EXPECT_THAT(status.out, HasSubstr("\"cycle_id\": \"2\""));

  WriteFile(dir_ / "answers.csv",
            "customer_id,therapy_area,question_id,value,source,as_of\n"
            "D008,oncology,q1,4,rep,2026-11-20\n"
            "D008,oncology,q1,9,rep,2026-11-20\n"
            "F001,oncology,q1,4,rep,2026-11-20\n"
            "D008,oncology,q1,4,external,2026-11-20\n");
  ProcessResult answers = cli({"profile", "submit", (dir_ / "answers.csv").string()}, "anna.rep");
  ASSERT_EQ(answers.exit_code, 0) << answers.err;
  EXPECT_THAT(answers.err, HasSubstr("answers.csv:3: rejected: value '9' for q1:"));
  EXPECT_THAT(answers.err,
              HasSubstr("answers.csv:4: rejected: customer_id 'F001': not a customer of DE"));
  EXPECT_THAT(answers.err, HasSubstr("answers.csv:5:"));
  EXPECT_THAT(answers.out, HasSubstr("profile submit: 1 accepted, 2 rejected, 1 unreadable rows"));

  // The country's audit log through its worker: country ops read it (the
  // answers just submitted, with what they changed); a field user may not.
  ProcessResult audit = cli({"audit", "log", "--action", "answers.submit", "--json"}, "olaf.ops");
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  EXPECT_THAT(audit.out, HasSubstr("\"principal\": \"anna.rep\""));
  EXPECT_THAT(audit.out, HasSubstr("\\\"question_id\\\":\\\"q1\\\""));
  EXPECT_THAT(audit.out, HasSubstr("\\\"value\\\":null"));
  ProcessResult denied = cli({"audit", "log"}, "anna.rep");
  EXPECT_EQ(denied.exit_code, 2);
  EXPECT_THAT(denied.err, HasSubstr("PERMISSION_DENIED"));
  stub_.reset();
}

// A market that requires approval and keeps refinements for one cycle.
class WorkerApprovalE2E : public WorkerE2E {
 protected:
  WorkerApprovalE2E() {
    country_text_ = ReadFile(kSource + "/tests/golden/DE.yaml");
    country_text_ =
        country_text_.substr(0, country_text_.find("schedule:")) +
        country_text_.substr(country_text_.find('\n', country_text_.find("schedule:")) + 1) +
        "refinement: {window_days: 10, valid_cycles: 1, requires_approval: true}\n";
  }
};

TEST_F(WorkerApprovalE2E, ApprovalThenOneCycleThenTheRulesDecideAgain) {
  StartRules();
  StartWorker();
  ASSERT_EQ(Publish(kSource + "/rules/oncology.yaml"), 0);
  ASSERT_TRUE(WaitForLog(h_->worker_log(), "\"event\":\"serving\""));
  v1::Cycle summary;
  ASSERT_TRUE(RunCycle(&summary).ok());

  v1::SubmitRefinementsRequest req;
  req.set_country("DE");
  *req.add_items() = Refinement("ap-1", "D003", "conservative", "new_information");
  v1::SubmitRefinementsResponse resp;
  ASSERT_TRUE(stub_->SubmitRefinements(As("anna.rep").get(), req, &resp).ok());
  EXPECT_EQ(resp.results(0).refinement().status(), v1::SUBMITTED) << "awaits approval";

  ASSERT_TRUE(RunCycle(&summary).ok());
  EXPECT_EQ(Assignments()["D003"].segment(), "pragmatist") << "not approved: not applied";

  v1::DecideRefinementRequest decide;
  decide.set_country("DE");
  decide.set_request_id("ap-1");
  v1::Refinement decided;
  EXPECT_EQ(stub_->ApproveRefinement(As("anna.rep").get(), decide, &decided).error_code(),
            grpc::StatusCode::PERMISSION_DENIED)
      << "field users do not approve";
  ASSERT_TRUE(stub_->ApproveRefinement(As("olaf.ops").get(), decide, &decided).ok());
  EXPECT_EQ(decided.status(), v1::APPROVED);
  EXPECT_EQ(decided.decided_by(), "olaf.ops");
  grpc::Status twice = stub_->ApproveRefinement(As("olaf.ops").get(), decide, &decided);
  EXPECT_EQ(twice.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << twice.error_message();

  ASSERT_TRUE(RunCycle(&summary).ok());
  v1::Assignment refined = Assignments()["D003"];
  EXPECT_EQ(refined.segment(), "conservative");
  EXPECT_EQ(refined.decided_by(), "refinement");
  v1::ExplainAssignmentRequest explain;
  explain.set_country("DE");
  explain.set_therapy_area("oncology");
  explain.set_customer_id("D003");
  v1::Explanation e;
  ASSERT_TRUE(stub_->ExplainAssignment(As("vera.view").get(), explain, &e).ok());
  EXPECT_EQ(e.refinement().request_id(), "ap-1");
  EXPECT_EQ(e.refinement().decided_by(), "olaf.ops") << "approved by whom";

  // valid_cycles 1 counts cycle periods; this market has no schedule, so
  // each cycle date is a period. A re-run on the same date keeps it...
  ASSERT_TRUE(RunCycle(&summary).ok());
  EXPECT_THAT(summary.summary(), HasSubstr("a re-run in the period starting 2026-11-01"));
  EXPECT_EQ(summary.period(), "2026-11-01");
  EXPECT_EQ(Assignments()["D003"].decided_by(), "refinement") << "kept by the re-run";
  // ...and at the next period it expires, and D003's unchanged data does not
  // carry the refined result forward.
  ASSERT_TRUE(RunCycle(&summary, nullptr, "olaf.ops", "2026-11-02").ok());
  EXPECT_EQ(summary.period(), "2026-11-02");
  v1::Assignment after = Assignments()["D003"];
  EXPECT_EQ(after.segment(), "pragmatist");
  EXPECT_EQ(after.decided_by(), "unprofiled");
  // Explain says why, from the engine's own trace: which required answers
  // are missing; each score is its intercept plus its terms.
  ASSERT_TRUE(stub_->ExplainAssignment(As("vera.view").get(), explain, &e).ok());
  EXPECT_FALSE(e.profiled());
  EXPECT_EQ(e.table(), "unprofiled");
  EXPECT_FALSE(e.missing_required().empty());
  for (const v1::Explanation::Score& score : e.scores()) {
    if (score.missing()) continue;
    double sum = score.intercept();
    for (const auto& t : score.terms()) sum += t.contribution();
    EXPECT_NEAR(sum, score.value(), 1e-9) << score.id();
  }
  v1::ListRefinementsRequest list;
  list.set_country("DE");
  list.set_therapy_area("oncology");
  v1::ListRefinementsResponse listed;
  ASSERT_TRUE(stub_->ListRefinements(As("olaf.ops").get(), list, &listed).ok());
  ASSERT_EQ(listed.refinements_size(), 1);
  EXPECT_EQ(listed.refinements(0).status(), v1::EXPIRED);

  // A withdrawn refinement is not applied either.
  *req.mutable_items(0) = Refinement("ap-2", "D004", "conservative", "access_change");
  ASSERT_TRUE(stub_->SubmitRefinements(As("anna.rep").get(), req, &resp).ok());
  decide.set_request_id("ap-2");
  grpc::Status other = stub_->WithdrawRefinement(As("vera.view").get(), decide, &decided);
  EXPECT_EQ(other.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(stub_->WithdrawRefinement(As("anna.rep").get(), decide, &decided).ok());
  EXPECT_EQ(decided.status(), v1::WITHDRAWN);
  stub_.reset();
}

// The worker reaches the rules service over mutual TLS, and serves TLS itself.
TEST_F(WorkerE2E, WorkerAndRulesServiceTalkOverMutualTls) {
  const std::string d = dir_.string() + "/";
  ASSERT_TRUE(testing::MakeTestCertificates(d).ok());
  ASSERT_TRUE(h_->StartRules({"--tls-cert", d + "server.pem", "--tls-key", d + "server.key",
                              "--tls-client-ca", d + "ca.pem"})
                  .ok());
  ASSERT_TRUE(h_->StartWorker({"--rules-tls-ca", d + "ca.pem", "--rules-tls-cert", d + "client.pem",
                               "--rules-tls-key", d + "client.key", "--tls-cert", d + "server.pem",
                               "--tls-key", d + "server.key"})
                  .ok());
  ProcessResult pub =
      testing::Run({HARMONIA_CLI, "rules", "publish", "--server", h_->rules()->address(), "--token",
                    "ops@hq-token", "--tls-ca", d + "ca.pem", "--tls-cert", d + "client.pem",
                    "--tls-key", d + "client.key", kSource + "/rules/oncology.yaml"});
  ASSERT_EQ(pub.exit_code, 0) << pub.err;
  ASSERT_TRUE(WaitForLog(h_->worker_log(), "\"event\":\"serving\""))
      << "the worker received the rule set over mTLS\n"
      << h_->worker()->Log();
  ProcessResult run =
      h_->Cli({"cycle", "run", "--server", h_->worker()->address(), "--country", "DE", "--ta",
               "oncology", "--as-of", "2026-11-01", "--tls-ca", d + "ca.pem"},
              "olaf.ops");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("cycle 1 committed"));
}

}  // namespace
}  // namespace harmonia
