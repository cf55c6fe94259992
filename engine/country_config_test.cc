#include "engine/country_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/date.h"

namespace harmonia::engine {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Render(const std::vector<Issue>& issues) {
  std::string out;
  for (const Issue& i : issues) out += FormatIssue(i) + "\n";
  return out;
}

class CountryConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* ta : {"oncology", "diabetes", "immunology"}) {
      const std::string path = std::string(HARMONIA_SOURCE_DIR) + "/rules/" + ta + ".yaml";
      CompileResult r = CompileRuleSet(ReadAll(path), path);
      ASSERT_NE(r.rule_set, nullptr) << Render(r.issues);
      rules_[ta] = r.rule_set;
    }
  }
  RuleSetLookup Lookup() {
    return [this](const std::string& ta) -> const RuleSet* {
      auto it = rules_.find(ta);
      return it == rules_.end() ? nullptr : it->second.get();
    };
  }
  std::map<std::string, std::shared_ptr<const RuleSet>> rules_;
};

TEST_F(CountryConfigTest, ShippedCountriesAreValid) {
  int count = 0;
  for (const char* cc : {"DE", "FR", "US", "JP", "ES", "SE", "BR"}) {
    const std::string path = std::string(HARMONIA_SOURCE_DIR) + "/countries/" + cc + ".yaml";
    CountryLoadResult r = LoadCountryConfig(ReadAll(path), path, Lookup());
    EXPECT_TRUE(r.config.has_value()) << Render(r.issues);
    EXPECT_EQ(Render(r.issues), "");
    if (r.config) {
      EXPECT_EQ(r.config->country, cc);
      ++count;
    }
  }
  EXPECT_EQ(count, 7);
}

TEST_F(CountryConfigTest, ReadsEveryField) {
  const std::string path = std::string(HARMONIA_SOURCE_DIR) + "/countries/DE.yaml";
  CountryLoadResult r = LoadCountryConfig(ReadAll(path), path, Lookup());
  ASSERT_TRUE(r.config.has_value());
  const CountryConfig& c = *r.config;
  EXPECT_EQ(c.timezone, "Europe/Berlin");
  EXPECT_EQ(c.schedule, "0 2 1 */3 *");
  ASSERT_EQ(c.data_sources.size(), 3u);
  EXPECT_EQ(c.SourceRank(Source::kRep), 0);
  EXPECT_EQ(c.SourceRank(Source::kLocal), 2);
  EXPECT_EQ(c.max_input_age_days, 540);
  EXPECT_EQ(c.refinement.window_days, 20);
  EXPECT_EQ(c.refinement.valid_cycles, 2);
  const TherapyAreaConfig* onc = c.FindTherapyArea("oncology");
  ASSERT_NE(onc, nullptr);
  EXPECT_FALSE(onc->pinned_version.has_value());
  EXPECT_EQ(onc->labels.at("early_adopter"), "Früher Anwender");
  EXPECT_EQ(c.FindTherapyArea("immunology")->pinned_version, 1);
}

TEST_F(CountryConfigTest, EveryMistakeIsReportedWithPositionAndAllowedValues) {
  const char* text = R"(country: Germany
timezone: Europe/Berlinn
schedule: "0 25 * * *"
data_sources: [rep, crm, rep]
max_input_age_days: -5
colour: blue
therapy_areas:
  oncology:
    rule_set_version: newest
    options: {tier_bands: wide, target_scale: 1, speed: fast}
    labels: {early_adopter: "Früh", hero: "Held"}
  cardiology: {}
refinement:
  window_days: 20
  valid_cycle: 2
  quota_scope: region
)";
  CountryLoadResult r = LoadCountryConfig(text, "XX.yaml", Lookup());
  EXPECT_FALSE(r.config.has_value());
  EXPECT_EQ(Render(r.issues),
            "XX.yaml:1:10: error: country: 'Germany' is not an ISO 3166 alpha-2 code (two capital "
            "letters, e.g. DE)\n"
            "XX.yaml:2:11: error: timezone: 'Europe/Berlinn' is not an IANA time zone known to "
            "this system (e.g. Europe/Berlin)\n"
            "XX.yaml:3:11: error: schedule: '0 25 * * *': field 'hour': value 25 outside 0-23 "
            "(at character 3)\n"
            "XX.yaml:4:21: error: data_sources: unknown source 'crm'; expected one of: rep, "
            "external, local\n"
            "XX.yaml:4:26: error: data_sources: 'rep' listed twice\n"
            "XX.yaml:5:21: error: max_input_age_days: expected a whole number from 1 to 36500, "
            "got '-5'\n"
            "XX.yaml:6:1: error: unknown key 'colour' in country file; expected one of: country, "
            "name, timezone, schedule, data_sources, max_input_age_days, therapy_areas, "
            "refinement\n"
            "XX.yaml:9:23: error: therapy area 'oncology' rule_set_version (or 'latest'): "
            "expected a whole number from 1 to 2147483647, got 'newest'\n"
            "XX.yaml:10:27: error: option 'tier_bands': 'wide' is not on the menu; allowed "
            "values: standard, broad, narrow\n"
            "XX.yaml:10:50: error: option 'speed' is not offered by rule set oncology v3; "
            "offered: tier_bands, target_scale, process, max_refinement_share, pull_through, "
            "channel_preference\n"
            "XX.yaml:11:38: error: therapy area 'oncology' labels: unknown segment 'hero'; "
            "expected one of: early_adopter, evidence_seeker, pragmatist, cost_conscious, "
            "conservative, unprofiled\n"
            "XX.yaml:12:3: error: therapy area 'cardiology': no rule set found for it\n"
            "XX.yaml:15:3: error: unknown key 'valid_cycle' in refinement; expected one of: "
            "window_days, valid_cycles, requires_approval, quota_scope\n"
            "XX.yaml:16:16: error: quota_scope: unknown 'region'; expected one of: country, "
            "territory\n");
}

TEST_F(CountryConfigTest, EmptyAndHostileDocumentsAreErrors) {
  for (const char* text : {"", ",", "~", "null", "[1, 2]"}) {
    CountryLoadResult r = LoadCountryConfig(text, "X.yaml", Lookup());
    EXPECT_FALSE(r.config.has_value()) << text;
    EXPECT_FALSE(r.issues.empty()) << text;
  }
}

// A cycle belongs to the period its date falls in: from the schedule's last
// firing on or before that date (in the country's zone) to the next.
TEST(CyclePeriods, APeriodStartsAtTheLastFiringOnOrBeforeTheCycleDate) {
  auto country = [](const std::string& schedule) {
    CountryConfig c;
    c.timezone = "Europe/Berlin";
    EXPECT_TRUE(absl::LoadTimeZone(c.timezone, &c.zone));
    if (!schedule.empty()) c.cron = *CronSchedule::Parse(schedule);
    return c;
  };
  auto day = [](const char* iso) { return *ParseIsoDate(iso); };
  auto iso = [](int32_t d) { return FormatIsoDate(d); };
  const CountryConfig quarterly = country("0 2 1 */3 *");  // Jan, Apr, Jul, Oct 1st, 02:00
  EXPECT_EQ(iso(CyclePeriodOf(quarterly, day("2026-11-01"))), "2026-10-01");
  EXPECT_EQ(iso(CyclePeriodOf(quarterly, day("2026-10-01"))), "2026-10-01") << "the firing day";
  EXPECT_EQ(iso(CyclePeriodOf(quarterly, day("2026-09-30"))), "2026-07-01");
  EXPECT_EQ(iso(CyclePeriodOf(quarterly, day("2027-01-05"))), "2027-01-01");
  EXPECT_EQ(CyclePeriodsBetween(quarterly, day("2026-10-01"), day("2026-10-01")), 0);
  EXPECT_EQ(CyclePeriodsBetween(quarterly, day("2026-10-01"), day("2027-01-01")), 1);
  EXPECT_EQ(CyclePeriodsBetween(quarterly, day("2026-07-01"), day("2027-04-01")), 3)
      << "periods without a cycle count too";
  // Refinements are taken in the first window_days of a period (day 1 = its start).
  CountryConfig windowed = quarterly;
  windowed.refinement.window_days = 20;
  EXPECT_TRUE(RefinementWindowOpen(windowed, day("2026-10-01")));
  EXPECT_TRUE(RefinementWindowOpen(windowed, day("2026-10-20")));
  EXPECT_FALSE(RefinementWindowOpen(windowed, day("2026-10-21")));
  EXPECT_FALSE(RefinementWindowOpen(windowed, day("2026-12-31")));
  EXPECT_TRUE(RefinementWindowOpen(windowed, day("2027-01-01")));
  windowed.refinement.window_days = 0;
  EXPECT_FALSE(RefinementWindowOpen(windowed, day("2026-10-01"))) << "0: never";
  const CountryConfig weekly = country("30 1 * * 1");  // Mondays 01:30, across the DST change
  EXPECT_EQ(iso(CyclePeriodOf(weekly, day("2026-10-28"))), "2026-10-26");
  EXPECT_EQ(CyclePeriodsBetween(weekly, day("2026-10-19"), day("2026-11-02")), 2);
  const CountryConfig every_minute = country("* * * * *");
  EXPECT_EQ(iso(CyclePeriodOf(every_minute, day("2026-11-01"))), "2026-11-01");
  // No schedule: each cycle date is its own period; the count is the caller's.
  const CountryConfig on_demand = country("");
  EXPECT_TRUE(RefinementWindowOpen(on_demand, day("2026-11-01")));
  EXPECT_EQ(iso(CyclePeriodOf(on_demand, day("2026-11-17"))), "2026-11-17");
  EXPECT_EQ(CyclePeriodsBetween(on_demand, day("2026-11-17"), day("2026-11-18")), -1);
  EXPECT_EQ(CyclePeriodsBetween(on_demand, day("2026-11-17"), day("2026-11-17")), 0);
}

}  // namespace
}  // namespace harmonia::engine
