#include "services/rules_core.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "auth/auth.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/yaml_tree.h"
#include "cycle/cycle.h"
#include "dtl/dtl.hpp"
#include "engine/country_config.h"
#include "harmonia/v1/common.pb.h"
#include "proto/issue_convert.h"
#include "report/report.h"
#include "services/authz.h"

namespace harmonia::services {
namespace {

using auth::Role;

constexpr char kIssuesPayload[] = "type.googleapis.com/harmonia.v1.IssueList";

// The most issues a status carries: its details travel in a gRPC trailer,
// which clients refuse above 8 KiB (docs/api.md "Errors").
constexpr size_t kMaxIssuesInStatus = 40;

absl::Status WithIssues(absl::Status status, const std::vector<Issue>& issues) {
  v1::IssueList list;
  for (size_t k = 0; k < issues.size() && k < kMaxIssuesInStatus; ++k) {
    IssueToProto(issues[k], list.add_issues());
  }
  if (issues.size() > kMaxIssuesInStatus) {
    Issue more = issues[kMaxIssuesInStatus];
    more.message = absl::StrCat("… and ", issues.size() - kMaxIssuesInStatus,
                                " more (harmonia rules validate lists them all)");
    IssueToProto(more, list.add_issues());
  }
  status.SetPayload(kIssuesPayload, absl::Cord(list.SerializeAsString()));
  return status;
}

std::vector<Issue> Warnings(const std::vector<Issue>& issues) {
  std::vector<Issue> out;
  for (const Issue& i : issues) {
    if (i.severity == Severity::kWarning) out.push_back(i);
  }
  return out;
}

int ErrorCount(const std::vector<Issue>& issues) {
  return static_cast<int>(std::count_if(
      issues.begin(), issues.end(), [](const Issue& i) { return i.severity == Severity::kError; }));
}

// `text` with the value of its top-level `version:` replaced by `version`
// (the rest of the text, comments included, unchanged).
absl::StatusOr<std::string> RewriteVersion(const std::string& text, int64_t version) {
  IssueList issues("rule set");
  std::optional<YamlNode> root = LoadYaml(text, &issues);
  const YamlNode* node = root ? root->Find("version") : nullptr;
  if (node == nullptr || !node->is_scalar() || node->line < 1 || node->column < 1) {
    return absl::InternalError("stored rule set has no top-level version to rewrite");
  }
  size_t start = 0;
  for (int line = 1; line < node->line; ++line) {
    start = text.find('\n', start);
    if (start == std::string::npos) return absl::InternalError("version line out of range");
    ++start;
  }
  start += node->column - 1;
  const size_t length = node->scalar.size() + (node->quoted ? 2 : 0);
  if (start + length > text.size()) return absl::InternalError("version column out of range");
  std::string out = text;
  out.replace(start, length, absl::StrCat(version));
  return out;
}

// ----------------------------------------------------------------- diffing

// Signatures of a rule set's parts by kind and id: two versions differ in a
// part exactly when its signature does.
using Signatures = std::map<std::string, std::map<std::string, std::string>>;

Signatures Describe(const engine::RuleSet& rules) {
  Signatures s;
  auto& top = s["setting"];
  top["applies_to"] = absl::StrJoin(rules.applies_to, ", ");
  top["objective_behavior"] =
      rules.objective_behavior >= 0 ? rules.column_id(rules.objective_behavior) : "";
  top["min_differentiation"] = absl::StrCat(rules.min_differentiation);
  top["assignment method"] = rules.typing_tool ? "typing_tool" : "decision table";
  top["refinement_reasons"] = absl::StrJoin(rules.refinement_reasons, ", ");
  top["tier metric"] = rules.tier_metric >= 0 ? rules.column_id(rules.tier_metric) : "";
  for (const engine::InputDef& in : rules.inputs) {
    s[in.is_question ? "question" : "metric"][in.id] =
        absl::StrCat(engine::InputTypeName(in.type), "|", in.text, "|", in.required, "|", in.min,
                     "|", in.max, "|", absl::StrJoin(in.options, ","));
  }
  auto linear = [&](const engine::LinearFunction& f) {
    std::string sig = absl::StrCat(f.intercept);
    for (const auto& [column, weight] : f.terms) {
      absl::StrAppend(&sig, "|", rules.column_id(column), "=", weight);
    }
    return sig;
  };
  for (const engine::LinearFunction& f : rules.scores) s["score"][f.id] = linear(f);
  for (size_t i = 0; i < rules.functions.size(); ++i) {
    s["typing-tool function"][rules.segments[rules.function_segments[i]].id] =
        linear(rules.functions[i]);
  }
  for (const engine::Segment& seg : rules.segments) {
    s["segment"][seg.id] =
        absl::StrCat(seg.name, "|", seg.message, "|", absl::StrJoin(seg.channels, ","));
  }
  auto table = [&](const char* kind, const engine::DecisionTable& t) {
    for (const engine::Rule& r : t.rules) {
      s[kind][r.id] =
          absl::StrCat(rules.segments[r.segment].id, " when ", engine::ConditionsText(rules, r));
    }
    s["setting"][absl::StrCat(kind, " default")] = rules.segments[t.default_segment].id;
    s["setting"][absl::StrCat(kind, " hit_policy")] = engine::HitPolicyName(t.hit_policy);
  };
  if (!rules.typing_tool) table("rule", rules.assignment);
  table("unprofiled rule", rules.unprofiled);
  for (size_t b = 0; b < rules.band_options.size(); ++b) {
    std::vector<std::string> bands;
    for (const engine::TierBand& band : rules.band_options[b]) {
      bands.push_back(absl::StrCat(rules.tiers[band.tier], ">=", band.min));
    }
    s["tier band option"][rules.band_option_names[b]] = absl::StrJoin(bands, ",");
  }
  for (size_t seg = 0; seg < rules.targets.size(); ++seg) {
    std::vector<std::string> cells;
    for (size_t t = 0; t < rules.targets[seg].size(); ++t) {
      const engine::Activity& a = rules.targets[seg][t];
      cells.push_back(
          absl::StrCat(rules.tiers[t], ":", a.calls, "/", a.remote, "/", a.email, "/", a.events));
    }
    s["targets of segment"][rules.segments[seg].id] = absl::StrJoin(cells, ",");
  }
  for (const engine::MenuEntry& m : rules.menu) {
    s["country option"][m.key] = absl::StrJoin(m.values, ", ");
  }
  for (const engine::TestCase& t : rules.tests) s["test case"][t.name] = "";
  return s;
}

std::vector<std::string> StructuralChanges(const engine::RuleSet& from, const engine::RuleSet& to) {
  const Signatures a = Describe(from), b = Describe(to);
  std::set<std::string> kinds;
  for (const auto& [kind, unused] : a) kinds.insert(kind);
  for (const auto& [kind, unused] : b) kinds.insert(kind);
  static const std::map<std::string, std::string> kEmpty;
  std::vector<std::string> changes;
  for (const std::string& kind : kinds) {
    const auto& x = a.count(kind) ? a.at(kind) : kEmpty;
    const auto& y = b.count(kind) ? b.at(kind) : kEmpty;
    for (const auto& [id, sig] : x) {
      auto it = y.find(id);
      if (it == y.end()) {
        changes.push_back(absl::StrCat(kind, " ", id, ": removed"));
      } else if (it->second != sig) {
        changes.push_back(kind == "setting" || kind == "country option" || kind == "rule" ||
                                  kind == "unprofiled rule"
                              ? absl::StrCat(kind, " ", id, ": ", sig.empty() ? "(none)" : sig,
                                             " → ", it->second.empty() ? "(none)" : it->second)
                              : absl::StrCat(kind, " ", id, ": changed"));
      }
    }
    for (const auto& [id, sig] : y) {
      if (!x.count(id)) changes.push_back(absl::StrCat(kind, " ", id, ": added"));
    }
  }
  return changes;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::string UnifiedDiff(const std::string& from_text, const std::string& to_text,
                        const std::string& from_name, const std::string& to_name) {
  std::vector<std::string> a = Lines(from_text), b = Lines(to_text);
  dtl::Diff<std::string> diff(a, b);
  diff.onHuge();
  diff.compose();
  diff.composeUnifiedHunks();
  if (diff.getUniHunks().empty()) return "";
  std::ostringstream out;
  out << "--- " << from_name << "\n+++ " << to_name << "\n";
  diff.printUnifiedFormat(out);
  return out.str();
}

}  // namespace

std::vector<Issue> IssuesOf(const absl::Status& status) {
  std::vector<Issue> out;
  absl::optional<absl::Cord> payload = status.GetPayload(kIssuesPayload);
  v1::IssueList list;
  if (!payload || !list.ParseFromString(std::string(*payload))) return out;
  for (const v1::Issue& i : list.issues()) out.push_back(IssueFromProto(i));
  return out;
}

absl::StatusOr<std::unique_ptr<RulesCore>> RulesCore::Create(const RulesCoreOptions& options) {
  HARMONIA_ASSIGN_OR_RETURN(std::unique_ptr<StorePool> pool,
                            StorePool::Create(options.store_url, options.store_connections));
  return std::unique_ptr<RulesCore>(new RulesCore(options, std::move(pool)));
}

RulesCore::RulesCore(const RulesCoreOptions& options, std::unique_ptr<StorePool> pool)
    : options_(options), pool_(std::move(pool)) {}

RulesCore::~RulesCore() { Shutdown(); }

void RulesCore::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    shutdown_ = true;
  }
  published_.notify_all();
}

absl::StatusOr<RulesCore::Validation> RulesCore::Validate(const auth::Principal& who,
                                                          const std::string& text,
                                                          const std::string& file) {
  HARMONIA_RETURN_IF_ERROR(Require(who, "validating rule sets", {Role::kGlobalOps}));
  engine::CompileResult compiled = engine::CompileRuleSet(text, file);
  Validation v;
  v.issues = std::move(compiled.issues);
  v.valid = compiled.rule_set != nullptr;
  if (compiled.rule_set) {
    v.therapy_area = compiled.rule_set->therapy_area;
    v.version = compiled.rule_set->version;
    v.tests_total = v.tests_passed = static_cast<int>(compiled.rule_set->tests.size());
    HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
    absl::StatusOr<std::optional<store::RuleSetRecord>> latest =
        db->GetRuleSet(v.therapy_area, std::nullopt);
    if (!latest.ok()) return latest.status();
    if (*latest) v.latest_published_version = (*latest)->version;
  }
  return v;
}

absl::StatusOr<RulesCore::Published> RulesCore::Publish(const auth::Principal& who,
                                                        const std::string& text,
                                                        const std::string& file) {
  HARMONIA_RETURN_IF_ERROR(Require(who, "publishing rule sets", {Role::kGlobalOps}));
  return Store(who, text, file);
}

absl::StatusOr<RulesCore::Published> RulesCore::Store(const auth::Principal& who,
                                                      const std::string& text,
                                                      const std::string& file,
                                                      int64_t rolled_back_from) {
  engine::CompileResult compiled = engine::CompileRuleSet(text, file);
  if (!compiled.rule_set) {
    const int errors = ErrorCount(compiled.issues);
    return WithIssues(absl::InvalidArgumentError(absl::StrCat("rule set ", file, ": ", errors,
                                                              errors == 1 ? " error" : " errors",
                                                              "; not published")),
                      compiled.issues);
  }
  const engine::RuleSet& rules = *compiled.rule_set;
  Published out;
  out.warnings = Warnings(compiled.issues);
  out.record = {rules.therapy_area, rules.version, text,
                Sha256Hex(text),    who.name,      absl::ToUnixSeconds(options_.now())};
  out.record.rolled_back_from = rolled_back_from;  // audited as rules.rollback
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  absl::Status s = db->PublishRuleSet(out.record);
  if (s.code() == absl::StatusCode::kFailedPrecondition) {
    // The same text again as the latest version: an idempotent retry.
    absl::StatusOr<std::optional<store::RuleSetRecord>> latest =
        db->GetRuleSet(rules.therapy_area, std::nullopt);
    if (latest.ok() && *latest && (*latest)->version == rules.version &&
        (*latest)->checksum == out.record.checksum) {
      out.record = std::move(**latest);
      out.record.source_text.clear();
      out.already_published = true;
      return out;
    }
  }
  if (!s.ok()) return s;
  out.record.source_text.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++publish_count_;
  }
  published_.notify_all();
  return out;
}

absl::StatusOr<RulesCore::Published> RulesCore::Rollback(const auth::Principal& who,
                                                         const std::string& therapy_area,
                                                         int64_t to_version, int64_t new_version) {
  HARMONIA_RETURN_IF_ERROR(Require(who, "rolling back rule sets", {Role::kGlobalOps}));
  std::string text;
  {
    HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
    absl::StatusOr<std::optional<store::RuleSetRecord>> old =
        db->GetRuleSet(therapy_area, to_version);
    if (!old.ok()) return old.status();
    if (!*old) {
      return absl::NotFoundError(
          absl::StrCat("rule set ", therapy_area, " v", to_version, ": not published"));
    }
    absl::StatusOr<std::optional<store::RuleSetRecord>> latest =
        db->GetRuleSet(therapy_area, std::nullopt);
    if (!latest.ok()) return latest.status();
    if (new_version == 0) new_version = (*latest)->version + 1;
    HARMONIA_ASSIGN_OR_RETURN(text, RewriteVersion((*old)->source_text, new_version));
  }
  return Store(who, text, absl::StrCat(therapy_area, " v", to_version, " as v", new_version),
               to_version);
}

absl::StatusOr<std::vector<store::AuditEntry>> RulesCore::ListAudit(
    const auth::Principal& who, const store::AuditQuery& query) {
  HARMONIA_RETURN_IF_ERROR(query.country.empty()
                               ? Require(who, "reading the whole audit log", {Role::kGlobalOps})
                               : Require(who, "reading the audit log",
                                         {Role::kGlobalOps, Role::kCountryOps}, query.country));
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  return db->ListAudit(query);
}

absl::StatusOr<store::RuleSetRecord> RulesCore::Get(const auth::Principal&,
                                                    const std::string& therapy_area,
                                                    int64_t version) {
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  absl::StatusOr<std::optional<store::RuleSetRecord>> r =
      db->GetRuleSet(therapy_area, version == 0 ? std::nullopt : std::optional<int64_t>(version));
  if (!r.ok()) return r.status();
  if (!*r) {
    return absl::NotFoundError(
        version == 0 ? absl::StrCat("rule set ", therapy_area, ": none published")
                     : absl::StrCat("rule set ", therapy_area, " v", version, ": not published"));
  }
  return std::move(**r);
}

absl::StatusOr<std::vector<store::RuleSetRecord>> RulesCore::List(const auth::Principal&,
                                                                  const std::string& therapy_area) {
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  return db->ListRuleSets(therapy_area);
}

absl::StatusOr<RulesCore::Diff> RulesCore::DiffVersions(const auth::Principal& who,
                                                        const std::string& therapy_area,
                                                        int64_t from_version, int64_t to_version) {
  HARMONIA_ASSIGN_OR_RETURN(store::RuleSetRecord from, Get(who, therapy_area, from_version));
  HARMONIA_ASSIGN_OR_RETURN(store::RuleSetRecord to, Get(who, therapy_area, to_version));
  const std::string from_name = absl::StrCat(therapy_area, " v", from.version);
  const std::string to_name = absl::StrCat(therapy_area, " v", to.version);
  engine::CompileResult a = engine::CompileRuleSet(from.source_text, from_name);
  engine::CompileResult b = engine::CompileRuleSet(to.source_text, to_name);
  Diff d;
  if (a.rule_set && b.rule_set) {
    d.changes = StructuralChanges(*a.rule_set, *b.rule_set);
  } else {
    d.changes.push_back("(a stored version no longer compiles: only the text is compared)");
  }
  d.unified_diff = UnifiedDiff(from.source_text, to.source_text, from_name, to_name);
  return d;
}

absl::Status RulesCore::CheckWatch(const auth::Principal& who) {
  return Require(who, "watching rule sets", {Role::kService, Role::kGlobalOps});
}

absl::StatusOr<std::vector<store::RuleSetRecord>> RulesCore::WaitForNewer(
    const std::vector<std::string>& therapy_areas, const std::map<std::string, int64_t>& known,
    absl::Time deadline) {
  for (;;) {
    int64_t seen;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shutdown_) return std::vector<store::RuleSetRecord>();
      seen = publish_count_;
    }
    std::vector<store::RuleSetRecord> newer;
    {
      HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
      absl::StatusOr<std::vector<store::RuleSetRecord>> all = db->ListRuleSets("");
      if (!all.ok()) return all.status();
      std::map<std::string, int64_t> latest;
      for (const store::RuleSetRecord& r : *all) latest[r.therapy_area] = r.version;
      for (const auto& [ta, version] : latest) {
        if (!therapy_areas.empty() &&
            std::find(therapy_areas.begin(), therapy_areas.end(), ta) == therapy_areas.end()) {
          continue;
        }
        auto k = known.find(ta);
        if (k != known.end() && k->second >= version) continue;
        absl::StatusOr<std::optional<store::RuleSetRecord>> r = db->GetRuleSet(ta, version);
        if (!r.ok()) return r.status();
        if (*r) newer.push_back(std::move(**r));
      }
    }
    if (!newer.empty()) return newer;
    const absl::Time now = options_.now();
    if (now >= deadline) return newer;
    std::unique_lock<std::mutex> lock(mu_);
    published_.wait_for(lock,
                        absl::ToChronoNanoseconds(std::min(deadline - now, options_.watch_poll)),
                        [&] { return shutdown_ || publish_count_ != seen; });
  }
}

absl::StatusOr<RulesCore::Preview> RulesCore::PreviewImpact(const auth::Principal& who,
                                                            const std::string& text,
                                                            const std::string& country,
                                                            std::optional<int32_t> as_of) {
  HARMONIA_RETURN_IF_ERROR(Require(who, "previewing rule sets", {Role::kGlobalOps}));
  engine::CompileResult compiled = engine::CompileRuleSet(text, "candidate");
  if (!compiled.rule_set) {
    return WithIssues(absl::InvalidArgumentError("candidate rule set has errors"), compiled.issues);
  }
  return PreviewCompiled(who, compiled, country, as_of);
}

absl::StatusOr<RulesCore::Preview> RulesCore::PreviewCompiled(const auth::Principal& who,
                                                              const engine::CompileResult& compiled,
                                                              const std::string& country,
                                                              std::optional<int32_t> as_of) {
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  std::vector<Issue> issues;
  absl::StatusOr<v1::ImpactPreview> run =
      report::PreviewImpact(*db,
                            {.candidate = compiled.rule_set,
                             .candidate_warnings = Warnings(compiled.issues),
                             .country = country,
                             .as_of = as_of,
                             .now_unix = absl::ToUnixSeconds(options_.now()),
                             .run_by = who.name},
                            &issues);
  if (!run.ok()) return WithIssues(run.status(), issues);
  // The transition matrix as this RPC has always given it: "" for a customer
  // not in the baseline cycle; customers who left scope are not counted.
  std::map<std::pair<std::string, std::string>, int64_t> counts;
  Preview p;
  for (const v1::ChurnCell& cell : run->quality().churn().cells()) {
    if (cell.to_segment() == "(left)") continue;
    const std::string from = cell.from_segment() == "(new)" ? "" : cell.from_segment();
    counts[{from, cell.to_segment()}] += cell.customers();
    if (from != cell.to_segment()) p.changed += cell.customers();
  }
  for (const auto& [key, n] : counts) p.transitions.push_back({key.first, key.second, n});
  p.preview = *std::move(run);
  return p;
}

absl::StatusOr<v1::Report> RulesCore::Report(const auth::Principal& who, const ReportQuery& query) {
  HARMONIA_RETURN_IF_ERROR(Require(who, "reading reports", {Role::kGlobalOps}));
  std::optional<Preview> preview;
  if (!query.candidate_text.empty()) {
    if (query.countries.size() != 1) {
      return absl::InvalidArgumentError("an impact preview needs exactly one country");
    }
    engine::CompileResult candidate = engine::CompileRuleSet(query.candidate_text, "candidate");
    if (!candidate.rule_set) {
      return WithIssues(absl::InvalidArgumentError("candidate rule set has errors"),
                        candidate.issues);
    }
    // The therapy area first, before a cycle's worth of work on the wrong one.
    if (!query.therapy_area.empty() && candidate.rule_set->therapy_area != query.therapy_area) {
      return absl::InvalidArgumentError(absl::StrCat("the candidate is a rule set of ",
                                                     candidate.rule_set->therapy_area, ", not ",
                                                     query.therapy_area));
    }
    HARMONIA_ASSIGN_OR_RETURN(preview,
                              PreviewCompiled(who, candidate, query.countries[0], query.as_of));
  }
  const std::string ta = preview ? preview->preview.therapy_area() : query.therapy_area;
  if (ta.empty()) return absl::InvalidArgumentError("therapy_area is required");
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  absl::StatusOr<v1::Report> built =
      report::BuildReport(*db, {.therapy_area = ta,
                                .countries = query.countries,
                                .history = query.history,
                                .now_unix = absl::ToUnixSeconds(options_.now())});
  if (!built.ok()) return built.status();
  if (preview) *built->mutable_preview() = std::move(preview->preview);
  return built;
}

}  // namespace harmonia::services
