// A Report (report/report.h) for people and for machines:
//
//   RenderText   terminal tables (fixed-width, plain ASCII apart from names)
//   RenderJson   the Report message's JSON mapping (field names as in
//                proto/harmonia/v1/report.proto, every field printed)
//   RenderHtml   one self-contained HTML file: inline CSS and inline SVG
//                charts (segment share per market as stacked bars, the
//                objective behaviour by segment as box plots, churn as a
//                heatmap), quality warnings highlighted, localized segment
//                labels next to the global ids; no script, no network
//
// The HTML marks its figures for tests and tools: every chart is an <svg>
// with class chart-share, chart-box or chart-churn, and every drawn figure
// carries its value in a data- attribute (docs/report.md lists them).
//
// Thread-safety: pure functions.
#ifndef HARMONIA_REPORT_RENDER_H_
#define HARMONIA_REPORT_RENDER_H_

#include <string>

#include "harmonia/v1/report.pb.h"

namespace harmonia::report {

std::string RenderText(const harmonia::v1::Report& report);
std::string RenderJson(const harmonia::v1::Report& report);
std::string RenderHtml(const harmonia::v1::Report& report);

}  // namespace harmonia::report

#endif  // HARMONIA_REPORT_RENDER_H_
