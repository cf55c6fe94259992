// ISO dates (YYYY-MM-DD) as day numbers, for fast comparisons in hot loops.
#ifndef HARMONIA_COMMON_DATE_H_
#define HARMONIA_COMMON_DATE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace harmonia {

// The dates Harmonia takes, everywhere (cycle dates, as_of of inputs, flags):
// years kMinYear to kMaxYear. Outside is a typo (0000-01-01, 9999-12-31),
// never a real cycle, and would overflow the date arithmetic downstream.
inline constexpr int kMinYear = 1900;
inline constexpr int kMaxYear = 2199;

// Days since 1970-01-01. Only dates written as exactly YYYY-MM-DD with a real
// calendar day (leap years included) from kMinYear to kMaxYear parse;
// anything else is nullopt.
std::optional<int32_t> ParseIsoDate(std::string_view text);

// Why `text` did not parse: "'x' is not a date (YYYY-MM-DD, 1900-01-01 to
// 2199-12-31)".
std::string NotADate(std::string_view text);

// The inverse of ParseIsoDate.
std::string FormatIsoDate(int32_t day);

}  // namespace harmonia

#endif  // HARMONIA_COMMON_DATE_H_
