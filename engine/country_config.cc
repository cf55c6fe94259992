#include "engine/country_config.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/cron.h"
#include "common/strings.h"
#include "common/yaml_fields.h"
#include "common/yaml_tree.h"

namespace harmonia::engine {

using harmonia::YamlNode;

namespace {

class CountryLoader : private FieldReader {
 public:
  CountryLoader(const std::string& file, const RuleSetLookup& lookup, bool unknown_ok)
      : FieldReader(file), lookup_(lookup), unknown_ok_(unknown_ok) {}

  CountryLoadResult Run(std::string_view text) {
    std::optional<YamlNode> root = LoadYaml(text, &issues_);
    if (root.has_value()) Load(*root);
    CountryLoadResult result;
    if (!issues_.has_errors()) result.config = std::move(config_);
    result.issues = issues_.Take();
    SortIssues(&result.issues);
    return result;
  }

 private:
  void Load(const YamlNode& root) {
    if (!root.is_map()) {
      Error(root, absl::StrCat("country file: expected a mapping, got ", DescribeKind(root)));
      return;
    }
    CheckKeys(root,
              {"country", "name", "timezone", "schedule", "data_sources", "max_input_age_days",
               "therapy_areas", "refinement"},
              "country file");
    if (const YamlNode* n = Required(root, "country", "country file")) {
      std::string cc;
      if (GetScalar(*n, "country", &cc)) {
        if (cc.size() != 2 ||
            !std::all_of(cc.begin(), cc.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
          Error(*n,
                absl::StrCat("country: ", Quoted(cc),
                             " is not an ISO 3166 alpha-2 code (two capital letters, e.g. DE)"));
        }
        config_.country = cc;
      }
    }
    if (const YamlNode* n = Required(root, "timezone", "country file")) {
      std::string tz;
      absl::TimeZone zone;
      if (GetScalar(*n, "timezone", &tz) && !absl::LoadTimeZone(tz, &zone)) {
        Error(*n, absl::StrCat("timezone: ", Quoted(tz),
                               " is not an IANA time zone known to this system (e.g. "
                               "Europe/Berlin)"));
      }
      config_.timezone = tz;
      config_.zone = zone;
    }
    if (const YamlNode* n = root.Find("schedule"); n && n->kind != YamlNode::Kind::kNull) {
      std::string expr;
      if (GetScalar(*n, "schedule", &expr)) {
        absl::StatusOr<CronSchedule> cron = CronSchedule::Parse(expr);
        if (!cron.ok()) {
          Error(*n, absl::StrCat("schedule: ", Quoted(expr), ": ",
                                 std::string(cron.status().message())));
        } else {
          config_.cron = std::move(*cron);
        }
        config_.schedule = expr;
      }
    }
    if (const YamlNode* n = Required(root, "data_sources", "country file")) LoadSources(*n);
    if (const YamlNode* n = root.Find("max_input_age_days")) {
      int64_t days = 0;
      if (GetIntInRange(*n, "max_input_age_days", 1, kMaxInputAgeDays, &days)) {
        config_.max_input_age_days = static_cast<int>(days);
      }
    }
    if (const YamlNode* n = root.Find("refinement")) LoadRefinement(*n);
    if (const YamlNode* n = Required(root, "therapy_areas", "country file")) {
      LoadTherapyAreas(*n);
    }
  }

  void LoadSources(const YamlNode& node) {
    if (!node.is_sequence()) {
      Error(node, "data_sources: expected a list, e.g. [rep, external, local]");
      return;
    }
    for (const YamlNode& item : node.items) {
      std::string name;
      if (!GetScalar(item, "data_sources", &name)) continue;
      std::optional<Source> source = ParseSource(name);
      if (!source) {
        Error(item, absl::StrCat("data_sources: unknown source ", Quoted(name),
                                 "; expected one of: rep, external, local"));
        continue;
      }
      if (std::find(config_.data_sources.begin(), config_.data_sources.end(), *source) !=
          config_.data_sources.end()) {
        Error(item, absl::StrCat("data_sources: ", Quoted(name), " listed twice"));
        continue;
      }
      config_.data_sources.push_back(*source);
    }
    if (config_.data_sources.empty() && !node.items.empty()) return;
    if (config_.data_sources.empty()) Error(node, "data_sources: list at least one source");
  }

  void LoadRefinement(const YamlNode& node) {
    if (!node.is_map()) {
      Error(node, "refinement: expected a mapping");
      return;
    }
    CheckKeys(node, {"window_days", "valid_cycles", "requires_approval", "quota_scope"},
              "refinement");
    int64_t v = 0;
    if (const YamlNode* n = node.Find("window_days");
        n && GetIntInRange(*n, "window_days", 0, 366, &v)) {
      config_.refinement.window_days = static_cast<int>(v);
    }
    if (const YamlNode* n = node.Find("valid_cycles");
        n && GetIntInRange(*n, "valid_cycles", 1, 100, &v)) {
      config_.refinement.valid_cycles = static_cast<int>(v);
    }
    if (const YamlNode* n = node.Find("requires_approval")) {
      std::string s;
      if (GetScalar(*n, "requires_approval", &s)) {
        if (s == "true" || s == "false") {
          config_.refinement.requires_approval = s == "true";
        } else {
          Error(*n, absl::StrCat("requires_approval: expected true or false, got ", Quoted(s)));
        }
      }
    }
    if (const YamlNode* n = node.Find("quota_scope")) {
      std::string s;
      if (GetScalar(*n, "quota_scope", &s)) {
        if (s == QuotaScopeName(QuotaScope::kCountry)) {
          config_.refinement.quota_scope = QuotaScope::kCountry;
        } else if (s == QuotaScopeName(QuotaScope::kTerritory)) {
          config_.refinement.quota_scope = QuotaScope::kTerritory;
        } else {
          Error(*n, absl::StrCat("quota_scope: unknown ", Quoted(s),
                                 "; expected one of: country, territory"));
        }
      }
    }
  }

  void LoadTherapyAreas(const YamlNode& node) {
    if (!node.is_map()) {
      Error(node, "therapy_areas: expected a mapping of therapy area → settings");
      return;
    }
    for (const auto& [key, value] : node.entries) {
      TherapyAreaConfig ta;
      if (!GetScalar(key, "therapy_areas", &ta.therapy_area)) continue;
      // The name also picks the rule-set file (<dir>/<therapy_area>.yaml).
      if (ta.therapy_area.empty() ||
          !std::all_of(ta.therapy_area.begin(), ta.therapy_area.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-';
          })) {
        Error(key, absl::StrCat("therapy_areas: ", Quoted(ta.therapy_area),
                                " is not a therapy area id (letters, digits, '_', '-')"));
        continue;
      }
      ta.line = key.line;
      const std::string what = absl::StrCat("therapy area ", Quoted(ta.therapy_area));
      if (config_.FindTherapyArea(ta.therapy_area) != nullptr) {
        Error(key, absl::StrCat(what, " listed twice"));
        continue;
      }
      const RuleSet* rules = lookup_ ? lookup_(ta.therapy_area) : nullptr;
      if (rules == nullptr && !unknown_ok_) {
        Error(key, absl::StrCat(what, ": no rule set found for it"));
      }
      if (value.kind != YamlNode::Kind::kNull && !value.is_map()) {
        Error(value, absl::StrCat(what, ": expected a mapping"));
        continue;
      }
      CheckKeys(value, {"rule_set_version", "options", "labels"}, what);
      if (const YamlNode* n = value.Find("rule_set_version")) {
        std::string s;
        if (GetScalar(*n, what + " rule_set_version", &s) && s != "latest") {
          int64_t v = 0;
          if (GetIntInRange(*n, what + " rule_set_version (or 'latest')", 1, INT32_MAX, &v)) {
            ta.pinned_version = v;
            ta.pin_line = n->line;
            ta.pin_column = n->column;
            if (rules != nullptr && v > rules->version) {
              Error(*n, absl::StrCat(what, " rule_set_version: v", v, " is not published (the ",
                                     "newest rule set is v", rules->version, ")"));
            }
          }
        }
      }
      if (const YamlNode* n = value.Find("options")) {
        if (!n->is_map()) {
          Error(*n, absl::StrCat(what, " options: expected a mapping"));
        } else {
          for (const auto& [okey, oval] : n->entries) {
            std::string v;
            if (!okey.is_scalar()) {
              Error(okey, absl::StrCat(what, " options: keys must be plain names"));
              continue;
            }
            if (!GetScalar(oval, absl::StrCat(what, " option ", okey.scalar), &v)) {
              continue;
            }
            if (ta.options.count(okey.scalar)) {
              Error(okey, absl::StrCat(what, ": option ", Quoted(okey.scalar), " given twice"));
              continue;
            }
            // Report an unknown key at the key, a bad value at the value.
            const std::string& option = okey.scalar;
            const bool known_key =
                rules && std::any_of(rules->menu.begin(), rules->menu.end(),
                                     [&](const MenuEntry& m) { return m.key == option; });
            const YamlNode& at = known_key ? oval : okey;
            ta.options[okey.scalar] = {v, at.line, at.column};
          }
        }
      }
      if (rules != nullptr) {
        Options resolved;
        ResolveOptions(*rules, ta.options, &issues_, &resolved);
      }
      if (const YamlNode* n = value.Find("labels")) {
        if (!n->is_map()) {
          Error(*n, absl::StrCat(what, " labels: expected a mapping of segment → label"));
        } else {
          for (const auto& [lkey, lval] : n->entries) {
            std::string label;
            if (!lkey.is_scalar()) {
              Error(lkey, absl::StrCat(what, " labels: keys must be segment ids"));
              continue;
            }
            if (!GetScalar(lval, absl::StrCat(what, " label"), &label)) continue;
            if (ta.labels.count(lkey.scalar)) {
              Error(lkey, absl::StrCat(what, " labels: ", Quoted(lkey.scalar), " given twice"));
              continue;
            }
            if (rules != nullptr && rules->FindSegment(lkey.scalar) < 0) {
              std::vector<std::string> ids;
              for (const Segment& s : rules->segments) ids.push_back(s.id);
              Error(lkey, absl::StrCat(what, " labels: unknown segment ", Quoted(lkey.scalar),
                                       "; expected one of: ", absl::StrJoin(ids, ", ")));
              continue;
            }
            ta.labels[lkey.scalar] = label;
          }
        }
      }
      config_.therapy_areas.push_back(std::move(ta));
    }
    if (node.entries.empty()) Error(node, "therapy_areas: configure at least one therapy area");
  }

  const RuleSetLookup& lookup_;
  bool unknown_ok_;
  CountryConfig config_;
};

}  // namespace

const char* QuotaScopeName(QuotaScope scope) {
  return scope == QuotaScope::kTerritory ? "territory" : "country";
}

const char* SourceName(Source source) {
  switch (source) {
    case Source::kRep:
      return "rep";
    case Source::kExternal:
      return "external";
    case Source::kLocal:
      return "local";
  }
  return "?";
}

std::optional<Source> ParseSource(std::string_view name) {
  if (name == "rep") return Source::kRep;
  if (name == "external") return Source::kExternal;
  if (name == "local") return Source::kLocal;
  return std::nullopt;
}

const TherapyAreaConfig* CountryConfig::FindTherapyArea(std::string_view ta) const {
  for (const TherapyAreaConfig& t : therapy_areas) {
    if (t.therapy_area == ta) return &t;
  }
  return nullptr;
}

int CountryConfig::SourceRank(Source source) const {
  for (size_t i = 0; i < data_sources.size(); ++i) {
    if (data_sources[i] == source) return static_cast<int>(i);
  }
  return -1;
}

CountryLoadResult LoadCountryConfig(std::string_view text, const std::string& file,
                                    const RuleSetLookup& lookup, bool unknown_therapy_areas_ok) {
  return CountryLoader(file, lookup, unknown_therapy_areas_ok).Run(text);
}

namespace {

absl::Time StartOfDay(int32_t day, absl::TimeZone zone) {
  return absl::FromCivil(absl::CivilDay(1970, 1, 1) + day, zone);
}

int32_t DayOf(absl::Time t, absl::TimeZone zone) {
  return static_cast<int32_t>(absl::ToCivilDay(t, zone) - absl::CivilDay(1970, 1, 1));
}

}  // namespace

int32_t TodayIn(const CountryConfig& country, absl::Time now) { return DayOf(now, country.zone); }

int32_t CyclePeriodOf(const CountryConfig& country, int32_t as_of) {
  if (!country.cron) return as_of;  // no schedule: every cycle date is its own period
  // The last firing whose date is on or before as_of: look back over growing
  // spans (a minute's cron finds one within a day, a yearly one within a year).
  const absl::Time end = StartOfDay(as_of + 1, country.zone);
  for (const int days : {1, 8, 32, 367, 3700, kMaxInputAgeDays}) {
    absl::Time t = country.cron->Next(end - absl::Hours(24) * days, country.zone);
    if (t >= end) continue;
    for (absl::Time next; (next = country.cron->Next(t, country.zone)) < end;) t = next;
    return DayOf(t, country.zone);
  }
  return as_of;  // a schedule that never fired in a hundred years: the date itself
}

std::map<std::string, std::string> SegmentLabels(const RuleSet& rules,
                                                 const TherapyAreaConfig* ta) {
  std::map<std::string, std::string> labels;
  for (const Segment& s : rules.segments) labels[s.id] = s.name;
  if (ta != nullptr) {
    for (const auto& [segment, label] : ta->labels) labels[segment] = label;
  }
  return labels;
}

bool RefinementWindowOpen(const CountryConfig& country, int32_t today) {
  if (!country.cron) return true;
  return today - CyclePeriodOf(country, today) < country.refinement.window_days;
}

int64_t CyclePeriodsBetween(const CountryConfig& country, int32_t from, int32_t to) {
  if (to <= from) return 0;
  if (!country.cron) return -1;
  int64_t n = 0;
  int32_t last = from;
  // Each firing date after `from` up to `to` starts one more period.
  // (Next gives firings strictly after its argument: start a second before
  // the day after `from`, so a firing at its midnight counts.)
  for (absl::Time t =
           country.cron->Next(StartOfDay(from + 1, country.zone) - absl::Seconds(1), country.zone);
       t < StartOfDay(to + 1, country.zone); t = country.cron->Next(t, country.zone)) {
    const int32_t day = DayOf(t, country.zone);
    if (day != last) {
      ++n;
      last = day;
    }
  }
  return n;
}

}  // namespace harmonia::engine
