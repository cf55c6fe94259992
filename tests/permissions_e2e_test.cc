// The permission matrix of docs/api.md, checked cell by cell against real
// processes: every RPC of both services, called by every role (and without a
// token, and with an unknown one). A cell is "allowed" when the call is not
// refused for who is calling (it may still fail for other reasons, e.g.
// NOT_FOUND for a made-up request id); "denied" is PERMISSION_DENIED.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "harmonia/v1/country.grpc.pb.h"
#include "harmonia/v1/rules.grpc.pb.h"
#include "services/grpc_util.h"
#include "tests/support/harness.h"

namespace harmonia {
namespace {

const std::string kSource = HARMONIA_SOURCE_DIR;

// Calls one RPC with the given metadata value ("" = none); its status code.
using Call = std::function<grpc::StatusCode(const std::string& authorization)>;

struct Rpc {
  std::string name;
  std::set<std::string> allowed;  // principals allowed
};

class PermissionMatrix : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    h_ = new testing::Harness(testing::HarnessOptions{.cli = HARMONIA_CLI,
                                                      .rules = HARMONIA_RULES,
                                                      .worker = HARMONIA_WORKER,
                                                      .source_dir = kSource});
    ASSERT_TRUE(h_->SetUp("permissions").ok());
    ASSERT_TRUE(h_->StartRules().ok());
    ASSERT_TRUE(h_->StartWorker().ok());
    ASSERT_EQ(h_->Publish(kSource + "/rules/oncology.yaml").exit_code, 0);
    ASSERT_TRUE(testing::WaitForLog(h_->worker_log(), "\"event\":\"serving\""));
    rules_ =
        v1::RulesService::NewStub(*services::MakeChannel(h_->rules()->address(), {})).release();
    country_ =
        v1::CountryService::NewStub(*services::MakeChannel(h_->worker()->address(), {})).release();
    // One cycle, so reads have something to read.
    ASSERT_EQ(h_->Cli({"cycle", "run", "--server", h_->worker()->address(), "--country", "DE",
                       "--ta", "oncology", "--as-of", "2026-11-01"},
                      "olaf.ops")
                  .exit_code,
              0);
  }
  static void TearDownTestSuite() {
    delete rules_;
    delete country_;
    delete h_;
  }

  static std::unique_ptr<grpc::ClientContext> Ctx(const std::string& authorization) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!authorization.empty()) ctx->AddMetadata("authorization", authorization);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return ctx;
  }

  // Every RPC with a request naming DE, and the principals allowed.
  static std::vector<std::pair<Rpc, Call>> Rpcs() {
    const std::string text = [] {
      std::ifstream in(kSource + "/rules/oncology.yaml");
      return std::string(std::istreambuf_iterator<char>(in), {});
    }();
    const std::set<std::string> ops = {"ops@hq"};
    const std::set<std::string> anyone = {"ops@hq",    "olaf.ops",   "anna.rep", "vera.view",
                                          "worker-de", "pierre.rep", "fanny.ops"};
    const std::set<std::string> de_readers = {"ops@hq", "olaf.ops", "anna.rep", "vera.view"};
    const std::set<std::string> de_field = {"olaf.ops", "anna.rep"};
    const std::set<std::string> de_ops = {"olaf.ops"};
    std::vector<std::pair<Rpc, Call>> out;
    auto unary = [&](std::string name, std::set<std::string> allowed, auto method, auto request,
                     auto response) {
      out.push_back({{std::move(name), std::move(allowed)},
                     [method, request, response](const std::string& auth) mutable {
                       return method(Ctx(auth).get(), request, &response).error_code();
                     }});
    };
    using namespace std::placeholders;
    v1::ValidateRuleSetRequest validate;
    validate.set_source_text(text);
    unary(
        "RulesService.ValidateRuleSet", ops,
        [](auto* c, const auto& r, auto* p) { return rules_->ValidateRuleSet(c, r, p); }, validate,
        v1::ValidateRuleSetResponse());
    v1::PublishRuleSetRequest publish;
    publish.set_source_text(text);  // v3 again: an idempotent retry when allowed
    unary(
        "RulesService.PublishRuleSet", ops,
        [](auto* c, const auto& r, auto* p) { return rules_->PublishRuleSet(c, r, p); }, publish,
        v1::PublishRuleSetResponse());
    v1::RollbackRuleSetRequest rollback;
    rollback.set_therapy_area("oncology");
    rollback.set_to_version(3);
    rollback.set_new_version(3);  // refused as not increasing when allowed: nothing changes
    unary(
        "RulesService.RollbackRuleSet", ops,
        [](auto* c, const auto& r, auto* p) { return rules_->RollbackRuleSet(c, r, p); }, rollback,
        v1::PublishRuleSetResponse());
    v1::GetRuleSetRequest get;
    get.set_therapy_area("oncology");
    unary(
        "RulesService.GetRuleSet", anyone,
        [](auto* c, const auto& r, auto* p) { return rules_->GetRuleSet(c, r, p); }, get,
        v1::RuleSet());
    unary(
        "RulesService.ListRuleSets", anyone,
        [](auto* c, const auto& r, auto* p) { return rules_->ListRuleSets(c, r, p); },
        v1::ListRuleSetsRequest(), v1::ListRuleSetsResponse());
    v1::DiffRuleSetsRequest diff;
    diff.set_therapy_area("oncology");
    diff.set_from_version(3);
    unary(
        "RulesService.DiffRuleSets", anyone,
        [](auto* c, const auto& r, auto* p) { return rules_->DiffRuleSets(c, r, p); }, diff,
        v1::DiffRuleSetsResponse());
    v1::PreviewImpactRequest preview;
    preview.set_source_text(text);
    preview.set_country("DE");
    unary(
        "RulesService.PreviewImpact", ops,
        [](auto* c, const auto& r, auto* p) { return rules_->PreviewImpact(c, r, p); }, preview,
        v1::PreviewImpactResponse());
    v1::GetReportRequest report;
    report.set_therapy_area("oncology");
    unary(
        "RulesService.GetReport", ops,
        [](auto* c, const auto& r, auto* p) { return rules_->GetReport(c, r, p); }, report,
        v1::Report());
    unary(
        "RulesService.ListAudit (the whole log)", ops,
        [](auto* c, const auto& r, auto* p) { return rules_->ListAudit(c, r, p); },
        v1::ListAuditRequest(), v1::ListAuditResponse());
    v1::ListAuditRequest audit_de;
    audit_de.set_country("DE");
    unary(
        "RulesService.ListAudit (DE)", {"ops@hq", "olaf.ops"},
        [](auto* c, const auto& r, auto* p) { return rules_->ListAudit(c, r, p); }, audit_de,
        v1::ListAuditResponse());
    out.push_back(
        {{"RulesService.WatchRuleSets", {"ops@hq", "worker-de"}}, [](const std::string& auth) {
           auto ctx = Ctx(auth);
           auto stream = rules_->WatchRuleSets(ctx.get(), v1::WatchRuleSetsRequest());
           v1::RuleSet first;
           if (stream->Read(&first)) ctx->TryCancel();  // allowed: v3 arrives
           return stream->Finish().error_code();
         }});

    v1::SubmitRefinementsRequest submit;
    submit.set_country("DE");
    auto* item = submit.add_items();
    item->set_request_id("perm-1");
    item->set_customer_id("D002");
    item->set_therapy_area("oncology");
    item->set_calls_delta(1);
    item->set_reason("new_information");
    unary(
        "CountryService.SubmitRefinements", de_field,
        [](auto* c, const auto& r, auto* p) { return country_->SubmitRefinements(c, r, p); },
        submit, v1::SubmitRefinementsResponse());
    v1::ListRefinementsRequest list;
    list.set_country("DE");
    list.set_therapy_area("oncology");
    unary(
        "CountryService.ListRefinements", de_readers,
        [](auto* c, const auto& r, auto* p) { return country_->ListRefinements(c, r, p); }, list,
        v1::ListRefinementsResponse());
    v1::DecideRefinementRequest decide;
    decide.set_country("DE");
    decide.set_request_id("no-such-request");
    decide.set_reason("test");
    unary(
        "CountryService.ApproveRefinement", de_ops,
        [](auto* c, const auto& r, auto* p) { return country_->ApproveRefinement(c, r, p); },
        decide, v1::Refinement());
    unary(
        "CountryService.RejectRefinement", de_ops,
        [](auto* c, const auto& r, auto* p) { return country_->RejectRefinement(c, r, p); }, decide,
        v1::Refinement());
    unary(
        "CountryService.WithdrawRefinement", de_field,
        [](auto* c, const auto& r, auto* p) { return country_->WithdrawRefinement(c, r, p); },
        decide, v1::Refinement());
    out.push_back({{"CountryService.RunCycle", de_ops}, [](const std::string& auth) {
                     v1::RunCycleRequest req;
                     req.set_country("DE");
                     req.set_therapy_area("oncology");
                     req.set_as_of("2026-11-01");
                     auto ctx = Ctx(auth);
                     auto stream = country_->RunCycle(ctx.get(), req);
                     v1::RunCycleResponse event;
                     while (stream->Read(&event)) {
                     }
                     return stream->Finish().error_code();
                   }});
    v1::GetCycleRequest cycle;
    cycle.set_country("DE");
    cycle.set_therapy_area("oncology");
    unary(
        "CountryService.GetCycle", de_readers,
        [](auto* c, const auto& r, auto* p) { return country_->GetCycle(c, r, p); }, cycle,
        v1::Cycle());
    v1::ListCyclesRequest cycles;
    cycles.set_country("DE");
    cycles.set_therapy_area("oncology");
    unary(
        "CountryService.ListCycles", de_readers,
        [](auto* c, const auto& r, auto* p) { return country_->ListCycles(c, r, p); }, cycles,
        v1::ListCyclesResponse());
    v1::GetCountryReportRequest market_report;
    market_report.set_country("DE");
    market_report.set_therapy_area("oncology");
    unary(
        "CountryService.GetReport", de_readers,
        [](auto* c, const auto& r, auto* p) { return country_->GetReport(c, r, p); }, market_report,
        v1::Report());
    v1::QueryAssignmentsRequest query;
    query.set_country("DE");
    query.set_therapy_area("oncology");
    unary(
        "CountryService.QueryAssignments", de_readers,
        [](auto* c, const auto& r, auto* p) { return country_->QueryAssignments(c, r, p); }, query,
        v1::QueryAssignmentsResponse());
    v1::ListChangesRequest changes;
    changes.set_country("DE");
    changes.set_therapy_area("oncology");
    changes.set_since_cycle_id(1);
    unary(
        "CountryService.ListChanges", de_readers,
        [](auto* c, const auto& r, auto* p) { return country_->ListChanges(c, r, p); }, changes,
        v1::ListChangesResponse());
    v1::ExplainAssignmentRequest explain;
    explain.set_country("DE");
    explain.set_therapy_area("oncology");
    explain.set_customer_id("D001");
    unary(
        "CountryService.ExplainAssignment", de_readers,
        [](auto* c, const auto& r, auto* p) { return country_->ExplainAssignment(c, r, p); },
        explain, v1::Explanation());
    v1::GetQuestionnaireRequest questionnaire;
    questionnaire.set_country("DE");
    questionnaire.set_therapy_area("oncology");
    unary(
        "CountryService.GetQuestionnaire", de_readers,
        [](auto* c, const auto& r, auto* p) { return country_->GetQuestionnaire(c, r, p); },
        questionnaire, v1::Questionnaire());
    v1::SubmitAnswersRequest answers;
    answers.set_country("DE");
    auto* answer = answers.add_items();
    answer->set_customer_id("D008");
    answer->set_therapy_area("oncology");
    answer->set_question_id("q1");
    answer->set_value("4");
    unary(
        "CountryService.SubmitAnswers", de_field,
        [](auto* c, const auto& r, auto* p) { return country_->SubmitAnswers(c, r, p); }, answers,
        v1::SubmitAnswersResponse());
    unary(
        "CountryService.ListAudit", {"ops@hq", "olaf.ops"},
        [](auto* c, const auto& r, auto* p) { return country_->ListAudit(c, r, p); }, audit_de,
        v1::ListAuditResponse());
    v1::GetCountryConfigRequest country_file;
    country_file.set_country("DE");
    unary(
        "CountryService.GetCountryConfig", de_readers,
        [](auto* c, const auto& r, auto* p) { return country_->GetCountryConfig(c, r, p); },
        country_file, v1::CountryConfig());
    v1::ValidateCountryConfigRequest proposed;
    proposed.set_country("DE");
    proposed.set_file_text("country: DE\n");
    unary(
        "CountryService.ValidateCountryConfig", de_ops,
        [](auto* c, const auto& r, auto* p) { return country_->ValidateCountryConfig(c, r, p); },
        proposed, v1::ValidateCountryConfigResponse());
    v1::GetRefinementPolicyRequest policy;
    policy.set_country("DE");
    policy.set_therapy_area("oncology");
    unary(
        "CountryService.GetRefinementPolicy", de_readers,
        [](auto* c, const auto& r, auto* p) { return country_->GetRefinementPolicy(c, r, p); },
        policy, v1::RefinementPolicy());
    std::set<std::string> everyone;
    for (const auto& [principal, roles] : testing::Harness::Principals())
      everyone.insert(principal);
    unary(
        "RulesService.WhoAmI", everyone,
        [](auto* c, const auto& r, auto* p) { return rules_->WhoAmI(c, r, p); },
        v1::WhoAmIRequest(), v1::WhoAmIResponse());
    return out;
  }

  static testing::Harness* h_;
  static v1::RulesService::Stub* rules_;
  static v1::CountryService::Stub* country_;
};

testing::Harness* PermissionMatrix::h_ = nullptr;
v1::RulesService::Stub* PermissionMatrix::rules_ = nullptr;
v1::CountryService::Stub* PermissionMatrix::country_ = nullptr;

TEST_F(PermissionMatrix, EveryRoleAndEveryRpc) {
  std::vector<std::string> wrong;
  int cells = 0;
  for (auto& [rpc, call] : Rpcs()) {
    for (const auto& [principal, roles] : testing::Harness::Principals()) {
      const grpc::StatusCode code = call("Bearer " + principal + "-token");
      const bool allowed = rpc.allowed.count(principal) > 0;
      ++cells;
      if (code == grpc::StatusCode::UNAUTHENTICATED ||
          (code == grpc::StatusCode::PERMISSION_DENIED) == allowed) {
        wrong.push_back(absl::StrCat(rpc.name, " by ", principal, " ", roles, ": code ", code,
                                     allowed ? ", expected allowed" : ", expected denied"));
      }
    }
    for (const std::string& auth : {std::string(), std::string("Bearer nope"),
                                    std::string("Basic b3BzOm9wcw=="), std::string("Bearer ")}) {
      const grpc::StatusCode code = call(auth);
      ++cells;
      if (code != grpc::StatusCode::UNAUTHENTICATED) {
        wrong.push_back(absl::StrCat(rpc.name, " with authorization '", auth, "': code ", code,
                                     ", expected UNAUTHENTICATED"));
      }
    }
  }
  EXPECT_EQ(cells, 30 * 11);  // 30 calls (ListAudit twice) × 11 callers
  EXPECT_THAT(wrong, ::testing::IsEmpty()) << absl::StrJoin(wrong, "\n");
}

TEST_F(PermissionMatrix, AWorkerAnswersOnlyForItsCountries) {
  // fanny.ops is country ops of FR, allowed to ask FR, but this worker serves DE.
  v1::GetCycleRequest req;
  req.set_country("FR");
  req.set_therapy_area("oncology");
  v1::Cycle resp;
  grpc::Status s = country_->GetCycle(Ctx("Bearer fanny.ops-token").get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("not served by this worker (it serves DE)"));
}

}  // namespace
}  // namespace harmonia
