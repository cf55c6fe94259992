// `harmonia report` (docs/report.md): whether a segmentation
// works, per market and across markets, from a store (--store) or through
// the services (--server), as terminal tables, JSON or one HTML file.
#include "report/report.h"

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/remote.h"
#include "common/date.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "harmonia/v1/country.grpc.pb.h"
#include "harmonia/v1/rules.grpc.pb.h"
#include "report/render.h"
#include "store/store.h"

namespace harmonia::cli {
namespace {

namespace v1 = harmonia::v1;

constexpr const char* kUsage =
    "usage: harmonia report (--store URL | --server ADDR) --ta TA [--country CC [--cycle N]\n"
    "                       [--candidate FILE [--as-of DATE]] | --countries CC,CC,...]\n"
    "                       [--history N] [--json] [--html FILE]\n\n"
    "Shows whether the segmentation of a therapy area works: for the latest cycle of every\n"
    "market (or of --countries), segment shares side by side, the objective behaviour per\n"
    "segment with eta-squared and the Kruskal-Wallis test, churn against the previous cycle,\n"
    "how assignments were decided, refinements and whether they pay off, data quality and\n"
    "input coverage, and the markets that deviate. --country CC: that market alone (through\n"
    "its worker with --server). --candidate FILE: an impact preview of a candidate rule set\n"
    "over CC's current cycle (through the rules service with --server). Prints tables;\n"
    "--json prints the report as JSON instead; --html FILE writes one self-contained HTML\n"
    "file (charts included, no network).\n";

std::vector<FlagSpec> ReportFlags() {
  return {{"ta", "TA", "the therapy area (default with --candidate: the candidate's)"},
          {"country", "CC", "one market's report"},
          {"countries", "LIST", "the markets to compare, comma-separated (default: all)"},
          {"cycle", "N", "with --country: that cycle (default: the latest)"},
          {"history", "N", "cycles per market in the figures over time (default 8)"},
          {"candidate", "FILE", "with --country: a candidate rule set's impact preview"},
          {"as-of", "DATE", "with --candidate: the cycle date (default: the latest cycle's)"},
          {"html", "FILE", "write the report as one self-contained HTML file"}};
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "harmonia: report: %s\n", std::string(s.message()).c_str());
  return s.code() == absl::StatusCode::kInvalidArgument ||
                 s.code() == absl::StatusCode::kNotFound ||
                 s.code() == absl::StatusCode::kFailedPrecondition
             ? 2
             : 1;
}

struct Query {
  std::string ta;
  std::string country;
  std::vector<std::string> countries;
  int64_t cycle_id = 0;
  int history = 8;
  std::string candidate_file, candidate_text;
  std::optional<int32_t> as_of;
  std::string as_of_text;
};

absl::StatusOr<Query> ReadQuery(const Args& args) {
  Query q;
  q.ta = args.Get("ta");
  q.country = args.Get("country");
  if (args.Has("countries")) {
    for (absl::string_view c : absl::StrSplit(args.Get("countries"), ',', absl::SkipEmpty())) {
      q.countries.emplace_back(c);
    }
    if (q.countries.empty()) return absl::InvalidArgumentError("--countries names no country");
  }
  if (!q.country.empty() && args.Has("countries")) {
    return absl::InvalidArgumentError("give --country or --countries, not both");
  }
  if (args.Has("cycle")) {
    if (q.country.empty()) return absl::InvalidArgumentError("--cycle needs --country");
    absl::StatusOr<long long> n = args.GetInt("cycle", 0, 1, INT64_MAX);
    if (!n.ok()) return n.status();
    q.cycle_id = *n;
  }
  absl::StatusOr<long long> history = args.GetInt("history", 8, 1, 1000);
  if (!history.ok()) return history.status();
  q.history = static_cast<int>(*history);
  if (args.Has("candidate")) {
    if (q.country.empty()) return absl::InvalidArgumentError("--candidate needs --country");
    if (args.Has("cycle")) {
      return absl::InvalidArgumentError("--candidate runs over the latest cycle; drop --cycle");
    }
    q.candidate_file = args.Get("candidate");
    absl::StatusOr<std::string> text = ReadFileToString(q.candidate_file, 4 << 20);
    if (!text.ok()) return text.status();
    q.candidate_text = *std::move(text);
  } else if (q.ta.empty()) {
    return absl::InvalidArgumentError("--ta is required (the therapy area to report on)");
  }
  if (args.Has("as-of")) {
    if (!args.Has("candidate")) return absl::InvalidArgumentError("--as-of needs --candidate");
    q.as_of_text = args.Get("as-of");
    q.as_of = ParseIsoDate(q.as_of_text);
    if (!q.as_of) {
      return absl::InvalidArgumentError(absl::StrCat("--as-of: ", NotADate(q.as_of_text)));
    }
  }
  return q;
}

absl::StatusOr<v1::Report> LocalReport(const Args& args, const Query& q) {
  HARMONIA_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> db, store::OpenStore(args.Get("store")));
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  std::optional<v1::ImpactPreview> preview;
  std::string ta = q.ta;
  if (!q.candidate_text.empty()) {
    // Compiled once, from the text ReadQuery read: errors listed here,
    // warnings carried into the report.
    engine::CompileResult compiled = engine::CompileRuleSet(q.candidate_text, q.candidate_file);
    std::vector<Issue> warnings;
    for (const Issue& i : compiled.issues) {
      if (i.severity == Severity::kWarning) {
        warnings.push_back(i);
      } else {
        std::fprintf(stderr, "%s\n", FormatIssue(i).c_str());
      }
    }
    std::shared_ptr<const engine::RuleSet> candidate = compiled.rule_set;
    if (candidate == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("candidate ", q.candidate_file, " has errors (listed above)"));
    }
    if (!ta.empty() && ta != candidate->therapy_area) {
      return absl::InvalidArgumentError(
          absl::StrCat("the candidate is a rule set of ", candidate->therapy_area, ", not ", ta));
    }
    ta = candidate->therapy_area;
    std::vector<Issue> issues;
    absl::StatusOr<v1::ImpactPreview> p = report::PreviewImpact(*db,
                                                                {.candidate = candidate,
                                                                 .candidate_warnings = warnings,
                                                                 .country = q.country,
                                                                 .as_of = q.as_of,
                                                                 .now_unix = now,
                                                                 .run_by = CliPrincipal()},
                                                                &issues);
    for (const Issue& i : issues) std::fprintf(stderr, "%s\n", FormatIssue(i).c_str());
    if (!p.ok()) return p.status();
    preview = *std::move(p);
  }
  std::vector<std::string> countries = q.countries;
  if (!q.country.empty()) countries = {q.country};
  HARMONIA_ASSIGN_OR_RETURN(v1::Report r, report::BuildReport(*db, {.therapy_area = ta,
                                                                    .countries = countries,
                                                                    .cycle_id = q.cycle_id,
                                                                    .history = q.history,
                                                                    .now_unix = now}));
  if (preview) *r.mutable_preview() = *std::move(preview);
  return r;
}

int Output(const Args& args, bool json, const v1::Report& r) {
  if (args.Has("html")) {
    const std::string path = args.Get("html");
    absl::Status written = WriteFileAtomically(path, report::RenderHtml(r));
    if (!written.ok()) return Fail(written);
    std::fprintf(stderr, "harmonia: report: wrote %s (%d markets, %d warnings)\n", path.c_str(),
                 r.markets_size(), r.warnings_size());
  }
  if (json) {
    std::fputs(report::RenderJson(r).c_str(), stdout);
  } else if (!args.Has("html")) {
    std::fputs(report::RenderText(r).c_str(), stdout);
  }
  return 0;
}

int RunRemote(int argc, char** argv, int first) {
  int exit = 0;
  std::optional<RemoteCommand> c =
      StartRemote("report", kUsage, ReportFlags(), argc, argv, first, &exit);
  if (!c) return exit;
  if (!c->args.positional.empty()) return Fail(absl::InvalidArgumentError(kUsage));
  absl::StatusOr<Query> q = ReadQuery(c->args);
  if (!q.ok()) return Fail(q.status());
  v1::Report r;
  grpc::Status s;
  if (!q->country.empty() && q->candidate_text.empty()) {
    // One market: its worker.
    auto stub = v1::CountryService::NewStub(c->remote.channel());
    v1::GetCountryReportRequest req;
    req.set_country(q->country);
    req.set_therapy_area(q->ta);
    req.set_cycle_id(q->cycle_id);
    req.set_history(q->history);
    s = stub->GetReport(c->remote.Context().get(), req, &r);
  } else {
    auto stub = v1::RulesService::NewStub(c->remote.channel());
    v1::GetReportRequest req;
    req.set_therapy_area(q->ta);
    if (!q->country.empty()) req.add_countries(q->country);
    for (const std::string& cc : q->countries) req.add_countries(cc);
    req.set_history(q->history);
    req.set_candidate_source_text(q->candidate_text);
    req.set_as_of(q->as_of_text);
    s = stub->GetReport(c->remote.Context().get(), req, &r);
  }
  if (!s.ok()) return FailCall(s, "report");
  return Output(c->args, c->remote.json(), r);
}

}  // namespace

int RunReport(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    if (std::strcmp(argv[i], "--server") == 0 || std::strncmp(argv[i], "--server=", 9) == 0) {
      return RunRemote(argc, argv, first);
    }
  }
  std::vector<FlagSpec> specs = ReportFlags();
  specs.insert(specs.begin(), {"store", "URL", "the store: sqlite:PATH or postgresql://…"});
  specs.push_back({"server", "ADDR",
                   "ask the services instead of a store (harmonia report "
                   "--server ADDR --help lists the connection flags)"});
  specs.push_back({"json", "", "print the report as JSON"});
  specs.push_back({"help", "", "show this help"});
  if (WantsHelp(argc, argv, first, kUsage, specs)) return 0;
  absl::StatusOr<Args> args = ParseArgs("report", specs, argc, argv, first);
  if (!args.ok()) return Fail(args.status());
  if (!args->positional.empty()) return Fail(absl::InvalidArgumentError(kUsage));
  if (!args->Has("store")) {
    return Fail(absl::InvalidArgumentError("give --store URL (or --server ADDR)"));
  }
  absl::StatusOr<Query> q = ReadQuery(*args);
  if (!q.ok()) return Fail(q.status());
  absl::StatusOr<v1::Report> r = LocalReport(*args, *q);
  if (!r.ok()) return Fail(r.status());
  return Output(*args, args->Has("json"), *r);
}

}  // namespace harmonia::cli
