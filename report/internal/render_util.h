// Formatting shared by the text and HTML renderers (report/render.h).
#ifndef HARMONIA_REPORT_INTERNAL_RENDER_UTIL_H_
#define HARMONIA_REPORT_INTERNAL_RENDER_UTIL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "harmonia/v1/report.pb.h"

namespace harmonia::report::internal {

std::string Count(int64_t n);                  // 12,345
std::string Number(double v);                  // 4 significant digits: 0.1234, 12.35, 1234
std::string Signed(double v);                  // Number with a sign: +0.012, -3.4
std::string Percent(double share);             // 12.3%
std::string PValue(double p);                  // 0.0123, or < 0.0001
double Fraction(int64_t part, int64_t whole);  // 0 when whole is 0
size_t DisplayWidth(std::string_view utf8);    // code points

// "" → "(none)"; other ids as they are.
std::string SegmentOrNone(const std::string& segment);
// "id (local label)" when the market labels the segment, else the id.
std::string SegmentTitle(const harmonia::v1::MarketReport& m, const std::string& segment);
// "Typing tool from <study>: 2000 respondents, fielded 2026-11-01; accuracy
// 96.6% (10-fold cross-validated)". REQUIRES: report.has_typing_tool().
std::string TypingToolLine(const harmonia::v1::Report& report);
// The report's segments in rule-set order, then any other segment a market's
// figures hold (an older version's, or "" for conflicts).
std::vector<std::string> SegmentsOf(const harmonia::v1::Report& report);
double ShareOf(const harmonia::v1::CycleQuality& q, const std::string& segment);
// The objective behaviour of a segment's customers (n 0 when none).
harmonia::v1::Distribution ObjectiveOf(const harmonia::v1::CycleQuality& q,
                                       const std::string& segment);

// A churn matrix laid out: rows `from`, columns `to`, segments in bytewise
// order with "" (none), "(new)" and "(left)" last.
struct Matrix {
  std::vector<std::string> from, to;
  std::vector<std::vector<int64_t>> cells;  // [from][to]
  int64_t max = 0;
};
Matrix ChurnMatrix(const harmonia::v1::Churn& churn);

}  // namespace harmonia::report::internal

#endif  // HARMONIA_REPORT_INTERNAL_RENDER_UTIL_H_
