#include "common/cron.h"

#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "gtest/gtest.h"

namespace harmonia {
namespace {

absl::TimeZone Zone(const std::string& name) {
  absl::TimeZone zone;
  EXPECT_TRUE(absl::LoadTimeZone(name, &zone)) << name << " (is tzdata installed?)";
  return zone;
}

absl::Time Rfc3339(const std::string& text) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, text, &t, &error)) << text << ": " << error;
  return t;
}

std::string Format(absl::Time t, absl::TimeZone zone) {
  if (t == absl::InfiniteFuture()) return "never";
  return absl::FormatTime("%Y-%m-%d %H:%M %Ez", t, zone);
}

struct NextCase {
  std::string zone;
  std::string expression;
  std::string after;               // RFC 3339
  std::vector<std::string> fires;  // successive Next() results, in `zone`
};

// Follows Next() from `after`, checking each result is strictly later.
void CheckFires(const NextCase& c) {
  SCOPED_TRACE(c.zone + " '" + c.expression + "' after " + c.after);
  const absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse(c.expression);
  ASSERT_TRUE(schedule.ok()) << schedule.status();
  const absl::TimeZone zone = Zone(c.zone);
  absl::Time t = Rfc3339(c.after);
  std::vector<std::string> fires;
  for (size_t i = 0; i < c.fires.size(); ++i) {
    const absl::Time next = schedule->Next(t, zone);
    EXPECT_GT(next, t);
    fires.push_back(Format(next, zone));
    t = next;
  }
  EXPECT_EQ(fires, c.fires);
}

TEST(CronTest, ParsesEveryForm) {
  const std::vector<NextCase> cases = {
      {"UTC",
       "* * * * *",
       "2026-01-01T00:00:00Z",
       {"2026-01-01 00:01 +00:00", "2026-01-01 00:02 +00:00"}},
      // Strictly after, on whole minutes.
      {"UTC", "* * * * *", "2026-01-01T00:00:30Z", {"2026-01-01 00:01 +00:00"}},
      {"UTC",
       "*/15 * * * *",
       "2026-01-01T00:00:00Z",
       {"2026-01-01 00:15 +00:00", "2026-01-01 00:30 +00:00", "2026-01-01 00:45 +00:00",
        "2026-01-01 01:00 +00:00"}},
      {"UTC",
       "5,10-12 * * * *",
       "2026-01-01T00:00:00Z",
       {"2026-01-01 00:05 +00:00", "2026-01-01 00:10 +00:00", "2026-01-01 00:11 +00:00",
        "2026-01-01 00:12 +00:00", "2026-01-01 01:05 +00:00"}},
      {"UTC",
       "0-30/10 9 * * *",
       "2026-01-01T09:00:00Z",
       {"2026-01-01 09:10 +00:00", "2026-01-01 09:20 +00:00", "2026-01-01 09:30 +00:00",
        "2026-01-02 09:00 +00:00"}},
      {"UTC",
       "0 22-23/1,1 * * *",
       "2026-01-01T00:00:00Z",
       {"2026-01-01 01:00 +00:00", "2026-01-01 22:00 +00:00", "2026-01-01 23:00 +00:00"}},
      {"UTC",
       "0 0 1 jan,JUL *",
       "2026-01-01T00:00:00Z",
       {"2026-07-01 00:00 +00:00", "2027-01-01 00:00 +00:00"}},
      {"UTC",
       "0 0 1 Mar-May/2 *",
       "2026-01-01T00:00:00Z",
       {"2026-03-01 00:00 +00:00", "2026-05-01 00:00 +00:00", "2027-03-01 00:00 +00:00"}},
      {"UTC",
       "0 12 * * mon-fri",
       "2026-01-02T00:00:00Z",  // a Friday
       {"2026-01-02 12:00 +00:00", "2026-01-05 12:00 +00:00", "2026-01-06 12:00 +00:00"}},
      {"UTC",
       "0 0 * JAN Mon",
       "2026-01-01T00:00:00Z",
       {"2026-01-05 00:00 +00:00", "2026-01-12 00:00 +00:00"}},
      // Sunday is 0, 7 or sun.
      {"UTC",
       "0 0 * * 0",
       "2026-01-01T00:00:00Z",
       {"2026-01-04 00:00 +00:00", "2026-01-11 00:00 +00:00"}},
      {"UTC",
       "0 0 * * 7",
       "2026-01-01T00:00:00Z",
       {"2026-01-04 00:00 +00:00", "2026-01-11 00:00 +00:00"}},
      {"UTC", "0 0 * * SUN", "2026-01-01T00:00:00Z", {"2026-01-04 00:00 +00:00"}},
      {"UTC",
       "0 0 * * 5-7",
       "2026-01-01T00:00:00Z",
       {"2026-01-02 00:00 +00:00", "2026-01-03 00:00 +00:00", "2026-01-04 00:00 +00:00",
        "2026-01-09 00:00 +00:00"}},
      // Spaces and tabs separate fields.
      {"UTC", " 0\t0  * *\t* ", "2026-01-01T00:00:00Z", {"2026-01-02 00:00 +00:00"}},
  };
  for (const NextCase& c : cases) CheckFires(c);
}

TEST(CronTest, CrossesMonthAndYearEnds) {
  const std::vector<NextCase> cases = {
      {"UTC",
       "0 0 31 * *",
       "2026-01-31T00:00:00Z",
       {"2026-03-31 00:00 +00:00", "2026-05-31 00:00 +00:00", "2026-07-31 00:00 +00:00",
        "2026-08-31 00:00 +00:00"}},
      {"UTC",
       "0 0 1 * *",
       "2026-12-15T00:00:00Z",
       {"2027-01-01 00:00 +00:00", "2027-02-01 00:00 +00:00"}},
      {"UTC",
       "59 23 31 12 *",
       "2026-06-01T00:00:00Z",
       {"2026-12-31 23:59 +00:00", "2027-12-31 23:59 +00:00"}},
      {"UTC",
       "*/20 * * * *",
       "2026-12-31T23:30:00Z",
       {"2026-12-31 23:40 +00:00", "2027-01-01 00:00 +00:00"}},
      // Leap days, 2100 not being a leap year.
      {"UTC",
       "0 0 29 2 *",
       "2023-03-01T00:00:00Z",
       {"2024-02-29 00:00 +00:00", "2028-02-29 00:00 +00:00"}},
      {"UTC", "0 0 29 2 *", "2096-03-01T00:00:00Z", {"2104-02-29 00:00 +00:00"}},
      // Feb 29 on a Sunday ("*/7" starts with '*', so both must match): 39 years.
      {"UTC", "0 0 29 2 */7", "2089-01-01T00:00:00Z", {"2128-02-29 00:00 +00:00"}},
  };
  for (const NextCase& c : cases) CheckFires(c);
}

TEST(CronTest, DayOfMonthAndDayOfWeek) {
  const std::vector<NextCase> cases = {
      // Both restricted: either matches (the 1st, or a Monday).
      {"UTC",
       "0 0 1 * 1",
       "2026-02-01T00:00:00Z",
       {"2026-02-02 00:00 +00:00", "2026-02-09 00:00 +00:00", "2026-02-16 00:00 +00:00",
        "2026-02-23 00:00 +00:00", "2026-03-01 00:00 +00:00", "2026-03-02 00:00 +00:00"}},
      {"UTC",
       "0 0 13 * fri",
       "2026-02-10T00:00:00Z",
       {"2026-02-13 00:00 +00:00", "2026-02-20 00:00 +00:00", "2026-02-27 00:00 +00:00"}},
      // Only one restricted: it alone decides.
      {"UTC",
       "0 0 15 * *",
       "2026-01-01T00:00:00Z",
       {"2026-01-15 00:00 +00:00", "2026-02-15 00:00 +00:00"}},
      {"UTC",
       "0 0 * * 1",
       "2026-01-01T00:00:00Z",
       {"2026-01-05 00:00 +00:00", "2026-01-12 00:00 +00:00"}},
      // As in Vixie cron, a field starting with '*' is not "restricted", so both
      // must match: odd days that are Mondays, or the first Sunday of a month.
      {"UTC",
       "0 0 */2 * 1",
       "2026-02-01T00:00:00Z",
       {"2026-02-09 00:00 +00:00", "2026-02-23 00:00 +00:00", "2026-03-09 00:00 +00:00"}},
      {"UTC",
       "0 0 1-7 * */7",
       "2026-01-01T00:00:00Z",
       {"2026-01-04 00:00 +00:00", "2026-02-01 00:00 +00:00", "2026-03-01 00:00 +00:00"}},
  };
  for (const NextCase& c : cases) CheckFires(c);
}

TEST(CronTest, DaylightSavingTime) {
  const std::vector<NextCase> cases = {
      // Berlin springs forward 02:00 -> 03:00 on 2026-03-29: 02:30 does not exist
      // and fires at 03:00, the first instant after the gap.
      {"Europe/Berlin",
       "30 2 * * *",
       "2026-03-29T00:00:00+01:00",
       {"2026-03-29 03:00 +02:00", "2026-03-30 02:30 +02:00"}},
      // 02:00, 02:30 and 03:00 all fire at 03:00: once.
      {"Europe/Berlin",
       "*/30 * * * *",
       "2026-03-29T01:00:00+01:00",
       {"2026-03-29 01:30 +01:00", "2026-03-29 03:00 +02:00", "2026-03-29 03:30 +02:00"}},
      // Berlin falls back 03:00 -> 02:00 on 2026-10-25: 02:30 happens twice and
      // fires at the first.
      {"Europe/Berlin",
       "30 2 * * *",
       "2026-10-25T00:00:00+02:00",
       {"2026-10-25 02:30 +02:00", "2026-10-26 02:30 +01:00"}},
      {"Europe/Berlin", "30 2 * * *", "2026-10-25T02:45:00+02:00", {"2026-10-26 02:30 +01:00"}},
      {"Europe/Berlin", "30 2 * * *", "2026-10-25T02:10:00+01:00", {"2026-10-26 02:30 +01:00"}},
      {"Europe/Berlin",
       "*/30 * * * *",
       "2026-10-25T01:45:00+02:00",
       {"2026-10-25 02:00 +02:00", "2026-10-25 02:30 +02:00", "2026-10-25 03:00 +01:00",
        "2026-10-25 03:30 +01:00"}},
      {"Europe/Berlin",
       "0 3 * * *",
       "2026-10-25T00:00:00+02:00",
       {"2026-10-25 03:00 +01:00", "2026-10-26 03:00 +01:00"}},
      // New York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
      {"America/New_York",
       "30 2 * * *",
       "2026-03-08T00:00:00-05:00",
       {"2026-03-08 03:00 -04:00", "2026-03-09 02:30 -04:00"}},
      {"America/New_York",
       "30 1 * * *",
       "2026-11-01T00:00:00-04:00",
       {"2026-11-01 01:30 -04:00", "2026-11-02 01:30 -05:00"}},
      {"America/New_York",
       "*/20 1 * * *",
       "2026-11-01T00:59:00-04:00",
       {"2026-11-01 01:00 -04:00", "2026-11-01 01:20 -04:00", "2026-11-01 01:40 -04:00",
        "2026-11-02 01:00 -05:00"}},
  };
  for (const NextCase& c : cases) CheckFires(c);
}

TEST(CronTest, FiresOncePerWallTimeThroughAYearOfTransitions) {
  const absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse("*/30 * * * *");
  ASSERT_TRUE(schedule.ok());
  for (const std::string name : {"Europe/Berlin", "America/New_York"}) {
    const absl::TimeZone zone = Zone(name);
    absl::Time t = absl::FromCivil(absl::CivilSecond(2026, 1, 1), zone);
    const absl::Time end = absl::FromCivil(absl::CivilSecond(2027, 1, 1), zone);
    int fires = 0;
    for (absl::Time next = schedule->Next(t, zone); next < end; next = schedule->Next(t, zone)) {
      ASSERT_GT(next, t);
      t = next;
      ++fires;
    }
    // 2026-01-01 00:30 .. 2026-12-31 23:30, with the 2 skipped wall times of
    // spring merged into the next and the repeated ones of autumn fired once.
    EXPECT_EQ(fires, 365 * 48 - 1 - 2) << name;
  }
}

TEST(CronTest, ImpossibleSchedulesNeverFire) {
  const absl::Time after = Rfc3339("2026-01-01T00:00:00Z");
  for (const std::string expression : {"0 0 30 2 *", "0 0 31 2,4,6,9,11 *", "0 0 31 4 */2"}) {
    const absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse(expression);
    ASSERT_TRUE(schedule.ok()) << expression;
    EXPECT_EQ(schedule->Next(after, absl::UTCTimeZone()), absl::InfiniteFuture()) << expression;
  }
  // With a weekday too, either matches: Mondays in February.
  CheckFires({"UTC", "0 0 30 2 mon", "2026-03-01T00:00:00Z", {"2027-02-01 00:00 +00:00"}});
}

TEST(CronTest, InfiniteFutureStays) {
  const absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse("* * * * *");
  ASSERT_TRUE(schedule.ok());
  EXPECT_EQ(schedule->Next(absl::InfiniteFuture(), absl::UTCTimeZone()), absl::InfiniteFuture());
  EXPECT_LT(schedule->Next(absl::InfinitePast(), absl::UTCTimeZone()), absl::UnixEpoch());
}

TEST(CronTest, KeepsTheExpression) {
  const absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse(" 0 6 * * mon ");
  ASSERT_TRUE(schedule.ok());
  EXPECT_EQ(schedule->expression(), " 0 6 * * mon ");
}

TEST(CronTest, RejectsMistakes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 4"},
      {"", "expected 5 fields (minute hour day-of-month month day-of-week), got 0"},
      {"* * * * * *", "expected 5 fields (minute hour day-of-month month day-of-week), got 6"},
      {"0 25 * * *", "field 'hour': value 25 outside 0-23 (at character 3)"},
      {"  0  25 * * *", "field 'hour': value 25 outside 0-23 (at character 6)"},
      {"60 * * * *", "field 'minute': value 60 outside 0-59 (at character 1)"},
      {"99999999999 * * * *", "field 'minute': value 99999999999 outside 0-59 (at character 1)"},
      {"* * 0 * *", "field 'day-of-month': value 0 outside 1-31 (at character 5)"},
      {"* * 1,32 * *", "field 'day-of-month': value 32 outside 1-31 (at character 7)"},
      {"* * * 13 *", "field 'month': value 13 outside 1-12 (at character 7)"},
      {"* * * * 8", "field 'day-of-week': value 8 outside 0-7 (at character 9)"},
      {"* * * foo *",
       "field 'month': unknown name 'foo', expected a number 1-12 or a name jan-dec (at "
       "character 7)"},
      {"* * * * funday",
       "field 'day-of-week': unknown name 'funday', expected a number 0-7 or a name sun-sat (at "
       "character 9)"},
      {"mon * * * *", "field 'minute': expected a number 0-59 (at character 1)"},
      {"1,,2 * * * *", "field 'minute': expected a number 0-59 (at character 3)"},
      {"1, * * * *", "field 'minute': expected a number 0-59 (at character 3)"},
      {"1- * * * *", "field 'minute': expected a number 0-59 (at character 3)"},
      {"* * * * mon-",
       "field 'day-of-week': expected a number 0-7 or a name sun-sat (at character 13)"},
      {"30-10 * * * *",
       "field 'minute': range 30-10 is backwards, expected low-high within 0-59 (at character 1)"},
      {"* * * dec-jan *",
       "field 'month': range dec-jan is backwards, expected low-high within 1-12 (at character 7)"},
      {"*/0 * * * *", "field 'minute': step 0 outside 1-60 (at character 3)"},
      {"* */25 * * *", "field 'hour': step 25 outside 1-24 (at character 5)"},
      {"*/ * * * *", "field 'minute': expected a step number after '/' (at character 3)"},
      {"5/10 * * * *",
       "field 'minute': a step needs '*' or a range before it, e.g. '*/5' or '0-30/5' (at "
       "character 2)"},
      {"5x * * * *", "field 'minute': unexpected 'x', expected ',', '-' or '/' (at character 2)"},
      {"*x * * * *", "field 'minute': unexpected 'x', expected ',' or '/' (at character 2)"},
      {"*/5/2 * * * *", "field 'minute': unexpected '/', expected ',' (at character 4)"},
      {"1-5-7 * * * *", "field 'minute': unexpected '-', expected ',' or '/' (at character 4)"},
  };
  for (const auto& [expression, message] : cases) {
    const absl::StatusOr<CronSchedule> schedule = CronSchedule::Parse(expression);
    EXPECT_EQ(schedule.status().code(), absl::StatusCode::kInvalidArgument) << expression;
    EXPECT_EQ(schedule.status().message(), message) << expression;
  }
}

}  // namespace
}  // namespace harmonia
