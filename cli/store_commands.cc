// Store commands: `harmonia rules publish`, `harmonia cycle run`
// and `harmonia export`, each against `--store URL`.
#include <unistd.h>
#include <xxhash.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "auth/auth.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "common/csv.h"
#include "common/date.h"
#include "common/file.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "cycle/cycle.h"
#include "delivery/delivery.h"
#include "exchange/exchange.h"
#include "store/store.h"

namespace harmonia::cli {
namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "harmonia: %s\n", std::string(s.message()).c_str());
  return s.code() == absl::StatusCode::kInvalidArgument ||
                 s.code() == absl::StatusCode::kNotFound ||
                 s.code() == absl::StatusCode::kFailedPrecondition
             ? 2
             : 1;
}

absl::StatusOr<std::unique_ptr<store::Store>> OpenFromArgs(const Args& args) {
  return store::OpenStore(args.Get("store"));
}

}  // namespace

std::string CliPrincipal() {
  if (const char* u = std::getenv("USER"); u != nullptr && *u) return u;
  return absl::StrCat("uid:", getuid());
}

int RunRulesPublish(int argc, char** argv, int first) {
  const std::vector<FlagSpec> specs = {
      {"store", "URL", "the store: sqlite:PATH or postgresql://…", true},
      {"help", "", "show this help"}};
  const char* usage =
      "usage: harmonia rules publish --store URL FILE…\n\nCompiles each rule set (its test "
      "cases must pass) and stores it as a new, immutable version; versions must increase.\n";
  if (WantsHelp(argc, argv, first, usage, specs)) return 0;
  absl::StatusOr<Args> args = ParseArgs("rules publish", specs, argc, argv, first);
  if (!args.ok()) return Fail(args.status());
  if (args->positional.empty()) {
    std::fputs(usage, stderr);
    return 2;
  }
  auto db = OpenFromArgs(*args);
  if (!db.ok()) return Fail(db.status());
  bool invalid = false, store_failed = false;
  for (const std::string& path : args->positional) {
    absl::StatusOr<std::string> text = ReadFileToString(path, 4 << 20);
    if (!text.ok()) {
      std::fprintf(stderr, "%s\n", std::string(text.status().message()).c_str());
      invalid = true;
      continue;
    }
    // Compile the very text that is stored (not a second read of the file).
    engine::CompileResult compiled = engine::CompileRuleSet(*text, path);
    for (const Issue& i : compiled.issues) std::fprintf(stderr, "%s\n", FormatIssue(i).c_str());
    std::shared_ptr<const engine::RuleSet> rules = compiled.rule_set;
    if (!rules) {
      std::fprintf(stderr, "%s: not published: the rule set has errors\n", path.c_str());
      invalid = true;
      continue;
    }
    const std::string checksum = Sha256Hex(*text);
    absl::Status s = (*db)->PublishRuleSet({rules->therapy_area, rules->version, *text, checksum,
                                            CliPrincipal(), absl::ToUnixSeconds(absl::Now())});
    if (!s.ok()) {
      std::fprintf(stderr, "%s: not published: %s\n", path.c_str(),
                   std::string(s.message()).c_str());
      // A version that does not increase is the user's to fix; anything else is the store's.
      (s.code() == absl::StatusCode::kFailedPrecondition ? invalid : store_failed) = true;
      continue;
    }
    std::printf("%s: published %s v%lld\n", path.c_str(), rules->therapy_area.c_str(),
                static_cast<long long>(rules->version));
  }
  return store_failed ? 1 : invalid ? 2 : 0;
}

int RunCycleRun(int argc, char** argv, int first) {
  const std::vector<FlagSpec> specs = {
      {"store", "URL", "the store: sqlite:PATH or postgresql://…", true},
      {"country", "CC", "the country (reads DIR/CC.yaml)", true},
      {"ta", "TA", "the therapy area", true},
      {"countries", "DIR", "folder of country files (default: countries)"},
      {"as-of", "DATE", "the cycle date, YYYY-MM-DD (default: today in the country's time zone)"},
      {"refinements", "FILE",
       "refinements.csv to submit to the store first (kept; applied by this and later cycles)"},
      {"threads", "N", "threads for evaluation (default: all cores)"},
      {"help", "", "show this help"}};
  const char* usage =
      "usage: harmonia cycle run --store URL --country CC --ta TA [--countries DIR] "
      "[--as-of DATE] [--refinements FILE]\n\nRuns one cycle in-process against the store with "
      "the latest rule-set version the country's pin allows, applies the market's stored "
      "refinements, and commits all assignments in one transaction.\n";
  if (WantsHelp(argc, argv, first, usage, specs)) return 0;
  absl::StatusOr<Args> args = ParseArgs("cycle run", specs, argc, argv, first);
  if (!args.ok()) return Fail(args.status());
  const std::string cc = args->Get("country");
  const std::string path = absl::StrCat(args->Get("countries", "countries"), "/", cc, ".yaml");
  absl::StatusOr<std::string> text = ReadFileToString(path, 4 << 20);
  if (!text.ok()) return Fail(text.status());
  auto db = OpenFromArgs(*args);
  if (!db.ok()) return Fail(db.status());
  // Only the file's shape is checked here: its options are checked inside the
  // cycle against the rule-set version the country pins, which may not be the
  // latest published.
  const engine::RuleSetLookup lookup = [](const std::string&) -> const engine::RuleSet* {
    return nullptr;
  };
  engine::CountryLoadResult country = engine::LoadCountryConfig(*text, path, lookup, true);
  for (const Issue& i : country.issues) std::fprintf(stderr, "%s\n", FormatIssue(i).c_str());
  if (!country.config) return 2;
  if (country.config->country != cc) {
    std::fprintf(stderr, "%s: the file is for country %s, not %s\n", path.c_str(),
                 country.config->country.c_str(), cc.c_str());
    return 2;
  }
  int32_t as_of;
  if (args->Has("as-of")) {
    std::optional<int32_t> d = ParseIsoDate(args->Get("as-of"));
    if (!d) {
      std::fprintf(stderr, "harmonia cycle run: --as-of: %s\n",
                   NotADate(args->Get("as-of")).c_str());
      return 2;
    }
    as_of = *d;
  } else {
    as_of = engine::TodayIn(*country.config, absl::Now());
  }
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  absl::StatusOr<long long> threads = args->GetInt("threads", cores, 1, 256);
  if (!threads.ok()) return Fail(threads.status());
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  // --refinements: stored first (durable whatever the cycle does), each
  // row's request id remembered to name its line in the report.
  absl::flat_hash_map<std::string, int64_t> line_of_request;
  std::string ref_file;
  if (args->Has("refinements")) {
    const std::string ref_path = args->Get("refinements");
    ref_file = ref_path.substr(ref_path.find_last_of('/') + 1);
    std::vector<exchange::RowProblem> problems;
    absl::StatusOr<std::vector<engine::Refinement>> rows =
        exchange::ReadRefinements(ref_path, &problems);
    for (const exchange::RowProblem& p : problems) {
      std::fprintf(stderr, "%s\n", exchange::FormatProblem(p).c_str());
    }
    if (!rows.ok()) return Fail(rows.status());
    absl::StatusOr<std::vector<store::Store::Submitted>> stored =
        cycle::SubmitRefinementRows(**db, *country.config, *rows, now);
    if (!stored.ok()) return Fail(stored.status());
    int64_t fresh = 0, again = 0, refused = 0;
    for (size_t k = 0; k < stored->size(); ++k) {
      const store::Store::Submitted& sub = (*stored)[k];
      line_of_request.emplace(sub.record.request_id, (*rows)[k].line);
      ++(sub.record.refinement_id == 0 ? refused : sub.duplicate ? again : fresh);
      if (!sub.duplicate && sub.record.status == store::RefinementStatus::kRejected) {
        std::fprintf(stderr, "%s:%lld: refinement rejected: %s\n", ref_file.c_str(),
                     static_cast<long long>((*rows)[k].line), sub.record.status_reason.c_str());
      }
    }
    std::fprintf(stderr, "%s: %lld refinements stored, %lld already in the store%s\n",
                 ref_file.c_str(), static_cast<long long>(fresh), static_cast<long long>(again),
                 refused == 0 ? "" : absl::StrCat(", ", refused, " not stored").c_str());
  }
  cycle::StoreCycleOptions options{.country = &*country.config,
                                   .country_text = *text,
                                   .therapy_area = args->Get("ta"),
                                   .as_of = as_of,
                                   .threads = static_cast<int>(*threads),
                                   .now_unix = now,
                                   .run_by = CliPrincipal()};
  absl::StatusOr<cycle::StoreCycleResult> result = cycle::RunStoreCycle(**db, options);
  if (!result.ok()) return Fail(result.status());
  const store::CycleRecord& c = result->cycle;
  std::fprintf(stderr, "cycle %lld committed: %s %s v%lld as of %s, %lld customers\n  %s\n",
               static_cast<long long>(c.cycle_id), c.country.c_str(), c.therapy_area.c_str(),
               static_cast<long long>(c.rule_set_version), FormatIsoDate(c.as_of).c_str(),
               static_cast<long long>(c.customers), c.summary.c_str());
  for (const cycle::RefinementResult& r : result->refinements) {
    auto line = line_of_request.find(r.request_id);
    const std::string where = line != line_of_request.end()
                                  ? absl::StrCat(ref_file, ":", line->second, ": ")
                                  : std::string();
    const char* what = r.status == store::RefinementStatus::kApplied   ? "applied"
                       : r.status == store::RefinementStatus::kExpired ? "expired"
                                                                       : "rejected";
    std::fprintf(stderr, "%srefinement %s %s%s%s\n", where.c_str(), r.request_id.c_str(), what,
                 r.message.empty() ? "" : ": ", r.message.c_str());
  }
  if (!result->refinements.empty() || result->awaiting_approval > 0) {
    int64_t applied = 0;
    for (const cycle::RefinementResult& r : result->refinements) {
      applied += r.status == store::RefinementStatus::kApplied;
    }
    std::fprintf(stderr,
                 "  refinements: %lld applied of %zu considered (quota %lld); %lld "
                 "awaiting approval\n",
                 static_cast<long long>(applied), result->refinements.size(),
                 static_cast<long long>(result->refinement_quota),
                 static_cast<long long>(result->awaiting_approval));
  }
  if (result->unknown_inputs > 0) {
    std::fprintf(stderr, "  %lld stored value%s for inputs this rule set does not have\n",
                 static_cast<long long>(result->unknown_inputs),
                 result->unknown_inputs == 1 ? "" : "s");
  }
  return 0;
}

absl::StatusOr<OutputFormat> ParseOutputFormat(const Args& args, const std::string& out,
                                               bool changes) {
  const std::string format = args.Get("format", "assignments");
  if (format != "assignments" && format != "directives") {
    return absl::InvalidArgumentError(
        absl::StrCat("--format: ", Quoted(format), " is not one of assignments, directives"));
  }
  const bool jsonl_name = absl::EndsWith(out, ".jsonl") || absl::EndsWith(out, ".ndjson");
  const std::string as = args.Get("as", jsonl_name ? "jsonl" : "csv");
  if (as != "csv" && as != "jsonl") {
    return absl::InvalidArgumentError(
        absl::StrCat("--as: ", Quoted(as), " is not one of csv, jsonl"));
  }
  OutputFormat result{.directives = format == "directives" || changes, .jsonl = as == "jsonl"};
  if (changes && args.Has("format") && format == "assignments") {
    return absl::InvalidArgumentError(
        "--changed-since writes the changes export, which has the directives columns: use "
        "--format directives or leave --format out");
  }
  if (!result.directives && result.jsonl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--as jsonl: assignments.csv is CSV only; JSON Lines needs --format directives",
        changes ? "" : " (or, for export, --changed-since)"));
  }
  return result;
}

std::vector<FlagSpec> OutputFormatFlags() {
  return {{"format", "F",
           "assignments (assignments.csv, the default) or directives (adds each segment's name, "
           "local label, message and channels, the tags and the n=1 plan)"},
          {"as", "E",
           "csv or jsonl (JSON Lines, directives only; default: jsonl when the output file ends "
           "in .jsonl, else csv)"}};
}

int RunExport(int argc, char** argv, int first) {
  std::vector<FlagSpec> specs = {
      {"store", "URL", "the store: sqlite:PATH or postgresql://…", true},
      {"country", "CC", "the country", true},
      {"ta", "TA", "the therapy area", true},
      {"cycle", "N", "a cycle id (default: the latest committed cycle)"},
      {"changed-since", "N",
       "write the changes export: the customers who entered, left or changed since cycle N"},
      {"out", "FILE", "where to write", true},
      {"help", "", "show this help"}};
  const std::vector<FlagSpec> format_flags = OutputFormatFlags();
  specs.insert(specs.end() - 2, format_flags.begin(), format_flags.end());
  const char* usage =
      "usage: harmonia export --store URL --country CC --ta TA [--cycle N]\n"
      "                       [--format assignments|directives] [--changed-since N]\n"
      "                       [--as csv|jsonl] --out FILE\n\n"
      "Writes a committed cycle's assignments.csv, its directives export (each customer's\n"
      "segment name, local label, key message, channels, tags and n=1 plan), or the\n"
      "changes export against an earlier cycle (docs/files.md).\n";
  if (WantsHelp(argc, argv, first, usage, specs)) return 0;
  absl::StatusOr<Args> args = ParseArgs("export", specs, argc, argv, first);
  if (!args.ok()) return Fail(args.status());
  std::optional<int64_t> cycle_id, since;
  for (const auto& [flag, id] : {std::pair{"cycle", &cycle_id}, {"changed-since", &since}}) {
    if (!args->Has(flag)) continue;
    absl::StatusOr<long long> n = args->GetInt(flag, 0, 1, INT64_MAX);
    if (!n.ok()) return Fail(n.status());
    *id = *n;
  }
  const std::string path = args->Get("out");
  absl::StatusOr<OutputFormat> format = ParseOutputFormat(*args, path, since.has_value());
  if (!format.ok()) return Fail(format.status());
  const bool directives = format->directives;
  const delivery::Encoding encoding =
      format->jsonl ? delivery::Encoding::kJsonLines : delivery::Encoding::kCsv;
  auto db = OpenFromArgs(*args);
  if (!db.ok()) return Fail(db.status());
  const std::string cc = args->Get("country"), ta = args->Get("ta");
  absl::StatusOr<delivery::ExportedCycle> now = delivery::LoadCycle(**db, cc, ta, cycle_id);
  if (!now.ok()) return Fail(now.status());
  std::string out;
  if (encoding == delivery::Encoding::kCsv) {
    out.append(!directives ? exchange::kAssignmentsHeader
               : since     ? delivery::ChangesHeader()
                           : delivery::DirectivesHeader());
    out.push_back('\n');
  }
  std::string summary;
  if (since) {
    absl::StatusOr<delivery::ExportedCycle> before = delivery::LoadCycle(**db, cc, ta, since);
    if (!before.ok()) return Fail(before.status());
    const std::vector<delivery::Change> changes = delivery::Changes(before->rows, now->rows);
    int64_t counts[3] = {0, 0, 0};
    for (const delivery::Change& c : changes) {
      ++counts[static_cast<int>(c.kind)];
      delivery::AppendChange(encoding, &out, cc, ta, c, now->directives);
    }
    summary = absl::StrCat("changes from cycle ", *since, " to cycle ", now->cycle.cycle_id, " of ",
                           cc, " ", ta, ": ", counts[0], " entered, ", counts[1], " left, ",
                           counts[2], " changed");
  } else {
    for (const store::AssignmentRow& r : now->rows) {
      if (directives) {
        delivery::AppendDirectives(encoding, &out, cc, ta, r, now->directives);
      } else {
        cycle::AppendAssignmentRecord(&out, cc, ta, r);
      }
    }
    summary = absl::StrCat(directives ? "directives of " : "", "cycle ", now->cycle.cycle_id,
                           " of ", cc, " ", ta, ", ", now->rows.size(), " rows");
  }
  if (absl::Status s = WriteFileAtomically(path, out); !s.ok()) {
    std::fprintf(stderr, "harmonia export: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "export: %s → %s\n", summary.c_str(), path.c_str());
  return 0;
}

}  // namespace harmonia::cli
