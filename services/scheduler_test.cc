// The worker's scheduler with a fake clock: DST changes, catch-up after
// downtime, one run for a stall across several firings.
#include "services/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace harmonia::services {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

absl::Time Utc(int y, int m, int d, int hh, int mm) {
  return absl::FromCivil(absl::CivilMinute(y, m, d, hh, mm), absl::UTCTimeZone());
}

ScheduleEntry Berlin(const std::string& cron) {
  absl::TimeZone zone;
  EXPECT_TRUE(absl::LoadTimeZone("Europe/Berlin", &zone));
  return {"DE", {"oncology"}, *CronSchedule::Parse(cron), zone};
}

struct Recorder {
  std::mutex mu;
  std::vector<std::string> runs;
  Scheduler::RunFn Fn(Clock* clock) {
    return [this, clock](const std::string& cc, const std::string& ta, absl::CivilDay as_of,
                         const char* why) {
      std::lock_guard<std::mutex> lock(mu);
      runs.push_back(absl::StrCat(
          cc, "/", ta, " as of ", absl::FormatCivilTime(as_of), " ", why,
          clock ? " at " + absl::FormatTime("%Y-%m-%d %H:%M UTC", clock->Now(), absl::UTCTimeZone())
                : ""));
    };
  }
};

// Steps time the way the scheduler's thread does: always to the next due time.
std::vector<absl::Time> Firings(Scheduler& s, absl::Time from, absl::Time to) {
  std::vector<absl::Time> out;
  absl::Time t = s.Tick(from);
  while (t <= to) {
    out.push_back(t);
    t = s.Tick(t);
  }
  return out;
}

TEST(Scheduler, DailyRunAtTwoThirtyAcrossBothDstChanges) {
  Recorder rec;
  Scheduler s({Berlin("30 2 * * *")}, nullptr, rec.Fn(nullptr),
              [](const std::string&, const std::string&) { return std::nullopt; });
  // Spring forward, 2026-03-29: 02:30 does not exist in Berlin; the run
  // happens at the first instant after the gap (03:00 CEST = 01:00 UTC).
  EXPECT_THAT(
      Firings(s, Utc(2026, 3, 27, 12, 0), Utc(2026, 3, 30, 12, 0)),
      ElementsAre(Utc(2026, 3, 28, 1, 30), Utc(2026, 3, 29, 1, 0), Utc(2026, 3, 30, 0, 30)));
  ASSERT_EQ(rec.runs.size(), 3u);
  EXPECT_EQ(rec.runs[1], "DE/oncology as of 2026-03-29 scheduled");

  // Fall back, 2026-10-25: 02:30 happens twice; the run happens once, at the
  // first (CEST, 00:30 UTC).
  Scheduler autumn({Berlin("30 2 * * *")}, nullptr, rec.Fn(nullptr),
                   [](const std::string&, const std::string&) { return std::nullopt; });
  EXPECT_THAT(Firings(autumn, Utc(2026, 10, 24, 12, 0), Utc(2026, 10, 26, 12, 0)),
              ElementsAre(Utc(2026, 10, 25, 0, 30), Utc(2026, 10, 26, 1, 30)));
}

TEST(Scheduler, AQuarterlyScheduleFiresInLocalTime) {
  Recorder rec;
  Scheduler s({Berlin("0 2 1 */3 *")}, nullptr, rec.Fn(nullptr),
              [](const std::string&, const std::string&) { return std::nullopt; });
  EXPECT_THAT(Firings(s, Utc(2026, 1, 15, 0, 0), Utc(2026, 12, 31, 0, 0)),
              ElementsAre(Utc(2026, 4, 1, 0, 0), Utc(2026, 7, 1, 0, 0), Utc(2026, 10, 1, 0, 0)));
}

TEST(Scheduler, AMissedCycleRunsOnceAtStartAndANewMarketWaits) {
  Recorder rec;
  ScheduleEntry de = Berlin("0 2 1 */3 *");
  de.therapy_areas = {"oncology", "diabetes"};
  Scheduler s({de}, nullptr, rec.Fn(nullptr),
              [](const std::string&, const std::string& ta) -> std::optional<absl::Time> {
                // oncology last ran on 2026-04-01; two firings were missed since.
                if (ta == "oncology") return Utc(2026, 4, 1, 0, 5);
                return std::nullopt;  // diabetes never ran: nothing was missed
              });
  s.CatchUp(Utc(2026, 11, 24, 12, 0));
  EXPECT_THAT(rec.runs, ElementsAre("DE/oncology as of 2026-11-24 missed"));

  rec.runs.clear();
  Scheduler fresh({de}, nullptr, rec.Fn(nullptr),
                  [](const std::string&, const std::string&) -> std::optional<absl::Time> {
                    return Utc(2026, 10, 1, 0, 3);  // ran at the last firing
                  });
  fresh.CatchUp(Utc(2026, 11, 24, 12, 0));
  EXPECT_THAT(rec.runs, IsEmpty());
}

TEST(Scheduler, AStallAcrossSeveralFiringsRunsOnce) {
  Recorder rec;
  Scheduler s({Berlin("*/15 * * * *")}, nullptr, rec.Fn(nullptr),
              [](const std::string&, const std::string&) { return std::nullopt; });
  const absl::Time next = s.Tick(Utc(2026, 6, 1, 10, 1));
  EXPECT_EQ(next, Utc(2026, 6, 1, 10, 15));
  // The worker wakes two hours late: one run, then the next quarter hour.
  EXPECT_EQ(s.Tick(Utc(2026, 6, 1, 12, 7)), Utc(2026, 6, 1, 12, 15));
  EXPECT_EQ(rec.runs.size(), 1u);
}

TEST(Scheduler, ItsThreadSleepsOnTheClockAndWakesWhenTimeMoves) {
  FakeClock clock(Utc(2026, 10, 24, 23, 0));
  Recorder rec;
  Scheduler s({Berlin("30 2 * * *")}, &clock, rec.Fn(&clock),
              [](const std::string&, const std::string&) { return std::nullopt; });
  s.Start();
  auto wait_for_runs = [&](size_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(rec.mu);
        if (rec.runs.size() >= n) return true;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    return false;
  };
  absl::SleepFor(absl::Milliseconds(50));
  clock.Set(Utc(2026, 10, 25, 0, 29));
  absl::SleepFor(absl::Milliseconds(50));
  {
    std::lock_guard<std::mutex> lock(rec.mu);
    EXPECT_THAT(rec.runs, IsEmpty()) << "not due yet";
  }
  clock.Set(Utc(2026, 10, 25, 0, 30));
  ASSERT_TRUE(wait_for_runs(1));
  clock.Set(Utc(2026, 10, 25, 1, 30));  // 02:30 CET, the second 02:30 of the day
  absl::SleepFor(absl::Milliseconds(100));
  clock.Set(Utc(2026, 10, 26, 1, 30));
  ASSERT_TRUE(wait_for_runs(2));
  s.Stop();
  EXPECT_THAT(rec.runs,
              ElementsAre("DE/oncology as of 2026-10-25 scheduled at 2026-10-25 00:30 UTC",
                          "DE/oncology as of 2026-10-26 scheduled at 2026-10-26 01:30 UTC"));
}

}  // namespace
}  // namespace harmonia::services
