#include "common/date.h"

#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace harmonia {
namespace {

TEST(DateTest, ParsesValidDates) {
  const std::vector<std::pair<std::string, int32_t>> cases = {
      {"1970-01-01", 0},     {"1970-01-02", 1},      {"1969-12-31", -1},    {"2000-02-29", 11016},
      {"2024-02-29", 19782}, {"1900-03-01", -25508}, {"2038-01-19", 24855}, {"1900-01-01", -25567},
      {"2199-12-31", 84005}, {"2023-12-31", 19722},  {"2024-01-01", 19723},
  };
  for (const auto& [text, day] : cases) {
    EXPECT_EQ(ParseIsoDate(text), std::optional<int32_t>(day)) << text;
    EXPECT_EQ(FormatIsoDate(day), text) << day;
  }
}

TEST(DateTest, RejectsDaysNotInTheCalendar) {
  for (const std::string text : {
           "2023-02-29",  // not a leap year
           "1900-02-29",  // divisible by 100, not by 400
           "2100-02-29",
           "2024-02-30",
           "2024-04-31",
           "2024-06-31",
           "2024-01-32",
           "2024-01-00",
           "2024-00-10",
           "2024-13-01",
       }) {
    EXPECT_EQ(ParseIsoDate(text), std::nullopt) << text;
  }
}

TEST(DateTest, RejectsMalformedText) {
  for (const std::string text : {
           "",
           "2024-1-01",
           "2024-01-1",
           "24-01-01",
           "2024/01/01",
           "20240101",
           "2024-01-01 ",
           " 2024-01-01",
           "2024-01-0a",
           "+024-01-01",
           "-024-01-01",
           "2024-01-01T00:00",
           "2024_01-01",
           "２０２４-01-01",
       }) {
    EXPECT_EQ(ParseIsoDate(text), std::nullopt) << "'" << text << "'";
  }
  // Not NUL-terminated: only the view's bytes count.
  const std::string padded = "2024-02-29x";
  EXPECT_EQ(ParseIsoDate(std::string_view(padded).substr(0, 10)), std::optional<int32_t>(19782));
}

TEST(DateTest, FormatRoundTripsOverEveryDayTaken) {
  const int32_t first = *ParseIsoDate("1900-01-01");
  const int32_t last = *ParseIsoDate("2199-12-31");
  for (int32_t day = first; day <= last; ++day) {
    const std::string text = FormatIsoDate(day);
    const std::optional<int32_t> back = ParseIsoDate(text);
    ASSERT_TRUE(back.has_value()) << text;
    ASSERT_EQ(*back, day) << text;
  }
}

TEST(DateTest, YearsOutsideTheRangeAreNotDates) {
  for (const std::string text : {"0000-01-01", "1899-12-31", "2200-01-01", "9999-12-31"}) {
    EXPECT_EQ(ParseIsoDate(text), std::nullopt) << text;
  }
  EXPECT_EQ(NotADate("9999-12-31"),
            "'9999-12-31' is not a date (YYYY-MM-DD, 1900-01-01 to 2199-12-31)");
}

}  // namespace
}  // namespace harmonia
