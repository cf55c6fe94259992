// `harmonia rules …` against the rules service (--server): validate,
// publish, rollback, list, show, diff, preview.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/remote.h"
#include "common/file.h"
#include "common/issue.h"
#include "harmonia/v1/rules.grpc.pb.h"

namespace harmonia::cli {
namespace {

using v1::RulesService;

using Command = ServiceCommand<RulesService>;

std::optional<Command> Start(const char* name, const char* usage, std::vector<FlagSpec> specs,
                             int argc, char** argv, int first, int* exit) {
  return StartService<RulesService>(name, usage, std::move(specs), argc, argv, first, exit);
}

Issue FromProto(const v1::Issue& i) {
  return {i.severity() == v1::Issue::WARNING ? Severity::kWarning : Severity::kError, i.file(),
          static_cast<int>(i.line()), static_cast<int>(i.column()), i.message()};
}

void PrintIssues(const google::protobuf::RepeatedPtrField<v1::Issue>& issues) {
  for (const v1::Issue& i : issues) std::fprintf(stderr, "%s\n", FormatIssue(FromProto(i)).c_str());
}

int Usage(const char* usage) {
  std::fputs(usage, stderr);
  return 2;
}

}  // namespace

int RunRulesValidateRemote(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia rules validate --server ADDR FILE…\n\nCompiles each rule set on the rules "
      "service and runs its test cases; stores nothing.\n";
  int exit = 0;
  std::optional<Command> c = Start("rules validate", usage, {}, argc, argv, first, &exit);
  if (!c) return exit;
  if (c->args.positional.empty()) return Usage(usage);
  int status = 0;
  for (const std::string& path : c->args.positional) {
    absl::StatusOr<std::string> text = ReadFileToString(path, 4 << 20);
    if (!text.ok()) {
      std::fprintf(stderr, "harmonia: %s\n", std::string(text.status().message()).c_str());
      status = 2;
      continue;
    }
    v1::ValidateRuleSetRequest req;
    req.set_source_text(*text);
    req.set_file_name(path);
    v1::ValidateRuleSetResponse resp;
    grpc::Status s = c->stub->ValidateRuleSet(c->remote.Context().get(), req, &resp);
    if (!s.ok()) return FailCall(s, "rules validate");
    if (c->remote.json()) {
      std::printf("%s", ToJson(resp).c_str());
    } else {
      PrintIssues(resp.issues());
      if (resp.valid()) {
        std::printf("%s: valid: %s v%lld, %d/%d test cases pass (published: %s)\n", path.c_str(),
                    resp.therapy_area().c_str(), static_cast<long long>(resp.version()),
                    resp.tests_passed(), resp.tests_total(),
                    resp.latest_published_version() == 0
                        ? "none"
                        : absl::StrCat("up to v", resp.latest_published_version()).c_str());
      } else {
        std::printf("%s: invalid\n", path.c_str());
      }
    }
    if (!resp.valid()) status = 2;
  }
  return status;
}

int RunRulesPublishRemote(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia rules publish --server ADDR FILE…\n\nPublishes each rule set on the rules "
      "service as a new, immutable version (its test cases must pass; versions must "
      "increase).\n";
  int exit = 0;
  std::optional<Command> c = Start("rules publish", usage, {}, argc, argv, first, &exit);
  if (!c) return exit;
  if (c->args.positional.empty()) return Usage(usage);
  int status = 0;
  for (const std::string& path : c->args.positional) {
    absl::StatusOr<std::string> text = ReadFileToString(path, 4 << 20);
    if (!text.ok()) {
      std::fprintf(stderr, "harmonia: %s\n", std::string(text.status().message()).c_str());
      status = 2;
      continue;
    }
    v1::PublishRuleSetRequest req;
    req.set_source_text(*text);
    req.set_file_name(path);
    v1::PublishRuleSetResponse resp;
    grpc::Status s = c->stub->PublishRuleSet(c->remote.Context().get(), req, &resp);
    if (!s.ok()) {
      const int code = FailCall(s, path);
      status = std::max(status, code);
      if (code == 1) return code;
      continue;
    }
    if (c->remote.json()) {
      std::printf("%s", ToJson(resp).c_str());
      continue;
    }
    PrintIssues(resp.warnings());
    std::printf("%s: %s %s v%lld\n", path.c_str(),
                resp.already_published() ? "already published" : "published",
                resp.published().therapy_area().c_str(),
                static_cast<long long>(resp.published().version()));
  }
  return status;
}

int RunRulesRollback(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia rules rollback --server ADDR --ta TA --to N [--as M]\n\nPublishes a new "
      "version whose content is version N's (version: rewritten to M, default latest + 1).\n";
  int exit = 0;
  std::optional<Command> c = Start("rules rollback", usage,
                                   {{"ta", "TA", "the therapy area", true},
                                    {"to", "N", "the earlier version to restore", true},
                                    {"as", "M", "the new version number (default: latest + 1)"}},
                                   argc, argv, first, &exit);
  if (!c) return exit;
  absl::StatusOr<long long> to = c->args.GetInt("to", 0, 1, 1LL << 53);
  absl::StatusOr<long long> as = c->args.GetInt("as", 0, 0, 1LL << 53);
  if (!to.ok() || !as.ok()) {
    std::fprintf(stderr, "harmonia: %s\n",
                 std::string((!to.ok() ? to.status() : as.status()).message()).c_str());
    return 2;
  }
  v1::RollbackRuleSetRequest req;
  req.set_therapy_area(c->args.Get("ta"));
  req.set_to_version(*to);
  req.set_new_version(*as);
  v1::PublishRuleSetResponse resp;
  grpc::Status s = c->stub->RollbackRuleSet(c->remote.Context().get(), req, &resp);
  if (!s.ok()) return FailCall(s, "rules rollback");
  if (c->remote.json()) {
    std::printf("%s", ToJson(resp).c_str());
  } else {
    std::printf("%s v%lld: %s with the content of v%lld\n", req.therapy_area().c_str(),
                static_cast<long long>(resp.published().version()),
                resp.already_published() ? "already published" : "published", *to);
  }
  return 0;
}

int RunRulesList(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia rules list --server ADDR [--ta TA]\n\nLists the published rule-set "
      "versions.\n";
  int exit = 0;
  std::optional<Command> c =
      Start("rules list", usage, {{"ta", "TA", "one therapy area (default: all)"}}, argc, argv,
            first, &exit);
  if (!c) return exit;
  v1::ListRuleSetsRequest req;
  req.set_therapy_area(c->args.Get("ta"));
  v1::ListRuleSetsResponse resp;
  grpc::Status s = c->stub->ListRuleSets(c->remote.Context().get(), req, &resp);
  if (!s.ok()) return FailCall(s, "rules list");
  if (c->remote.json()) {
    std::printf("%s", ToJson(resp).c_str());
    return 0;
  }
  std::printf("%-16s %7s  %-20s %-20s %s\n", "THERAPY AREA", "VERSION", "PUBLISHED", "BY",
              "CHECKSUM");
  for (const v1::RuleSetInfo& r : resp.rule_sets()) {
    std::printf("%-16s %7lld  %-20s %-20s %.12s\n", r.therapy_area().c_str(),
                static_cast<long long>(r.version()), FormatUnix(r.published_at_unix()).c_str(),
                r.published_by().c_str(), r.checksum().c_str());
  }
  return 0;
}

int RunRulesShow(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia rules show --server ADDR --ta TA [--version N]\n\nPrints a published "
      "rule set's text (the latest version by default).\n";
  int exit = 0;
  std::optional<Command> c = Start("rules show", usage,
                                   {{"ta", "TA", "the therapy area", true},
                                    {"version", "N", "the version (default: the latest)"}},
                                   argc, argv, first, &exit);
  if (!c) return exit;
  absl::StatusOr<long long> version = c->args.GetInt("version", 0, 1, 1LL << 53);
  if (!version.ok()) {
    std::fprintf(stderr, "harmonia: %s\n", std::string(version.status().message()).c_str());
    return 2;
  }
  v1::GetRuleSetRequest req;
  req.set_therapy_area(c->args.Get("ta"));
  req.set_version(*version);
  v1::RuleSet resp;
  grpc::Status s = c->stub->GetRuleSet(c->remote.Context().get(), req, &resp);
  if (!s.ok()) return FailCall(s, "rules show");
  if (c->remote.json()) {
    std::printf("%s", ToJson(resp).c_str());
  } else {
    std::fwrite(resp.source_text().data(), 1, resp.source_text().size(), stdout);
  }
  return 0;
}

int RunRulesDiff(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia rules diff --server ADDR --ta TA --from N [--to M]\n\nWhat changed "
      "between two published versions (--to: the latest by default): the parts, then the "
      "text.\n";
  int exit = 0;
  std::optional<Command> c = Start("rules diff", usage,
                                   {{"ta", "TA", "the therapy area", true},
                                    {"from", "N", "the older version", true},
                                    {"to", "M", "the newer version (default: the latest)"}},
                                   argc, argv, first, &exit);
  if (!c) return exit;
  absl::StatusOr<long long> from = c->args.GetInt("from", 0, 1, 1LL << 53);
  absl::StatusOr<long long> to = c->args.GetInt("to", 0, 1, 1LL << 53);
  if (!from.ok() || !to.ok()) {
    std::fprintf(stderr, "harmonia: %s\n",
                 std::string((!from.ok() ? from.status() : to.status()).message()).c_str());
    return 2;
  }
  v1::DiffRuleSetsRequest req;
  req.set_therapy_area(c->args.Get("ta"));
  req.set_from_version(*from);
  req.set_to_version(*to);
  v1::DiffRuleSetsResponse resp;
  grpc::Status s = c->stub->DiffRuleSets(c->remote.Context().get(), req, &resp);
  if (!s.ok()) return FailCall(s, "rules diff");
  if (c->remote.json()) {
    std::printf("%s", ToJson(resp).c_str());
    return 0;
  }
  if (resp.changes().empty()) std::printf("no changes\n");
  for (const std::string& change : resp.changes()) std::printf("%s\n", change.c_str());
  if (!resp.unified_diff().empty()) std::printf("\n%s", resp.unified_diff().c_str());
  return 0;
}

int RunRulesPreview(int argc, char** argv, int first) {
  const char* usage =
      "usage: harmonia rules preview --server ADDR --country CC FILE\n\nEvaluates a candidate "
      "rule set against the country's current inputs and counts how its customers would move "
      "between segments, compared with the latest cycle. Commits nothing.\n";
  int exit = 0;
  std::optional<Command> c =
      Start("rules preview", usage,
            {{"country", "CC", "the country", true},
             {"as-of", "DATE", "the cycle date (default: the latest cycle's)"}},
            argc, argv, first, &exit);
  if (!c) return exit;
  if (c->args.positional.size() != 1) return Usage(usage);
  absl::StatusOr<std::string> text = ReadFileToString(c->args.positional[0], 4 << 20);
  if (!text.ok()) {
    std::fprintf(stderr, "harmonia: %s\n", std::string(text.status().message()).c_str());
    return 2;
  }
  v1::PreviewImpactRequest req;
  req.set_source_text(*text);
  req.set_country(c->args.Get("country"));
  req.set_as_of(c->args.Get("as-of"));
  v1::PreviewImpactResponse resp;
  grpc::Status s = c->stub->PreviewImpact(c->remote.Context().get(), req, &resp);
  if (!s.ok()) return FailCall(s, "rules preview");
  if (c->remote.json()) {
    std::printf("%s", ToJson(resp).c_str());
    return 0;
  }
  PrintIssues(resp.warnings());
  std::printf("%s: %lld of %lld customers would change segment (against cycle %lld, v%lld)\n",
              req.country().c_str(), static_cast<long long>(resp.changed()),
              static_cast<long long>(resp.customers()),
              static_cast<long long>(resp.baseline_cycle_id()),
              static_cast<long long>(resp.baseline_rule_set_version()));
  std::printf("%-20s %-20s %10s\n", "FROM", "TO", "CUSTOMERS");
  for (const auto& t : resp.transitions()) {
    std::printf(
        "%-20s %-20s %10lld%s\n", t.from_segment().empty() ? "(none)" : t.from_segment().c_str(),
        t.to_segment().empty() ? "(none)" : t.to_segment().c_str(),
        static_cast<long long>(t.customers()), t.from_segment() == t.to_segment() ? "" : "  *");
  }
  return 0;
}

}  // namespace harmonia::cli
