#include "engine/internal/unary_test.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace harmonia::engine::internal {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

ColumnInfo Numeric() { return {"x", ColumnKind::kNumeric, "number", {}}; }
ColumnInfo Choice() {
  return {"q7", ColumnKind::kChoice, "choice", {"face_to_face", "remote", "digital"}};
}
ColumnInfo Boolean() { return {"b", ColumnKind::kBoolean, "boolean", {}}; }

bool Matches(const std::vector<Interval>& ivs, double v) {
  for (const Interval& iv : ivs) {
    if (v >= iv.lo && v <= iv.hi) return true;
  }
  return false;
}

struct Case {
  const char* test;
  double value;
  bool match;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << "'" << c.test << "' on " << c.value << (c.match ? " matches" : " does not match");
}

class NumericForms : public ::testing::TestWithParam<Case> {};

TEST_P(NumericForms, MatchesAtBoundaries) {
  const Case& c = GetParam();
  bool any = false;
  std::vector<Interval> ivs;
  UnaryTestError err;
  ASSERT_TRUE(CompileUnaryTest(c.test, Numeric(), &any, &ivs, &err))
      << c.test << ": " << err.message;
  ASSERT_FALSE(any);
  EXPECT_EQ(Matches(ivs, c.value), c.match) << "test '" << c.test << "' on " << c.value;
}

INSTANTIATE_TEST_SUITE_P(
    Forms, NumericForms,
    ::testing::Values(
        // literal
        Case{"5", 5, true}, Case{"5", 5.0000001, false}, Case{"5", 4, false},
        Case{"-1.5", -1.5, true},
        // comparisons, both sides of each boundary
        Case{">= 1.0", 1.0, true}, Case{">= 1.0", std::nextafter(1.0, 0), false},
        Case{"> 1.0", 1.0, false}, Case{"> 1.0", std::nextafter(1.0, 2), true},
        Case{"<= 3", 3, true}, Case{"<= 3", std::nextafter(3.0, 4), false}, Case{"< 3", 3, false},
        Case{"< 3", std::nextafter(3.0, 0), true}, Case{"<3", 2, true},
        // ranges: inclusive, exclusive, outward brackets
        Case{"[0.1..0.4)", 0.1, true}, Case{"[0.1..0.4)", 0.4, false},
        Case{"[0.1..0.4)", 0.39999, true}, Case{"(0.1..0.4]", 0.1, false},
        Case{"(0.1..0.4]", 0.4, true}, Case{"]0.1..0.4[", 0.1, false},
        Case{"]0.1..0.4[", 0.2, true}, Case{"[1..5]", 5, true}, Case{"[ 1 .. 5 ]", 1, true},
        // lists
        Case{"1, 3, 5", 3, true}, Case{"1, 3, 5", 4, false}, Case{"< 2, > 8", 9, true},
        Case{"< 2, > 8", 5, false}, Case{"[1..2], [4..5]", 4.5, true},
        // not()
        Case{"not(5)", 5, false}, Case{"not(5)", 4, true}, Case{"not(5)", 6, true},
        Case{"not([1..3])", 2, false}, Case{"not([1..3])", 3.5, true},
        Case{"not(< 2, > 8)", 5, true}, Case{"not(< 2, > 8)", 1, false},
        Case{"not(>= 0)", -1, true}, Case{"not(>= 0)", 0, false}));

TEST(UnaryTest, DashMatchesAnything) {
  bool any = false;
  std::vector<Interval> ivs;
  UnaryTestError err;
  ASSERT_TRUE(CompileUnaryTest(" - ", Numeric(), &any, &ivs, &err));
  EXPECT_TRUE(any);
}

TEST(UnaryTest, MissingValueFailsEveryTestIncludingNot) {
  for (const char* t : {"5", ">= 0", "< 100", "[0..10]", "not(5)", "not(< 0)", "1, 2"}) {
    bool any = false;
    std::vector<Interval> ivs;
    UnaryTestError err;
    ASSERT_TRUE(CompileUnaryTest(t, Numeric(), &any, &ivs, &err)) << t;
    EXPECT_FALSE(Matches(ivs, kNaN)) << t;
  }
}

TEST(UnaryTest, ChoiceLiteralsAndLists) {
  bool any = false;
  std::vector<Interval> ivs;
  UnaryTestError err;
  ASSERT_TRUE(CompileUnaryTest("digital, remote", Choice(), &any, &ivs, &err));
  EXPECT_TRUE(Matches(ivs, 2));
  EXPECT_TRUE(Matches(ivs, 1));
  EXPECT_FALSE(Matches(ivs, 0));
  ASSERT_TRUE(CompileUnaryTest("not(face_to_face)", Choice(), &any, &ivs, &err));
  EXPECT_FALSE(Matches(ivs, 0));
  EXPECT_TRUE(Matches(ivs, 2));
  ASSERT_TRUE(CompileUnaryTest("\"remote\"", Choice(), &any, &ivs, &err));
  EXPECT_TRUE(Matches(ivs, 1));
}

TEST(UnaryTest, QuotedStringWithSpaces) {
  ColumnInfo c{"q", ColumnKind::kChoice, "choice", {"two words", "other"}};
  bool any = false;
  std::vector<Interval> ivs;
  UnaryTestError err;
  ASSERT_TRUE(CompileUnaryTest("\"two words\"", c, &any, &ivs, &err)) << err.message;
  EXPECT_TRUE(Matches(ivs, 0));
  EXPECT_FALSE(Matches(ivs, 1));
}

TEST(UnaryTest, Booleans) {
  bool any = false;
  std::vector<Interval> ivs;
  UnaryTestError err;
  ASSERT_TRUE(CompileUnaryTest("true", Boolean(), &any, &ivs, &err));
  EXPECT_TRUE(Matches(ivs, 1));
  EXPECT_FALSE(Matches(ivs, 0));
  ASSERT_TRUE(CompileUnaryTest("not(true)", Boolean(), &any, &ivs, &err));
  EXPECT_TRUE(Matches(ivs, 0));
}

struct ErrorCase {
  ColumnInfo column;
  const char* test;
  int offset;
  const char* message;
};

TEST(UnaryTest, ErrorsSayWhatWasExpected) {
  const ErrorCase cases[] = {
      {Choice(), ">= 2", 0,
       "comparisons are not allowed on choice 'q7'; list the options instead, e.g. 'face_to_face'"},
      {Choice(), "[1..2]", 0,
       "ranges are not allowed on choice 'q7'; list the options instead, e.g. 'face_to_face'"},
      {Choice(), "remote, email", 8,
       "'email' is not an option of q7; expected one of: face_to_face, remote, digital"},
      {Numeric(), "digital", 0, "expected a number for number 'x', got 'digital'"},
      {Numeric(), "\"5\"", 0, "expected a number for number 'x', got '5'"},
      {Numeric(), ">= abc", 3, "expected a number, got 'abc'"},
      {Numeric(), "< ", 2, "expected a number, got ''"},
      {Numeric(), "[1..2", 5, "expected ']' or ')' closing the range"},
      {Numeric(), "[1,2]", 2, "expected '..' in range"},
      {Numeric(), "[5..1]", 0, "empty range: the low end is above the high end"},
      {Numeric(), "1,", 2, "expected a value after ','"},
      {Numeric(), "", 0, "empty test; write '-' for anything"},
      {Numeric(), "not(5", 5, "expected ')' closing not("},
      {Boolean(), "yes", 0, "expected true or false for boolean 'b', got 'yes'"},
      {Boolean(), "> 0", 0, "comparisons are not allowed on boolean 'b'; write true or false"},
  };
  for (const ErrorCase& c : cases) {
    bool any = false;
    std::vector<Interval> ivs;
    UnaryTestError err;
    EXPECT_FALSE(CompileUnaryTest(c.test, c.column, &any, &ivs, &err)) << c.test;
    EXPECT_EQ(err.message, c.message) << c.test;
    EXPECT_EQ(err.offset, c.offset) << c.test;
  }
}

TEST(Intervals, ContainAndIntersect) {
  const std::vector<Interval> ge1 = {{1, INFINITY}};
  const std::vector<Interval> ge2 = {{2, INFINITY}};
  EXPECT_TRUE(IntervalsContain(ge1, ge2));
  EXPECT_FALSE(IntervalsContain(ge2, ge1));
  EXPECT_TRUE(IntervalsIntersect(ge1, ge2));
  EXPECT_FALSE(IntervalsIntersect({{0, 1}}, {{2, 3}}));
  const auto merged = NormalizeIntervals({{3, 4}, {1, 2}, {std::nextafter(2.0, 3), 2.5}});
  ASSERT_EQ(merged.size(), 2u);
  EXPECT_EQ(merged[0].lo, 1);
  EXPECT_EQ(merged[0].hi, 2.5);
}

}  // namespace
}  // namespace harmonia::engine::internal
