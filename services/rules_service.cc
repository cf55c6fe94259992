#include "services/rules_service.h"

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/date.h"
#include "common/status_macros.h"
#include "proto/issue_convert.h"
#include "services/audit_rpc.h"
#include "services/call.h"

namespace harmonia::services {

void ToProto(const Issue& issue, v1::Issue* out) { IssueToProto(issue, out); }

void ToProto(const store::RuleSetRecord& record, v1::RuleSetInfo* out) {
  out->set_therapy_area(record.therapy_area);
  out->set_version(record.version);
  out->set_checksum(record.checksum);
  out->set_published_by(record.published_by);
  out->set_published_at_unix(record.published_at_unix);
}

namespace {

using services::ToProto;

void ToProto(const store::RuleSetRecord& record, v1::RuleSet* out) {
  ToProto(record, out->mutable_info());
  out->set_source_text(record.source_text);
}

void ToProto(const RulesCore::Published& p, v1::PublishRuleSetResponse* out) {
  ToProto(p.record, out->mutable_published());
  for (const Issue& w : p.warnings) ToProto(w, out->add_warnings());
  out->set_already_published(p.already_published);
}

std::string FileName(const std::string& given) { return given.empty() ? "<request>" : given; }

}  // namespace

grpc::Status RulesServiceImpl::ValidateRuleSet(grpc::ServerContext* ctx,
                                               const v1::ValidateRuleSetRequest* req,
                                               v1::ValidateRuleSetResponse* resp) {
  return RunCall(ctx, *tokens_, "ValidateRuleSet", CallKind::kRead, *req,
                 [&](const auth::Principal& who) {
                   HARMONIA_ASSIGN_OR_RETURN(
                       RulesCore::Validation v,
                       core_->Validate(who, req->source_text(), FileName(req->file_name())));
                   resp->set_valid(v.valid);
                   for (const Issue& i : v.issues) ToProto(i, resp->add_issues());
                   resp->set_therapy_area(v.therapy_area);
                   resp->set_version(v.version);
                   resp->set_tests_passed(v.tests_passed);
                   resp->set_tests_total(v.tests_total);
                   resp->set_latest_published_version(v.latest_published_version);
                   return absl::OkStatus();
                 });
}

grpc::Status RulesServiceImpl::PublishRuleSet(grpc::ServerContext* ctx,
                                              const v1::PublishRuleSetRequest* req,
                                              v1::PublishRuleSetResponse* resp) {
  return RunCall(ctx, *tokens_, "PublishRuleSet", CallKind::kMutation, *req,
                 [&](const auth::Principal& who) {
                   HARMONIA_ASSIGN_OR_RETURN(
                       RulesCore::Published p,
                       core_->Publish(who, req->source_text(), FileName(req->file_name())));
                   ToProto(p, resp);
                   return absl::OkStatus();
                 });
}

grpc::Status RulesServiceImpl::RollbackRuleSet(grpc::ServerContext* ctx,
                                               const v1::RollbackRuleSetRequest* req,
                                               v1::PublishRuleSetResponse* resp) {
  return RunCall(
      ctx, *tokens_, "RollbackRuleSet", CallKind::kMutation, *req, [&](const auth::Principal& who) {
        HARMONIA_ASSIGN_OR_RETURN(
            RulesCore::Published p,
            core_->Rollback(who, req->therapy_area(), req->to_version(), req->new_version()));
        ToProto(p, resp);
        return absl::OkStatus();
      });
}

grpc::Status RulesServiceImpl::GetRuleSet(grpc::ServerContext* ctx,
                                          const v1::GetRuleSetRequest* req, v1::RuleSet* resp) {
  return RunCall(ctx, *tokens_, "GetRuleSet", CallKind::kRead, *req,
                 [&](const auth::Principal& who) {
                   HARMONIA_ASSIGN_OR_RETURN(store::RuleSetRecord r,
                                             core_->Get(who, req->therapy_area(), req->version()));
                   ToProto(r, resp);
                   return absl::OkStatus();
                 });
}

grpc::Status RulesServiceImpl::ListRuleSets(grpc::ServerContext* ctx,
                                            const v1::ListRuleSetsRequest* req,
                                            v1::ListRuleSetsResponse* resp) {
  return RunCall(ctx, *tokens_, "ListRuleSets", CallKind::kRead, *req,
                 [&](const auth::Principal& who) {
                   HARMONIA_ASSIGN_OR_RETURN(std::vector<store::RuleSetRecord> all,
                                             core_->List(who, req->therapy_area()));
                   for (const store::RuleSetRecord& r : all) ToProto(r, resp->add_rule_sets());
                   return absl::OkStatus();
                 });
}

grpc::Status RulesServiceImpl::DiffRuleSets(grpc::ServerContext* ctx,
                                            const v1::DiffRuleSetsRequest* req,
                                            v1::DiffRuleSetsResponse* resp) {
  return RunCall(
      ctx, *tokens_, "DiffRuleSets", CallKind::kRead, *req, [&](const auth::Principal& who) {
        HARMONIA_ASSIGN_OR_RETURN(
            RulesCore::Diff d,
            core_->DiffVersions(who, req->therapy_area(), req->from_version(), req->to_version()));
        for (const std::string& c : d.changes) resp->add_changes(c);
        resp->set_unified_diff(d.unified_diff);
        return absl::OkStatus();
      });
}

grpc::Status RulesServiceImpl::WatchRuleSets(grpc::ServerContext* ctx,
                                             const v1::WatchRuleSetsRequest* req,
                                             grpc::ServerWriter<v1::RuleSet>* writer) {
  return RunCall(ctx, *tokens_, "WatchRuleSets", CallKind::kRead, *req,
                 [&](const auth::Principal& who) {
                   HARMONIA_RETURN_IF_ERROR(core_->CheckWatch(who));
                   const std::vector<std::string> tas(req->therapy_areas().begin(),
                                                      req->therapy_areas().end());
                   std::map<std::string, int64_t> known(req->known_versions().begin(),
                                                        req->known_versions().end());
                   // Wakes once a second to notice a cancelled call or a stopping server.
                   while (!ctx->IsCancelled() && !stopping_) {
                     HARMONIA_ASSIGN_OR_RETURN(
                         std::vector<store::RuleSetRecord> newer,
                         core_->WaitForNewer(tas, known, absl::Now() + absl::Seconds(1)));
                     for (const store::RuleSetRecord& r : newer) {
                       v1::RuleSet out;
                       ToProto(r, &out);
                       if (!writer->Write(out)) return absl::OkStatus();  // the client went away
                       known[r.therapy_area] = r.version;
                     }
                   }
                   return absl::OkStatus();
                 });
}

grpc::Status RulesServiceImpl::PreviewImpact(grpc::ServerContext* ctx,
                                             const v1::PreviewImpactRequest* req,
                                             v1::PreviewImpactResponse* resp) {
  return RunCall(
      ctx, *tokens_, "PreviewImpact", CallKind::kRead, *req, [&](const auth::Principal& who) {
        std::optional<int32_t> as_of;
        if (!req->as_of().empty()) {
          as_of = ParseIsoDate(req->as_of());
          if (!as_of) {
            return absl::InvalidArgumentError(absl::StrCat("as_of: ", NotADate(req->as_of())));
          }
        }
        HARMONIA_ASSIGN_OR_RETURN(
            RulesCore::Preview p,
            core_->PreviewImpact(who, req->source_text(), req->country(), as_of));
        for (const RulesCore::Transition& t : p.transitions) {
          auto* out = resp->add_transitions();
          out->set_from_segment(t.from_segment);
          out->set_to_segment(t.to_segment);
          out->set_customers(t.customers);
        }
        resp->set_customers(p.preview.quality().customers());
        resp->set_changed(p.changed);
        resp->set_baseline_cycle_id(p.preview.baseline_cycle_id());
        resp->set_baseline_rule_set_version(p.preview.baseline_rule_set_version());
        *resp->mutable_warnings() = std::move(*p.preview.mutable_warnings());
        *resp->mutable_quality() = std::move(*p.preview.mutable_quality());
        return absl::OkStatus();
      });
}

grpc::Status RulesServiceImpl::GetReport(grpc::ServerContext* ctx, const v1::GetReportRequest* req,
                                         v1::Report* resp) {
  return RunCall(
      ctx, *tokens_, "GetReport", CallKind::kRead, *req, [&](const auth::Principal& who) {
        RulesCore::ReportQuery q{.therapy_area = req->therapy_area(),
                                 .countries = {req->countries().begin(), req->countries().end()},
                                 .history = req->history() == 0 ? 8 : req->history(),
                                 .candidate_text = req->candidate_source_text()};
        if (!req->as_of().empty()) {
          q.as_of = ParseIsoDate(req->as_of());
          if (!q.as_of) {
            return absl::InvalidArgumentError(absl::StrCat("as_of: ", NotADate(req->as_of())));
          }
        }
        HARMONIA_ASSIGN_OR_RETURN(*resp, core_->Report(who, q));
        return absl::OkStatus();
      });
}

grpc::Status RulesServiceImpl::ListAudit(grpc::ServerContext* ctx, const v1::ListAuditRequest* req,
                                         v1::ListAuditResponse* resp) {
  return RunCall(
      ctx, *tokens_, "ListAudit", CallKind::kRead, *req, [&](const auth::Principal& who) {
        HARMONIA_ASSIGN_OR_RETURN(store::AuditQuery q, AuditQueryFromProto(*req));
        HARMONIA_ASSIGN_OR_RETURN(std::vector<store::AuditEntry> entries, core_->ListAudit(who, q));
        AuditPageToProto(*req, entries, resp);
        return absl::OkStatus();
      });
}

grpc::Status RulesServiceImpl::WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest* req,
                                      v1::WhoAmIResponse* resp) {
  return RunCall(ctx, *tokens_, "WhoAmI", CallKind::kRead, *req, [&](const auth::Principal& who) {
    resp->set_principal(who.name);
    for (const auth::Grant& g : who.grants) resp->add_roles(auth::GrantName(g));
    return absl::OkStatus();
  });
}

}  // namespace harmonia::services
