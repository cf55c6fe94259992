#include "common/cron.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/strings.h"

namespace harmonia {
namespace {

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"sun", "mon", "tue", "wed",
                                                           "thu", "fri", "sat"};

struct FieldSpec {
  std::string_view name;
  int low;
  int high;
  int first_name_value;           // value of names[0]
  const std::string_view* names;  // nullptr: numbers only
  size_t name_count;
};

constexpr std::array<FieldSpec, 5> kFields = {{
    {"minute", 0, 59, 0, nullptr, 0},
    {"hour", 0, 23, 0, nullptr, 0},
    {"day-of-month", 1, 31, 0, nullptr, 0},
    {"month", 1, 12, 1, kMonthNames.data(), kMonthNames.size()},
    {"day-of-week", 0, 7, 0, kWeekdayNames.data(), kWeekdayNames.size()},
}};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// Parses one field (a comma list) into a set of values in [spec.low, spec.high].
class FieldParser {
 public:
  // `offset` is the 0-based position of `text` within the whole expression.
  FieldParser(const FieldSpec& spec, std::string_view text, size_t offset)
      : spec_(spec), text_(text), offset_(offset) {}

  absl::Status Parse(std::vector<bool>* values) {
    values->assign(spec_.high + 1, false);
    for (;;) {
      absl::Status status = ParseItem(values);
      if (!status.ok()) return status;
      if (pos_ == text_.size()) return absl::OkStatus();
      if (text_[pos_] != ',') {
        return Error(pos_, absl::StrCat("unexpected '", Sv(text_.substr(pos_, 1)), "', expected ",
                                        expected_next_));
      }
      ++pos_;
    }
  }

 private:
  absl::Status ParseItem(std::vector<bool>* values) {
    const size_t item_start = pos_;
    int first = spec_.low;
    int last = spec_.high;
    bool star_or_range = true;
    if (pos_ < text_.size() && text_[pos_] == '*') {
      ++pos_;
    } else {
      absl::Status status = ParseValue(&first);
      if (!status.ok()) return status;
      last = first;
      star_or_range = pos_ < text_.size() && text_[pos_] == '-';
      if (star_or_range) {
        ++pos_;
        status = ParseValue(&last);
        if (!status.ok()) return status;
        if (first > last) {
          return Error(item_start,
                       absl::StrCat("range ", Sv(text_.substr(item_start, pos_ - item_start)),
                                    " is backwards, expected low-high within ", Range()));
        }
      }
    }
    expected_next_ = star_or_range ? "',' or '/'" : "',', '-' or '/'";
    int step = 1;
    if (pos_ < text_.size() && text_[pos_] == '/') {
      expected_next_ = "','";
      if (!star_or_range) {
        return Error(pos_, "a step needs '*' or a range before it, e.g. '*/5' or '0-30/5'");
      }
      ++pos_;
      const size_t step_start = pos_;
      if (!ParseNumber(&step)) return Error(step_start, "expected a step number after '/'");
      const int max_step = spec_.high - spec_.low + 1;
      if (step < 1 || step > max_step) {
        return Error(step_start,
                     absl::StrCat("step ", Sv(text_.substr(step_start, pos_ - step_start)),
                                  " outside 1-", max_step));
      }
    }
    for (int v = first; v <= last; v += step) (*values)[v] = true;
    return absl::OkStatus();
  }

  // A number or, for month and weekday, a name; checked against the range.
  absl::Status ParseValue(int* value) {
    const size_t start = pos_;
    if (spec_.names != nullptr && pos_ < text_.size() && absl::ascii_isalpha(text_[pos_])) {
      while (pos_ < text_.size() && absl::ascii_isalpha(text_[pos_])) ++pos_;
      const std::string word = absl::AsciiStrToLower(Sv(text_.substr(start, pos_ - start)));
      for (size_t i = 0; i < spec_.name_count; ++i) {
        if (word == spec_.names[i]) {
          *value = spec_.first_name_value + static_cast<int>(i);
          return absl::OkStatus();
        }
      }
      return Error(start, absl::StrCat("unknown name '", Sv(text_.substr(start, pos_ - start)),
                                       "', expected ", Expected()));
    }
    if (!ParseNumber(value)) return Error(start, absl::StrCat("expected ", Expected()));
    if (*value < spec_.low || *value > spec_.high) {
      return Error(start, absl::StrCat("value ", Sv(text_.substr(start, pos_ - start)), " outside ",
                                       Range()));
    }
    return absl::OkStatus();
  }

  // Digits, saturating far above any field's range.
  bool ParseNumber(int* value) {
    const size_t start = pos_;
    int64_t n = 0;
    while (pos_ < text_.size() && IsDigit(text_[pos_])) {
      n = std::min<int64_t>(n * 10 + (text_[pos_] - '0'), 1'000'000);
      ++pos_;
    }
    *value = static_cast<int>(n);
    return pos_ > start;
  }

  std::string Range() const { return absl::StrCat(spec_.low, "-", spec_.high); }

  std::string Expected() const {
    std::string out = absl::StrCat("a number ", Range());
    if (spec_.names != nullptr) {
      absl::StrAppend(&out, " or a name ", Sv(spec_.names[0]), "-",
                      Sv(spec_.names[spec_.name_count - 1]));
    }
    return out;
  }

  absl::Status Error(size_t at, std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("field '", Sv(spec_.name), "': ", Sv(what),
                                                   " (at character ", offset_ + at + 1, ")"));
  }

  const FieldSpec& spec_;
  std::string_view text_;
  size_t offset_;
  size_t pos_ = 0;
  const char* expected_next_ = "";  // what may follow the last item
};

template <size_t N>
void CopyBits(const std::vector<bool>& values, std::bitset<N>* bits) {
  for (size_t v = 0; v < values.size() && v < N; ++v) (*bits)[v] = values[v];
}

// Sunday = 0, as in the day-of-week field.
int CronWeekday(absl::CivilDay day) {
  switch (absl::GetWeekday(day)) {
    case absl::Weekday::sunday:
      return 0;
    case absl::Weekday::monday:
      return 1;
    case absl::Weekday::tuesday:
      return 2;
    case absl::Weekday::wednesday:
      return 3;
    case absl::Weekday::thursday:
      return 4;
    case absl::Weekday::friday:
      return 5;
    case absl::Weekday::saturday:
      return 6;
  }
  return 0;
}

// The Gregorian calendar repeats every 400 years, so a schedule that has not
// matched by then never will.
constexpr int kSearchYears = 401;

}  // namespace

absl::StatusOr<CronSchedule> CronSchedule::Parse(std::string_view expression) {
  // Split into fields, remembering where each starts.
  std::vector<std::pair<std::string_view, size_t>> fields;
  for (size_t i = 0; i < expression.size();) {
    if (IsSpace(expression[i])) {
      ++i;
      continue;
    }
    const size_t start = i;
    while (i < expression.size() && !IsSpace(expression[i])) ++i;
    fields.emplace_back(expression.substr(start, i - start), start);
  }
  if (fields.size() != kFields.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected 5 fields (minute hour day-of-month month day-of-week), got ", fields.size()));
  }

  CronSchedule schedule;
  schedule.expression_ = std::string(expression);
  std::vector<bool> values[5];
  for (size_t i = 0; i < kFields.size(); ++i) {
    absl::Status status =
        FieldParser(kFields[i], fields[i].first, fields[i].second).Parse(&values[i]);
    if (!status.ok()) return status;
  }
  CopyBits(values[0], &schedule.minutes_);
  CopyBits(values[1], &schedule.hours_);
  CopyBits(values[2], &schedule.days_of_month_);
  CopyBits(values[3], &schedule.months_);
  if (values[4][7]) values[4][0] = true;  // 7 is Sunday too
  CopyBits(values[4], &schedule.days_of_week_);
  // As in Vixie cron, a field is restricted unless it starts with '*' (so
  // "*/2" is not restricted, but "0-6" is).
  schedule.dom_restricted_ = fields[2].first[0] != '*';
  schedule.dow_restricted_ = fields[4].first[0] != '*';
  return schedule;
}

absl::Time CronSchedule::Next(absl::Time after, absl::TimeZone zone) const {
  if (after == absl::InfiniteFuture()) return after;
  if (after == absl::InfinitePast()) after = absl::UniversalEpoch();  // 0001-01-01

  // Every month has every weekday, and over the 400-year cycle every date
  // falls on every weekday: only a day of month that no chosen month has
  // (Feb 30) makes a schedule impossible. Answer that without searching.
  if (!(dom_restricted_ && dow_restricted_)) {
    static constexpr int kMaxDays[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m) {
      for (int d = 1; d <= kMaxDays[m] && months_[m] && !possible; ++d) {
        possible = days_of_month_[d];
      }
    }
    if (!possible) return absl::InfiniteFuture();
  }

  const auto day_matches = [this](absl::CivilDay day) {
    const bool dom = days_of_month_[day.day()];
    const bool dow = days_of_week_[CronWeekday(day)];
    return dom_restricted_ && dow_restricted_ ? dom || dow : dom && dow;
  };

  // Whole minutes strictly after `after`, in wall-clock order. A wall time
  // repeated by a fall-back is visited once and converted to its first
  // occurrence, which is skipped when not after `after`: so it never fires
  // twice, even when `after` lies in the second occurrence.
  absl::CivilMinute minute = absl::CivilMinute(zone.At(after).cs) + 1;
  const absl::CivilYear last_year = absl::CivilYear(minute) + kSearchYears;
  while (absl::CivilYear(minute) <= last_year) {
    if (!months_[minute.month()]) {
      minute = absl::CivilMinute(absl::CivilMonth(minute) + 1);
      continue;
    }
    if (!day_matches(absl::CivilDay(minute))) {
      minute = absl::CivilMinute(absl::CivilDay(minute) + 1);
      continue;
    }
    if (!hours_[minute.hour()]) {
      minute = absl::CivilMinute(absl::CivilHour(minute) + 1);
      continue;
    }
    if (!minutes_[minute.minute()]) {
      ++minute;
      continue;
    }
    const absl::TimeZone::TimeInfo info = zone.At(absl::CivilSecond(minute));
    absl::Time t = info.pre;
    if (info.kind == absl::TimeZone::TimeInfo::SKIPPED) {
      t = info.trans;  // the first instant after the gap
    } else if (info.kind == absl::TimeZone::TimeInfo::REPEATED) {
      t = std::min(info.pre, info.post);  // the first occurrence
    }
    if (t > after) return t;
    ++minute;
  }
  return absl::InfiniteFuture();
}

}  // namespace harmonia
