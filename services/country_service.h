// CountryServiceImpl: the gRPC shim over WorkerCore (harmonia.v1.CountryService,
// proto/harmonia/v1/country.proto). Translates requests and responses; every
// decision is the core's.
#ifndef HARMONIA_SERVICES_COUNTRY_SERVICE_H_
#define HARMONIA_SERVICES_COUNTRY_SERVICE_H_

#include "auth/auth.h"
#include "harmonia/v1/country.grpc.pb.h"
#include "services/worker_core.h"

namespace harmonia::services {

// QueryAssignments, the hot read (a CRM asking for one customer at a time),
// runs on gRPC's callback API: answered on the thread that received it, with
// no hand-off to a pool thread. It reads the worker's cached latest cycle
// (touching the store at most once a second), so it does not block for long.
class CountryServiceImpl final
    : public v1::CountryService::WithCallbackMethod_QueryAssignments<v1::CountryService::Service> {
 public:
  // REQUIRES: core and tokens outlive the service.
  CountryServiceImpl(WorkerCore* core, const auth::TokenHolder* tokens)
      : core_(core), tokens_(tokens) {}

  grpc::Status SubmitRefinements(grpc::ServerContext* ctx, const v1::SubmitRefinementsRequest* req,
                                 v1::SubmitRefinementsResponse* resp) override;
  grpc::Status ListRefinements(grpc::ServerContext* ctx, const v1::ListRefinementsRequest* req,
                               v1::ListRefinementsResponse* resp) override;
  grpc::Status ApproveRefinement(grpc::ServerContext* ctx, const v1::DecideRefinementRequest* req,
                                 v1::Refinement* resp) override;
  grpc::Status RejectRefinement(grpc::ServerContext* ctx, const v1::DecideRefinementRequest* req,
                                v1::Refinement* resp) override;
  grpc::Status WithdrawRefinement(grpc::ServerContext* ctx, const v1::DecideRefinementRequest* req,
                                  v1::Refinement* resp) override;
  grpc::Status RunCycle(grpc::ServerContext* ctx, const v1::RunCycleRequest* req,
                        grpc::ServerWriter<v1::RunCycleResponse>* writer) override;
  grpc::Status GetReport(grpc::ServerContext* ctx, const v1::GetCountryReportRequest* req,
                         v1::Report* resp) override;
  grpc::Status ListAudit(grpc::ServerContext* ctx, const v1::ListAuditRequest* req,
                         v1::ListAuditResponse* resp) override;
  grpc::Status GetCountryConfig(grpc::ServerContext* ctx, const v1::GetCountryConfigRequest* req,
                                v1::CountryConfig* resp) override;
  grpc::Status ValidateCountryConfig(grpc::ServerContext* ctx,
                                     const v1::ValidateCountryConfigRequest* req,
                                     v1::ValidateCountryConfigResponse* resp) override;
  grpc::Status GetRefinementPolicy(grpc::ServerContext* ctx,
                                   const v1::GetRefinementPolicyRequest* req,
                                   v1::RefinementPolicy* resp) override;
  grpc::Status GetCycle(grpc::ServerContext* ctx, const v1::GetCycleRequest* req,
                        v1::Cycle* resp) override;
  grpc::Status ListCycles(grpc::ServerContext* ctx, const v1::ListCyclesRequest* req,
                          v1::ListCyclesResponse* resp) override;
  grpc::ServerUnaryReactor* QueryAssignments(grpc::CallbackServerContext* ctx,
                                             const v1::QueryAssignmentsRequest* req,
                                             v1::QueryAssignmentsResponse* resp) override;
  grpc::Status ListChanges(grpc::ServerContext* ctx, const v1::ListChangesRequest* req,
                           v1::ListChangesResponse* resp) override;
  grpc::Status ExplainAssignment(grpc::ServerContext* ctx, const v1::ExplainAssignmentRequest* req,
                                 v1::Explanation* resp) override;
  grpc::Status GetQuestionnaire(grpc::ServerContext* ctx, const v1::GetQuestionnaireRequest* req,
                                v1::Questionnaire* resp) override;
  grpc::Status SubmitAnswers(grpc::ServerContext* ctx, const v1::SubmitAnswersRequest* req,
                             v1::SubmitAnswersResponse* resp) override;

 private:
  grpc::Status Decide(grpc::ServerContext* ctx, const char* method,
                      const v1::DecideRefinementRequest* req, store::RefinementStatus to,
                      v1::Refinement* resp);

  WorkerCore* const core_;
  const auth::TokenHolder* const tokens_;
};

// Conversions shared with the CLI.
void ToProto(const store::RefinementRecord& r, v1::Refinement* out);
void ToProto(const store::CycleRecord& c, v1::Cycle* out);
// `segment`: the segment's directives in the country's labels; null = none
// known (the label is then the segment id).
void ToProto(const store::AssignmentRow& r, const delivery::SegmentDirectives* segment,
             v1::Assignment* out);
v1::RefinementStatus ToProto(store::RefinementStatus s);
std::optional<store::RefinementStatus> FromProto(v1::RefinementStatus s);

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_COUNTRY_SERVICE_H_
