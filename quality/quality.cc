#include "quality/quality.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <map>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/date.h"
#include "quality/stats.h"

namespace harmonia::quality {
namespace {

namespace v1 = harmonia::v1;

constexpr char kNew[] = "(new)";
constexpr char kLeft[] = "(left)";

void SetDistribution(std::span<const double> values, v1::Distribution* out) {
  const Summary s = Summarize(values);
  out->set_n(s.n);
  if (s.n == 0) return;
  out->set_mean(s.mean);
  out->set_sd(s.n > 1 ? s.sd : 0);
  out->set_min(s.min);
  out->set_q1(s.q1);
  out->set_median(s.median);
  out->set_q3(s.q3);
  out->set_max(s.max);
}

void Add(v1::SourceCounts* counts, int source, int64_t n) {
  switch (static_cast<engine::Source>(source)) {
    case engine::Source::kRep:
      counts->set_rep(counts->rep() + n);
      break;
    case engine::Source::kExternal:
      counts->set_external(counts->external() + n);
      break;
    case engine::Source::kLocal:
      counts->set_local(counts->local() + n);
      break;
  }
}

double Share(int64_t part, int64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 0;
}

void SetDataQuality(const engine::DataQuality& q, int64_t unknown_inputs, v1::DataQuality* out) {
  v1::SourceCounts* by_kind[engine::kNumInputIssues] = {out->mutable_invalid(),
                                                        out->mutable_stale(), out->mutable_future(),
                                                        out->mutable_source_not_used()};
  for (int k = 0; k < engine::kNumInputIssues; ++k) {
    for (int s = 0; s < engine::kNumSources; ++s) Add(by_kind[k], s, q.by_kind_source[k][s]);
  }
  for (int s = 0; s < engine::kNumSources; ++s) {
    Add(out->mutable_candidates(), s, q.candidates_by_source[s]);
  }
  out->set_unknown_inputs(unknown_inputs);
}

void SetRefinements(const CycleFacts& f, v1::RefinementCounts* out) {
  std::map<std::string_view, v1::ReasonCount> by_reason;  // bytewise order
  for (const RefinementFact& r : f.refinements) {
    v1::ReasonCount& c = by_reason[r.reason];
    if (r.status == "applied") {
      out->set_applied(out->applied() + 1);
      c.set_applied(c.applied() + 1);
    } else if (r.status == "rejected") {
      out->set_rejected(out->rejected() + 1);
      c.set_rejected(c.rejected() + 1);
    } else if (r.status == "expired") {
      out->set_expired(out->expired() + 1);
      c.set_expired(c.expired() + 1);
    }
  }
  for (auto& [reason, c] : by_reason) {
    c.set_reason(std::string(reason));
    *out->add_by_reason() = std::move(c);
  }
  out->set_awaiting_approval(f.awaiting_approval);
  out->set_quota(f.refinement_quota);
}

void SetCoverage(const engine::RuleSet& rules, const engine::InputSelector& inputs,
                 v1::CycleQuality* q) {
  const engine::Batch batch = inputs.batch();
  const int64_t n = static_cast<int64_t>(batch.size);
  for (int c = 0; c < rules.num_inputs(); ++c) {
    v1::InputCoverage* cov = q->add_coverage();
    cov->set_input(rules.inputs[c].id);
    cov->set_metric(!rules.inputs[c].is_question);
    int64_t with_value = 0;
    std::array<int64_t, engine::kNumSources> from{};
    for (size_t i = 0; i < batch.size; ++i) {
      if (std::isnan(batch.columns[c][i])) continue;
      ++with_value;
      if (auto p = inputs.provenance(static_cast<uint32_t>(i), c)) {
        ++from[static_cast<int>(p->source)];
      }
    }
    cov->set_customers(with_value);
    cov->set_share(Share(with_value, n));
    for (int s = 0; s < engine::kNumSources; ++s) {
      Add(cov->mutable_chosen_from(), s, from[s]);
      Add(q->mutable_effective_by_source(), s, from[s]);
    }
  }
}

// The figures about the objective behaviour: per segment, overall, the
// separation test and the refinement payoff.
void SetObjective(const CycleFacts& f, const double* objective, v1::CycleQuality* q) {
  const engine::RuleSet& rules = *f.rules;
  const engine::Results& r = *f.results;
  const size_t n = r.segment.size();
  const size_t segments = rules.segments.size();
  // Per segment (index `segments` = none): all, refined, decided by rules.
  std::vector<std::vector<double>> all(segments + 1), refined(segments + 1), peers(segments + 1);
  std::vector<int64_t> count(segments + 1, 0);
  std::vector<double> everyone;
  everyone.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const size_t s = r.segment[i] >= 0 ? static_cast<size_t>(r.segment[i]) : segments;
    ++count[s];
    if (objective == nullptr) continue;
    const double v = objective[i];
    if (std::isnan(v)) continue;
    everyone.push_back(v);
    all[s].push_back(v);
    switch (r.decided_by[i]) {
      case engine::DecidedBy::kRefinement:
        refined[s].push_back(v);
        break;
      case engine::DecidedBy::kRules:
      case engine::DecidedBy::kPullThrough:
        peers[s].push_back(v);
        break;
      default:
        break;
    }
  }
  for (size_t s = 0; s <= segments; ++s) {
    if (s == segments && count[s] == 0) break;
    v1::SegmentQuality* sq = q->add_segments();
    sq->set_segment(s < segments ? rules.segments[s].id : "");
    sq->set_customers(count[s]);
    sq->set_share(Share(count[s], static_cast<int64_t>(n)));
    SetDistribution(all[s], sq->mutable_objective());
    if (!refined[s].empty()) {
      v1::RefinementPayoff* p = q->add_refinement_payoff();
      p->set_segment(sq->segment());
      SetDistribution(refined[s], p->mutable_refined());
      SetDistribution(peers[s], p->mutable_rule_peers());
      if (p->rule_peers().n() > 0)
        p->set_mean_difference(p->refined().mean() - p->rule_peers().mean());
    }
  }
  SetDistribution(everyone, q->mutable_objective());
  // Customers without a segment (conflicts) are not a group of the test.
  all.pop_back();
  const GroupComparison c = CompareGroups(all);
  v1::Separation* sep = q->mutable_separation();
  sep->set_n(c.n);
  sep->set_groups(c.groups);
  sep->set_df(std::max(0, c.df));
  if (!std::isnan(c.eta_squared)) sep->set_eta_squared(c.eta_squared);
  if (!std::isnan(c.kruskal_wallis_h)) sep->set_kruskal_wallis_h(c.kruskal_wallis_h);
  if (!std::isnan(c.p_value)) sep->set_p_value(c.p_value);

  const std::string& metric = q->objective_metric();
  if (objective == nullptr) {
    q->add_warnings("the rule set names no objective behaviour: separation not measured");
  } else if (!sep->has_eta_squared()) {
    q->add_warnings(absl::StrFormat(
        "objective behaviour %s: separation undefined (%d customers with a value in %d "
        "segments)",
        metric, c.n, c.groups));
  } else if (sep->eta_squared() < rules.min_differentiation) {
    q->add_warnings(absl::StrFormat(
        "objective behaviour %s: eta-squared %.4f is below min_differentiation %g; the "
        "segments do not separate customers on it",
        metric, sep->eta_squared(), rules.min_differentiation));
  }
  if (sep->has_p_value() && sep->p_value() >= 0.05) {
    q->add_warnings(absl::StrFormat(
        "objective behaviour %s: Kruskal-Wallis p = %.3f; the differences between segments "
        "may be chance",
        metric, sep->p_value()));
  }
}

// The share of customers carrying each driver tag, overall and per segment.
void SetTags(const CycleFacts& f, v1::CycleQuality* q) {
  const engine::RuleSet& rules = *f.rules;
  const engine::Results& r = *f.results;
  if (rules.tags.empty() || r.drivers.empty()) return;
  const size_t n = r.segment.size(), segments = rules.segments.size(), tags = rules.tags.size();
  std::vector<int64_t> in_segment(segments, 0), total(tags, 0), by(tags * segments, 0);
  for (size_t i = 0; i < n; ++i) {
    const int s = r.segment[i];
    if (s >= 0) ++in_segment[static_cast<size_t>(s)];
    uint64_t has = 0;  // by tag index
    for (uint64_t m = r.drivers[i]; m != 0; m &= m - 1) {
      has |= uint64_t{1} << rules.drivers.tag_of[static_cast<size_t>(std::countr_zero(m))];
    }
    for (; has != 0; has &= has - 1) {
      const size_t t = static_cast<size_t>(std::countr_zero(has));
      ++total[t];
      if (s >= 0) ++by[t * segments + static_cast<size_t>(s)];
    }
  }
  for (size_t t = 0; t < tags; ++t) {
    v1::TagShare* ts = q->add_tags();
    ts->set_tag(rules.tags[t]);
    ts->set_customers(total[t]);
    ts->set_share(Share(total[t], static_cast<int64_t>(n)));
    for (size_t s = 0; s < segments; ++s) {
      if (in_segment[s] == 0) continue;
      v1::TagShare::InSegment* seg = ts->add_segments();
      seg->set_segment(rules.segments[s].id);
      seg->set_customers(by[t * segments + s]);
      seg->set_share(Share(by[t * segments + s], in_segment[s]));
    }
  }
}

int64_t Touchpoints(const std::array<int64_t, 4>& a) { return a[0] + a[1] + a[2] + a[3]; }

void AddCounts(const std::array<int64_t, 4>& a, v1::ActivityCounts* c) {
  c->set_calls(c->calls() + a[0]);
  c->set_remote(c->remote() + a[1]);
  c->set_email(c->email() + a[2]);
  c->set_events(c->events() + a[3]);
}

void AddOutcome(const PlanOutcome& o, v1::Attainment* a) {
  a->set_customers(a->customers() + 1);
  AddCounts(o.plan, a->mutable_plan());
  AddCounts(o.actual, a->mutable_actual());
  if (const int64_t planned = Touchpoints(o.plan); planned > 0) {
    a->set_planned(a->planned() + 1);
    if (Touchpoints(o.actual) >= planned) a->set_carried_out(a->carried_out() + 1);
  }
}

void SetAttainmentRatio(v1::Attainment* a) {
  const v1::ActivityCounts &p = a->plan(), &x = a->actual();
  const int64_t planned = p.calls() + p.remote() + p.email() + p.events();
  if (planned > 0) {
    a->set_attainment(static_cast<double>(x.calls() + x.remote() + x.email() + x.events()) /
                      static_cast<double>(planned));
  }
}

// Whether the plan of the last period was carried out, and whether the
// objective behaviour moved more where it was (docs/report.md "Did it work").
void SetFollowUp(const CycleFacts& f, const double* objective, v1::CycleQuality* q) {
  const FollowUpFacts& fu = f.follow_up;
  if (fu.plan_cycle_id == 0) return;
  if (fu.reported == 0) {  // no activities imported for the period: nothing to measure
    q->add_warnings(absl::StrFormat(
        "did it work: no activities reported from %s to %s; import the CRM's activities.csv "
        "to compare cycle %d's plan with what was done",
        FormatIsoDate(fu.from), FormatIsoDate(fu.to), fu.plan_cycle_id));
    return;
  }
  const engine::RuleSet& rules = *f.rules;
  v1::PlanFollowUp* out = q->mutable_follow_up();
  out->set_plan_cycle_id(fu.plan_cycle_id);
  out->set_from(FormatIsoDate(fu.from));
  out->set_to(FormatIsoDate(fu.to));
  out->set_activities_outside_plan(fu.activities_outside_plan);
  // Segment × tier cells in rule-set order; a segment or tier this rule set
  // does not have (the plan ran an earlier version) after those, bytewise,
  // and "" (no segment) last.
  auto rank = [](const auto& ids, std::string_view id) -> size_t {
    for (size_t k = 0; k < ids.size(); ++k) {
      if (ids[k] == id) return k;
    }
    return id.empty() ? ids.size() + 1 : ids.size();
  };
  std::vector<std::string_view> segment_ids, tier_ids;
  for (const engine::Segment& s : rules.segments) segment_ids.push_back(s.id);
  for (const std::string& t : rules.tiers) tier_ids.push_back(t);
  std::map<std::tuple<size_t, std::string_view, size_t, std::string_view>, v1::Attainment> cells;
  std::vector<double> carried, not_carried;
  const std::vector<std::string>& ids = *f.customer_ids;
  size_t i = 0;  // the customer's position in this cycle
  for (const PlanOutcome& o : fu.customers) {
    v1::Attainment& cell =
        cells[{rank(segment_ids, o.segment), o.segment, rank(tier_ids, o.tier), o.tier}];
    AddOutcome(o, &cell);
    AddOutcome(o, out->mutable_market());
    const int64_t planned = Touchpoints(o.plan);
    while (i < ids.size() && ids[i] < o.customer_id) ++i;
    if (planned == 0 || objective == nullptr || i == ids.size() || ids[i] != o.customer_id) {
      continue;
    }
    const double change = objective[i] - o.objective;  // NaN when either is missing
    if (std::isnan(change)) continue;
    (Touchpoints(o.actual) >= planned ? carried : not_carried).push_back(change);
  }
  for (auto& [key, cell] : cells) {
    cell.set_segment(std::string(std::get<1>(key)));
    cell.set_tier(std::string(std::get<3>(key)));
    SetAttainmentRatio(&cell);
    *out->add_attainment() = std::move(cell);
  }
  SetAttainmentRatio(out->mutable_market());
  if (objective == nullptr) return;
  if (fu.objective_metric != q->objective_metric()) {
    q->add_warnings(absl::StrFormat(
        "did it work: cycle %d measured the objective behaviour %s, this cycle %s: its change "
        "is not compared",
        fu.plan_cycle_id, fu.objective_metric.empty() ? "(unknown)" : fu.objective_metric,
        q->objective_metric()));
    return;
  }
  v1::BehaviourChange* b = out->mutable_behaviour();
  b->set_objective_metric(q->objective_metric());
  SetDistribution(carried, b->mutable_carried_out());
  SetDistribution(not_carried, b->mutable_not_carried_out());
  if (!carried.empty() && !not_carried.empty()) {
    b->set_mean_difference(b->carried_out().mean() - b->not_carried_out().mean());
  }
  const WelchTest w = WelchTTest(carried, not_carried);
  if (!std::isnan(w.t)) {
    b->set_welch_t(w.t);
    b->set_welch_df(w.df);
    b->set_p_value(w.p_value);
  }
}

}  // namespace

v1::Churn ComputeChurn(const std::vector<PreviousSegment>& previous,
                       const std::vector<PreviousSegment>& current, int64_t previous_cycle_id) {
  v1::Churn churn;
  churn.set_previous_cycle_id(previous_cycle_id);
  if (previous_cycle_id == 0) return churn;
  std::map<std::pair<std::string_view, std::string_view>, int64_t> cells;
  size_t p = 0, c = 0;
  while (p < previous.size() || c < current.size()) {
    if (c == current.size() ||
        (p < previous.size() && previous[p].customer_id < current[c].customer_id)) {
      ++cells[{previous[p].segment, kLeft}];
      churn.set_left(churn.left() + 1);
      ++p;
    } else if (p == previous.size() || current[c].customer_id < previous[p].customer_id) {
      ++cells[{kNew, current[c].segment}];
      churn.set_entered(churn.entered() + 1);
      ++c;
    } else {
      ++cells[{previous[p].segment, current[c].segment}];
      if (previous[p].segment == current[c].segment) {
        churn.set_stayed(churn.stayed() + 1);
      } else {
        churn.set_moved(churn.moved() + 1);
      }
      ++p;
      ++c;
    }
  }
  for (const auto& [key, n] : cells) {
    v1::ChurnCell* cell = churn.add_cells();
    cell->set_from_segment(std::string(key.first));
    cell->set_to_segment(std::string(key.second));
    cell->set_customers(n);
  }
  churn.set_moved_share(Share(churn.moved(), churn.stayed() + churn.moved()));
  return churn;
}

v1::CycleQuality ComputeQuality(const CycleFacts& f) {
  const engine::RuleSet& rules = *f.rules;
  const engine::Results& r = *f.results;
  const std::vector<std::string>& ids = *f.customer_ids;
  const int64_t n = static_cast<int64_t>(ids.size());
  v1::CycleQuality q;
  q.set_figures_version(kFiguresVersion);
  q.set_customers(n);
  q.set_min_differentiation(rules.min_differentiation);
  const double* objective = nullptr;
  if (rules.objective_behavior >= 0) {
    q.set_objective_metric(rules.inputs[rules.objective_behavior].id);
    objective = f.inputs->batch().columns[rules.objective_behavior];
  }
  SetObjective(f, objective, &q);
  SetTags(f, &q);
  SetFollowUp(f, objective, &q);

  std::vector<PreviousSegment> current(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    current[i] = {ids[i], r.segment[i] >= 0 ? std::string_view(rules.segments[r.segment[i]].id)
                                            : std::string_view()};
  }
  *q.mutable_churn() = ComputeChurn(f.previous, current, f.previous_cycle_id);

  std::array<int64_t, 5> decided{};
  std::vector<int64_t> tiers(rules.tiers.size(), 0);
  for (size_t i = 0; i < ids.size(); ++i) {
    ++decided[static_cast<int>(r.decided_by[i])];
    ++tiers[r.tier[i]];
  }
  v1::DecidedBy* d = q.mutable_decided_by();
  d->set_rules(decided[static_cast<int>(engine::DecidedBy::kRules)]);
  d->set_unprofiled(decided[static_cast<int>(engine::DecidedBy::kUnprofiled)]);
  d->set_pull_through(decided[static_cast<int>(engine::DecidedBy::kPullThrough)]);
  d->set_refinement(decided[static_cast<int>(engine::DecidedBy::kRefinement)]);
  d->set_conflict(decided[static_cast<int>(engine::DecidedBy::kConflict)]);
  for (size_t t = 0; t < rules.tiers.size(); ++t) {
    v1::NamedCount* tc = q.add_tiers();
    tc->set_name(rules.tiers[t]);
    tc->set_count(tiers[t]);
  }
  SetRefinements(f, q.mutable_refinements());
  SetDataQuality(f.inputs->quality(), f.unknown_inputs, q.mutable_data_quality());
  SetCoverage(rules, *f.inputs, &q);
  if (d->conflict() > 0) {
    q.add_warnings(absl::StrCat(d->conflict(),
                                " customers left without a segment: several rules matched "
                                "(hit policy unique)"));
  }
  return q;
}

std::string QualityToJson(const v1::CycleQuality& quality) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  // Printing a message we built cannot fail (no Any fields to resolve).
  (void)google::protobuf::util::MessageToJsonString(quality, &out, options);
  return out;
}

absl::StatusOr<v1::CycleQuality> QualityFromJson(std::string_view json) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  v1::CycleQuality q;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &q, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("quality figures are not readable: ",
                     std::string(status.message().data(), status.message().size())));
  }
  if (q.figures_version() < 1) {
    return absl::InvalidArgumentError(
        "quality figures from before figures_version 1 (stored before reports existed)");
  }
  return q;
}

}  // namespace harmonia::quality
