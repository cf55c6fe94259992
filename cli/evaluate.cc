// `harmonia evaluate`: one cycle offline from the files of docs/files.md, with no
// server and no store.
#include <algorithm>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "common/date.h"
#include "common/file.h"
#include "cycle/cycle.h"
#include "delivery/delivery.h"
#include "engine/country_config.h"
#include "engine/cycle.h"
#include "exchange/exchange.h"

namespace harmonia::cli {
namespace {

const std::vector<FlagSpec>& EvaluateFlags() {
  static const std::vector<FlagSpec> specs = [] {
    std::vector<FlagSpec> flags = {
        {"rules", "FILE", "the therapy area's rule-set file", true},
        {"country", "FILE", "the country file (countries/CC.yaml)", true},
        {"data", "DIR", "folder holding customers.csv, answers.csv, metrics.csv", true},
        {"as-of", "DATE", "the cycle date, YYYY-MM-DD", true},
        {"out", "FILE", "where to write assignments.csv (or the directives)", true},
        {"previous", "FILE", "the previous cycle's assignments.csv (enables pull-through)"},
        {"refinements", "FILE", "field refinements to apply (refinements.csv)"},
        {"threads", "N", "threads for reading and evaluating (default: all cores)"},
        {"repeat", "N", "evaluate the loaded batch N more times and print engine throughput"},
        {"quiet", "", "print only the summary, not each rejected row"},
        {"help", "", "show this help"},
    };
    const std::vector<FlagSpec> format = OutputFormatFlags();
    flags.insert(flags.end() - 1, format.begin(), format.end());
    return flags;
  }();
  return specs;
}

void PrintProblems(const std::vector<exchange::RowProblem>& problems, bool quiet) {
  if (quiet) return;
  std::string out;
  for (const auto& p : problems) absl::StrAppend(&out, exchange::FormatProblem(p), "\n");
  std::fwrite(out.data(), 1, out.size(), stderr);
}

}  // namespace

int RunEvaluate(int argc, char** argv, int first) {
  absl::StatusOr<Args> args = ParseArgs("evaluate", EvaluateFlags(), argc, argv, first);
  for (int i = first; i < argc; ++i) {
    if (std::string(argv[i]) == "--help") {
      std::printf(
          "usage: harmonia evaluate --rules R.yaml --country C.yaml --data DIR --as-of DATE "
          "--out FILE [--previous assignments.csv] [--refinements F.csv] [--format "
          "assignments|directives] [--as csv|jsonl]\n\nRuns one cycle "
          "offline. Rejected rows and refinements are listed on stderr with their line "
          "numbers; the exit status is 0 when the cycle ran, whatever was rejected.\n\n%s",
          FlagHelp(EvaluateFlags()).c_str());
      return 0;
    }
  }
  if (!args.ok()) {
    std::fprintf(stderr, "%s\n", std::string(args.status().message()).c_str());
    return 2;
  }
  if (!args->positional.empty()) {
    std::fprintf(stderr, "harmonia evaluate: unexpected argument '%s'\n",
                 args->positional[0].c_str());
    return 2;
  }
  const bool quiet = args->Has("quiet");
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  absl::StatusOr<long long> threads = args->GetInt("threads", cores, 1, 256);
  absl::StatusOr<long long> repeat = args->GetInt("repeat", 0, 0, 1000000);
  for (const auto* s : {&threads.status(), &repeat.status()}) {
    if (!s->ok()) {
      std::fprintf(stderr, "harmonia evaluate: %s\n", std::string(s->message()).c_str());
      return 2;
    }
  }
  absl::StatusOr<OutputFormat> format = ParseOutputFormat(*args, args->Get("out"), false);
  if (!format.ok()) {
    std::fprintf(stderr, "harmonia evaluate: %s\n", std::string(format.status().message()).c_str());
    return 2;
  }
  const std::string as_of_text = args->Get("as-of");
  std::optional<int32_t> cycle_day = ParseIsoDate(as_of_text);
  if (!cycle_day) {
    std::fprintf(stderr, "harmonia evaluate: --as-of: %s\n", NotADate(as_of_text).c_str());
    return 2;
  }

  // Rule set and country.
  const std::string rules_path = args->Get("rules");
  std::shared_ptr<const engine::RuleSet> rules = LoadRuleSetFile(rules_path, true);
  if (!rules) {
    std::fprintf(stderr, "harmonia evaluate: %s is not a valid rule set\n", rules_path.c_str());
    return 2;
  }
  const std::string country_path = args->Get("country");
  absl::StatusOr<std::string> country_text = ReadFileToString(country_path, 4 << 20);
  if (!country_text.ok()) {
    std::fprintf(stderr, "%s\n", std::string(country_text.status().message()).c_str());
    return 2;
  }
  engine::RuleSetLookup lookup = [&](const std::string& ta) -> const engine::RuleSet* {
    return ta == rules->therapy_area ? rules.get() : nullptr;
  };
  engine::CountryLoadResult country =
      engine::LoadCountryConfig(*country_text, country_path, lookup, true);
  for (const Issue& issue : country.issues)
    std::fprintf(stderr, "%s\n", FormatIssue(issue).c_str());
  if (!country.config) {
    std::fprintf(stderr, "harmonia evaluate: %s is not a valid country file\n",
                 country_path.c_str());
    return 2;
  }
  const engine::CountryConfig& cc = *country.config;
  const engine::TherapyAreaConfig* ta = cc.FindTherapyArea(rules->therapy_area);
  if (ta == nullptr) {
    std::fprintf(stderr, "harmonia evaluate: country %s does not run therapy area %s (%s)\n",
                 cc.country.c_str(), rules->therapy_area.c_str(), country_path.c_str());
    return 2;
  }
  if (ta->pinned_version && *ta->pinned_version != rules->version) {
    std::fprintf(stderr, "%s:%d: warning: country pins %s v%lld; evaluating v%lld from %s\n",
                 country_path.c_str(), ta->line, rules->therapy_area.c_str(),
                 static_cast<long long>(*ta->pinned_version),
                 static_cast<long long>(rules->version), rules_path.c_str());
  }
  for (const char* flag : {"previous", "refinements"}) {
    if (args->Has(flag) && args->Get(flag).empty()) {
      std::fprintf(stderr, "harmonia evaluate: --%s: empty; give a file\n", flag);
      return 2;
    }
  }
  // The cycle (cycle/cycle.h: the same assembly as `cycle run`).
  cycle::FileCycleOptions options{.rules = rules,
                                  .country = &cc,
                                  .data_dir = args->Get("data"),
                                  .as_of = *cycle_day,
                                  .previous_path = args->Get("previous"),
                                  .refinements_path = args->Get("refinements"),
                                  .threads = static_cast<int>(*threads),
                                  .repeat = *repeat,
                                  .keep_rows = format->directives};
  absl::StatusOr<cycle::FileCycleResult> cycle = cycle::RunFileCycle(options);
  if (!cycle.ok()) {
    std::fprintf(stderr, "%s\n", std::string(cycle.status().message()).c_str());
    return 2;
  }

  // Output.
  const std::string out_path = args->Get("out");
  if (format->directives) {
    const delivery::Encoding encoding =
        format->jsonl ? delivery::Encoding::kJsonLines : delivery::Encoding::kCsv;
    const delivery::Directives directives(*rules, ta);
    std::string text;
    if (!format->jsonl) {
      text.append(delivery::DirectivesHeader());
      text.push_back('\n');
    }
    for (const store::AssignmentRow& row : cycle->rows) {
      delivery::AppendDirectives(encoding, &text, cc.country, rules->therapy_area, row, directives);
    }
    cycle->assignments_csv = std::move(text);
  }
  if (absl::Status s = WriteFileAtomically(out_path, cycle->assignments_csv); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 1;
  }

  // Report: rejected rows, refinements, summary.
  PrintProblems(cycle->problems, quiet);
  std::string refs_report;
  const std::string ref_file = [&] {
    std::string p = args->Get("refinements");
    size_t slash = p.find_last_of('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
  }();
  int64_t applied = 0, rejected = 0, superseded = 0, other_ta = 0;
  for (size_t r = 0; r < cycle->outcomes.size(); ++r) {
    const auto& o = cycle->outcomes[r];
    const auto& ref = cycle->refinements[r];
    switch (o.status) {
      case engine::RefinementOutcome::Status::kApplied:
        ++applied;
        absl::StrAppend(&refs_report, ref_file, ":", ref.line,
                        ": refinement applied: ", ref.customer_id, " → ",
                        ref.segment.empty() ? "(same segment)" : ref.segment,
                        ref.calls_delta.empty() ? "" : absl::StrCat(", calls ", ref.calls_delta),
                        " (", ref.reason, ")\n");
        break;
      case engine::RefinementOutcome::Status::kRejected:
        ++rejected;
        absl::StrAppend(&refs_report, ref_file, ":", ref.line, ": refinement rejected: ", o.message,
                        "\n");
        break;
      case engine::RefinementOutcome::Status::kOtherTherapyArea:
        ++other_ta;
        absl::StrAppend(&refs_report, ref_file, ":", ref.line, ": refinement skipped: ", o.message,
                        "\n");
        break;
      case engine::RefinementOutcome::Status::kSuperseded:
        ++superseded;
        absl::StrAppend(&refs_report, ref_file, ":", ref.line,
                        ": refinement superseded: ", o.message, "\n");
        break;
    }
  }
  if (!quiet) std::fwrite(refs_report.data(), 1, refs_report.size(), stderr);

  const exchange::InputCounts& answers = cycle->answers;
  const exchange::InputCounts& metrics = cycle->metrics;
  std::string summary = absl::StrFormat(
      "evaluate: %s %s v%d as of %s: %d customers in scope (of %d rows in customers.csv)\n"
      "  rows read: %d answers, %d metrics; skipped: %d of customers out of scope, %d of other "
      "therapy areas\n"
      "  rejected rows: %d customers, %d answers, %d metrics\n",
      cc.country, rules->therapy_area, rules->version, as_of_text, cycle->customers,
      cycle->customer_rows, answers.rows, metrics.rows, answers.out_of_scope + metrics.out_of_scope,
      answers.other_therapy_area + metrics.other_therapy_area, cycle->customer_rows_rejected,
      answers.rejected, metrics.rejected);
  absl::StrAppend(&summary, "  ", cycle->quality_text, "\n  ", cycle->decided_by_text, "\n");
  if (args->Has("refinements")) {
    absl::StrAppendFormat(&summary,
                          "  refinements: %d applied, %d rejected, %d superseded (quota %d); %d "
                          "for other therapy areas\n",
                          applied, rejected, superseded, cycle->refinement_quota, other_ta);
  }
  absl::StrAppendFormat(&summary, "  load %.2f s, cycle %.3f s (%d threads); wrote %s\n",
                        cycle->load_seconds, cycle->cycle_seconds, *threads, out_path);
  std::fputs(summary.c_str(), stderr);

  // --repeat: the engine alone on the loaded batch (scores, tables, tiers, targets).
  if (*repeat > 0 && cycle->customers > 0) {
    const double rate = static_cast<double>(cycle->customers) * *repeat / cycle->engine_seconds;
    std::fprintf(stderr,
                 "engine: %lld × %lld customers in %.3f s on %lld thread%s = %.2f million "
                 "customers/s (%.2f M/s per thread)\n",
                 *repeat, static_cast<long long>(cycle->customers), cycle->engine_seconds, *threads,
                 *threads == 1 ? "" : "s", rate / 1e6, rate / 1e6 / *threads);
  }
  return 0;
}

}  // namespace harmonia::cli
