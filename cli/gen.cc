// `harmonia gen`: a synthetic, realistic data set (datagen/datagen.h).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "common/csv.h"
#include "common/date.h"
#include "common/file.h"
#include "datagen/datagen.h"
#include "exchange/exchange.h"

namespace harmonia::cli {
namespace {

const std::vector<FlagSpec>& GenFlags() {
  static const std::vector<FlagSpec> specs = {
      {"out", "DIR", "folder to write the files into, created if needed (required)"},
      {"rules", "DIR|FILE",
       "rule sets whose questionnaires and metrics to fill: a folder (every *.yaml) or one "
       "file (default: rules)"},
      {"countries", "CC,CC", "countries to generate customers for (default: DE)"},
      {"customers", "N", "customers per country, 1 to 10000000 (default: 1000)"},
      {"seed", "S", "random seed; the same seed gives the same files (default: 1)"},
      {"as-of", "DATE", "reference date the data is current at, YYYY-MM-DD (default: 2026-11-01)"},
      {"refinements", "N", "refinement requests per country; -1 = 1% of customers (default: -1)"},
      {"threads", "N", "worker threads; the output does not depend on it (default: all cores)"},
      {"follow-up", "PLAN.csv",
       "instead: what happened after a cycle, from its directives export (or assignments.csv): "
       "activities.csv from --as-of to --until, and the objective behaviour at the end"},
      {"until", "DATE", "with --follow-up: the end of the period, not included (YYYY-MM-DD)"},
      {"data", "DIR",
       "with --follow-up: the data set the cycle ran on; its metrics.csv gives each customer's "
       "objective behaviour before (without it, no metrics.csv is written)"},
      {"study", "N",
       "instead: a segmentation study of N respondents per rule set (1 to 1000000), in "
       "DIR/<therapy area>/ (docs/typing-tool.md)"},
      {"wave", "W",
       "with --study: another wave of the same segmentation, new respondents (default: 1)"},
      {"help", "", "show this help"},
  };
  return specs;
}

constexpr const char* kUsage =
    "usage: harmonia gen --out DIR [--rules DIR|FILE] [--countries DE,FR] [--customers N] "
    "[--seed S] [--as-of DATE] [--refinements N] [--threads N]\n\n"
    "Writes a synthetic data set: customers.csv, answers.csv, metrics.csv, refinements.csv "
    "(docs/files.md) and latent.csv, each customer's true segment per therapy area. Answers follow "
    "the latent segment, the objective behaviour differs by segment, and the data carries the "
    "problems of real feeds: several sources, stale, future-dated and invalid values, "
    "unprofiled customers, invalid refinements. Same flags and seed, same bytes.\n\n"
    "       harmonia gen --follow-up PLAN.csv --until DATE --out DIR [--as-of DATE] [--data DIR] "
    "[--rules DIR|FILE] [--seed S]\n\n"
    "Writes what happened after a cycle: activities.csv, the touchpoints a CRM reports from "
    "--as-of to --until (reps carry out none, part or all of each customer's plan, and "
    "honour the channel preference or not), and metrics.csv, the objective behaviour at the "
    "end, moved more where the plan was carried out (docs/cli.md).\n\n"
    "       harmonia gen --study N --out DIR [--rules DIR|FILE] [--seed S] [--wave W] [--as-of "
    "DATE]\n\n"
    "Writes a segmentation study per rule set into DIR/<therapy area>/: study.yaml, "
    "respondents.csv (every question answered, and the segment the research assigned: the "
    "latent segment of the data set of the same seed) and rule_set.yaml, for `harmonia "
    "typing-tool fit` (docs/typing-tool.md). Prints the best accuracy any typing tool can reach "
    "on the respondents.\n\n";

int Usage(const std::string& message) {
  std::fprintf(stderr, "harmonia gen: %s\n", message.c_str());
  return 2;
}

// "1,234,567".
std::string Grouped(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

std::string Size(int64_t bytes) {
  if (bytes >= (int64_t{1} << 30)) return absl::StrFormat("%.2f GiB", bytes / double(1 << 30));
  if (bytes >= (1 << 20)) return absl::StrFormat("%.1f MiB", bytes / double(1 << 20));
  if (bytes >= (1 << 10)) return absl::StrFormat("%.1f KiB", bytes / double(1 << 10));
  return absl::StrCat(bytes, " B");
}

// The rule-set files of --rules: every *.yaml of a folder, in name order, or one file.
bool RuleFiles(const std::string& path, std::vector<std::string>* files) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
      if (entry.path().extension() == ".yaml" && !entry.is_directory()) {
        files->push_back(entry.path().string());
      }
    }
    if (ec) {
      Usage(absl::StrCat("--rules: ", path, ": ", ec.message()));
      return false;
    }
    std::sort(files->begin(), files->end());
    if (files->empty()) {
      Usage(absl::StrCat("--rules: no *.yaml rule-set files in ", path));
      return false;
    }
    return true;
  }
  if (!std::filesystem::exists(path, ec)) {
    Usage(absl::StrCat("--rules: ", path, ": no such folder or file"));
    return false;
  }
  files->push_back(path);
  return true;
}

// Each customer's objective behaviour in DIR/metrics.csv for the rule sets'
// therapy areas: the valid value with the latest as_of not after `day` (the
// last in the file on a tie). An approximation of the cycle's choice, which
// also weighs sources; enough to move values from.
absl::StatusOr<std::map<std::pair<std::string, std::string>, double>> ObjectivesBefore(
    const std::string& dir, const std::vector<std::shared_ptr<const engine::RuleSet>>& rule_sets,
    int32_t day) {
  std::map<std::string, std::pair<std::string, const engine::InputDef*>> metric_of;  // TA → id
  for (const auto& r : rule_sets) {
    if (r->objective_behavior >= 0) {
      metric_of[r->therapy_area] = {r->inputs[r->objective_behavior].id,
                                    &r->inputs[r->objective_behavior]};
    }
  }
  std::map<std::pair<std::string, std::string>, std::pair<int32_t, double>> best;
  std::vector<exchange::RowProblem> ignored;  // the cycle reported them already
  absl::Status read = exchange::ForEachInput(
      absl::StrCat(dir, "/metrics.csv"), exchange::InputKind::kMetrics, &ignored,
      [&](const exchange::InputFields& in, const exchange::Reject&) {
        auto m = metric_of.find(std::string(in.therapy_area));
        if (m == metric_of.end() || in.input_id != m->second.first || in.as_of > day) return;
        double v = 0;
        auto [ptr, ec] = std::from_chars(in.value.data(), in.value.data() + in.value.size(), v);
        if (ec != std::errc() || ptr != in.value.data() + in.value.size() ||
            v < m->second.second->min || v > m->second.second->max) {
          return;
        }
        auto [it, fresh] = best.try_emplace({std::string(in.customer_id), m->first}, in.as_of, v);
        if (!fresh && in.as_of >= it->second.first) it->second = {in.as_of, v};
      });
  if (!read.ok()) return read;
  std::map<std::pair<std::string, std::string>, double> out;
  for (const auto& [key, value] : best) out[key] = value.second;
  return out;
}

// `harmonia gen --follow-up PLAN.csv`.
int RunFollowUp(const Args& args, const std::vector<std::shared_ptr<const engine::RuleSet>>& rules,
                uint64_t seed) {
  datagen::FollowUpOptions options;
  options.seed = seed;
  options.rule_sets = rules;
  const std::string as_of = args.Get("as-of", "2026-11-01");
  std::optional<int32_t> from = ParseIsoDate(as_of);
  if (!from) return Usage(absl::StrCat("--as-of: ", NotADate(as_of)));
  if (!args.Has("until")) return Usage("--follow-up needs --until DATE (the end of the period)");
  std::optional<int32_t> to = ParseIsoDate(args.Get("until"));
  if (!to) return Usage(absl::StrCat("--until: ", NotADate(args.Get("until"))));
  options.from = *from;
  options.to = *to;
  if (options.from >= options.to) return Usage("--until must be after --as-of");

  const std::string plan_path = args.Get("follow-up");
  absl::StatusOr<MappedFile> file = MappedFile::Open(plan_path);
  if (!file.ok()) return Usage(std::string(file.status().message()));
  csv::Reader reader(csv::StripBom(file->data()));
  std::vector<std::string_view> fields;
  csv::ParseError error;
  std::map<std::string, size_t> column;
  if (!reader.Next(&fields, &error) || !error.message.empty()) {
    return Usage(absl::StrCat(plan_path, ": no header row"));
  }
  for (size_t k = 0; k < fields.size(); ++k) column[std::string(fields[k])] = k;
  const auto& kTargets = engine::kActivityNames;
  const char* kPlan[] = {"plan_calls", "plan_remote", "plan_email", "plan_events"};
  for (const char* c :
       {"customer_id", "therapy_area", kTargets[0], kTargets[1], kTargets[2], kTargets[3]}) {
    if (!column.contains(c)) {
      return Usage(absl::StrCat(plan_path, ": no column ", c,
                                " (expected a directives export or an assignments.csv)"));
    }
  }
  const bool has_plan = column.contains("plan_calls");
  std::optional<std::map<std::pair<std::string, std::string>, double>> before;
  if (args.Has("data")) {
    auto read = ObjectivesBefore(args.Get("data"), rules, options.from);
    if (!read.ok()) return Usage(std::string(read.status().message()));
    before = std::move(*read);
  }
  int64_t rejected = 0;
  while (true) {
    error = {};
    if (!reader.Next(&fields, &error)) break;
    if (!error.message.empty() || fields.size() < column.size()) {
      std::fprintf(stderr, "%s:%lld: skipped: %s\n", plan_path.c_str(),
                   static_cast<long long>(error.line ? error.line : reader.record_line()),
                   error.message.empty() ? "too few fields" : error.message.c_str());
      ++rejected;
      continue;
    }
    datagen::PlannedCustomer p;
    p.customer_id = std::string(fields[column["customer_id"]]);
    p.therapy_area = std::string(fields[column["therapy_area"]]);
    bool ok = true;
    for (size_t k = 0; k < 4; ++k) {
      for (auto [name, out] :
           {std::pair{kTargets[k], &p.targets[k]}, std::pair{kPlan[k], &p.plan[k]}}) {
        if (!column.contains(name)) continue;
        const std::string_view v = fields[column[name]];
        auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
        ok = ok && ec == std::errc() && ptr == v.data() + v.size() && *out >= 0;
      }
    }
    if (!has_plan) p.plan = p.targets;
    if (!ok) {
      std::fprintf(stderr, "%s:%lld: skipped: a count that is not a whole number\n",
                   plan_path.c_str(), static_cast<long long>(reader.record_line()));
      ++rejected;
      continue;
    }
    if (before) {
      auto it = before->find({p.customer_id, p.therapy_area});
      if (it != before->end()) p.objective = it->second;
    }
    options.customers.push_back(std::move(p));
  }
  options.write_metrics = before.has_value();
  const auto start = std::chrono::steady_clock::now();
  const std::string out = args.Get("out");
  std::error_code ec;
  if (args.Has("data") && std::filesystem::equivalent(out, args.Get("data"), ec)) {
    return Usage("--out must not be the --data folder: its metrics.csv would be replaced");
  }
  ec.clear();
  std::filesystem::create_directories(out, ec);
  if (ec) return Usage(absl::StrCat("--out: ", out, ": ", ec.message()));
  datagen::GenStats stats;
  if (absl::Status s = datagen::GenerateFollowUp(options, out, &stats); !s.ok()) {
    std::fprintf(stderr, "harmonia gen: %s\n", std::string(s.message()).c_str());
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string summary = absl::StrFormat(
      "gen: follow-up of %s customers (%s%d rows skipped), activities from %s until %s, seed %d\n",
      Grouped(static_cast<int64_t>(options.customers.size())), has_plan ? "" : "targets as plan, ",
      rejected, as_of, args.Get("until"), seed);
  for (const auto& f : stats.files) {
    absl::StrAppendFormat(&summary, "  %-16s %14s rows  %10s\n", f.name, Grouped(f.rows),
                          Size(f.bytes));
  }
  absl::StrAppendFormat(&summary, "  wrote %s in %.2f s\n", out, seconds);
  std::fputs(summary.c_str(), stderr);
  return 0;
}

// `harmonia gen --study N`.
int RunStudy(const Args& args, const std::vector<std::string>& files,
             const std::vector<std::shared_ptr<const engine::RuleSet>>& rules,
             const datagen::GenOptions& gen) {
  absl::StatusOr<long long> respondents = args.GetInt("study", 2000, 1, 1000000);
  absl::StatusOr<long long> wave = args.GetInt("wave", 1, 1, 999);
  for (const auto* s : {&respondents.status(), &wave.status()}) {
    if (!s->ok()) return Usage(std::string(s->message()));
  }
  for (const char* other : {"countries", "customers", "refinements", "until", "data"}) {
    if (args.Has(other)) return Usage(absl::StrCat("--", other, " does not go with --study"));
  }
  const auto start = std::chrono::steady_clock::now();
  std::string summary;
  for (size_t i = 0; i < rules.size(); ++i) {
    absl::StatusOr<std::string> text = ReadFileToString(files[i], 16 << 20);
    if (!text.ok()) return Usage(std::string(text.status().message()));
    datagen::StudyOptions o{.rule_set = rules[i],
                            .rule_set_text = std::move(*text),
                            .respondents = *respondents,
                            .seed = gen.seed,
                            .wave = *wave,
                            .fielded = gen.as_of};
    const std::string dir = absl::StrCat(args.Get("out"), "/", rules[i]->therapy_area);
    datagen::StudyStats stats;
    if (absl::Status s = datagen::GenerateStudy(o, dir, &stats); !s.ok()) {
      std::fprintf(stderr, "harmonia gen: %s\n", std::string(s.message()).c_str());
      return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }
    absl::StrAppendFormat(
        &summary, "  %-12s %s respondents  best possible accuracy %s  %s\n", rules[i]->therapy_area,
        Grouped(stats.respondents),
        std::isfinite(stats.best_accuracy)
            ? absl::StrFormat("%.1f%% (expected %.1f%%)", 100 * stats.best_accuracy,
                              100 * stats.expected_best_accuracy)
            : std::string("unknown (a segment the generator never reached)"),
        dir);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(
      stderr,
      "gen: segmentation studies, seed %llu, wave %lld, fielded %s\n%s  wrote %s in %.2f s\n",
      static_cast<unsigned long long>(gen.seed), *wave, gen.as_of.c_str(), summary.c_str(),
      args.Get("out").c_str(), seconds);
  return 0;
}

}  // namespace

int RunGen(int argc, char** argv, int first) {
  absl::StatusOr<Args> args = ParseArgs("gen", GenFlags(), argc, argv, first);
  if (!args.ok()) {
    std::fprintf(stderr, "%s\n", std::string(args.status().message()).c_str());
    return 2;
  }
  if (args->Has("help")) {
    std::printf("%s%s", kUsage, FlagHelp(GenFlags()).c_str());
    return 0;
  }
  if (!args->positional.empty()) {
    return Usage(absl::StrCat("unexpected argument '", args->positional[0], "'"));
  }
  if (!args->Has("out") || args->Get("out").empty()) {
    std::fprintf(stderr, "harmonia gen: --out DIR is required\n\n%s%s", kUsage,
                 FlagHelp(GenFlags()).c_str());
    return 2;
  }

  datagen::GenOptions options;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  absl::StatusOr<long long> customers = args->GetInt("customers", 1000, 1, 10000000);
  absl::StatusOr<long long> seed =
      args->GetInt("seed", 1, 0, std::numeric_limits<long long>::max());
  absl::StatusOr<long long> refinements = args->GetInt("refinements", -1, -1, 10000000);
  absl::StatusOr<long long> threads = args->GetInt("threads", cores, 1, 256);
  for (const auto* s :
       {&customers.status(), &seed.status(), &refinements.status(), &threads.status()}) {
    if (!s->ok()) return Usage(std::string(s->message()));
  }
  options.customers = *customers;
  options.seed = static_cast<uint64_t>(*seed);
  options.refinements = *refinements;
  options.threads = static_cast<int>(*threads);

  options.as_of = args->Get("as-of", options.as_of);
  if (!ParseIsoDate(options.as_of)) {
    return Usage(absl::StrCat("--as-of: ", NotADate(options.as_of)));
  }

  options.countries.clear();
  for (absl::string_view part : absl::StrSplit(args->Get("countries", "DE"), ',')) {
    std::string code(part);
    for (char& c : code) {
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    }
    if (code.size() != 2 || !std::isupper(static_cast<unsigned char>(code[0])) ||
        !std::isupper(static_cast<unsigned char>(code[1]))) {
      return Usage(absl::StrCat("--countries: '", std::string(part),
                                "' is not an ISO 3166 alpha-2 code (e.g. DE,FR,US)"));
    }
    if (std::find(options.countries.begin(), options.countries.end(), code) !=
        options.countries.end()) {
      return Usage(absl::StrCat("--countries: ", code, " is listed twice"));
    }
    options.countries.push_back(code);
  }

  std::vector<std::string> files;
  if (!RuleFiles(args->Get("rules", "rules"), &files)) return 2;
  std::vector<std::string> tas;
  for (const std::string& file : files) {
    std::shared_ptr<const engine::RuleSet> rules = LoadRuleSetFile(file, false);
    if (!rules) return Usage(absl::StrCat(file, " is not a valid rule set"));
    for (const auto& other : options.rule_sets) {
      if (other->therapy_area == rules->therapy_area) {
        return Usage(absl::StrCat(file, ": therapy area ", rules->therapy_area,
                                  " is already given by another rule-set file"));
      }
    }
    tas.push_back(rules->therapy_area);
    options.rule_sets.push_back(std::move(rules));
  }

  if (args->Has("follow-up")) return RunFollowUp(*args, options.rule_sets, options.seed);
  if (args->Has("study")) return RunStudy(*args, files, options.rule_sets, options);
  if (args->Has("wave")) return Usage("--wave needs --study");
  for (const char* only : {"until", "data"}) {
    if (args->Has(only)) return Usage(absl::StrCat("--", only, " needs --follow-up"));
  }

  const auto start = std::chrono::steady_clock::now();
  const std::string out = args->Get("out");
  datagen::GenStats stats;
  if (absl::Status s = datagen::Generate(options, out, &stats); !s.ok()) {
    std::fprintf(stderr, "harmonia gen: %s\n", std::string(s.message()).c_str());
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::string summary = absl::StrFormat(
      "gen: %s customers in %s (%s), therapy areas %s, seed %d, as of %s\n",
      Grouped(options.customers), absl::StrJoin(options.countries, ", "),
      options.countries.size() == 1 ? "one country"
                                    : absl::StrCat(options.countries.size(), " countries"),
      tas.empty() ? "none" : absl::StrJoin(tas, ", "), options.seed, options.as_of);
  for (const auto& f : stats.files) {
    absl::StrAppendFormat(&summary, "  %-16s %14s rows  %10s\n", f.name, Grouped(f.rows),
                          Size(f.bytes));
  }
  absl::StrAppendFormat(&summary, "  wrote %s in %.2f s (%d thread%s)\n", out, seconds,
                        options.threads, options.threads == 1 ? "" : "s");
  std::fputs(summary.c_str(), stderr);
  return 0;
}

}  // namespace harmonia::cli
