// ExplainCustomer (cycle.h): one customer's cycle, retraced through the same
// assembly as the cycle and the engine's own trace.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/date.h"
#include "common/status_macros.h"
#include "cycle/cycle.h"
#include "cycle/internal/assembly.h"

namespace harmonia::cycle {

absl::StatusOr<Explanation> ExplainCustomer(store::Store& store,
                                            std::shared_ptr<const engine::RuleSet> rules,
                                            const engine::CountryConfig& country,
                                            const store::CycleRecord& cycle,
                                            store::AssignmentRow row) {
  const engine::TherapyAreaConfig* ta = country.FindTherapyArea(cycle.therapy_area);
  if (ta == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cycle ", cycle.cycle_id, ": country ",
                                                   country.country, " no longer runs ",
                                                   cycle.therapy_area));
  }
  const std::string customer_id = row.customer_id;
  HARMONIA_ASSIGN_OR_RETURN(
      std::unique_ptr<internal::Assembly> assembly,
      internal::Assembly::Create(rules, country, *ta, cycle.as_of, {customer_id}));
  Explanation e;
  e.assignment = std::move(row);
  e.cycle_id = cycle.cycle_id;
  e.as_of = cycle.as_of;
  e.options = assembly->options().canonical;
  const std::map<std::string, std::string> labels = engine::SegmentLabels(*rules, ta);
  const auto label = labels.find(e.assignment.segment);
  e.segment_label = label != labels.end() ? label->second : e.assignment.segment;

  // Step 1, as the cycle selects (docs/cycle.md step 1), with what was passed over and why.
  HARMONIA_ASSIGN_OR_RETURN(std::vector<store::InputRow> stored,
                            store.CustomerInputs(customer_id, cycle.therapy_area));
  struct Offered {
    const store::InputRow* row;
    int column;
    bool candidate;
    std::string why;  // when not a candidate
  };
  std::vector<Offered> offered;
  for (const store::InputRow& r : stored) {
    engine::InputIssue issue;
    std::string reason;
    const auto [column, candidate] = assembly->OfferStored(0, r, &issue, &reason);
    if (column < 0) continue;  // not an input of this rule set
    std::string why;
    if (!candidate) {
      why = issue == engine::InputIssue::kInvalid ? absl::StrCat("invalid: ", reason)
                                                  : engine::InputIssueName(issue);
    }
    offered.push_back({&r, column, candidate, std::move(why)});
  }
  const engine::InputSelector& selector = assembly->selector();
  const engine::Batch batch = selector.batch();
  for (int k = 0; k < rules->num_inputs(); ++k) {
    const engine::InputDef& def = rules->inputs[k];
    Explanation::Input in;
    in.id = def.id;
    in.is_metric = !def.is_question;
    for (const Offered& o : offered) {
      if (o.column != k) continue;
      const char* lost = o.candidate
                             ? selector.PassedOver(0, k, *engine::ParseSource(o.row->source),
                                                   o.row->as_of, static_cast<uint64_t>(o.row->seq))
                             : "";
      if (lost == nullptr) {  // the chosen one
        in.value = engine::FormatInputValue(def, batch.columns[k][0]);
        in.source = o.row->source;
        in.as_of = FormatIsoDate(o.row->as_of);
        continue;
      }
      in.passed_over.push_back(absl::StrCat(o.row->value, " (", o.row->source, ", ",
                                            FormatIsoDate(o.row->as_of),
                                            "): ", o.candidate ? lost : o.why));
    }
    e.inputs.push_back(std::move(in));
  }

  // Scores and the decision: the engine's own trace.
  const engine::Trace trace = assembly->Explain(0);
  for (size_t s = 0; s < rules->scores.size(); ++s) {
    const engine::Trace::Linear& l = trace.scores[s];
    Explanation::Score score{rules->scores[s].id, l.value, l.value != l.value, l.intercept, {}};
    if (score.missing) score.value = 0;
    for (const engine::Trace::Term& t : l.terms) {
      const bool missing = t.value != t.value;
      score.terms.push_back(
          {rules->inputs[t.column].id, t.weight,
           missing ? "" : engine::FormatInputValue(rules->inputs[t.column], t.value),
           missing ? 0 : t.weight * t.value});
    }
    e.scores.push_back(std::move(score));
  }
  e.profiled = trace.profiled;
  for (int c : trace.missing_required) e.missing_required.push_back(rules->inputs[c].id);
  e.table = trace.table;
  e.rule_fired = trace.rule >= 0 ? rules->rule_ids[trace.rule] : trace.matched;
  for (const engine::DecisionTable* t : {&rules->assignment, &rules->unprofiled}) {
    for (const engine::Rule& r : t->rules) {
      if (r.id == e.rule_fired) e.rule_when = engine::ConditionsText(*rules, r);
    }
  }
  if (rules->tier_metric >= 0) e.tier_metric = rules->column_id(rules->tier_metric);
  e.tier_band = rules->band_option_names[assembly->options().tier_bands];

  // Pull-through and refinement, from the store's records.
  e.pulled_through =
      e.assignment.decided_by == engine::DecidedByName(engine::DecidedBy::kPullThrough);
  if (e.pulled_through) {
    HARMONIA_ASSIGN_OR_RETURN(std::vector<store::CycleRecord> all,
                              store.ListCycles(cycle.country, cycle.therapy_area));
    for (const store::CycleRecord& p : all) {
      if (p.cycle_id < cycle.cycle_id) e.pulled_from_cycle_id = p.cycle_id;
    }
  }
  HARMONIA_ASSIGN_OR_RETURN(std::vector<store::RefinementRecord> refined,
                            store.ListRefinements(cycle.country, cycle.therapy_area,
                                                  {store::RefinementStatus::kApplied,
                                                   store::RefinementStatus::kExpired}));
  for (const store::RefinementRecord& r : refined) {
    if (r.customer_id == customer_id && r.last_cycle_id == cycle.cycle_id) e.refinement = r;
  }
  return e;
}

}  // namespace harmonia::cycle
