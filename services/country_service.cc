#include "services/country_service.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/date.h"
#include "common/status_macros.h"
#include "engine/rule_set.h"
#include "proto/issue_convert.h"
#include "services/audit_rpc.h"
#include "services/call.h"

namespace harmonia::services {

v1::RefinementStatus ToProto(store::RefinementStatus s) {
  switch (s) {
    case store::RefinementStatus::kSubmitted:
      return v1::SUBMITTED;
    case store::RefinementStatus::kAccepted:
      return v1::ACCEPTED;
    case store::RefinementStatus::kApproved:
      return v1::APPROVED;
    case store::RefinementStatus::kRejected:
      return v1::REJECTED;
    case store::RefinementStatus::kApplied:
      return v1::APPLIED;
    case store::RefinementStatus::kExpired:
      return v1::EXPIRED;
    case store::RefinementStatus::kWithdrawn:
      return v1::WITHDRAWN;
  }
  return v1::REFINEMENT_STATUS_UNSPECIFIED;
}

std::optional<store::RefinementStatus> FromProto(v1::RefinementStatus s) {
  for (auto status : {store::RefinementStatus::kSubmitted, store::RefinementStatus::kAccepted,
                      store::RefinementStatus::kApproved, store::RefinementStatus::kRejected,
                      store::RefinementStatus::kApplied, store::RefinementStatus::kExpired,
                      store::RefinementStatus::kWithdrawn}) {
    if (ToProto(status) == s) return status;
  }
  return std::nullopt;
}

void ToProto(const store::RefinementRecord& r, v1::Refinement* out) {
  out->set_request_id(r.request_id);
  out->set_country(r.country);
  out->set_therapy_area(r.therapy_area);
  out->set_customer_id(r.customer_id);
  out->set_segment(r.segment);
  out->set_calls_delta(r.calls_delta);
  out->set_reason(r.reason);
  out->set_comment(r.comment);
  out->set_submitted_by(r.submitted_by);
  out->set_submitted_at_unix(r.submitted_at_unix);
  out->set_status(ToProto(r.status));
  out->set_status_reason(r.status_reason);
  out->set_decided_by(r.decided_by);
  out->set_updated_at_unix(r.updated_at_unix);
  out->set_cycles_applied(r.cycles_applied);
  out->set_last_cycle_id(r.last_cycle_id);
}

void ToProto(const store::CycleRecord& c, v1::Cycle* out) {
  out->set_cycle_id(c.cycle_id);
  out->set_country(c.country);
  out->set_therapy_area(c.therapy_area);
  out->set_as_of(FormatIsoDate(c.as_of));
  out->set_rule_set_version(c.rule_set_version);
  out->set_options(c.options);
  out->set_customers(c.customers);
  out->set_summary(c.summary);
  out->set_committed_at_unix(c.committed_at_unix);
  out->set_run_by(c.run_by);
  out->set_quality_json(c.quality);
  out->set_status(c.status);
  out->set_period(FormatIsoDate(c.period));
}

void ToProto(const store::AssignmentRow& r, const delivery::SegmentDirectives* segment,
             v1::Assignment* a) {
  a->set_customer_id(r.customer_id);
  a->set_segment(r.segment);
  a->set_segment_label(segment ? segment->label : r.segment);
  if (segment != nullptr) {
    a->set_segment_name(segment->name);
    a->set_message(segment->message);
    if (!segment->channels.empty()) {
      for (absl::string_view c : absl::StrSplit(segment->channels, '|'))
        a->add_channels(std::string(c));
    }
  }
  if (!r.tags.empty()) {
    for (absl::string_view t : absl::StrSplit(r.tags, '|')) a->add_tags(std::string(t));
  }
  a->set_plan_calls(r.plan_calls);
  a->set_plan_remote(r.plan_remote);
  a->set_plan_email(r.plan_email);
  a->set_plan_events(r.plan_events);
  a->set_tier(r.tier);
  a->set_calls(r.calls);
  a->set_remote(r.remote);
  a->set_email(r.email);
  a->set_events(r.events);
  a->set_decided_by(r.decided_by);
  a->set_rule_id(r.rule_id);
  a->set_rule_set_version(r.rule_set_version);
  a->set_inputs_digest(r.inputs_digest);
}

namespace {

absl::StatusOr<std::optional<int32_t>> OptionalDate(const std::string& text, const char* field) {
  if (text.empty()) return std::optional<int32_t>();
  std::optional<int32_t> day = ParseIsoDate(text);
  if (!day) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", NotADate(text)));
  }
  return day;
}

}  // namespace

grpc::Status CountryServiceImpl::SubmitRefinements(grpc::ServerContext* ctx,
                                                   const v1::SubmitRefinementsRequest* req,
                                                   v1::SubmitRefinementsResponse* resp) {
  return RunCall(ctx, *tokens_, "SubmitRefinements", CallKind::kMutation, *req,
                 [&](const auth::Principal& who) {
                   std::vector<WorkerCore::RefinementInput> items;
                   items.reserve(req->items_size());
                   for (const v1::RefinementInput& in : req->items()) {
                     items.push_back({in.request_id(), in.customer_id(), in.therapy_area(),
                                      in.segment(), in.calls_delta(), in.reason(), in.comment()});
                   }
                   HARMONIA_ASSIGN_OR_RETURN(std::vector<store::Store::Submitted> results,
                                             core_->SubmitRefinements(who, req->country(), items));
                   for (const store::Store::Submitted& r : results) {
                     v1::RefinementResult* out = resp->add_results();
                     ToProto(r.record, out->mutable_refinement());
                     out->set_duplicate(r.duplicate);
                   }
                   return absl::OkStatus();
                 });
}

grpc::Status CountryServiceImpl::ListRefinements(grpc::ServerContext* ctx,
                                                 const v1::ListRefinementsRequest* req,
                                                 v1::ListRefinementsResponse* resp) {
  return RunCall(
      ctx, *tokens_, "ListRefinements", CallKind::kRead, *req, [&](const auth::Principal& who) {
        std::vector<store::RefinementStatus> statuses;
        for (int s : req->statuses()) {
          std::optional<store::RefinementStatus> status =
              FromProto(static_cast<v1::RefinementStatus>(s));
          if (!status) {
            return absl::InvalidArgumentError(
                absl::StrCat("statuses: ", s, " is not a refinement status"));
          }
          statuses.push_back(*status);
        }
        std::vector<std::vector<std::string>> territories;
        HARMONIA_ASSIGN_OR_RETURN(std::vector<store::RefinementRecord> all,
                                  core_->ListRefinements(who, req->country(), req->therapy_area(),
                                                         {.statuses = std::move(statuses),
                                                          .territory = req->territory(),
                                                          .submitted_by = req->submitted_by(),
                                                          .reason = req->reason()},
                                                         &territories));
        for (size_t i = 0; i < all.size(); ++i) {
          v1::Refinement* out = resp->add_refinements();
          ToProto(all[i], out);
          for (const std::string& t : territories[i]) out->add_territories(t);
        }
        return absl::OkStatus();
      });
}

grpc::Status CountryServiceImpl::Decide(grpc::ServerContext* ctx, const char* method,
                                        const v1::DecideRefinementRequest* req,
                                        store::RefinementStatus to, v1::Refinement* resp) {
  return RunCall(ctx, *tokens_, method, CallKind::kMutation, *req, [&](const auth::Principal& who) {
    HARMONIA_ASSIGN_OR_RETURN(store::RefinementRecord r,
                              core_->DecideRefinement(who, req->country(), req->therapy_area(),
                                                      req->request_id(), to, req->reason()));
    ToProto(r, resp);
    return absl::OkStatus();
  });
}

grpc::Status CountryServiceImpl::ApproveRefinement(grpc::ServerContext* ctx,
                                                   const v1::DecideRefinementRequest* req,
                                                   v1::Refinement* resp) {
  return Decide(ctx, "ApproveRefinement", req, store::RefinementStatus::kApproved, resp);
}

grpc::Status CountryServiceImpl::RejectRefinement(grpc::ServerContext* ctx,
                                                  const v1::DecideRefinementRequest* req,
                                                  v1::Refinement* resp) {
  return Decide(ctx, "RejectRefinement", req, store::RefinementStatus::kRejected, resp);
}

grpc::Status CountryServiceImpl::WithdrawRefinement(grpc::ServerContext* ctx,
                                                    const v1::DecideRefinementRequest* req,
                                                    v1::Refinement* resp) {
  return Decide(ctx, "WithdrawRefinement", req, store::RefinementStatus::kWithdrawn, resp);
}

grpc::Status CountryServiceImpl::RunCycle(grpc::ServerContext* ctx, const v1::RunCycleRequest* req,
                                          grpc::ServerWriter<v1::RunCycleResponse>* writer) {
  return RunCall(ctx, *tokens_, "RunCycle", CallKind::kMutation, *req,
                 [&](const auth::Principal& who) {
                   HARMONIA_ASSIGN_OR_RETURN(std::optional<int32_t> as_of,
                                             OptionalDate(req->as_of(), "as_of"));
                   // Progress goes out as it comes; a client that went away does not stop
                   // the cycle (it commits or fails as a whole either way).
                   auto progress = [&](const char* stage, int64_t done, int64_t total) {
                     v1::RunCycleResponse event;
                     event.mutable_progress()->set_stage(stage);
                     event.mutable_progress()->set_done(done);
                     event.mutable_progress()->set_total(total);
                     writer->Write(event);
                   };
                   HARMONIA_ASSIGN_OR_RETURN(
                       cycle::StoreCycleResult result,
                       core_->RunCycle(who, req->country(), req->therapy_area(), as_of, progress));
                   v1::RunCycleResponse last;
                   ToProto(result.cycle, last.mutable_summary());
                   writer->Write(last);
                   return absl::OkStatus();
                 });
}

grpc::Status CountryServiceImpl::GetCycle(grpc::ServerContext* ctx, const v1::GetCycleRequest* req,
                                          v1::Cycle* resp) {
  return RunCall(ctx, *tokens_, "GetCycle", CallKind::kRead, *req, [&](const auth::Principal& who) {
    HARMONIA_ASSIGN_OR_RETURN(
        store::CycleRecord c,
        core_->GetCycle(who, req->country(), req->therapy_area(), req->cycle_id()));
    ToProto(c, resp);
    return absl::OkStatus();
  });
}

grpc::Status CountryServiceImpl::GetReport(grpc::ServerContext* ctx,
                                           const v1::GetCountryReportRequest* req,
                                           v1::Report* resp) {
  return RunCall(
      ctx, *tokens_, "GetReport", CallKind::kRead, *req, [&](const auth::Principal& who) {
        HARMONIA_ASSIGN_OR_RETURN(
            *resp, core_->Report(who, req->country(), req->therapy_area(), req->cycle_id(),
                                 req->history() == 0 ? 8 : req->history()));
        return absl::OkStatus();
      });
}

grpc::Status CountryServiceImpl::ListCycles(grpc::ServerContext* ctx,
                                            const v1::ListCyclesRequest* req,
                                            v1::ListCyclesResponse* resp) {
  return RunCall(
      ctx, *tokens_, "ListCycles", CallKind::kRead, *req, [&](const auth::Principal& who) {
        HARMONIA_ASSIGN_OR_RETURN(std::vector<store::CycleRecord> all,
                                  core_->ListCycles(who, req->country(), req->therapy_area()));
        for (const store::CycleRecord& c : all) ToProto(c, resp->add_cycles());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* CountryServiceImpl::QueryAssignments(
    grpc::CallbackServerContext* ctx, const v1::QueryAssignmentsRequest* req,
    v1::QueryAssignmentsResponse* resp) {
  grpc::Status status = RunCall(
      ctx, *tokens_, "QueryAssignments", CallKind::kRead, *req, [&](const auth::Principal& who) {
        WorkerCore::AssignmentQuery q;
        q.country = req->country();
        q.therapy_area = req->therapy_area();
        q.cycle_id = req->cycle_id();
        q.customer_ids.assign(req->customer_ids().begin(), req->customer_ids().end());
        q.segment = req->segment();
        q.tier = req->tier();
        q.page_size = req->page_size();
        q.after_customer_id = req->page_token();
        q.territory = req->territory();
        q.mine = req->mine();
        q.search = req->search();
        q.include_customer = req->include_customer();
        HARMONIA_ASSIGN_OR_RETURN(WorkerCore::AssignmentPage page, core_->QueryAssignments(who, q));
        resp->set_cycle_id(page.cycle_id);
        resp->set_next_page_token(page.next_after);
        for (size_t i = 0; i < page.rows.size(); ++i) {
          const store::AssignmentRow& r = page.rows[i];
          v1::Assignment* a = resp->add_assignments();
          ToProto(r, page.directives->Find(r.segment), a);
          if (i < page.customers.size()) {
            a->set_customer_name(page.customers[i].name);
            a->set_specialty(page.customers[i].specialty);
            for (const std::string& t : page.customers[i].territories) a->add_territories(t);
          }
        }
        return absl::OkStatus();
      });
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

grpc::Status CountryServiceImpl::ListChanges(grpc::ServerContext* ctx,
                                             const v1::ListChangesRequest* req,
                                             v1::ListChangesResponse* resp) {
  return RunCall(
      ctx, *tokens_, "ListChanges", CallKind::kRead, *req, [&](const auth::Principal& who) {
        WorkerCore::ChangesQuery q{.country = req->country(),
                                   .therapy_area = req->therapy_area(),
                                   .since_cycle_id = req->since_cycle_id(),
                                   .cycle_id = req->cycle_id(),
                                   .page_size = req->page_size(),
                                   .after_customer_id = req->page_token()};
        HARMONIA_ASSIGN_OR_RETURN(WorkerCore::ChangesPage page, core_->ListChanges(who, q));
        resp->set_cycle_id(page.cycle_id);
        resp->set_since_cycle_id(page.since_cycle_id);
        resp->set_next_page_token(page.next_after);
        for (const delivery::Change& c : page.changes) {
          v1::AssignmentChange* out = resp->add_changes();
          out->set_change(delivery::ChangeKindName(c.kind));
          if (c.now != nullptr) {
            ToProto(*c.now, page.directives->Find(c.now->segment), out->mutable_assignment());
          }
          if (c.before != nullptr) {
            // Its previous values: what the changes export compares.
            v1::Assignment* was = out->mutable_previous();
            ToProto(*c.before, nullptr, was);
            was->clear_segment_label();
          }
        }
        return absl::OkStatus();
      });
}

grpc::Status CountryServiceImpl::ExplainAssignment(grpc::ServerContext* ctx,
                                                   const v1::ExplainAssignmentRequest* req,
                                                   v1::Explanation* resp) {
  return RunCall(
      ctx, *tokens_, "ExplainAssignment", CallKind::kRead, *req, [&](const auth::Principal& who) {
        HARMONIA_ASSIGN_OR_RETURN(cycle::Explanation e,
                                  core_->Explain(who, req->country(), req->therapy_area(),
                                                 req->customer_id(), req->cycle_id()));
        const delivery::SegmentDirectives segment{
            .name = e.segment_name,
            .label = e.segment_label,
            .message = e.message,
            .channels = e.channels,
        };
        ToProto(e.assignment, e.assignment.segment.empty() ? nullptr : &segment,
                resp->mutable_assignment());
        resp->set_cycle_id(e.cycle_id);
        resp->set_as_of(FormatIsoDate(e.as_of));
        for (const auto& in : e.inputs) {
          v1::Explanation::Input* out = resp->add_inputs();
          out->set_id(in.id);
          out->set_is_metric(in.is_metric);
          out->set_value(in.value);
          out->set_source(in.source);
          out->set_as_of(in.as_of);
          for (const std::string& p : in.passed_over) out->add_passed_over(p);
        }
        for (const auto& s : e.scores) {
          v1::Explanation::Score* out = resp->add_scores();
          out->set_id(s.id);
          out->set_value(s.missing ? 0 : s.value);
          out->set_missing(s.missing);
          out->set_intercept(s.intercept);
          for (const auto& t : s.terms) {
            v1::Explanation::Term* term = out->add_terms();
            term->set_input(t.input);
            term->set_weight(t.weight);
            term->set_value(t.value);
            term->set_contribution(t.contribution);
          }
        }
        resp->set_profiled(e.profiled);
        for (const std::string& m : e.missing_required) resp->add_missing_required(m);
        resp->set_table(e.table);
        resp->set_rule_fired(e.rule_fired);
        resp->set_rule_when(e.rule_when);
        resp->set_options(e.options);
        resp->set_pulled_through(e.pulled_through);
        resp->set_pulled_from_cycle_id(e.pulled_from_cycle_id);
        if (e.refinement) ToProto(*e.refinement, resp->mutable_refinement());
        resp->set_tier_metric(e.tier_metric);
        resp->set_tier_band(e.tier_band);
        for (const auto& d : e.drivers) {
          v1::Explanation::Driver* out = resp->add_drivers();
          out->set_rule_id(d.rule_id);
          out->set_tag(d.tag);
          out->set_when(d.when);
        }
        resp->set_plan_rule(e.plan_rule);
        return absl::OkStatus();
      });
}

grpc::Status CountryServiceImpl::GetQuestionnaire(grpc::ServerContext* ctx,
                                                  const v1::GetQuestionnaireRequest* req,
                                                  v1::Questionnaire* resp) {
  return RunCall(
      ctx, *tokens_, "GetQuestionnaire", CallKind::kRead, *req, [&](const auth::Principal& who) {
        HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const engine::RuleSet> rules,
                                  core_->Questionnaire(who, req->country(), req->therapy_area()));
        resp->set_therapy_area(rules->therapy_area);
        resp->set_rule_set_version(rules->version);
        for (const engine::InputDef& def : rules->inputs) {
          if (!def.is_question) continue;
          v1::Question* q = resp->add_questions();
          q->set_id(def.id);
          q->set_text(def.text);
          q->set_type(engine::InputTypeName(def.type));
          q->set_required(def.required);
          if (def.type == engine::InputType::kLikert) {
            q->set_scale_min(def.min);
            q->set_scale_max(def.max);
          }
          for (const std::string& o : def.options) q->add_options(o);
        }
        return absl::OkStatus();
      });
}

grpc::Status CountryServiceImpl::SubmitAnswers(grpc::ServerContext* ctx,
                                               const v1::SubmitAnswersRequest* req,
                                               v1::SubmitAnswersResponse* resp) {
  return RunCall(
      ctx, *tokens_, "SubmitAnswers", CallKind::kMutation, *req, [&](const auth::Principal& who) {
        std::vector<WorkerCore::AnswerInput> items;
        for (const v1::AnswerInput& a : req->items()) {
          items.push_back(
              {a.customer_id(), a.therapy_area(), a.question_id(), a.value(), a.as_of()});
        }
        HARMONIA_ASSIGN_OR_RETURN(std::vector<WorkerCore::AnswerResult> results,
                                  core_->SubmitAnswers(who, req->country(), items));
        for (const WorkerCore::AnswerResult& r : results) {
          v1::AnswerResult* out = resp->add_results();
          out->set_accepted(r.accepted);
          out->set_reason(r.reason);
        }
        return absl::OkStatus();
      });
}

grpc::Status CountryServiceImpl::ListAudit(grpc::ServerContext* ctx,
                                           const v1::ListAuditRequest* req,
                                           v1::ListAuditResponse* resp) {
  return RunCall(ctx, *tokens_, "ListAudit", CallKind::kRead, *req,
                 [&](const auth::Principal& who) {
                   HARMONIA_ASSIGN_OR_RETURN(store::AuditQuery q, AuditQueryFromProto(*req));
                   HARMONIA_ASSIGN_OR_RETURN(std::vector<store::AuditEntry> entries,
                                             core_->ListAudit(who, req->country(), q));
                   AuditPageToProto(*req, entries, resp);
                   return absl::OkStatus();
                 });
}

grpc::Status CountryServiceImpl::GetCountryConfig(grpc::ServerContext* ctx,
                                                  const v1::GetCountryConfigRequest* req,
                                                  v1::CountryConfig* resp) {
  return RunCall(ctx, *tokens_, "GetCountryConfig", CallKind::kRead, *req,
                 [&](const auth::Principal& who) {
                   HARMONIA_ASSIGN_OR_RETURN(WorkerCore::CountryFile f,
                                             core_->GetCountryFile(who, req->country()));
                   const engine::CountryConfig& c = f.config;
                   resp->set_country(c.country);
                   resp->set_file_text(f.text);
                   resp->set_timezone(c.timezone);
                   resp->set_schedule(c.schedule);
                   for (engine::Source s : c.data_sources) {
                     resp->add_data_sources(engine::SourceName(s));
                   }
                   resp->set_max_input_age_days(c.max_input_age_days);
                   for (const engine::TherapyAreaConfig& ta : c.therapy_areas) {
                     v1::CountryTherapyArea* out = resp->add_therapy_areas();
                     out->set_therapy_area(ta.therapy_area);
                     out->set_pinned_version(ta.pinned_version.value_or(0));
                     out->set_running_version(f.running_version[ta.therapy_area]);
                     for (const auto& [k, v] : ta.options) (*out->mutable_options())[k] = v.value;
                     for (const auto& [k, v] : ta.labels) (*out->mutable_labels())[k] = v;
                   }
                   resp->set_window_days(c.refinement.window_days);
                   resp->set_valid_cycles(c.refinement.valid_cycles);
                   resp->set_requires_approval(c.refinement.requires_approval);
                   resp->set_quota_scope(engine::QuotaScopeName(c.refinement.quota_scope));
                   return absl::OkStatus();
                 });
}

grpc::Status CountryServiceImpl::ValidateCountryConfig(grpc::ServerContext* ctx,
                                                       const v1::ValidateCountryConfigRequest* req,
                                                       v1::ValidateCountryConfigResponse* resp) {
  return RunCall(ctx, *tokens_, "ValidateCountryConfig", CallKind::kRead, *req,
                 [&](const auth::Principal& who) {
                   HARMONIA_ASSIGN_OR_RETURN(
                       std::vector<Issue> issues,
                       core_->ValidateCountryFile(who, req->country(), req->file_text()));
                   bool valid = true;
                   for (const Issue& i : issues) {
                     if (i.severity == Severity::kError) valid = false;
                     IssueToProto(i, resp->add_issues());
                   }
                   resp->set_valid(valid);
                   return absl::OkStatus();
                 });
}

grpc::Status CountryServiceImpl::GetRefinementPolicy(grpc::ServerContext* ctx,
                                                     const v1::GetRefinementPolicyRequest* req,
                                                     v1::RefinementPolicy* resp) {
  return RunCall(ctx, *tokens_, "GetRefinementPolicy", CallKind::kRead, *req,
                 [&](const auth::Principal& who) {
                   HARMONIA_ASSIGN_OR_RETURN(
                       WorkerCore::RefinementPolicyView v,
                       core_->RefinementPolicyFor(who, req->country(), req->therapy_area()));
                   resp->set_country(req->country());
                   resp->set_therapy_area(req->therapy_area());
                   resp->set_accepting(v.accepting);
                   resp->set_why_not(v.why_not);
                   resp->set_process(v.data_driven ? "data_driven" : "field_refined");
                   resp->set_window_open(v.window_open);
                   resp->set_window_days(v.policy.window_days);
                   if (v.period_start != 0) resp->set_period_start(FormatIsoDate(v.period_start));
                   if (v.window_last_day != 0)
                     resp->set_window_last_day(FormatIsoDate(v.window_last_day));
                   resp->set_requires_approval(v.policy.requires_approval);
                   resp->set_valid_cycles(v.policy.valid_cycles);
                   resp->set_quota_scope(engine::QuotaScopeName(v.policy.quota_scope));
                   for (const WorkerCore::TerritoryQuota& q : v.quotas) {
                     v1::TerritoryQuota* out = resp->add_quotas();
                     out->set_territory(q.territory);
                     out->set_customers(q.customers);
                     out->set_quota(q.quota);
                     out->set_used(q.used);
                     out->set_left(std::max<int64_t>(0, q.quota - q.used));
                   }
                   for (const auto& [id, label] : v.segments) {
                     v1::SegmentChoice* s = resp->add_segments();
                     s->set_id(id);
                     s->set_label(label);
                   }
                   for (const std::string& r : v.reasons) resp->add_reasons(r);
                   resp->set_max_calls_delta(engine::kMaxCallsDelta);
                   return absl::OkStatus();
                 });
}

}  // namespace harmonia::services
