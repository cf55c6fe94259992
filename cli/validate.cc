// `harmonia rules validate` and `harmonia countries validate`.
#include <cstdio>
#include <map>

#include "absl/strings/str_cat.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "common/file.h"
#include "engine/country_config.h"

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
  int failed = 0;
  for (const std::string& path : args->positional) {
    absl::StatusOr<std::string> text = ReadFileToString(path, kMaxConfigBytes);
    if (!text.ok()) {
      std::fprintf(stderr, "%s\n", std::string(text.status().message()).c_str());
      ++failed;
      continue;
    }
    engine::CompileResult result = engine::CompileRuleSet(*text, path);
    PrintIssues(result.issues, true);
    if (!result.rule_set) {
      std::fprintf(stderr, "%s: invalid (%d error%s)\n", path.c_str(), CountErrors(result.issues),
                   CountErrors(result.issues) == 1 ? "" : "s");
      ++failed;
      continue;
    }
    const engine::RuleSet& rs = *result.rule_set;
    if (!args->Has("quiet")) {
      int questions = 0;
      for (const auto& in : rs.inputs) questions += in.is_question;
      const std::string table =
          rs.typing_tool
              ? "a typing tool"
              : Count(rs.assignment.rules.size(),
                      absl::StrCat(engine::HitPolicyName(rs.assignment.hit_policy), " rule"));
      std::printf("%s: ok — %s v%lld: %s, %s, %s, %s, %s, %s passed\n", path.c_str(),
                  rs.therapy_area.c_str(), static_cast<long long>(rs.version),
                  Count(questions, "question").c_str(),
                  Count(rs.inputs.size() - questions, "metric").c_str(),
                  Count(rs.scores.size(), "score").c_str(),
                  Count(rs.segments.size(), "segment").c_str(), table.c_str(),
                  Count(rs.tests.size(), "test").c_str());
    }
  }
  return failed == 0 ? 0 : 2;
}

int RunCountriesValidate(int argc, char** argv, int first) {
  const std::vector<FlagSpec> specs = {
      {"rules", "DIR", "folder of rule-set files named <therapy_area>.yaml (default: rules)"},
      {"quiet", "", "print only problems"},
      {"help", "", "show this help"}};
  absl::StatusOr<Args> args = ParseArgs("countries validate", specs, argc, argv, first);
  if (!args.ok()) {
    std::fprintf(stderr, "%s\n", std::string(args.status().message()).c_str());
    return 2;
  }
  if (args->Has("help") || args->positional.empty()) {
    std::fprintf(args->Has("help") ? stdout : stderr,
                 "usage: harmonia countries validate [--rules DIR] FILE…\n\nChecks each country "
                 "file: time zone, schedule, sources, and each therapy area's options and labels "
                 "against its rule set's menu.\n\n%s",
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
  int failed = 0;
  for (const std::string& path : args->positional) {
    absl::StatusOr<std::string> text = ReadFileToString(path, kMaxConfigBytes);
    if (!text.ok()) {
      std::fprintf(stderr, "%s\n", std::string(text.status().message()).c_str());
      ++failed;
      continue;
    }
    engine::CountryLoadResult result = engine::LoadCountryConfig(*text, path, lookup);
    PrintIssues(result.issues, true);
    if (!result.config) {
      std::fprintf(stderr, "%s: invalid (%d error%s)\n", path.c_str(), CountErrors(result.issues),
                   CountErrors(result.issues) == 1 ? "" : "s");
      ++failed;
      continue;
    }
    if (!args->Has("quiet")) {
      std::string tas;
      for (const auto& ta : result.config->therapy_areas) {
        absl::StrAppend(&tas, tas.empty() ? "" : ", ", ta.therapy_area);
      }
      std::printf("%s: ok — %s (%s), therapy areas: %s\n", path.c_str(),
                  result.config->country.c_str(), result.config->timezone.c_str(), tas.c_str());
    }
  }
  return failed == 0 ? 0 : 2;
}

}  // namespace harmonia::cli
