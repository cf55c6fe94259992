// `harmonia rules validate` and `harmonia countries validate`.
#include <cstdio>
#include <functional>
#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "common/file.h"
#include "engine/country_config.h"
#include "store/store.h"

namespace harmonia::cli {
namespace {

constexpr size_t kMaxConfigBytes = 4 << 20;

void PrintIssues(const std::vector<Issue>& issues, bool print_warnings) {
  for (const Issue& issue : issues) {
    if (issue.severity == Severity::kWarning && !print_warnings) continue;
    std::fprintf(stderr, "%s\n", FormatIssue(issue).c_str());
  }
}

// "1 question", "3 questions".
std::string Count(size_t n, const std::string& noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

int CountErrors(const std::vector<Issue>& issues) {
  int n = 0;
  for (const Issue& i : issues) n += i.severity == Severity::kError;
  return n;
}

// Reads and checks each file. `check` returns the file's issues and, when
// the file is valid, a one-line description. Prints the issues, then
// "path: ok — description" (stdout, unless quiet) or "path: invalid (N errors)"
// (stderr). Returns the exit status: 0 when every file is valid.
using FileCheck = std::function<std::optional<std::string>(
    const std::string& path, const std::string& text, std::vector<Issue>* issues)>;

int ValidateFiles(const std::vector<std::string>& paths, bool quiet, const FileCheck& check) {
  int failed = 0;
  for (const std::string& path : paths) {
    absl::StatusOr<std::string> text = ReadFileToString(path, kMaxConfigBytes);
    if (!text.ok()) {
      std::fprintf(stderr, "%s\n", std::string(text.status().message()).c_str());
      ++failed;
      continue;
    }
    std::vector<Issue> issues;
    std::optional<std::string> description = check(path, *text, &issues);
    PrintIssues(issues, true);
    if (!description) {
      const int errors = CountErrors(issues);
      std::fprintf(stderr, "%s: invalid (%d error%s)\n", path.c_str(), errors,
                   errors == 1 ? "" : "s");
      ++failed;
    } else if (!quiet) {
      std::printf("%s: ok — %s\n", path.c_str(), description->c_str());
    }
  }
  return failed == 0 ? 0 : 2;
}

}  // namespace

std::shared_ptr<const engine::RuleSet> LoadRuleSetFile(const std::string& path,
                                                       bool print_warnings) {
  absl::StatusOr<std::string> text = ReadFileToString(path, kMaxConfigBytes);
  if (!text.ok()) {
    std::fprintf(stderr, "%s\n", std::string(text.status().message()).c_str());
    return nullptr;
  }
  engine::CompileResult result = engine::CompileRuleSet(*text, path);
  PrintIssues(result.issues, print_warnings);
  return result.rule_set;
}

int RunRulesValidate(int argc, char** argv, int first) {
  const std::vector<FlagSpec> specs = {{"quiet", "", "print only problems"},
                                       {"help", "", "show this help"}};
  absl::StatusOr<Args> args = ParseArgs("rules validate", specs, argc, argv, first);
  if (!args.ok()) {
    std::fprintf(stderr, "%s\n", std::string(args.status().message()).c_str());
    return 2;
  }
  if (args->Has("help") || args->positional.empty()) {
    std::fprintf(args->Has("help") ? stdout : stderr,
                 "usage: harmonia rules validate FILE…\n\nCompiles each rule-set file, runs its "
                 "test cases and prints every error and warning as file:line:column. Exit 0 "
                 "only when every file is valid (warnings allowed).\n\n%s",
                 FlagHelp(specs).c_str());
    return args->Has("help") ? 0 : 2;
  }
  return ValidateFiles(
      args->positional, args->Has("quiet"),
      [](const std::string& path, const std::string& text,
         std::vector<Issue>* issues) -> std::optional<std::string> {
        engine::CompileResult result = engine::CompileRuleSet(text, path);
        *issues = std::move(result.issues);
        if (!result.rule_set) return std::nullopt;
        const engine::RuleSet& rs = *result.rule_set;
        int questions = 0;
        for (const auto& in : rs.inputs) questions += in.is_question;
        const std::string table =
            rs.typing_tool
                ? "a typing tool"
                : Count(rs.assignment.rules.size(),
                        absl::StrCat(engine::HitPolicyName(rs.assignment.hit_policy), " rule"));
        return absl::StrCat(rs.therapy_area, " v", rs.version, ": ", Count(questions, "question"),
                            ", ", Count(rs.inputs.size() - questions, "metric"), ", ",
                            Count(rs.scores.size(), "score"), ", ",
                            Count(rs.segments.size(), "segment"), ", ", table, ", ",
                            Count(rs.tests.size(), "test"), " passed");
      });
}

namespace {

// Whether every version `config` pins is published in `db`; an error issue
// at the pin for each one that is not.
bool PinsArePublished(store::Store& db, const std::string& path,
                      const engine::CountryConfig& config, std::vector<Issue>* issues) {
  bool ok = true;
  for (const engine::TherapyAreaConfig& ta : config.therapy_areas) {
    if (!ta.pinned_version) continue;
    absl::StatusOr<std::vector<store::RuleSetRecord>> published = db.ListRuleSets(ta.therapy_area);
    std::string versions;
    bool found = false;
    if (published.ok()) {
      for (const store::RuleSetRecord& r : *published) {
        absl::StrAppend(&versions, versions.empty() ? "" : ", ", r.version);
        found = found || r.version == *ta.pinned_version;
      }
    }
    if (!published.ok() || !found) {
      issues->push_back(
          {Severity::kError, path, ta.pin_line, ta.pin_column,
           published.ok()
               ? absl::StrCat("therapy area ", ta.therapy_area, " rule_set_version: v",
                              *ta.pinned_version, " is not published in the store (published: ",
                              versions.empty() ? "none" : versions, ")")
               : absl::StrCat("therapy area ", ta.therapy_area, ": ",
                              published.status().message())});
      ok = false;
    }
  }
  return ok;
}

}  // namespace

int RunCountriesValidate(int argc, char** argv, int first) {
  const std::vector<FlagSpec> specs = {
      {"rules", "DIR", "folder of rule-set files named <therapy_area>.yaml (default: rules)"},
      {"store", "URL", "also check each pinned version is published in this store"},
      {"quiet", "", "print only problems"},
      {"help", "", "show this help"}};
  absl::StatusOr<Args> args = ParseArgs("countries validate", specs, argc, argv, first);
  if (!args.ok()) {
    std::fprintf(stderr, "%s\n", std::string(args.status().message()).c_str());
    return 2;
  }
  if (args->Has("help") || args->positional.empty()) {
    std::fprintf(args->Has("help") ? stdout : stderr,
                 "usage: harmonia countries validate [--rules DIR] [--store URL] FILE…\n\nChecks "
                 "each country file: time zone, schedule, sources, and each therapy area's options "
                 "and labels against its rule set's menu; a pinned version must exist (with "
                 "--store: be published there).\n\n%s",
                 FlagHelp(specs).c_str());
    return args->Has("help") ? 0 : 2;
  }
  const std::string dir = args->Get("rules", "rules");
  std::map<std::string, std::shared_ptr<const engine::RuleSet>> cache;
  engine::RuleSetLookup lookup = [&](const std::string& ta) -> const engine::RuleSet* {
    auto it = cache.find(ta);
    if (it == cache.end()) {
      it = cache.emplace(ta, LoadRuleSetFile(absl::StrCat(dir, "/", ta, ".yaml"), false)).first;
    }
    return it->second.get();
  };
  std::unique_ptr<store::Store> db;
  if (args->Has("store")) {
    absl::StatusOr<std::unique_ptr<store::Store>> opened = store::OpenStore(args->Get("store"));
    if (!opened.ok()) {
      std::fprintf(stderr, "harmonia: countries validate: %s\n",
                   std::string(opened.status().message()).c_str());
      return 2;
    }
    db = std::move(*opened);
  }
  return ValidateFiles(
      args->positional, args->Has("quiet"),
      [&](const std::string& path, const std::string& text,
          std::vector<Issue>* issues) -> std::optional<std::string> {
        engine::CountryLoadResult result = engine::LoadCountryConfig(text, path, lookup);
        *issues = std::move(result.issues);
        if (!result.config) return std::nullopt;
        if (db != nullptr && !PinsArePublished(*db, path, *result.config, issues)) {
          return std::nullopt;
        }
        std::string tas;
        for (const auto& ta : result.config->therapy_areas) {
          absl::StrAppend(&tas, tas.empty() ? "" : ", ", ta.therapy_area);
        }
        return absl::StrCat(result.config->country, " (", result.config->timezone,
                            "), therapy areas: ", tas);
      });
}

}  // namespace harmonia::cli
