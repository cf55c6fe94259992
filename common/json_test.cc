#include "common/json.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace harmonia {
namespace {

TEST(JsonString, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonString("a\"b\\c\nd\te\r\x01"), R"("a\"b\\c\nd\te\r\u0001")");
}

TEST(JsonString, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(JsonString("Früher €"), "\"Früher €\"");
  EXPECT_EQ(JsonString("a\xff"
                       "b"),
            R"("a\ufffdb")");
  EXPECT_EQ(JsonString("\xc3"), R"("\ufffd")");                      // truncated sequence
  EXPECT_EQ(JsonString("\xc0\xaf"), R"("\ufffd\ufffd")");            // overlong '/'
  EXPECT_EQ(JsonString("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // a surrogate
}

TEST(JsonObject, WritesMembersInOrderWithNesting) {
  JsonObject inner;
  inner.Add("rep", 3).Add("ok", true);
  JsonObject o;
  o.Add("s", "x").Add("n", int64_t{-5}).Add("d", 0.25).Add("in", inner).AddRaw("a", "[1,2]");
  EXPECT_EQ(o.str(), R"({"s":"x","n":-5,"d":0.25,"in":{"rep":3,"ok":true},"a":[1,2]})");
  EXPECT_EQ(JsonObject().str(), "{}");
}

TEST(JsonObject, NonFiniteNumbersAreNull) {
  JsonObject o;
  o.Add("nan", std::nan("")).Add("inf", std::numeric_limits<double>::infinity());
  EXPECT_EQ(o.str(), R"({"nan":null,"inf":null})");
}

}  // namespace
}  // namespace harmonia
