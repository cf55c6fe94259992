// Time for the worker's scheduler, as a seam: the real clock in production, a
// fake one in tests, so a test moves time across a DST change without
// sleeping (STYLE: seams for time and faults).
//
// Thread-safety: both clocks are safe for concurrent use.
#ifndef HARMONIA_SERVICES_CLOCK_H_
#define HARMONIA_SERVICES_CLOCK_H_

#include <condition_variable>
#include <functional>
#include <mutex>

#include "absl/time/time.h"

namespace harmonia::services {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  // Returns when Now() >= deadline or `cancelled()` is true (checked at least
  // every 100 ms of real time).
  virtual void SleepUntil(absl::Time deadline, const std::function<bool()>& cancelled) = 0;
};

// The system clock. A process-wide instance.
Clock* RealClock();

// A clock that moves only when told to.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() override;
  void SleepUntil(absl::Time deadline, const std::function<bool()>& cancelled) override;
  void Set(absl::Time t);
  void Advance(absl::Duration d);

 private:
  std::mutex mu_;
  std::condition_variable moved_;
  absl::Time now_;  // guarded by mu_
};

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_CLOCK_H_
