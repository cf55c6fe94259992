#include "report/report.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/date.h"
#include "common/status_macros.h"
#include "cycle/cycle.h"
#include "engine/country_config.h"
#include "proto/issue_convert.h"
#include "quality/quality.h"

namespace harmonia::report {
namespace {

namespace v1 = harmonia::v1;

// A standard deviation below this (half a percentage point) is taken as this,
// so that markets with identical shares do not make every small difference a
// deviation.
constexpr double kMinShareSd = 0.005;
// Deviations need this many other markets to compare with.
constexpr int kMinOtherMarkets = 3;

// The segment labels of the country file a cycle ran with (its shape only:
// the cycle's rule set checked them when it ran).
std::map<std::string, std::string> Labels(const store::CycleRecord& cycle) {
  engine::CountryLoadResult loaded = engine::LoadCountryConfig(
      cycle.country_config, cycle.country + ".yaml", [](const std::string&) { return nullptr; },
      /*unknown_therapy_areas_ok=*/true);
  if (!loaded.config) return {};
  const engine::TherapyAreaConfig* ta = loaded.config->FindTherapyArea(cycle.therapy_area);
  return ta ? ta->labels : std::map<std::string, std::string>{};
}

v1::MarketReport::Trend TrendOf(const store::CycleRecord& c, const v1::CycleQuality& q) {
  v1::MarketReport::Trend t;
  t.set_cycle_id(c.cycle_id);
  t.set_as_of(FormatIsoDate(c.as_of));
  t.set_rule_set_version(c.rule_set_version);
  if (q.separation().has_eta_squared()) t.set_eta_squared(q.separation().eta_squared());
  t.set_moved_share(q.churn().moved_share());
  t.set_refined(q.decided_by().refinement());
  *t.mutable_refinement_payoff() = q.refinement_payoff();
  return t;
}

absl::Status AddMarket(store::Store& store, const store::CycleRecord& cycle, int history,
                       v1::Report* report) {
  v1::MarketReport* m = report->add_markets();
  m->set_country(cycle.country);
  m->set_cycle_id(cycle.cycle_id);
  m->set_as_of(FormatIsoDate(cycle.as_of));
  m->set_rule_set_version(cycle.rule_set_version);
  m->set_options(cycle.options);
  m->set_committed_at_unix(cycle.committed_at_unix);
  m->set_run_by(cycle.run_by);
  for (const auto& [id, label] : Labels(cycle)) (*m->mutable_labels())[id] = label;
  absl::StatusOr<v1::CycleQuality> quality = quality::QualityFromJson(cycle.quality);
  if (!quality.ok()) {
    report->add_warnings(absl::StrCat(cycle.country, ": cycle ", cycle.cycle_id,
                                      " has no quality figures (run before this version); "
                                      "run a cycle to get them"));
  } else {
    *m->mutable_quality() = *std::move(quality);
    for (const std::string& w : m->quality().warnings()) {
      report->add_warnings(absl::StrCat(cycle.country, ": ", w));
    }
  }
  if (cycle.rule_set_version != report->rule_set_version()) {
    report->add_warnings(absl::StrCat(cycle.country, " runs ", cycle.therapy_area, " v",
                                      cycle.rule_set_version, "; v", report->rule_set_version(),
                                      " is the latest"));
  }
  HARMONIA_ASSIGN_OR_RETURN(std::vector<store::CycleRecord> cycles,
                            store.ListCycles(cycle.country, cycle.therapy_area));
  std::vector<const store::CycleRecord*> upto;
  for (const store::CycleRecord& c : cycles) {
    if (c.cycle_id <= cycle.cycle_id) upto.push_back(&c);
  }
  const size_t first = upto.size() > static_cast<size_t>(history) ? upto.size() - history : 0;
  for (size_t k = first; k < upto.size(); ++k) {
    absl::StatusOr<v1::CycleQuality> q = quality::QualityFromJson(upto[k]->quality);
    *m->add_history() = TrendOf(*upto[k], q.ok() ? *q : v1::CycleQuality());
  }
  return absl::OkStatus();
}

}  // namespace

void FindDeviations(v1::Report* report) {
  report->clear_deviations();
  // share[segment][market], markets with figures only.
  std::vector<const v1::MarketReport*> markets;
  for (const v1::MarketReport& m : report->markets()) {
    if (m.quality().customers() > 0) markets.push_back(&m);
  }
  if (markets.size() < static_cast<size_t>(kMinOtherMarkets) + 1) return;
  for (const v1::SegmentName& seg : report->segments()) {
    std::vector<double> share;
    for (const v1::MarketReport* m : markets) {
      double s = 0;
      for (const v1::SegmentQuality& q : m->quality().segments()) {
        if (q.segment() == seg.id()) s = q.share();
      }
      share.push_back(s);
    }
    for (size_t i = 0; i < markets.size(); ++i) {
      double sum = 0;
      for (size_t j = 0; j < share.size(); ++j) {
        if (j != i) sum += share[j];
      }
      const double others = static_cast<double>(share.size() - 1);
      const double mean = sum / others;
      double ss = 0;
      for (size_t j = 0; j < share.size(); ++j) {
        if (j != i) ss += (share[j] - mean) * (share[j] - mean);
      }
      const double sd = std::sqrt(ss / (others - 1));
      const double z = (share[i] - mean) / std::max(sd, kMinShareSd);
      if (std::fabs(z) <= report->threshold_sd()) continue;
      v1::Deviation* d = report->add_deviations();
      d->set_country(markets[i]->country());
      d->set_segment(seg.id());
      d->set_share(share[i]);
      d->set_others_mean(mean);
      d->set_others_sd(sd);
      d->set_z(z);
      report->add_warnings(absl::StrFormat(
          "%s: segment %s holds %.1f%% of customers; the other markets %.1f%% ± %.1f%% (%+.1f SD)",
          markets[i]->country(), seg.id(), 100 * share[i], 100 * mean, 100 * sd, z));
    }
  }
}

absl::StatusOr<v1::Report> BuildReport(store::Store& store, const ReportRequest& request) {
  if (request.cycle_id != 0 && request.countries.size() != 1) {
    return absl::InvalidArgumentError("a cycle id needs exactly one country");
  }
  if (request.history < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("history ", request.history, " is not a whole number >= 1"));
  }
  if (!(request.threshold_sd > 0)) {
    return absl::InvalidArgumentError("threshold_sd must be above 0");
  }
  HARMONIA_ASSIGN_OR_RETURN(std::optional<store::RuleSetRecord> latest,
                            store.GetRuleSet(request.therapy_area, std::nullopt));
  if (!latest) {
    return absl::NotFoundError(
        absl::StrCat("no rule set for ", request.therapy_area, " is published in the store"));
  }
  absl::StatusOr<std::shared_ptr<const engine::RuleSet>> compiled = cycle::CompileStored(*latest);
  v1::Report report;
  report.set_schema(kReportSchema);
  report.set_therapy_area(request.therapy_area);
  report.set_generated_at_unix(request.now_unix);
  report.set_rule_set_version(latest->version);
  report.set_threshold_sd(request.threshold_sd);
  if (!compiled.ok()) {
    report.add_warnings(absl::StrCat(request.therapy_area, " v", latest->version,
                                     " as stored no longer compiles: segment names unknown"));
  } else {
    const engine::RuleSet& rules = **compiled;
    if (rules.objective_behavior >= 0) {
      report.set_objective_metric(rules.inputs[rules.objective_behavior].id);
    }
    report.set_min_differentiation(rules.min_differentiation);
    if (rules.provenance) {
      v1::TypingToolProvenance* p = report.mutable_typing_tool();
      p->set_study(rules.provenance->study);
      p->set_respondents(rules.provenance->respondents);
      p->set_accuracy(rules.provenance->accuracy);
      p->set_folds(rules.provenance->folds);
      p->set_date(rules.provenance->date);
    }
    for (const engine::Segment& s : rules.segments) {
      v1::SegmentName* n = report.add_segments();
      n->set_id(s.id);
      n->set_name(s.name);
    }
  }

  std::vector<store::CycleRecord> cycles;
  if (request.countries.empty()) {
    HARMONIA_ASSIGN_OR_RETURN(cycles, store.LatestCycles(request.therapy_area));
  } else {
    std::vector<std::string> countries = request.countries;
    std::sort(countries.begin(), countries.end());
    countries.erase(std::unique(countries.begin(), countries.end()), countries.end());
    for (const std::string& country : countries) {
      std::optional<int64_t> id;
      if (request.cycle_id != 0) id = request.cycle_id;
      HARMONIA_ASSIGN_OR_RETURN(std::optional<store::CycleRecord> c,
                                store.GetCycle(country, request.therapy_area, id));
      if (!c) {
        return absl::NotFoundError(id ? absl::StrCat("country ", country, " has no cycle ", *id,
                                                     " of ", request.therapy_area)
                                      : absl::StrCat("country ", country, " has no cycle of ",
                                                     request.therapy_area, " yet"));
      }
      cycles.push_back(*std::move(c));
    }
  }
  for (const store::CycleRecord& c : cycles) {
    HARMONIA_RETURN_IF_ERROR(AddMarket(store, c, request.history, &report));
  }
  FindDeviations(&report);
  return report;
}

absl::StatusOr<v1::ImpactPreview> PreviewImpact(store::Store& store, const PreviewRequest& request,
                                                std::vector<Issue>* issues) {
  const engine::RuleSet& candidate = *request.candidate;
  const std::string& ta = candidate.therapy_area;
  HARMONIA_ASSIGN_OR_RETURN(std::optional<store::CycleRecord> baseline,
                            store.GetCycle(request.country, ta, std::nullopt));
  if (!baseline) {
    return absl::FailedPreconditionError(absl::StrCat("country ", request.country, ": no cycle of ",
                                                      ta,
                                                      " yet, so there is nothing to compare with"));
  }
  // The country file as its latest cycle used it, checked against the candidate.
  engine::CountryLoadResult loaded = engine::LoadCountryConfig(
      baseline->country_config,
      absl::StrCat(request.country, ".yaml (as of cycle ", baseline->cycle_id, ")"),
      [&](const std::string& t) { return t == ta ? &candidate : nullptr; },
      /*unknown_therapy_areas_ok=*/true);
  if (!loaded.config) {
    issues->insert(issues->end(), loaded.issues.begin(), loaded.issues.end());
    return absl::InvalidArgumentError(absl::StrCat(
        "country ", request.country, ": its options do not fit the candidate rule set's menu"));
  }
  cycle::StoreCycleOptions o{.country = &*loaded.config,
                             .country_text = baseline->country_config,
                             .therapy_area = ta,
                             .as_of = request.as_of.value_or(baseline->as_of),
                             .threads = 1,
                             .now_unix = request.now_unix,
                             .run_by = request.run_by,
                             .rule_set = request.candidate,
                             .dry_run = true};
  HARMONIA_ASSIGN_OR_RETURN(cycle::StoreCycleResult run, cycle::RunStoreCycle(store, o));
  v1::ImpactPreview p;
  p.set_country(request.country);
  p.set_therapy_area(ta);
  p.set_baseline_cycle_id(baseline->cycle_id);
  p.set_baseline_rule_set_version(baseline->rule_set_version);
  p.set_candidate_version(candidate.version);
  *p.mutable_quality() = std::move(run.figures);
  for (const Issue& w : request.candidate_warnings) IssueToProto(w, p.add_warnings());
  return p;
}

}  // namespace harmonia::report
