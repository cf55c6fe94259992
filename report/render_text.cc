// RenderText and RenderJson (report/render.h).
#include <google/protobuf/util/json_util.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "report/internal/render_util.h"
#include "report/render.h"

namespace harmonia::report {
namespace {

namespace v1 = harmonia::v1;
using internal::Count;
using internal::Number;
using internal::Percent;

// A fixed-width table: the first column left-aligned, the others right.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  std::string str(const std::string& indent = "  ") const {
    std::vector<size_t> width;
    for (const auto& r : rows_) {
      for (size_t c = 0; c < r.size(); ++c) {
        if (width.size() <= c) width.push_back(0);
        width[c] = std::max(width[c], internal::DisplayWidth(r[c]));
      }
    }
    std::string out;
    for (const auto& r : rows_) {
      std::string line = indent;
      for (size_t c = 0; c < r.size(); ++c) {
        const std::string pad(width[c] - internal::DisplayWidth(r[c]), ' ');
        absl::StrAppend(&line, c ? "  " : "", c ? pad : "", r[c], c ? "" : pad);
      }
      while (!line.empty() && line.back() == ' ') line.pop_back();
      absl::StrAppend(&out, line, "\n");
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Appends mean, sd, q1, median, q3 and n.
void Dist(const v1::Distribution& d, std::vector<std::string>* cells) {
  if (d.n() == 0) {
    for (int k = 0; k < 6; ++k) cells->push_back("-");
    return;
  }
  for (double v : {d.mean(), d.sd(), d.q1(), d.median(), d.q3()}) cells->push_back(Number(v));
  cells->push_back(Count(d.n()));
}

std::string Optional(bool has, double v) { return has ? Number(v) : "-"; }

std::string Segments(const v1::MarketReport& m, const v1::CycleQuality& q) {
  Table t({"segment", "customers", "share", "mean", "sd", "q1", "median", "q3", "n"});
  for (const v1::SegmentQuality& s : q.segments()) {
    std::vector<std::string> row = {internal::SegmentTitle(m, s.segment()), Count(s.customers()),
                                    Percent(s.share())};
    Dist(s.objective(), &row);
    t.Row(std::move(row));
  }
  std::vector<std::string> all = {"all", Count(q.customers()), Percent(1)};
  Dist(q.objective(), &all);
  t.Row(std::move(all));
  return t.str("    ");
}

std::string Separation(const v1::CycleQuality& q) {
  const v1::Separation& s = q.separation();
  return absl::StrCat("    eta-squared ", Optional(s.has_eta_squared(), s.eta_squared()),
                      " (min_differentiation ", Number(q.min_differentiation()),
                      "), Kruskal-Wallis H ",
                      Optional(s.has_kruskal_wallis_h(), s.kruskal_wallis_h()), ", df ", s.df(),
                      ", p ", s.has_p_value() ? internal::PValue(s.p_value()) : "-", "; ",
                      Count(s.n()), " customers with a value\n");
}

std::string ChurnMatrix(const v1::Churn& churn, const std::string& title) {
  if (churn.previous_cycle_id() == 0) return absl::StrCat("  ", title, ": no previous cycle\n");
  std::string out =
      absl::StrFormat("  %s (cycle %d): stayed %s, moved %s (%s), entered %s, left %s\n", title,
                      churn.previous_cycle_id(), Count(churn.stayed()), Count(churn.moved()),
                      Percent(churn.moved_share()), Count(churn.entered()), Count(churn.left()));
  const internal::Matrix m = internal::ChurnMatrix(churn);
  std::vector<std::string> header = {"from \\ to"};
  for (const std::string& to : m.to) header.push_back(internal::SegmentOrNone(to));
  Table t(std::move(header));
  for (size_t i = 0; i < m.from.size(); ++i) {
    std::vector<std::string> row = {internal::SegmentOrNone(m.from[i])};
    for (size_t j = 0; j < m.to.size(); ++j) row.push_back(Count(m.cells[i][j]));
    t.Row(std::move(row));
  }
  return out + t.str("    ");
}

// Share of each driver tag: in the market, then per segment.
std::string Tags(const v1::MarketReport& m, const v1::CycleQuality& q) {
  if (q.tags_size() == 0) return "";
  std::vector<std::string> header = {"tag", "all"};
  for (const v1::TagShare::InSegment& s : q.tags(0).segments()) {
    header.push_back(internal::SegmentTitle(m, s.segment()));
  }
  Table t(std::move(header));
  for (const v1::TagShare& tag : q.tags()) {
    std::vector<std::string> row = {tag.tag(), Percent(tag.share())};
    for (const v1::TagShare::InSegment& s : tag.segments()) row.push_back(Percent(s.share()));
    t.Row(std::move(row));
  }
  return absl::StrCat("  Drivers and barriers (share of the customers with the tag)\n",
                      t.str("    "));
}

std::string Touchpoints(const v1::ActivityCounts& c) {
  return Count(c.calls() + c.remote() + c.email() + c.events());
}

// Whether the last period's plan was carried out and moved the objective behaviour.
std::string FollowUp(const v1::MarketReport& m, const v1::CycleQuality& q) {
  if (!q.has_follow_up()) return "";
  const v1::PlanFollowUp& f = q.follow_up();
  std::string out = absl::StrFormat(
      "  Did it work: the plan of cycle %d, activities from %s to %s (%s touchpoints of "
      "customers outside it)\n",
      f.plan_cycle_id(), f.from(), f.to(), Count(f.activities_outside_plan()));
  Table t({"segment", "tier", "customers", "planned", "plan", "actual", "attainment", "carried out",
           "calls", "remote", "email", "events"});
  auto row = [&](const v1::Attainment& a, const std::string& segment, const std::string& tier) {
    auto pair = [](int64_t actual, int64_t plan) {
      return absl::StrCat(Count(actual), "/", Count(plan));
    };
    t.Row({segment, tier, Count(a.customers()), Count(a.planned()), Touchpoints(a.plan()),
           Touchpoints(a.actual()), a.has_attainment() ? Percent(a.attainment()) : "-",
           a.planned() ? Percent(internal::Fraction(a.carried_out(), a.planned())) : "-",
           pair(a.actual().calls(), a.plan().calls()), pair(a.actual().remote(), a.plan().remote()),
           pair(a.actual().email(), a.plan().email()),
           pair(a.actual().events(), a.plan().events())});
  };
  for (const v1::Attainment& a : f.attainment()) {
    row(a, internal::SegmentTitle(m, a.segment()), a.tier());
  }
  row(f.market(), "market", "");
  out += t.str("    ");
  if (f.has_behaviour()) {
    const v1::BehaviourChange& b = f.behaviour();
    auto group = [](const v1::Distribution& d) {
      return d.n() ? absl::StrCat("n ", Count(d.n()), ", mean ", internal::Signed(d.mean()))
                   : std::string("no customers");
    };
    absl::StrAppend(&out, "    change of ", b.objective_metric(), ": plan carried out ",
                    group(b.carried_out()), "; not carried out ", group(b.not_carried_out()));
    if (b.has_mean_difference()) {
      absl::StrAppend(&out, "; difference ", internal::Signed(b.mean_difference()));
    }
    if (b.has_p_value()) {
      absl::StrAppend(&out, " (Welch t ", Number(b.welch_t()), ", df ", Number(b.welch_df()),
                      ", p ", internal::PValue(b.p_value()), ")");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

std::string Quality(const v1::MarketReport& m, const v1::CycleQuality& q,
                    const std::string& churn_title) {
  std::string out;
  absl::StrAppend(&out, "  Objective behaviour ", q.objective_metric(), " by segment\n",
                  Segments(m, q), Separation(q));
  absl::StrAppend(&out, ChurnMatrix(q.churn(), churn_title));
  const v1::DecidedBy& d = q.decided_by();
  absl::StrAppendFormat(&out,
                        "  Decided by: rules %s, unprofiled %s, pull-through %s, refinement %s, "
                        "conflict %s\n",
                        Count(d.rules()), Count(d.unprofiled()), Count(d.pull_through()),
                        Count(d.refinement()), Count(d.conflict()));
  std::vector<std::string> tiers;
  for (const v1::NamedCount& t : q.tiers()) {
    tiers.push_back(absl::StrCat(t.name(), " ", Count(t.count())));
  }
  absl::StrAppend(&out, "  Tiers: ", absl::StrJoin(tiers, ", "), "\n");
  const v1::RefinementCounts& r = q.refinements();
  absl::StrAppendFormat(&out,
                        "  Refinements: applied %s, rejected %s, expired %s, awaiting approval %s "
                        "(quota %s)\n",
                        Count(r.applied()), Count(r.rejected()), Count(r.expired()),
                        Count(r.awaiting_approval()), Count(r.quota()));
  if (r.by_reason_size() > 0) {
    Table t({"reason", "applied", "rejected", "expired"});
    for (const v1::ReasonCount& c : r.by_reason()) {
      t.Row({c.reason(), Count(c.applied()), Count(c.rejected()), Count(c.expired())});
    }
    out += t.str("    ");
  }
  if (q.refinement_payoff_size() > 0) {
    absl::StrAppend(&out, "  Refinement payoff (", q.objective_metric(),
                    " of refined customers against the rules' customers of the segment)\n");
    Table t({"segment", "refined n", "refined mean", "rule peers n", "peers mean", "difference"});
    for (const v1::RefinementPayoff& p : q.refinement_payoff()) {
      t.Row({internal::SegmentTitle(m, p.segment()), Count(p.refined().n()),
             Number(p.refined().mean()), Count(p.rule_peers().n()),
             p.rule_peers().n() ? Number(p.rule_peers().mean()) : "-",
             p.rule_peers().n() ? internal::Signed(p.mean_difference()) : "-"});
    }
    out += t.str("    ");
  }
  out += Tags(m, q);
  out += FollowUp(m, q);
  const v1::DataQuality& dq = q.data_quality();
  absl::StrAppend(&out, "  Data quality (values dropped, by source; ", Count(dq.unknown_inputs()),
                  " values for unknown ids)\n");
  Table t({"kind", "rep", "external", "local"});
  const std::pair<const char*, const v1::SourceCounts*> kinds[] = {
      {"invalid", &dq.invalid()},
      {"stale", &dq.stale()},
      {"future", &dq.future()},
      {"source not used", &dq.source_not_used()},
      {"candidates", &dq.candidates()}};
  for (const auto& [name, c] : kinds) {
    t.Row({name, Count(c->rep()), Count(c->external()), Count(c->local())});
  }
  out += t.str("    ");
  absl::StrAppend(&out, "  Input coverage (customers with a value; effective values by source)\n");
  Table cov({"input", "customers", "share", "rep", "external", "local"});
  for (const v1::InputCoverage& c : q.coverage()) {
    cov.Row({absl::StrCat(c.input(), c.metric() ? " (metric)" : ""), Count(c.customers()),
             Percent(c.share()), Count(c.chosen_from().rep()), Count(c.chosen_from().external()),
             Count(c.chosen_from().local())});
  }
  out += cov.str("    ");
  return out;
}

std::string Market(const v1::Report& report, const v1::MarketReport& m) {
  std::string out =
      absl::StrFormat("\n%s: cycle %d as of %s, %s v%d, options %s, %s customers\n", m.country(),
                      m.cycle_id(), m.as_of(), report.therapy_area(), m.rule_set_version(),
                      m.options(), Count(m.quality().customers()));
  out += Quality(m, m.quality(), "Churn against the previous cycle");
  if (m.history_size() > 1) {
    absl::StrAppend(&out, "  Over the cycles\n");
    Table t({"cycle", "as of", "version", "eta-squared", "moved", "refined", "payoff"});
    for (const v1::MarketReport::Trend& h : m.history()) {
      std::vector<std::string> payoff;
      for (const v1::RefinementPayoff& p : h.refinement_payoff()) {
        if (p.rule_peers().n() > 0) {
          payoff.push_back(absl::StrCat(p.segment(), " ", internal::Signed(p.mean_difference())));
        }
      }
      t.Row({absl::StrCat(h.cycle_id()), h.as_of(), absl::StrCat("v", h.rule_set_version()),
             Optional(h.has_eta_squared(), h.eta_squared()), Percent(h.moved_share()),
             Count(h.refined()), payoff.empty() ? "-" : absl::StrJoin(payoff, ", ")});
    }
    out += t.str("    ");
  }
  return out;
}

}  // namespace

std::string RenderText(const v1::Report& report) {
  std::string out = absl::StrFormat(
      "Report: %s, rule set v%d (latest), objective behaviour %s, min_differentiation %s\n"
      "generated %s\n",
      report.therapy_area(), report.rule_set_version(), report.objective_metric(),
      Number(report.min_differentiation()),
      absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::FromUnixSeconds(report.generated_at_unix()),
                       absl::UTCTimeZone()));
  if (report.has_typing_tool()) absl::StrAppend(&out, internal::TypingToolLine(report), "\n");
  if (report.warnings_size() > 0) {
    absl::StrAppend(&out, "\nWarnings\n");
    for (const std::string& w : report.warnings()) absl::StrAppend(&out, "  ! ", w, "\n");
  }
  if (report.markets_size() > 0) {
    absl::StrAppend(&out, "\nMarkets\n");
    std::vector<std::string> header = {"segment"};
    for (const v1::MarketReport& m : report.markets()) header.push_back(m.country());
    Table t(std::move(header));
    for (const std::string& seg : internal::SegmentsOf(report)) {
      std::vector<std::string> row = {internal::SegmentOrNone(seg)};
      for (const v1::MarketReport& m : report.markets()) {
        row.push_back(Percent(internal::ShareOf(m.quality(), seg)));
      }
      t.Row(std::move(row));
    }
    std::vector<std::string> customers = {"customers"}, eta = {"eta-squared"}, p = {"p (K-W)"},
                             version = {"rule set"}, moved = {"moved"},
                             refined = {"decided by refinement"},
                             unprofiled = {"decided unprofiled"}, attainment = {"plan attainment"};
    for (const v1::MarketReport& m : report.markets()) {
      const v1::CycleQuality& q = m.quality();
      customers.push_back(Count(q.customers()));
      eta.push_back(Optional(q.separation().has_eta_squared(), q.separation().eta_squared()));
      p.push_back(q.separation().has_p_value() ? internal::PValue(q.separation().p_value()) : "-");
      version.push_back(absl::StrCat("v", m.rule_set_version()));
      moved.push_back(Percent(q.churn().moved_share()));
      refined.push_back(Percent(internal::Fraction(q.decided_by().refinement(), q.customers())));
      unprofiled.push_back(Percent(internal::Fraction(q.decided_by().unprofiled(), q.customers())));
      attainment.push_back(q.follow_up().market().has_attainment()
                               ? Percent(q.follow_up().market().attainment())
                               : "-");
    }
    for (auto* row : {&customers, &eta, &p, &version, &moved, &refined, &unprofiled, &attainment}) {
      t.Row(std::move(*row));
    }
    out += t.str();
    for (const v1::MarketReport& m : report.markets()) {
      absl::StrAppend(&out, "  ", m.country(), " options: ", m.options(), "\n");
    }
    absl::StrAppend(&out, "\nObjective behaviour ", report.objective_metric(),
                    " by segment and market (mean, median)\n");
    std::vector<std::string> objective_header = {"segment"};
    for (const v1::MarketReport& m : report.markets()) objective_header.push_back(m.country());
    Table objective(std::move(objective_header));
    for (const std::string& seg : internal::SegmentsOf(report)) {
      std::vector<std::string> row = {internal::SegmentOrNone(seg)};
      for (const v1::MarketReport& m : report.markets()) {
        const v1::Distribution d = internal::ObjectiveOf(m.quality(), seg);
        row.push_back(d.n() ? absl::StrCat(Number(d.mean()), ", ", Number(d.median())) : "-");
      }
      objective.Row(std::move(row));
    }
    out += objective.str();
  } else {
    absl::StrAppend(&out, "\nNo market has run a cycle of ", report.therapy_area(), " yet.\n");
  }
  for (const v1::MarketReport& m : report.markets()) out += Market(report, m);
  if (report.has_preview()) {
    const v1::ImpactPreview& p = report.preview();
    const v1::MarketReport* base = nullptr;
    for (const v1::MarketReport& m : report.markets()) {
      if (m.country() == p.country()) base = &m;
    }
    absl::StrAppendFormat(&out, "\nImpact preview: candidate v%d over %s cycle %d (v%d)\n",
                          p.candidate_version(), p.country(), p.baseline_cycle_id(),
                          p.baseline_rule_set_version());
    for (const v1::Issue& w : p.warnings()) {
      absl::StrAppend(&out, "  ! candidate: ", w.message(), "\n");
    }
    for (const std::string& w : p.quality().warnings()) {
      absl::StrAppend(&out, "  ! candidate: ", w, "\n");
    }
    out += Quality(base ? *base : v1::MarketReport(), p.quality(),
                   "Transitions from the current cycle");
  }
  return out;
}

std::string RenderJson(const v1::Report& report) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(report, &out, options);
  return out;
}

}  // namespace harmonia::report
