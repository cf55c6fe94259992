// RenderHtml (report/render.h): one self-contained page, charts drawn here
// as SVG. Layout constants are in pixels of the SVG's own coordinates.
#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "report/internal/render_util.h"
#include "report/render.h"

namespace harmonia::report {
namespace {

namespace v1 = harmonia::v1;
using internal::Count;
using internal::Number;
using internal::Percent;

// Tableau 10: distinguishable, and readable on white.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
constexpr char kNoneColour[] = "#cccccc";

constexpr char kStyle[] = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;margin:0;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:19px;margin:28px 0 8px}h3{font-size:15px;margin:18px 0 6px}
.meta{color:#5b6475;margin:0}
section.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:12px 20px 18px;margin:16px 0}
table{border-collapse:collapse;margin:6px 0 10px;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;border-bottom:1px solid #e8eaef;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}th{font-weight:600;color:#3c4453;background:#f2f4f7}
.warnings{border-color:#e6a23c;background:#fff8eb}.warnings li{margin:2px 0}
.warning{color:#8a4b00}.ok{color:#2d7a3e}
td.warn,span.warn{background:#fde2e1;color:#9b1c1c;font-weight:600}
.label{color:#5b6475}.legend span{display:inline-block;margin-right:14px}
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
td.options{white-space:normal;word-break:break-all;text-align:left;font-size:12px;max-width:260px}
svg text{font:12px system-ui,sans-serif;fill:#1d2330}svg .axis{stroke:#9aa3b2;stroke-width:1}
)";

std::string Esc(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// A value for a data- attribute: exact enough to compare with the JSON.
std::string Exact(double v) { return absl::StrFormat("%.17g", v); }

class Colours {
 public:
  explicit Colours(const v1::Report& report) {
    for (const std::string& s : internal::SegmentsOf(report)) {
      if (s.empty()) continue;
      colour_[s] = kPalette[colour_.size() % (sizeof kPalette / sizeof kPalette[0])];
    }
  }
  const char* of(const std::string& segment) const {
    auto it = colour_.find(segment);
    return it == colour_.end() ? kNoneColour : it->second;
  }

 private:
  std::map<std::string, const char*> colour_;
};

std::string Title(const v1::Report& report, const v1::MarketReport& m, const std::string& seg) {
  auto it = m.labels().find(seg);
  std::string out = Esc(internal::SegmentOrNone(seg));
  if (it != m.labels().end() && !it->second.empty()) {
    absl::StrAppend(&out, " <span class=\"label\">", Esc(it->second), "</span>");
  } else {
    for (const v1::SegmentName& n : report.segments()) {
      if (n.id() == seg && !n.name().empty()) {
        absl::StrAppend(&out, " <span class=\"label\">", Esc(n.name()), "</span>");
      }
    }
  }
  return out;
}

std::string Legend(const v1::Report& report, const Colours& colours) {
  std::string out = "<p class=\"legend\">";
  for (const std::string& s : internal::SegmentsOf(report)) {
    absl::StrAppend(&out, "<span><i class=\"swatch\" style=\"background:", colours.of(s), "\"></i>",
                    Esc(internal::SegmentOrNone(s)), "</span>");
  }
  return out + "</p>";
}

// Segment share per market: one horizontal stacked bar per market.
std::string ShareChart(const v1::Report& report, const Colours& colours) {
  constexpr int kLeft = 60, kWidth = 640, kRow = 30, kBar = 20;
  const int height = kRow * report.markets_size() + 24;
  std::string out = absl::StrFormat(
      "<svg class=\"chart-share\" role=\"img\" aria-label=\"segment share per market\" "
      "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" xmlns=\"http://www.w3.org/2000/svg\">",
      kLeft + kWidth + 20, height, kLeft + kWidth + 20, height);
  int y = 4;
  for (const v1::MarketReport& m : report.markets()) {
    absl::StrAppendFormat(&out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>", kLeft - 8,
                          y + 15, Esc(m.country()));
    double x = kLeft;
    for (const v1::SegmentQuality& s : m.quality().segments()) {
      const double w = s.share() * kWidth;
      absl::StrAppendFormat(
          &out,
          "<rect class=\"bar\" data-country=\"%s\" data-segment=\"%s\" data-share=\"%s\" "
          "x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"%d\" fill=\"%s\"><title>%s %s: %s "
          "(%s customers)</title></rect>",
          Esc(m.country()), Esc(s.segment()), Exact(s.share()), x, y, w, kBar,
          colours.of(s.segment()), Esc(m.country()), Esc(internal::SegmentOrNone(s.segment())),
          Percent(s.share()), Count(s.customers()));
      if (w >= 38) {
        absl::StrAppendFormat(&out,
                              "<text x=\"%.2f\" y=\"%d\" text-anchor=\"middle\" "
                              "style=\"fill:#fff\">%s</text>",
                              x + w / 2, y + 15, Percent(s.share()));
      }
      x += w;
    }
    y += kRow;
  }
  for (int pct = 0; pct <= 100; pct += 25) {
    const double x = kLeft + kWidth * pct / 100.0;
    absl::StrAppendFormat(&out,
                          "<line class=\"axis\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\"/>"
                          "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d%%</text>",
                          x, x, y, y + 4, x, y + 16, pct);
  }
  return out + "</svg>";
}

// The objective behaviour by segment: whiskers min–max, box q1–q3, the
// median as a line, the mean as a dot.
std::string BoxChart(const v1::MarketReport& m, const v1::CycleQuality& q, const Colours& colours) {
  constexpr int kLeft = 64, kColumn = 110, kTop = 12, kHeight = 220;
  double lo = INFINITY, hi = -INFINITY;
  for (const v1::SegmentQuality& s : q.segments()) {
    if (s.objective().n() == 0) continue;
    lo = std::min(lo, s.objective().min());
    hi = std::max(hi, s.objective().max());
  }
  if (!(lo <= hi)) return "<p>No objective values to plot.</p>";
  if (hi == lo) hi = lo + 1;
  const auto Y = [&](double v) { return kTop + kHeight * (hi - v) / (hi - lo); };
  const int width = kLeft + kColumn * q.segments_size() + 10;
  const int height = kTop + kHeight + 44;
  std::string out = absl::StrFormat(
      "<svg class=\"chart-box\" data-country=\"%s\" role=\"img\" aria-label=\"%s by segment\" "
      "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" xmlns=\"http://www.w3.org/2000/svg\">",
      Esc(m.country()), Esc(q.objective_metric()), width, height, width, height);
  for (int k = 0; k <= 4; ++k) {
    const double v = lo + (hi - lo) * k / 4;
    absl::StrAppendFormat(&out,
                          "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
                          "style=\"stroke:#e8eaef\"/><text x=\"%d\" y=\"%.1f\" "
                          "text-anchor=\"end\">%s</text>",
                          kLeft, width - 10, Y(v), Y(v), kLeft - 6, Y(v) + 4, Number(v));
  }
  int x = kLeft;
  for (const v1::SegmentQuality& s : q.segments()) {
    const v1::Distribution& d = s.objective();
    const int mid = x + kColumn / 2;
    absl::StrAppendFormat(&out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>", mid,
                          kTop + kHeight + 18, Esc(internal::SegmentOrNone(s.segment())));
    auto it = m.labels().find(s.segment());
    if (it != m.labels().end()) {
      absl::StrAppendFormat(&out,
                            "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
                            "style=\"fill:#5b6475\">%s</text>",
                            mid, kTop + kHeight + 34, Esc(it->second));
    }
    if (d.n() > 0) {
      absl::StrAppendFormat(
          &out,
          "<g class=\"box\" data-segment=\"%s\" data-n=\"%d\" data-min=\"%s\" data-q1=\"%s\" "
          "data-median=\"%s\" data-q3=\"%s\" data-max=\"%s\" data-mean=\"%s\"><title>%s: n %s, "
          "median %s, quartiles %s–%s, mean %s</title>"
          "<line x1=\"%d\" x2=\"%d\" y1=\"%.2f\" y2=\"%.2f\" stroke=\"#5b6475\"/>"
          "<rect x=\"%d\" y=\"%.2f\" width=\"%d\" height=\"%.2f\" fill=\"%s\" "
          "fill-opacity=\"0.75\" stroke=\"#3c4453\"/>"
          "<line x1=\"%d\" x2=\"%d\" y1=\"%.2f\" y2=\"%.2f\" stroke=\"#1d2330\" "
          "stroke-width=\"2\"/><circle cx=\"%d\" cy=\"%.2f\" r=\"3\" fill=\"#1d2330\"/></g>",
          Esc(s.segment()), d.n(), Exact(d.min()), Exact(d.q1()), Exact(d.median()), Exact(d.q3()),
          Exact(d.max()), Exact(d.mean()), Esc(internal::SegmentOrNone(s.segment())), Count(d.n()),
          Number(d.median()), Number(d.q1()), Number(d.q3()), Number(d.mean()), mid, mid,
          Y(d.max()), Y(d.min()), mid - 28, Y(d.q3()), 56, std::max(1.0, Y(d.q1()) - Y(d.q3())),
          colours.of(s.segment()), mid - 28, mid + 28, Y(d.median()), Y(d.median()), mid,
          Y(d.mean()));
    }
    x += kColumn;
  }
  return out + "</svg>";
}

// Churn as a heatmap: darker = more customers.
std::string ChurnChart(const v1::MarketReport& m, const v1::Churn& churn) {
  const internal::Matrix mx = internal::ChurnMatrix(churn);
  constexpr int kLeft = 130, kTop = 30, kCell = 64, kCellH = 30;
  const int width = kLeft + kCell * static_cast<int>(mx.to.size()) + 10;
  const int height = kTop + kCellH * static_cast<int>(mx.from.size()) + 10;
  std::string out = absl::StrFormat(
      "<svg class=\"chart-churn\" data-country=\"%s\" data-previous-cycle=\"%d\" role=\"img\" "
      "aria-label=\"churn\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
      "xmlns=\"http://www.w3.org/2000/svg\">",
      Esc(m.country()), churn.previous_cycle_id(), width, height, width, height);
  for (size_t j = 0; j < mx.to.size(); ++j) {
    absl::StrAppendFormat(&out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>",
                          kLeft + kCell * static_cast<int>(j) + kCell / 2, kTop - 10,
                          Esc(internal::SegmentOrNone(mx.to[j]).substr(0, 10)));
  }
  for (size_t i = 0; i < mx.from.size(); ++i) {
    const int y = kTop + kCellH * static_cast<int>(i);
    absl::StrAppendFormat(&out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>", kLeft - 8,
                          y + 19, Esc(internal::SegmentOrNone(mx.from[i])));
    for (size_t j = 0; j < mx.to.size(); ++j) {
      const int64_t n = mx.cells[i][j];
      const double t = mx.max > 0 ? std::sqrt(static_cast<double>(n) / mx.max) : 0;
      // From near-white to a deep blue.
      const int r = static_cast<int>(std::lround(247 - t * (247 - 31)));
      const int g = static_cast<int>(std::lround(249 - t * (249 - 78)));
      const int b = static_cast<int>(std::lround(252 - t * (252 - 140)));
      const int x = kLeft + kCell * static_cast<int>(j);
      absl::StrAppendFormat(
          &out,
          "<rect class=\"cell\" data-from=\"%s\" data-to=\"%s\" data-customers=\"%d\" x=\"%d\" "
          "y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" stroke=\"#fff\"><title>%s → "
          "%s: %s</title></rect><text x=\"%d\" y=\"%d\" text-anchor=\"middle\" "
          "style=\"fill:%s\">%s</text>",
          Esc(mx.from[i]), Esc(mx.to[j]), n, x, y, kCell, kCellH, r, g, b,
          Esc(internal::SegmentOrNone(mx.from[i])), Esc(internal::SegmentOrNone(mx.to[j])),
          Count(n), x + kCell / 2, y + 19, t > 0.6 ? "#fff" : "#1d2330", Count(n));
    }
  }
  return out + "</svg>";
}

std::string Cell(const std::string& text, const std::string& attrs = "") {
  return absl::StrCat("<td", attrs.empty() ? "" : " ", attrs, ">", text, "</td>");
}

std::string DistCells(const v1::Distribution& d) {
  if (d.n() == 0) return "<td>-</td><td>-</td><td>-</td><td>-</td><td>-</td><td>0</td>";
  return absl::StrCat(Cell(Number(d.mean())), Cell(Number(d.sd())), Cell(Number(d.q1())),
                      Cell(Number(d.median())), Cell(Number(d.q3())), Cell(Count(d.n())));
}

// Share of each driver tag, in the market and per segment; each cell carries
// its share for tools and tests.
std::string Tags(const v1::Report& report, const v1::MarketReport& m, const v1::CycleQuality& q) {
  if (q.tags_size() == 0) return "";
  std::string out =
      "<h3>Drivers and barriers</h3><p>Share of the customers with each tag.</p>"
      "<table class=\"tags\"><tr><th>tag</th><th>all</th>";
  for (const v1::TagShare::InSegment& s : q.tags(0).segments()) {
    absl::StrAppend(&out, "<th>", Title(report, m, s.segment()), "</th>");
  }
  absl::StrAppend(&out, "</tr>");
  for (const v1::TagShare& t : q.tags()) {
    absl::StrAppend(
        &out, "<tr data-tag=\"", Esc(t.tag()), "\"><td>", Esc(t.tag()), "</td>",
        Cell(Percent(t.share()), absl::StrCat("data-share=\"", Exact(t.share()), "\"")));
    for (const v1::TagShare::InSegment& s : t.segments()) {
      absl::StrAppend(
          &out, Cell(Percent(s.share()), absl::StrCat("data-segment=\"", Esc(s.segment()),
                                                      "\" data-share=\"", Exact(s.share()), "\"")));
    }
    absl::StrAppend(&out, "</tr>");
  }
  return out + "</table>";
}

int64_t Touchpoints(const v1::ActivityCounts& c) {
  return c.calls() + c.remote() + c.email() + c.events();
}

// Whether the last period's plan was carried out, and whether the objective
// behaviour moved more where it was.
std::string FollowUp(const v1::Report& report, const v1::MarketReport& m,
                     const v1::CycleQuality& q) {
  if (!q.has_follow_up()) return "";
  const v1::PlanFollowUp& f = q.follow_up();
  std::string out = absl::StrFormat(
      "<h3>Did it work?</h3><p>The plan of cycle %d against the activities reported from %s to "
      "%s (%s touchpoints of customers outside the plan are not counted).</p>"
      "<table class=\"attainment\"><tr><th>segment</th><th>tier</th><th>customers</th>"
      "<th>planned</th><th>plan</th><th>actual</th><th>attainment</th><th>carried out</th>"
      "<th>calls</th><th>remote</th><th>email</th><th>events</th></tr>",
      f.plan_cycle_id(), Esc(f.from()), Esc(f.to()), Count(f.activities_outside_plan()));
  auto row = [&](const v1::Attainment& a, const std::string& segment_cell,
                 const std::string& attrs) {
    auto pair = [](int64_t actual, int64_t plan) {
      return Cell(absl::StrCat(Count(actual), "/", Count(plan)));
    };
    absl::StrAppend(
        &out, "<tr ", attrs, ">", segment_cell, Cell(Esc(a.tier())), Cell(Count(a.customers())),
        Cell(Count(a.planned())), Cell(Count(Touchpoints(a.plan()))),
        Cell(Count(Touchpoints(a.actual()))),
        Cell(a.has_attainment() ? Percent(a.attainment()) : "-",
             absl::StrCat("class=\"attained\" data-value=\"",
                          a.has_attainment() ? Exact(a.attainment()) : "", "\"")),
        Cell(a.planned() ? Percent(internal::Fraction(a.carried_out(), a.planned())) : "-"),
        pair(a.actual().calls(), a.plan().calls()), pair(a.actual().remote(), a.plan().remote()),
        pair(a.actual().email(), a.plan().email()), pair(a.actual().events(), a.plan().events()),
        "</tr>");
  };
  for (const v1::Attainment& a : f.attainment()) {
    row(a, absl::StrCat("<td>", Title(report, m, a.segment()), "</td>"),
        absl::StrCat("data-segment=\"", Esc(a.segment()), "\" data-tier=\"", Esc(a.tier()), "\""));
  }
  row(f.market(), "<td><b>market</b></td>", "class=\"market\"");
  absl::StrAppend(&out, "</table>");
  if (f.has_behaviour()) {
    const v1::BehaviourChange& b = f.behaviour();
    auto group = [](const v1::Distribution& d) {
      return d.n() ? absl::StrCat(Count(d.n()), " customers, mean change ",
                                  internal::Signed(d.mean()))
                   : std::string("no customers");
    };
    absl::StrAppend(&out, "<p class=\"behaviour\">Change of ", Esc(b.objective_metric()),
                    " since the plan: carried out: ", group(b.carried_out()),
                    "; not carried out: ", group(b.not_carried_out()));
    if (b.has_mean_difference()) {
      absl::StrAppend(&out, "; difference <span class=\"difference\" data-value=\"",
                      Exact(b.mean_difference()), "\">", internal::Signed(b.mean_difference()),
                      "</span>");
    }
    if (b.has_p_value()) {
      absl::StrAppend(&out, " (Welch's t ", Number(b.welch_t()), ", df ", Number(b.welch_df()),
                      ", p <span class=\"welch-p\" data-value=\"", Exact(b.p_value()), "\">",
                      internal::PValue(b.p_value()), "</span>)");
    }
    absl::StrAppend(&out, ".</p>");
  }
  return out;
}

std::string Quality(const v1::Report& report, const v1::MarketReport& m, const v1::CycleQuality& q,
                    const Colours& colours, const std::string& churn_title) {
  std::string out;
  absl::StrAppend(&out, "<h3>Objective behaviour ", Esc(q.objective_metric()),
                  " by segment</h3><table class=\"segments\"><tr><th>segment</th><th>customers</th>"
                  "<th>share</th><th>mean</th><th>sd</th><th>q1</th><th>median</th><th>q3</th>"
                  "<th>n</th></tr>");
  for (const v1::SegmentQuality& s : q.segments()) {
    absl::StrAppend(&out, "<tr data-segment=\"", Esc(s.segment()),
                    "\"><td><i class=\"swatch\" "
                    "style=\"background:",
                    colours.of(s.segment()), "\"></i>", Title(report, m, s.segment()), "</td>",
                    Cell(Count(s.customers())),
                    Cell(Percent(s.share()), absl::StrCat("data-share=\"", Exact(s.share()), "\"")),
                    DistCells(s.objective()), "</tr>");
  }
  absl::StrAppend(&out, "<tr><td>all</td>", Cell(Count(q.customers())), Cell("100%"),
                  DistCells(q.objective()), "</tr></table>");
  out += BoxChart(m, q, colours);
  const v1::Separation& s = q.separation();
  const bool low = s.has_eta_squared() && s.eta_squared() < q.min_differentiation();
  absl::StrAppend(
      &out, "<p class=\"separation\">eta-squared <span class=\"eta", low ? " warn" : "",
      "\" data-value=\"", s.has_eta_squared() ? Exact(s.eta_squared()) : "", "\">",
      s.has_eta_squared() ? Number(s.eta_squared()) : "-", "</span> (min_differentiation ",
      Number(q.min_differentiation()), "), Kruskal-Wallis H <span class=\"kw-h\" data-value=\"",
      s.has_kruskal_wallis_h() ? Exact(s.kruskal_wallis_h()) : "", "\">",
      s.has_kruskal_wallis_h() ? Number(s.kruskal_wallis_h()) : "-", "</span>, df ", s.df(),
      ", p <span class=\"kw-p\" data-value=\"", s.has_p_value() ? Exact(s.p_value()) : "", "\">",
      s.has_p_value() ? internal::PValue(s.p_value()) : "-", "</span>; ", Count(s.n()),
      " customers with a value.</p>");

  const v1::Churn& c = q.churn();
  absl::StrAppend(&out, "<h3>", Esc(churn_title), "</h3>");
  if (c.previous_cycle_id() == 0) {
    absl::StrAppend(&out, "<p>No previous cycle.</p>");
  } else {
    absl::StrAppendFormat(&out,
                          "<p>Against cycle %d: stayed %s, moved %s (%s), entered %s, left "
                          "%s.</p>",
                          c.previous_cycle_id(), Count(c.stayed()), Count(c.moved()),
                          Percent(c.moved_share()), Count(c.entered()), Count(c.left()));
    out += ChurnChart(m, c);
  }

  const v1::DecidedBy& d = q.decided_by();
  const int64_t n = q.customers();
  absl::StrAppend(&out,
                  "<h3>Decided by</h3><table class=\"decided\"><tr><th>how</th>"
                  "<th>customers</th><th>share</th></tr>");
  const std::pair<const char*, int64_t> how[] = {{"rules", d.rules()},
                                                 {"unprofiled", d.unprofiled()},
                                                 {"pull_through", d.pull_through()},
                                                 {"refinement", d.refinement()},
                                                 {"conflict", d.conflict()}};
  for (const auto& [name, count] : how) {
    absl::StrAppend(&out, "<tr><td>", name, "</td>", Cell(Count(count)),
                    Cell(Percent(internal::Fraction(count, n))), "</tr>");
  }
  absl::StrAppend(&out, "</table>");

  const v1::RefinementCounts& r = q.refinements();
  absl::StrAppendFormat(&out,
                        "<h3>Refinements</h3><p>Applied %s, rejected %s, expired %s, awaiting "
                        "approval %s; quota %s customers.</p>",
                        Count(r.applied()), Count(r.rejected()), Count(r.expired()),
                        Count(r.awaiting_approval()), Count(r.quota()));
  if (r.by_reason_size() > 0) {
    absl::StrAppend(&out,
                    "<table><tr><th>reason</th><th>applied</th><th>rejected</th>"
                    "<th>expired</th></tr>");
    for (const v1::ReasonCount& rc : r.by_reason()) {
      absl::StrAppend(&out, "<tr><td>", Esc(rc.reason()), "</td>", Cell(Count(rc.applied())),
                      Cell(Count(rc.rejected())), Cell(Count(rc.expired())), "</tr>");
    }
    absl::StrAppend(&out, "</table>");
  }
  if (q.refinement_payoff_size() > 0) {
    absl::StrAppend(&out, "<p>Do refinements pay off? ", Esc(q.objective_metric()),
                    " of refined customers against the customers the rules put in the same "
                    "segment:</p><table class=\"payoff\"><tr><th>segment</th><th>refined n</th>"
                    "<th>refined mean</th><th>rule peers n</th><th>peers mean</th>"
                    "<th>difference</th></tr>");
    for (const v1::RefinementPayoff& p : q.refinement_payoff()) {
      const bool peers = p.rule_peers().n() > 0;
      absl::StrAppend(&out, "<tr><td>", Title(report, m, p.segment()), "</td>",
                      Cell(Count(p.refined().n())), Cell(Number(p.refined().mean())),
                      Cell(Count(p.rule_peers().n())),
                      Cell(peers ? Number(p.rule_peers().mean()) : "-"),
                      Cell(peers ? internal::Signed(p.mean_difference()) : "-"), "</tr>");
    }
    absl::StrAppend(&out, "</table>");
  }

  out += Tags(report, m, q);
  out += FollowUp(report, m, q);

  const v1::DataQuality& dq = q.data_quality();
  absl::StrAppend(&out, "<h3>Data quality</h3><p>Values dropped, by kind and source (",
                  Count(dq.unknown_inputs()),
                  " stored values for ids the rule set does not have).</p><table "
                  "class=\"data-quality\"><tr><th>kind</th><th>rep</th><th>external</th>"
                  "<th>local</th></tr>");
  const std::pair<const char*, const v1::SourceCounts*> kinds[] = {
      {"invalid", &dq.invalid()},
      {"stale", &dq.stale()},
      {"future", &dq.future()},
      {"source not used", &dq.source_not_used()},
      {"candidates (kept)", &dq.candidates()}};
  for (const auto& [name, sc] : kinds) {
    absl::StrAppend(&out, "<tr><td>", name, "</td>", Cell(Count(sc->rep())),
                    Cell(Count(sc->external())), Cell(Count(sc->local())), "</tr>");
  }
  absl::StrAppend(&out,
                  "</table><h3>Input coverage</h3><table class=\"coverage\"><tr>"
                  "<th>input</th><th>customers</th><th>share</th><th>rep</th>"
                  "<th>external</th><th>local</th></tr>");
  for (const v1::InputCoverage& cv : q.coverage()) {
    absl::StrAppend(&out, "<tr><td>", Esc(cv.input()),
                    cv.metric() ? " <span class=\"label\">metric</span>" : "", "</td>",
                    Cell(Count(cv.customers())), Cell(Percent(cv.share())),
                    Cell(Count(cv.chosen_from().rep())), Cell(Count(cv.chosen_from().external())),
                    Cell(Count(cv.chosen_from().local())), "</tr>");
  }
  absl::StrAppend(&out, "</table>");
  return out;
}

std::string History(const v1::MarketReport& m) {
  if (m.history_size() < 2) return "";
  std::string out =
      "<h3>Over the cycles</h3><table class=\"history\"><tr><th>cycle</th><th>as of</th>"
      "<th>version</th><th>eta-squared</th><th>moved</th><th>refined</th>"
      "<th>refinement payoff (difference of means)</th></tr>";
  for (const v1::MarketReport::Trend& h : m.history()) {
    std::string payoff;
    for (const v1::RefinementPayoff& p : h.refinement_payoff()) {
      if (p.rule_peers().n() == 0) continue;
      absl::StrAppend(&payoff, payoff.empty() ? "" : ", ", Esc(p.segment()), " ",
                      internal::Signed(p.mean_difference()));
    }
    absl::StrAppend(&out, "<tr><td>", h.cycle_id(), "</td>", Cell(h.as_of()),
                    Cell(absl::StrCat("v", h.rule_set_version())),
                    Cell(h.has_eta_squared() ? Number(h.eta_squared()) : "-"),
                    Cell(Percent(h.moved_share())), Cell(Count(h.refined())),
                    Cell(payoff.empty() ? "-" : payoff), "</tr>");
  }
  return out + "</table>";
}

}  // namespace

std::string RenderHtml(const v1::Report& report) {
  const Colours colours(report);
  const std::string generated = absl::FormatTime(
      "%Y-%m-%d %H:%M UTC", absl::FromUnixSeconds(report.generated_at_unix()), absl::UTCTimeZone());
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      "<meta name=\"generator\" content=\"harmonia report\">"
      "<title>Harmonia report: ",
      Esc(report.therapy_area()), "</title><style>", kStyle, "</style></head><body><main>\n");
  absl::StrAppend(&out, "<header><h1>Segmentation report: ", Esc(report.therapy_area()),
                  "</h1><p class=\"meta\">Rule set v", report.rule_set_version(),
                  " (latest) · objective behaviour <b>", Esc(report.objective_metric()),
                  "</b> · min_differentiation ", Number(report.min_differentiation()),
                  " · generated ", generated, "</p>",
                  report.has_typing_tool()
                      ? absl::StrCat("<p class=\"meta\" id=\"typing-tool\">",
                                     Esc(internal::TypingToolLine(report)), "</p>")
                      : "",
                  "</header>\n");

  absl::StrAppend(&out, "<section id=\"warnings\" class=\"card",
                  report.warnings_size() ? " warnings" : "", "\"><h2>Quality warnings</h2>");
  if (report.warnings_size() == 0) {
    absl::StrAppend(&out, "<p class=\"ok\">No quality warnings.</p>");
  } else {
    absl::StrAppend(&out, "<ul>");
    for (const std::string& w : report.warnings()) {
      absl::StrAppend(&out, "<li class=\"warning\">", Esc(w), "</li>");
    }
    absl::StrAppend(&out, "</ul>");
  }
  absl::StrAppend(&out, "</section>\n");

  absl::StrAppend(&out, "<section id=\"markets\" class=\"card\"><h2>Segment share per market</h2>");
  if (report.markets_size() == 0) {
    absl::StrAppend(&out, "<p>No market has run a cycle yet.</p>");
  } else {
    out += ShareChart(report, colours);
    out += Legend(report, colours);
    absl::StrAppend(&out,
                    "<table class=\"overview\"><tr><th>market</th><th>cycle</th>"
                    "<th>as of</th><th>rule set</th><th>customers</th><th>eta-squared</th>"
                    "<th>p (Kruskal-Wallis)</th><th>moved</th><th>refined</th>"
                    "<th>unprofiled</th><th>options</th></tr>");
    for (const v1::MarketReport& m : report.markets()) {
      const v1::CycleQuality& q = m.quality();
      const v1::Separation& s = q.separation();
      const bool low = s.has_eta_squared() && s.eta_squared() < q.min_differentiation();
      absl::StrAppend(
          &out, "<tr data-country=\"", Esc(m.country()), "\"><td><a href=\"#market-",
          Esc(m.country()), "\">", Esc(m.country()), "</a></td>", Cell(absl::StrCat(m.cycle_id())),
          Cell(Esc(m.as_of())),
          Cell(absl::StrCat("v", m.rule_set_version()),
               m.rule_set_version() != report.rule_set_version() ? "class=\"warn\"" : ""),
          Cell(Count(q.customers())),
          Cell(s.has_eta_squared() ? Number(s.eta_squared()) : "-",
               absl::StrCat("class=\"eta", low ? " warn" : "", "\" data-value=\"",
                            s.has_eta_squared() ? Exact(s.eta_squared()) : "", "\"")),
          Cell(s.has_p_value() ? internal::PValue(s.p_value()) : "-"),
          Cell(Percent(q.churn().moved_share())),
          Cell(Percent(internal::Fraction(q.decided_by().refinement(), q.customers()))),
          Cell(Percent(internal::Fraction(q.decided_by().unprofiled(), q.customers()))),
          Cell(Esc(m.options()), "class=\"options\""), "</tr>");
    }
    absl::StrAppend(&out, "</table><h3>Objective behaviour ", Esc(report.objective_metric()),
                    " by segment and market</h3><p class=\"meta\">Mean (median) of the "
                    "customers with a value.</p><table class=\"objective\"><tr><th>segment</th>");
    for (const v1::MarketReport& m : report.markets()) {
      absl::StrAppend(&out, "<th>", Esc(m.country()), "</th>");
    }
    absl::StrAppend(&out, "</tr>");
    for (const std::string& seg : internal::SegmentsOf(report)) {
      absl::StrAppend(&out, "<tr><td><i class=\"swatch\" style=\"background:", colours.of(seg),
                      "\"></i>", Esc(internal::SegmentOrNone(seg)), "</td>");
      for (const v1::MarketReport& m : report.markets()) {
        const v1::Distribution d = internal::ObjectiveOf(m.quality(), seg);
        out += d.n() ? Cell(absl::StrCat(Number(d.mean()), " (", Number(d.median()), ")"),
                            absl::StrCat("data-country=\"", Esc(m.country()), "\" data-segment=\"",
                                         Esc(seg), "\" data-mean=\"", Exact(d.mean()), "\""))
                     : Cell("-");
      }
      absl::StrAppend(&out, "</tr>");
    }
    absl::StrAppend(&out, "</table>");
    if (report.deviations_size() > 0) {
      absl::StrAppendFormat(&out,
                            "<h3>Markets that deviate (more than %s SD from the others)</h3>"
                            "<table class=\"deviations\"><tr><th>market</th><th>segment</th>"
                            "<th>share</th><th>others' mean</th><th>others' sd</th><th>z</th>"
                            "</tr>",
                            Number(report.threshold_sd()));
      for (const v1::Deviation& d : report.deviations()) {
        absl::StrAppend(&out, "<tr class=\"deviation\"><td>", Esc(d.country()), "</td>",
                        Cell(Esc(d.segment())), Cell(Percent(d.share()), "class=\"warn\""),
                        Cell(Percent(d.others_mean())), Cell(Percent(d.others_sd())),
                        Cell(internal::Signed(d.z())), "</tr>");
      }
      absl::StrAppend(&out, "</table>");
    }
  }
  absl::StrAppend(&out, "</section>\n");

  for (const v1::MarketReport& m : report.markets()) {
    absl::StrAppend(&out, "<section class=\"card market\" id=\"market-", Esc(m.country()),
                    "\" data-country=\"", Esc(m.country()), "\"><h2>", Esc(m.country()), ": cycle ",
                    m.cycle_id(), " as of ", Esc(m.as_of()), "</h2><p class=\"meta\">",
                    Esc(report.therapy_area()), " v", m.rule_set_version(), " · options ",
                    Esc(m.options()), " · run by ", Esc(m.run_by()), "</p>");
    for (const std::string& w : m.quality().warnings()) {
      absl::StrAppend(&out, "<p class=\"warning\">⚠ ", Esc(w), "</p>");
    }
    out += Quality(report, m, m.quality(), colours, "Churn against the previous cycle");
    out += History(m);
    absl::StrAppend(&out, "</section>\n");
  }

  if (report.has_preview()) {
    const v1::ImpactPreview& p = report.preview();
    v1::MarketReport base;
    for (const v1::MarketReport& m : report.markets()) {
      if (m.country() == p.country()) base = m;
    }
    absl::StrAppend(&out,
                    "<section class=\"card preview\" id=\"preview\"><h2>Impact preview: "
                    "candidate v",
                    p.candidate_version(), " over ", Esc(p.country()), " cycle ",
                    p.baseline_cycle_id(), " (v", p.baseline_rule_set_version(), ")</h2>");
    for (const v1::Issue& w : p.warnings()) {
      absl::StrAppend(&out, "<p class=\"warning\">⚠ candidate: ", Esc(w.message()), "</p>");
    }
    for (const std::string& w : p.quality().warnings()) {
      absl::StrAppend(&out, "<p class=\"warning\">⚠ candidate: ", Esc(w), "</p>");
    }
    out += Quality(report, base, p.quality(), colours, "Transitions from the current cycle");
    absl::StrAppend(&out, "</section>\n");
  }
  absl::StrAppend(&out, "</main></body></html>\n");
  return out;
}

}  // namespace harmonia::report
