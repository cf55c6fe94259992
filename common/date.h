// ISO dates (YYYY-MM-DD) as day numbers, for fast comparisons in hot loops.
#ifndef HARMONIA_COMMON_DATE_H_
#define HARMONIA_COMMON_DATE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace harmonia {

// Days since 1970-01-01. Only dates written as exactly YYYY-MM-DD with a real
// calendar day (leap years included) parse; anything else is nullopt.
std::optional<int32_t> ParseIsoDate(std::string_view text);

// The inverse of ParseIsoDate.
std::string FormatIsoDate(int32_t day);

}  // namespace harmonia

#endif  // HARMONIA_COMMON_DATE_H_
