// A country's configuration (docs/country-options.md): time zone, schedule, data sources
// and their precedence, input age limit, and per therapy area the rule-set pin,
// the options chosen from the rule set's menu and local segment labels.
//
// Loading validates the file against the rule sets it names; every problem is
// an Issue with file:line:column. A CountryConfig is a plain value.
#ifndef HARMONIA_ENGINE_COUNTRY_CONFIG_H_
#define HARMONIA_ENGINE_COUNTRY_CONFIG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "common/cron.h"
#include "common/issue.h"
#include "engine/rule_set.h"

namespace harmonia::engine {

// Where an input value came from. Stored by name; free to renumber.
enum class Source : uint8_t { kRep, kExternal, kLocal };
inline constexpr int kNumSources = 3;
const char* SourceName(Source source);
std::optional<Source> ParseSource(std::string_view name);

struct TherapyAreaConfig {
  std::string therapy_area;
  std::optional<int64_t> pinned_version;       // nullopt = latest
  std::map<std::string, OptionValue> options;  // chosen from the menu
  std::map<std::string, std::string> labels;   // segment id → local label
  int line = 0;
  int pin_line = 0, pin_column = 0;  // where rule_set_version is written (0 = not)
};

// The label shown for each segment of `rules`: the country's (`ta`'s
// labels), else the segment's name in the rule set. `ta` may be null.
std::map<std::string, std::string> SegmentLabels(const RuleSet& rules, const TherapyAreaConfig* ta);

// Whose quota a refinement counts against (docs/country-options.md
// "Refinement policy"): the country's, or its customer's territory's.
enum class QuotaScope { kCountry, kTerritory };
// "country" or "territory", as the country file writes it.
const char* QuotaScopeName(QuotaScope scope);

struct RefinementPolicy {
  int window_days = 30;  // refinements accepted in the first N days of a cycle period
  int valid_cycles = 1;  // a refinement is applied in this many cycles
  bool requires_approval = false;
  QuotaScope quota_scope = QuotaScope::kCountry;
};

// The largest max_input_age_days a country file may set (100 years).
inline constexpr int kMaxInputAgeDays = 36500;

struct CountryConfig {
  std::string country;               // ISO 3166 alpha-2, upper case
  std::string timezone;              // IANA name, checked against the system zoneinfo
  absl::TimeZone zone;               // `timezone`, loaded
  std::string schedule;              // cron expression; empty = manual cycles only
  std::optional<CronSchedule> cron;  // `schedule`, parsed (nullopt = none)
  std::vector<Source> data_sources;  // precedence order
  int max_input_age_days = 365;      // 1 to kMaxInputAgeDays
  std::vector<TherapyAreaConfig> therapy_areas;
  RefinementPolicy refinement;

  const TherapyAreaConfig* FindTherapyArea(std::string_view ta) const;
  // Precedence rank of a source (0 = first listed), or -1 when not used.
  int SourceRank(Source source) const;
};

// Cycle periods (docs/country-options.md "Cycle periods"): the span between
// two firings of the country's schedule; a cycle belongs to the period its
// date falls in. CyclePeriodOf gives the period's first day (the date of the
// schedule's last firing on or before `as_of`, in the country's zone); for a
// country without a schedule, each cycle date is its own period.
int32_t CyclePeriodOf(const CountryConfig& country, int32_t as_of);
// How many periods the period starting `to` lies after the one starting
// `from` (0 = the same). A country without a schedule has no calendar of
// periods: -1 (the caller counts the cycle dates it has seen instead).
int64_t CyclePeriodsBetween(const CountryConfig& country, int32_t from, int32_t to);
// Whether field refinements are taken on `today` (docs/country-options.md
// "Refinement policy"): in the first `window_days` days of its cycle period,
// the period's first day counting as day 1. Always for a country without a
// schedule (its periods start only when a cycle runs).
bool RefinementWindowOpen(const CountryConfig& country, int32_t today);
// The date (days since 1970-01-01) at `now` in the country's time zone: the
// default cycle date.
int32_t TodayIn(const CountryConfig& country, absl::Time now);

// Finds the rule set a country's therapy area refers to; nullptr = none known.
using RuleSetLookup = std::function<const RuleSet*(const std::string& therapy_area)>;

struct CountryLoadResult {
  std::optional<CountryConfig> config;  // nullopt when there is any error
  std::vector<Issue> issues;
};

// Parses and validates a country file. Options and labels are checked against
// the rule set `lookup` returns for each therapy area. A therapy area without
// a rule set is an error unless `unknown_therapy_areas_ok` (then only its shape
// is checked), for tools that look at one therapy area.
CountryLoadResult LoadCountryConfig(std::string_view text, const std::string& file,
                                    const RuleSetLookup& lookup,
                                    bool unknown_therapy_areas_ok = false);

}  // namespace harmonia::engine

#endif  // HARMONIA_ENGINE_COUNTRY_CONFIG_H_
