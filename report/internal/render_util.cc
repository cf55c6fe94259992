#include "report/internal/render_util.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace harmonia::report::internal {

std::string Count(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

std::string Number(double v) {
  if (std::isnan(v)) return "-";
  if (v != 0 && std::fabs(v) < 0.001) return absl::StrFormat("%.2e", v);
  return absl::StrFormat("%.4g", v);
}

std::string Signed(double v) { return v > 0 ? "+" + Number(v) : Number(v); }

std::string Percent(double share) { return absl::StrFormat("%.1f%%", 100 * share); }

std::string PValue(double p) { return p < 0.0001 ? "< 0.0001" : absl::StrFormat("%.4f", p); }

double Fraction(int64_t part, int64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 0;
}

size_t DisplayWidth(std::string_view utf8) {
  size_t n = 0;
  for (unsigned char c : utf8) n += (c & 0xC0) != 0x80;
  return n;
}

std::string SegmentOrNone(const std::string& segment) {
  return segment.empty() ? "(none)" : segment;
}

std::string SegmentTitle(const harmonia::v1::MarketReport& m, const std::string& segment) {
  auto it = m.labels().find(segment);
  if (it == m.labels().end() || it->second.empty()) return SegmentOrNone(segment);
  return absl::StrCat(segment, " (", it->second, ")");
}

std::string TypingToolLine(const harmonia::v1::Report& report) {
  const harmonia::v1::TypingToolProvenance& p = report.typing_tool();
  return absl::StrFormat(
      "Typing tool from %s: %d respondents, fielded %s; accuracy %.1f%%%s", p.study(),
      p.respondents(), p.date(), 100 * p.accuracy(),
      p.folds() > 0 ? absl::StrCat(" (", p.folds(), "-fold cross-validated)") : std::string());
}

std::vector<std::string> SegmentsOf(const harmonia::v1::Report& report) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const harmonia::v1::SegmentName& s : report.segments()) {
    if (seen.insert(s.id()).second) out.push_back(s.id());
  }
  for (const harmonia::v1::MarketReport& m : report.markets()) {
    for (const harmonia::v1::SegmentQuality& s : m.quality().segments()) {
      if (seen.insert(s.segment()).second) out.push_back(s.segment());
    }
  }
  return out;
}

double ShareOf(const harmonia::v1::CycleQuality& q, const std::string& segment) {
  for (const harmonia::v1::SegmentQuality& s : q.segments()) {
    if (s.segment() == segment) return s.share();
  }
  return 0;
}

harmonia::v1::Distribution ObjectiveOf(const harmonia::v1::CycleQuality& q,
                                       const std::string& segment) {
  for (const harmonia::v1::SegmentQuality& s : q.segments()) {
    if (s.segment() == segment) return s.objective();
  }
  return {};
}

namespace {

std::vector<std::string> Ordered(const std::set<std::string>& ids) {
  std::vector<std::string> out, last;
  for (const std::string& id : ids) {
    (id.empty() || id.front() == '(' ? last : out).push_back(id);
  }
  out.insert(out.end(), last.begin(), last.end());
  return out;
}

}  // namespace

Matrix ChurnMatrix(const harmonia::v1::Churn& churn) {
  std::set<std::string> from, to;
  for (const harmonia::v1::ChurnCell& c : churn.cells()) {
    from.insert(c.from_segment());
    to.insert(c.to_segment());
  }
  Matrix m;
  m.from = Ordered(from);
  m.to = Ordered(to);
  m.cells.assign(m.from.size(), std::vector<int64_t>(m.to.size(), 0));
  for (const harmonia::v1::ChurnCell& c : churn.cells()) {
    const size_t i = std::find(m.from.begin(), m.from.end(), c.from_segment()) - m.from.begin();
    const size_t j = std::find(m.to.begin(), m.to.end(), c.to_segment()) - m.to.begin();
    m.cells[i][j] += c.customers();
    m.max = std::max(m.max, m.cells[i][j]);
  }
  return m;
}

}  // namespace harmonia::report::internal
