// RulesServiceImpl: the gRPC shim over RulesCore (harmonia.v1.RulesService,
// proto/harmonia/v1/rules.proto). Translates requests and responses; every
// decision is the core's.
#ifndef HARMONIA_SERVICES_RULES_SERVICE_H_
#define HARMONIA_SERVICES_RULES_SERVICE_H_

#include <atomic>

#include "auth/auth.h"
#include "harmonia/v1/rules.grpc.pb.h"
#include "services/rules_core.h"

namespace harmonia::services {

class RulesServiceImpl final : public v1::RulesService::Service {
 public:
  // REQUIRES: core and tokens outlive the service.
  RulesServiceImpl(RulesCore* core, const auth::TokenHolder* tokens)
      : core_(core), tokens_(tokens) {}

  // Ends open watch streams (before the server shuts down).
  void Shutdown() { stopping_ = true; }

  grpc::Status ValidateRuleSet(grpc::ServerContext* ctx, const v1::ValidateRuleSetRequest* req,
                               v1::ValidateRuleSetResponse* resp) override;
  grpc::Status PublishRuleSet(grpc::ServerContext* ctx, const v1::PublishRuleSetRequest* req,
                              v1::PublishRuleSetResponse* resp) override;
  grpc::Status RollbackRuleSet(grpc::ServerContext* ctx, const v1::RollbackRuleSetRequest* req,
                               v1::PublishRuleSetResponse* resp) override;
  grpc::Status GetRuleSet(grpc::ServerContext* ctx, const v1::GetRuleSetRequest* req,
                          v1::RuleSet* resp) override;
  grpc::Status ListRuleSets(grpc::ServerContext* ctx, const v1::ListRuleSetsRequest* req,
                            v1::ListRuleSetsResponse* resp) override;
  grpc::Status DiffRuleSets(grpc::ServerContext* ctx, const v1::DiffRuleSetsRequest* req,
                            v1::DiffRuleSetsResponse* resp) override;
  grpc::Status WatchRuleSets(grpc::ServerContext* ctx, const v1::WatchRuleSetsRequest* req,
                             grpc::ServerWriter<v1::RuleSet>* writer) override;
  grpc::Status PreviewImpact(grpc::ServerContext* ctx, const v1::PreviewImpactRequest* req,
                             v1::PreviewImpactResponse* resp) override;
  grpc::Status GetReport(grpc::ServerContext* ctx, const v1::GetReportRequest* req,
                         v1::Report* resp) override;
  grpc::Status ListAudit(grpc::ServerContext* ctx, const v1::ListAuditRequest* req,
                         v1::ListAuditResponse* resp) override;
  grpc::Status WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest* req,
                      v1::WhoAmIResponse* resp) override;

 private:
  RulesCore* const core_;
  const auth::TokenHolder* const tokens_;
  std::atomic<bool> stopping_{false};
};

// Conversions shared with the CLI.
void ToProto(const Issue& issue, v1::Issue* out);
void ToProto(const store::RuleSetRecord& record, v1::RuleSetInfo* out);

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_RULES_SERVICE_H_
