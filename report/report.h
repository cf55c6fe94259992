// Start here for reports (docs/report.md): whether a
// segmentation works, per market and across a therapy area's markets.
//
//   BuildReport     the latest cycle of every market (or of the ones asked
//                   for) side by side: segment shares, objective behaviour
//                   per segment, separation, churn, refinements, data
//                   quality, each market's rule-set version and options,
//                   the figures over its earlier cycles, and the markets
//                   whose segment shares deviate from the others'
//   PreviewImpact   a candidate rule set run over a market's current cycle,
//                   not committed: its transition matrix and quality figures
//
// The figures come from the quality stored with each cycle when it ran
// (quality/quality.h), so a report reads one row per cycle and no
// assignments. Renderers: report/render.h.
//
// Thread-safety: functions; the Store is used from the calling thread only.
#ifndef HARMONIA_REPORT_REPORT_H_
#define HARMONIA_REPORT_REPORT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/issue.h"
#include "engine/rule_set.h"
#include "harmonia/v1/report.pb.h"
#include "store/store.h"

namespace harmonia::report {

inline constexpr char kReportSchema[] = "harmonia.report/1";

struct ReportRequest {
  std::string therapy_area;
  std::vector<std::string> countries;  // empty = every country with a cycle
  // With exactly one country: that cycle instead of the latest (0 = latest).
  int64_t cycle_id = 0;
  int history = 8;            // cycles per market in MarketReport.history (>= 1)
  double threshold_sd = 2.0;  // a share this many SDs from the others' is a deviation
  int64_t now_unix = 0;       // generated_at
};

// NotFound: no rule set of the therapy area is published, a country asked
// for has no cycle of it (or not that cycle). InvalidArgument: cycle_id with
// other than one country, history < 1, threshold_sd <= 0.
absl::StatusOr<harmonia::v1::Report> BuildReport(store::Store& store, const ReportRequest& request);

// Marks the markets whose share of a segment is more than `threshold_sd`
// standard deviations (of the other markets' shares, at least half a
// percentage point) from the other markets' mean; needs at least three other
// markets with figures. Fills report->deviations and adds a warning for each.
void FindDeviations(harmonia::v1::Report* report);

struct PreviewRequest {
  std::shared_ptr<const engine::RuleSet> candidate;  // compiled; REQUIRES: not null
  std::vector<Issue> candidate_warnings;             // its compile warnings, reported
  std::string country;
  std::optional<int32_t> as_of;  // nullopt = the baseline cycle's date
  int64_t now_unix = 0;
  std::string run_by;
};

// Runs the candidate over `country`'s latest cycle of its therapy area
// without committing. FailedPrecondition: the market has no cycle yet.
// InvalidArgument: the country's options (as its latest cycle used them) do
// not fit the candidate's menu; the issues are appended to *issues.
absl::StatusOr<harmonia::v1::ImpactPreview> PreviewImpact(store::Store& store,
                                                          const PreviewRequest& request,
                                                          std::vector<Issue>* issues);

}  // namespace harmonia::report

#endif  // HARMONIA_REPORT_REPORT_H_
