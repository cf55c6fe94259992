#include "services/clock.h"

#include <algorithm>
#include <chrono>

#include "absl/time/clock.h"

namespace harmonia::services {
namespace {

class SystemClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void SleepUntil(absl::Time deadline, const std::function<bool()>& cancelled) override {
    while (!cancelled()) {
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return;
      absl::SleepFor(std::min(left, absl::Milliseconds(100)));
    }
  }
};

}  // namespace

Clock* RealClock() {
  static SystemClock* clock = new SystemClock();
  return clock;
}

absl::Time FakeClock::Now() {
  std::lock_guard<std::mutex> lock(mu_);
  return now_;
}

void FakeClock::SleepUntil(absl::Time deadline, const std::function<bool()>& cancelled) {
  std::unique_lock<std::mutex> lock(mu_);
  while (now_ < deadline && !cancelled()) {
    moved_.wait_for(lock, std::chrono::milliseconds(10));
  }
}

void FakeClock::Set(absl::Time t) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    now_ = t;
  }
  moved_.notify_all();
}

void FakeClock::Advance(absl::Duration d) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
  }
  moved_.notify_all();
}

}  // namespace harmonia::services
