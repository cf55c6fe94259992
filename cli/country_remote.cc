// `harmonia refine|cycle|assignments|explain|profile …` against a country
// worker (--server).
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/remote.h"
#include "common/date.h"
#include "cycle/cycle.h"
#include "engine/country_config.h"
#include "engine/cycle.h"
#include "exchange/exchange.h"
#include "harmonia/v1/country.grpc.pb.h"
#include "quality/quality.h"

namespace harmonia::cli {
namespace {

using v1::CountryService;

constexpr int kBatch = 500;

using Command = ServiceCommand<CountryService>;

std::optional<Command> Start(const char* name, const char* usage, std::vector<FlagSpec> specs,
                             int argc, char** argv, int first, int* exit) {
  return StartService<CountryService>(name, usage, std::move(specs), argc, argv, first, exit);
}

int Usage(const char* usage) {
  std::fputs(usage, stderr);
  return 2;
}

int BadFlag(const absl::Status& s) {
  std::fprintf(stderr, "harmonia: %s\n", std::string(s.message()).c_str());
  return 2;
}

const char* StatusName(v1::RefinementStatus s) {
  switch (s) {
    case v1::SUBMITTED:
      return "awaiting approval";
    case v1::ACCEPTED:
      return "accepted";
    case v1::APPROVED:
      return "approved";
    case v1::REJECTED:
      return "rejected";
    case v1::APPLIED:
      return "applied";
    case v1::EXPIRED:
      return "expired";
    case v1::WITHDRAWN:
      return "withdrawn";
    default:
      return "?";
  }
}

std::optional<v1::RefinementStatus> ParseStatus(std::string_view name) {
  for (int s = v1::SUBMITTED; s <= v1::WITHDRAWN; ++s) {
    const auto status = static_cast<v1::RefinementStatus>(s);
    if (absl::AsciiStrToLower(v1::RefinementStatus_Name(status)) == name) return status;
  }
  return std::nullopt;
}

const std::vector<FlagSpec> kCountryTa = {{"country", "CC", "the country", true},
                                          {"ta", "TA", "the therapy area", true}};

std::vector<FlagSpec> Plus(std::vector<FlagSpec> a, const std::vector<FlagSpec>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

int RunRefineSubmit(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia refine submit --server ADDR --country CC FILE.csv\n"
      "       harmonia refine submit --server ADDR --country CC --ta TA --customer ID --reason R\n"
      "                [--segment S] [--calls-delta N] [--comment TEXT] [--request-id ID]\n\n"
      "Submits field refinements (refinements.csv, docs/files.md, in batches of 500, or one\n"
      "from flags). Each is validated against the country's policy and stored before it is\n"
      "acknowledged; rejected ones are listed with their line and reason. A request_id\n"
      "submitted before returns its original result.\n";
  int exit = 0;
  std::optional<Command> c =
      Start("refine submit", usage,
            {{"country", "CC", "the country", true},
             {"ta", "TA", "one refinement: the therapy area"},
             {"customer", "ID", "one refinement: the customer"},
             {"segment", "S", "one refinement: the new segment (default: keep)"},
             {"calls-delta", "N", "one refinement: calls to add or remove"},
             {"reason", "R", "one refinement: the reason code"},
             {"comment", "TEXT", "one refinement: a comment"},
             {"request-id", "ID", "one refinement: its idempotency key (default: derived)"},
             {"quiet", "", "print only the summary and the rejected items"}},
            argc, argv, first, &exit);
  if (!c) return exit;
  const Args& a = c->args;
  // Items and where they came from, for messages.
  std::vector<v1::RefinementInput> items;
  std::vector<std::string> where;
  int local_rejects = 0;
  if (!a.positional.empty()) {
    if (a.positional.size() != 1 || a.Has("customer")) return Usage(usage);
    const std::string& path = a.positional[0];
    std::vector<exchange::RowProblem> problems;
    absl::StatusOr<std::vector<engine::Refinement>> rows =
        exchange::ReadRefinements(path, &problems);
    if (!rows.ok()) return BadFlag(rows.status());
    for (const exchange::RowProblem& p : problems) {
      std::fprintf(stderr, "%s\n", exchange::FormatProblem(p).c_str());
      ++local_rejects;
    }
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    for (const engine::Refinement& r : *rows) {
      int delta = 0;
      if (!r.calls_delta.empty()) {
        auto [end, ec] = std::from_chars(r.calls_delta.data(),
                                         r.calls_delta.data() + r.calls_delta.size(), delta);
        if (ec != std::errc() || end != r.calls_delta.data() + r.calls_delta.size()) {
          std::fprintf(stderr, "%s:%lld: calls_delta: '%s' is not a whole number\n", path.c_str(),
                       static_cast<long long>(r.line), r.calls_delta.c_str());
          ++local_rejects;
          continue;
        }
      }
      v1::RefinementInput in;
      in.set_request_id(r.request_id.empty()
                            ? cycle::DerivedRequestId(a.Get("country"), r, CliPrincipal(), now)
                            : r.request_id);
      in.set_customer_id(r.customer_id);
      in.set_therapy_area(r.therapy_area);
      in.set_segment(r.segment);
      in.set_calls_delta(delta);
      in.set_reason(r.reason);
      in.set_comment(r.comment);
      items.push_back(std::move(in));
      where.push_back(absl::StrCat(path, ":", r.line));
    }
  } else {
    if (!a.Has("ta") || !a.Has("customer") || !a.Has("reason")) return Usage(usage);
    absl::StatusOr<long long> delta =
        a.GetInt("calls-delta", 0, -engine::kMaxCallsDelta, engine::kMaxCallsDelta);
    if (!delta.ok()) return BadFlag(delta.status());
    v1::RefinementInput in;
    in.set_request_id(a.Get("request-id"));
    in.set_customer_id(a.Get("customer"));
    in.set_therapy_area(a.Get("ta"));
    in.set_segment(a.Get("segment"));
    in.set_calls_delta(static_cast<int32_t>(*delta));
    in.set_reason(a.Get("reason"));
    in.set_comment(a.Get("comment"));
    if (in.request_id().empty()) {
      // One from the command line: a fresh key, so typing the same change
      // again next quarter is a new refinement (a retry of this very call
      // should pass --request-id).
      in.set_request_id(absl::StrCat("cli-", CliPrincipal(), "-", absl::ToUnixNanos(absl::Now())));
    }
    items.push_back(std::move(in));
    where.push_back("refinement");
  }

  std::map<std::string, int> counts;
  ProgressBar bar;
  v1::SubmitRefinementsResponse all;
  for (size_t start = 0; start < items.size(); start += kBatch) {
    v1::SubmitRefinementsRequest req;
    req.set_country(a.Get("country"));
    const size_t end = std::min(items.size(), start + kBatch);
    for (size_t i = start; i < end; ++i) *req.add_items() = items[i];
    v1::SubmitRefinementsResponse resp;
    grpc::Status s = c->stub->SubmitRefinements(c->remote.Context().get(), req, &resp);
    if (!s.ok()) {
      bar.Finish();
      if (start > 0) {
        std::fprintf(stderr,
                     "harmonia: the first %zu refinements were stored; resubmitting the "
                     "file is safe (request ids are idempotent)\n",
                     start);
      }
      return FailCall(s, "refine submit");
    }
    for (int k = 0; k < resp.results_size(); ++k) {
      const v1::RefinementResult& r = resp.results(k);
      const std::string status = r.duplicate() ? absl::StrCat("duplicate of an earlier ",
                                                              StatusName(r.refinement().status()))
                                               : StatusName(r.refinement().status());
      ++counts[status];
      if (r.refinement().status() == v1::REJECTED) {
        std::fprintf(stderr, "%s: %s%s: %s\n", where[start + k].c_str(),
                     r.duplicate() ? "(earlier) " : "", "rejected",
                     r.refinement().status_reason().c_str());
      } else if (!c->remote.json() && !a.Has("quiet")) {
        std::printf("%s: %s %s: %s\n", where[start + k].c_str(),
                    r.refinement().request_id().c_str(), r.refinement().customer_id().c_str(),
                    status.c_str());
      }
    }
    if (c->remote.json()) all.MergeFrom(resp);
    bar.Update(static_cast<int64_t>(end), static_cast<int64_t>(items.size()), "refinements");
  }
  bar.Finish();
  if (c->remote.json()) {
    std::printf("%s", ToJson(all).c_str());
    return 0;
  }
  std::vector<std::string> parts;
  for (const auto& [status, n] : counts) parts.push_back(absl::StrCat(n, " ", status));
  if (local_rejects > 0) parts.push_back(absl::StrCat(local_rejects, " unreadable rows"));
  std::printf("refine submit: %zu sent: %s\n", items.size(),
              parts.empty() ? "nothing" : absl::StrJoin(parts, ", ").c_str());
  return 0;
}

int RunRefineList(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia refine list --server ADDR --country CC --ta TA [--status S,…]\n\n"
      "Lists the country's refinements in submission order (statuses: submitted, accepted,\n"
      "approved, rejected, applied, expired, withdrawn).\n";
  int exit = 0;
  std::optional<Command> c =
      Start("refine list", usage,
            Plus(kCountryTa, {{"status", "S,…", "only these statuses (default: all)"}}), argc, argv,
            first, &exit);
  if (!c) return exit;
  v1::ListRefinementsRequest req;
  req.set_country(c->args.Get("country"));
  req.set_therapy_area(c->args.Get("ta"));
  for (absl::string_view s : absl::StrSplit(c->args.Get("status"), ',', absl::SkipEmpty())) {
    const std::string name(absl::StripAsciiWhitespace(s));
    std::optional<v1::RefinementStatus> status = ParseStatus(name);
    if (!status) {
      return BadFlag(absl::InvalidArgumentError(
          absl::StrCat("--status: '", name,
                       "' is not a status; expected submitted, accepted, approved, rejected, "
                       "applied, expired or withdrawn")));
    }
    req.add_statuses(*status);
  }
  v1::ListRefinementsResponse resp;
  grpc::Status s = c->stub->ListRefinements(c->remote.Context().get(), req, &resp);
  if (!s.ok()) return FailCall(s, "refine list");
  if (c->remote.json()) {
    std::printf("%s", ToJson(resp).c_str());
    return 0;
  }
  std::printf("%-24s %-12s %-18s %6s %-18s %-18s %-16s %s\n", "REQUEST", "CUSTOMER", "SEGMENT",
              "CALLS", "REASON", "STATUS", "BY", "WHY");
  for (const v1::Refinement& r : resp.refinements()) {
    std::printf("%-24s %-12s %-18s %+6d %-18s %-18s %-16s %s\n", r.request_id().c_str(),
                r.customer_id().c_str(), r.segment().empty() ? "(keep)" : r.segment().c_str(),
                r.calls_delta(), r.reason().c_str(), StatusName(r.status()),
                r.submitted_by().c_str(), r.status_reason().c_str());
  }
  return 0;
}

int RunRefineDecide(int argc, char** argv, int first, const std::string& verb) {
  const std::string usage =
      absl::StrCat("usage: harmonia refine ", verb,
                   " --server ADDR --country CC [--ta TA] [--reason TEXT] REQUEST_ID…\n\n",
                   verb == "approve"  ? "Approves refinements awaiting approval (country ops).\n"
                   : verb == "reject" ? "Rejects refinements, with a reason (country ops).\n"
                                      : "Withdraws refinements (a field user: their own).\n");
  int exit = 0;
  std::optional<Command> c =
      Start(("refine " + verb).c_str(), usage.c_str(),
            {{"country", "CC", "the country", true},
             {"ta", "TA", "the therapy area (needed only when the request id is used in several)"},
             {"reason", "TEXT", verb == "reject" ? "why (required)" : "why (optional)",
              verb == "reject"}},
            argc, argv, first, &exit);
  if (!c) return exit;
  if (c->args.positional.empty()) return Usage(usage.c_str());
  int status = 0;
  for (const std::string& id : c->args.positional) {
    v1::DecideRefinementRequest req;
    req.set_country(c->args.Get("country"));
    req.set_request_id(id);
    req.set_therapy_area(c->args.Get("ta"));
    req.set_reason(c->args.Get("reason"));
    v1::Refinement resp;
    auto ctx = c->remote.Context();
    grpc::Status s = verb == "approve"  ? c->stub->ApproveRefinement(ctx.get(), req, &resp)
                     : verb == "reject" ? c->stub->RejectRefinement(ctx.get(), req, &resp)
                                        : c->stub->WithdrawRefinement(ctx.get(), req, &resp);
    if (!s.ok()) {
      status = std::max(status, FailCall(s, id));
      continue;
    }
    if (c->remote.json()) {
      std::printf("%s", ToJson(resp).c_str());
    } else {
      std::printf("%s: %s\n", id.c_str(), StatusName(resp.status()));
    }
  }
  return status;
}

int RunCycleRunRemote(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia cycle run --server ADDR --country CC --ta TA [--as-of DATE]\n\n"
      "Runs one cycle on the country's worker now and prints its summary (a progress bar on\n"
      "a terminal). ABORTED when a cycle of the market is already running.\n";
  int exit = 0;
  std::optional<Command> c =
      Start("cycle run", usage,
            Plus(kCountryTa, {{"as-of", "DATE", "the cycle date (default: today in the country)"}}),
            argc, argv, first, &exit);
  if (!c) return exit;
  v1::RunCycleRequest req;
  req.set_country(c->args.Get("country"));
  req.set_therapy_area(c->args.Get("ta"));
  req.set_as_of(c->args.Get("as-of"));
  auto ctx = c->remote.Context(/*stream=*/true);
  auto stream = c->stub->RunCycle(ctx.get(), req);
  v1::RunCycleResponse event;
  v1::Cycle summary;
  ProgressBar bar;
  while (stream->Read(&event)) {
    if (event.has_progress()) {
      bar.Update(event.progress().done(), event.progress().total(), event.progress().stage());
    } else if (event.has_summary()) {
      summary = event.summary();
    }
  }
  bar.Finish();
  grpc::Status s = stream->Finish();
  if (!s.ok()) return FailCall(s, "cycle run");
  if (c->remote.json()) {
    std::printf("%s", ToJson(summary).c_str());
    return 0;
  }
  std::printf("%s %s: cycle %lld committed as of %s, rule set v%lld, %lld customers\n%s\n",
              summary.country().c_str(), summary.therapy_area().c_str(),
              static_cast<long long>(summary.cycle_id()), summary.as_of().c_str(),
              static_cast<long long>(summary.rule_set_version()),
              static_cast<long long>(summary.customers()), summary.summary().c_str());
  return 0;
}

int RunCycleStatus(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia cycle status --server ADDR --country CC --ta TA [--cycle N]\n\n"
      "Shows a committed cycle (the latest by default) with its quality figures.\n";
  int exit = 0;
  std::optional<Command> c =
      Start("cycle status", usage,
            Plus(kCountryTa, {{"cycle", "N", "the cycle id (default: the latest)"}}), argc, argv,
            first, &exit);
  if (!c) return exit;
  absl::StatusOr<long long> id = c->args.GetInt("cycle", 0, 1, 1LL << 53);
  if (!id.ok()) return BadFlag(id.status());
  v1::GetCycleRequest req;
  req.set_country(c->args.Get("country"));
  req.set_therapy_area(c->args.Get("ta"));
  req.set_cycle_id(*id);
  v1::Cycle cycle;
  grpc::Status s = c->stub->GetCycle(c->remote.Context().get(), req, &cycle);
  if (!s.ok()) return FailCall(s, "cycle status");
  if (c->remote.json()) {
    std::printf("%s", ToJson(cycle).c_str());
    return 0;
  }
  std::printf(
      "cycle %lld of %s %s: %s\n  as of %s, rule set v%lld, options %s\n  %lld customers, run by "
      "%s, committed %s\n  %s\n",
      static_cast<long long>(cycle.cycle_id()), cycle.country().c_str(),
      cycle.therapy_area().c_str(), cycle.status().c_str(), cycle.as_of().c_str(),
      static_cast<long long>(cycle.rule_set_version()), cycle.options().c_str(),
      static_cast<long long>(cycle.customers()), cycle.run_by().c_str(),
      FormatUnix(cycle.committed_at_unix()).c_str(), cycle.summary().c_str());
  // The headline of the quality figures; `harmonia report` shows them all.
  absl::StatusOr<v1::CycleQuality> q = quality::QualityFromJson(cycle.quality_json());
  if (q.ok()) {
    const v1::Separation& sep = q->separation();
    std::printf(
        "  separation on %s: eta-squared %s (min_differentiation %g), Kruskal-Wallis p %s\n"
        "  churn: %lld of %lld customers moved segment\n",
        q->objective_metric().c_str(),
        sep.has_eta_squared() ? absl::StrFormat("%.4f", sep.eta_squared()).c_str() : "-",
        q->min_differentiation(),
        sep.has_p_value() ? absl::StrFormat("%.3g", sep.p_value()).c_str() : "-",
        static_cast<long long>(q->churn().moved()),
        static_cast<long long>(q->churn().stayed() + q->churn().moved()));
    for (const std::string& w : q->warnings()) std::printf("  ! %s\n", w.c_str());
  }
  std::printf("  all figures: harmonia report --ta %s --country %s --cycle %lld\n",
              cycle.therapy_area().c_str(), cycle.country().c_str(),
              static_cast<long long>(cycle.cycle_id()));
  return 0;
}

int RunCycleList(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia cycle list --server ADDR --country CC --ta TA\n\nThe committed cycles, "
      "oldest first.\n";
  int exit = 0;
  std::optional<Command> c = Start("cycle list", usage, kCountryTa, argc, argv, first, &exit);
  if (!c) return exit;
  v1::ListCyclesRequest req;
  req.set_country(c->args.Get("country"));
  req.set_therapy_area(c->args.Get("ta"));
  v1::ListCyclesResponse resp;
  grpc::Status s = c->stub->ListCycles(c->remote.Context().get(), req, &resp);
  if (!s.ok()) return FailCall(s, "cycle list");
  if (c->remote.json()) {
    std::printf("%s", ToJson(resp).c_str());
    return 0;
  }
  std::printf("%6s  %-10s %7s %10s  %-20s %s\n", "CYCLE", "AS OF", "VERSION", "CUSTOMERS",
              "COMMITTED", "RUN BY");
  for (const v1::Cycle& cy : resp.cycles()) {
    std::printf("%6lld  %-10s %7lld %10lld  %-20s %s\n", static_cast<long long>(cy.cycle_id()),
                cy.as_of().c_str(), static_cast<long long>(cy.rule_set_version()),
                static_cast<long long>(cy.customers()), FormatUnix(cy.committed_at_unix()).c_str(),
                cy.run_by().c_str());
  }
  return 0;
}

int RunAssignments(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia assignments --server ADDR --country CC --ta TA [--cycle N]\n"
      "                            [--segment S] [--tier T] [--customer ID,…] [--limit N]\n\n"
      "The assignments of a cycle (the latest by default), in customer order.\n";
  int exit = 0;
  std::optional<Command> c =
      Start("assignments", usage,
            Plus(kCountryTa, {{"cycle", "N", "the cycle id (default: the latest)"},
                              {"segment", "S", "only this segment"},
                              {"tier", "T", "only this tier"},
                              {"customer", "ID,…", "only these customers"},
                              {"limit", "N", "at most N rows (default: all)"}}),
            argc, argv, first, &exit);
  if (!c) return exit;
  absl::StatusOr<long long> id = c->args.GetInt("cycle", 0, 1, 1LL << 53);
  if (!id.ok()) return BadFlag(id.status());
  absl::StatusOr<long long> limit = c->args.GetInt("limit", 0, 1, 1LL << 40);
  if (!limit.ok()) return BadFlag(limit.status());
  v1::QueryAssignmentsRequest req;
  req.set_country(c->args.Get("country"));
  req.set_therapy_area(c->args.Get("ta"));
  req.set_cycle_id(*id);
  req.set_segment(c->args.Get("segment"));
  req.set_tier(c->args.Get("tier"));
  for (absl::string_view cid : absl::StrSplit(c->args.Get("customer"), ',', absl::SkipEmpty())) {
    req.add_customer_ids(std::string(absl::StripAsciiWhitespace(cid)));
  }
  req.set_page_size(5000);
  v1::QueryAssignmentsResponse all;
  long long shown = 0;
  for (bool first = true;; first = false) {
    v1::QueryAssignmentsResponse resp;
    grpc::Status s = c->stub->QueryAssignments(c->remote.Context().get(), req, &resp);
    if (!s.ok()) return FailCall(s, "assignments");
    if (first && !c->remote.json()) {
      std::printf("%-12s %-18s %-22s %-4s %5s %6s %5s %6s  %-12s %-8s %-7s %-11s %s\n", "CUSTOMER",
                  "SEGMENT", "LABEL", "TIER", "CALLS", "REMOTE", "EMAIL", "EVENTS", "DECIDED BY",
                  "RULE", "VERSION", "PLAN", "TAGS");
    }
    for (const v1::Assignment& a : resp.assignments()) {
      if (*limit > 0 && shown >= *limit) break;
      ++shown;
      if (c->remote.json()) {
        *all.add_assignments() = a;
        continue;
      }
      // PLAN: the n=1 plan as calls/remote/email/events.
      const std::string plan = absl::StrCat(a.plan_calls(), "/", a.plan_remote(), "/",
                                            a.plan_email(), "/", a.plan_events());
      const std::string version = absl::StrCat("v", a.rule_set_version());
      std::printf("%-12s %-18s %-22s %-4s %5d %6d %5d %6d  %-12s %-8s %-7s %-11s %s\n",
                  a.customer_id().c_str(), a.segment().empty() ? "(none)" : a.segment().c_str(),
                  a.segment_label().c_str(), a.tier().c_str(), a.calls(), a.remote(), a.email(),
                  a.events(), a.decided_by().c_str(), a.rule_id().c_str(), version.c_str(),
                  plan.c_str(), a.tags().empty() ? "-" : absl::StrJoin(a.tags(), "|").c_str());
    }
    all.set_cycle_id(resp.cycle_id());
    if (resp.next_page_token().empty() || (*limit > 0 && shown >= *limit)) break;
    req.set_page_token(resp.next_page_token());
  }
  if (c->remote.json()) std::printf("%s", ToJson(all).c_str());
  return 0;
}

int RunProfileSubmit(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia profile submit --server ADDR --country CC answers.csv\n\n"
      "Submits profiling answers captured in the field (answers.csv, docs/files.md; source must "
      "be\n"
      "'rep'), in batches of 500. Each is validated against the therapy area's questionnaire;\n"
      "rejected rows are listed with their line and reason.\n";
  int exit = 0;
  std::optional<Command> c = Start(
      "profile submit", usage, {{"country", "CC", "the country", true}}, argc, argv, first, &exit);
  if (!c) return exit;
  if (c->args.positional.size() != 1) return Usage(usage);
  const std::string path = c->args.positional[0];
  std::vector<exchange::RowProblem> problems;
  std::vector<v1::AnswerInput> items;
  std::vector<int64_t> lines;
  int local_rejects = 0;
  absl::Status read =
      exchange::ForEachInput(path, exchange::InputKind::kAnswers, &problems,
                             [&](const exchange::InputFields& f, const exchange::Reject& reject) {
                               if (f.source != engine::Source::kRep) {
                                 reject("source", "only 'rep' answers are captured in the field");
                                 return;
                               }
                               v1::AnswerInput in;
                               in.set_customer_id(std::string(f.customer_id));
                               in.set_therapy_area(std::string(f.therapy_area));
                               in.set_question_id(std::string(f.input_id));
                               in.set_value(std::string(f.value));
                               in.set_as_of(FormatIsoDate(f.as_of));
                               items.push_back(std::move(in));
                               lines.push_back(f.line);
                             });
  if (!read.ok()) return BadFlag(read);
  for (const exchange::RowProblem& p : problems) {
    std::fprintf(stderr, "%s\n", exchange::FormatProblem(p).c_str());
    ++local_rejects;
  }
  int accepted = 0, rejected = 0;
  ProgressBar bar;
  for (size_t start = 0; start < items.size(); start += kBatch) {
    v1::SubmitAnswersRequest req;
    req.set_country(c->args.Get("country"));
    const size_t end = std::min(items.size(), start + kBatch);
    for (size_t i = start; i < end; ++i) *req.add_items() = items[i];
    v1::SubmitAnswersResponse resp;
    grpc::Status s = c->stub->SubmitAnswers(c->remote.Context().get(), req, &resp);
    if (!s.ok()) {
      bar.Finish();
      return FailCall(s, "profile submit");
    }
    for (int k = 0; k < resp.results_size(); ++k) {
      if (resp.results(k).accepted()) {
        ++accepted;
      } else {
        ++rejected;
        std::fprintf(stderr, "%s:%lld: rejected: %s\n", path.c_str(),
                     static_cast<long long>(lines[start + k]), resp.results(k).reason().c_str());
      }
    }
    bar.Update(static_cast<int64_t>(end), static_cast<int64_t>(items.size()), "answers");
  }
  bar.Finish();
  std::printf("profile submit: %d accepted, %d rejected, %d unreadable rows\n", accepted,
              rejected + 0, local_rejects);
  return 0;
}

}  // namespace harmonia::cli

namespace harmonia::cli {

int RunExplain(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia explain --server ADDR --country CC --ta TA --customer ID [--cycle N]\n\n"
      "Explains one customer's assignment layer by layer: effective inputs with their source\n"
      "and date (and what was passed over), scores, the rule that fired, the options,\n"
      "pull-through and the refinement applied.\n";
  int exit = 0;
  std::optional<Command> c =
      Start("explain", usage,
            Plus(kCountryTa, {{"customer", "ID", "the customer", true},
                              {"cycle", "N", "the cycle id (default: the latest)"}}),
            argc, argv, first, &exit);
  if (!c) return exit;
  absl::StatusOr<long long> id = c->args.GetInt("cycle", 0, 1, 1LL << 53);
  if (!id.ok()) return BadFlag(id.status());
  v1::ExplainAssignmentRequest req;
  req.set_country(c->args.Get("country"));
  req.set_therapy_area(c->args.Get("ta"));
  req.set_customer_id(c->args.Get("customer"));
  req.set_cycle_id(*id);
  v1::Explanation e;
  grpc::Status s = c->stub->ExplainAssignment(c->remote.Context().get(), req, &e);
  if (!s.ok()) return FailCall(s, "explain");
  if (c->remote.json()) {
    std::printf("%s", ToJson(e).c_str());
    return 0;
  }
  const v1::Assignment& a = e.assignment();
  std::printf("%s in %s %s, cycle %lld (as of %s), rule set v%lld\n", a.customer_id().c_str(),
              req.country().c_str(), req.therapy_area().c_str(),
              static_cast<long long>(e.cycle_id()), e.as_of().c_str(),
              static_cast<long long>(a.rule_set_version()));
  std::string profiled = "profiled";
  if (!e.profiled()) {
    profiled = e.missing_required().empty()
                   ? "not profiled: a typing-tool function weighs an input that is missing"
                   : absl::StrCat("not profiled: required question(s) unanswered: ",
                                  absl::StrJoin(e.missing_required(), ", "));
  }
  std::printf("\n1. inputs (%s)\n", profiled.c_str());
  for (const auto& in : e.inputs()) {
    if (in.value().empty()) {
      std::printf("   %-22s (missing)\n", in.id().c_str());
    } else {
      std::printf("   %-22s %-14s %-9s %s\n", in.id().c_str(), in.value().c_str(),
                  in.source().c_str(), in.as_of().c_str());
    }
    for (const std::string& p : in.passed_over())
      std::printf("   %22s   passed over: %s\n", "", p.c_str());
  }
  std::printf("\n2. scores\n");
  for (const auto& sc : e.scores()) {
    if (sc.missing()) {
      std::printf("   %-22s (missing: an input it weighs is missing)\n", sc.id().c_str());
    } else {
      std::printf("   %-22s %.6g\n", sc.id().c_str(), sc.value());
    }
    // value = intercept + Σ weight × input, as written
    std::string terms = absl::StrFormat("%.6g", sc.intercept());
    for (const auto& t : sc.terms()) {
      absl::StrAppendFormat(
          &terms, " %s %.6g × %s (%s)", t.weight() < 0 ? "-" : "+", std::abs(t.weight()), t.input(),
          t.value().empty() ? "missing"
                            : absl::StrFormat("%s → %.6g", t.value(), t.contribution()));
    }
    std::printf("   %22s   = %s\n", "", terms.c_str());
  }
  std::printf("\n3. decision: table %s, rule %s%s%s\n", e.table().c_str(), e.rule_fired().c_str(),
              e.rule_when().empty() ? "" : " when ", e.rule_when().c_str());
  std::printf("   options: %s\n   tier from %s with bands '%s'\n", e.options().c_str(),
              e.tier_metric().c_str(), e.tier_band().c_str());
  if (e.pulled_through()) {
    std::printf("\n4. pull-through: inputs unchanged since cycle %lld, its result kept\n",
                static_cast<long long>(e.pulled_from_cycle_id()));
  }
  if (e.has_refinement()) {
    const v1::Refinement& r = e.refinement();
    std::printf("\n5. refinement %s by %s (%s%s%s): segment %s, calls %+d%s%s\n",
                r.request_id().c_str(), r.submitted_by().c_str(), r.reason().c_str(),
                r.comment().empty() ? "" : ": ", r.comment().c_str(),
                r.segment().empty() ? "(kept)" : r.segment().c_str(), r.calls_delta(),
                r.decided_by().empty() ? "" : ", approved by ", r.decided_by().c_str());
  }
  if (e.drivers_size() > 0) {
    std::printf("\n6. drivers and barriers (every matching rule adds its tag)\n");
    for (const auto& d : e.drivers()) {
      std::printf("   %-22s rule %s when %s\n", d.tag().c_str(), d.rule_id().c_str(),
                  d.when().c_str());
    }
  }
  std::printf("\n7. plan: %s\n", e.plan_rule().empty() ? "targets" : e.plan_rule().c_str());
  std::printf(
      "\n=> segment %s (%s), tier %s: calls %d, remote %d, email %d, events %d "
      "(decided by %s)\n",
      a.segment().empty() ? "(none)" : a.segment().c_str(), a.segment_label().c_str(),
      a.tier().c_str(), a.calls(), a.remote(), a.email(), a.events(), a.decided_by().c_str());
  std::printf("   plan: calls %d, remote %d, email %d, events %d; tags: %s\n", a.plan_calls(),
              a.plan_remote(), a.plan_email(), a.plan_events(),
              a.tags().empty() ? "none" : absl::StrJoin(a.tags(), ", ").c_str());
  if (!a.message().empty()) {
    std::printf("   message: %s; channels: %s\n", a.message().c_str(),
                absl::StrJoin(a.channels(), ", ").c_str());
  }
  return 0;
}

}  // namespace harmonia::cli
