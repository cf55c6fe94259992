// `harmonia gen`: a synthetic, realistic data set (datagen/datagen.h).
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "common/date.h"
#include "datagen/datagen.h"

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
    "unprofiled customers, invalid refinements. Same flags and seed, same bytes.\n\n";

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
