// Cron schedules in a country's IANA time zone (docs/country-options.md: `schedule`).
//
// Standard five-field expressions: minute hour day-of-month month day-of-week,
// each a `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, or a comma list
// of those; month and weekday names (jan…dec, sun…sat) are accepted; weekday 7
// is Sunday. As in Vixie cron, when both day-of-month and day-of-week are
// restricted, a day matching either fires.
//
// Written here because neither Abseil nor a Debian -dev package offers a cron
// parser; Abseil provides the time-zone arithmetic (absl::TimeZone).
#ifndef HARMONIA_COMMON_CRON_H_
#define HARMONIA_COMMON_CRON_H_

#include <bitset>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace harmonia {

class CronSchedule {
 public:
  // InvalidArgument naming the field, its allowed range and the 1-based
  // character offset of the mistake, e.g.
  // "field 'hour': value 25 outside 0-23 (at character 3)".
  static absl::StatusOr<CronSchedule> Parse(std::string_view expression);

  // The first time strictly after `after` that matches, evaluated in wall-clock
  // time of `zone`. DST: a wall time that does not exist (spring forward) fires
  // at the first instant after the gap; a wall time that occurs twice (fall
  // back) fires once, at its first occurrence.
  absl::Time Next(absl::Time after, absl::TimeZone zone) const;

  const std::string& expression() const { return expression_; }

 private:
  CronSchedule() = default;
  std::string expression_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // bit 1..31
  std::bitset<13> months_;         // bit 1..12
  std::bitset<7> days_of_week_;    // bit 0 = Sunday
  bool dom_restricted_ = false;
  bool dow_restricted_ = false;
};

}  // namespace harmonia

#endif  // HARMONIA_COMMON_CRON_H_
