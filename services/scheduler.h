// The country worker's scheduler (docs/country-options.md `schedule`): each
// country's cron expression in its IANA time zone, DST-correct
// (common/cron.h), for every therapy area the country runs.
//
//   - A cycle missed while the worker was down runs once at start (CatchUp):
//     a (country, therapy area) whose schedule fired after its last cycle.
//     One that never ran is not "missed": its first cycle is the next
//     scheduled one (or a manual run).
//   - A worker stalled past several firings runs once, not once per firing.
//   - Never two cycles of one (country, therapy area) at once: that is the
//     run function's guarantee (WorkerCore::RunCycle refuses a second one);
//     the scheduler itself runs one job at a time.
//
// Tick() is the whole decision, given the time: tests drive it directly or
// through Start() with a FakeClock.
//
// Thread-safety: Start/Stop from one thread; Tick is not for concurrent use.
#ifndef HARMONIA_SERVICES_SCHEDULER_H_
#define HARMONIA_SERVICES_SCHEDULER_H_

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "common/cron.h"
#include "services/clock.h"

namespace harmonia::services {

struct ScheduleEntry {
  std::string country;
  std::vector<std::string> therapy_areas;
  CronSchedule cron;
  absl::TimeZone zone;
};

class Scheduler {
 public:
  // Runs one cycle; `as_of` is the firing's date in the country's zone.
  using RunFn = std::function<void(const std::string& country, const std::string& therapy_area,
                                   absl::CivilDay as_of, const char* why)>;
  // When the (country, therapy area)'s latest cycle committed; nullopt = never.
  using LastRunFn = std::function<std::optional<absl::Time>(const std::string& country,
                                                            const std::string& therapy_area)>;

  Scheduler(std::vector<ScheduleEntry> entries, Clock* clock, RunFn run, LastRunFn last_run);
  ~Scheduler();

  // Runs, once each, the cycles missed since their last run.
  void CatchUp(absl::Time now);
  // Runs what is due at `now` and returns when something is next due
  // (absl::InfiniteFuture() when nothing is scheduled).
  absl::Time Tick(absl::Time now);

  // CatchUp, then Tick in a thread, sleeping on the clock in between.
  void Start();
  void Stop();
  // Replaces the entries (the country files were reloaded): the next Tick
  // computes every next firing afresh. Safe while the thread runs; a cycle
  // running now finishes first.
  void Replace(std::vector<ScheduleEntry> entries);

 private:
  std::vector<ScheduleEntry> entries_;
  std::vector<absl::Time> next_;  // per entry; InfinitePast = not yet computed
  Clock* clock_;
  RunFn run_;
  LastRunFn last_run_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex replace_mu_;
  std::optional<std::vector<ScheduleEntry>> replacement_ ABSL_GUARDED_BY(replace_mu_);
  std::atomic<bool> replaced_{false};
};

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_SCHEDULER_H_
