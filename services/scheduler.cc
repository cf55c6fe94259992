#include "services/scheduler.h"

#include <algorithm>
#include <utility>

namespace harmonia::services {

Scheduler::Scheduler(std::vector<ScheduleEntry> entries, Clock* clock, RunFn run,
                     LastRunFn last_run)
    : entries_(std::move(entries)),
      next_(entries_.size(), absl::InfinitePast()),
      clock_(clock),
      run_(std::move(run)),
      last_run_(std::move(last_run)) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::CatchUp(absl::Time now) {
  for (const ScheduleEntry& e : entries_) {
    for (const std::string& ta : e.therapy_areas) {
      std::optional<absl::Time> last = last_run_(e.country, ta);
      if (!last) continue;
      const absl::Time missed = e.cron.Next(*last, e.zone);
      if (missed <= now) run_(e.country, ta, absl::ToCivilDay(now, e.zone), "missed");
    }
  }
}

void Scheduler::Replace(std::vector<ScheduleEntry> entries) {
  std::lock_guard<std::mutex> lock(replace_mu_);
  replacement_ = std::move(entries);
  replaced_ = true;  // wakes the sleeping thread
}

absl::Time Scheduler::Tick(absl::Time now) {
  if (replaced_.load()) {
    std::lock_guard<std::mutex> lock(replace_mu_);
    if (replacement_) {
      entries_ = std::move(*replacement_);
      replacement_.reset();
      next_.assign(entries_.size(), absl::InfinitePast());
    }
    replaced_ = false;  // under the lock: a Replace after this sets it again
  }
  absl::Time soonest = absl::InfiniteFuture();
  for (size_t i = 0; i < entries_.size(); ++i) {
    const ScheduleEntry& e = entries_[i];
    if (next_[i] == absl::InfinitePast()) next_[i] = e.cron.Next(now, e.zone);
    if (next_[i] <= now) {
      const absl::CivilDay as_of = absl::ToCivilDay(next_[i], e.zone);
      for (const std::string& ta : e.therapy_areas) run_(e.country, ta, as_of, "scheduled");
      next_[i] = e.cron.Next(std::max(now, next_[i]), e.zone);
    }
    soonest = std::min(soonest, next_[i]);
  }
  return soonest;
}

void Scheduler::Start() {
  thread_ = std::thread([this] {
    CatchUp(clock_->Now());
    while (!stop_) {
      const absl::Time next = Tick(clock_->Now());
      clock_->SleepUntil(next, [this] { return stop_.load() || replaced_.load(); });
    }
  });
}

void Scheduler::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace harmonia::services
