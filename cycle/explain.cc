// ExplainCustomer (cycle.h): one customer's cycle, retraced through the same
// assembly as the cycle and the engine's own trace.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
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
  if (const int s = rules->FindSegment(e.assignment.segment); s >= 0) {
    e.segment_name = rules->segments[s].name;
    e.message = rules->segments[s].message;
    e.channels = absl::StrJoin(rules->segments[s].channels, "|");
  }

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
  for (size_t r = 0; r < rules->drivers.rules.size(); ++r) {
    if ((trace.drivers >> r & 1) == 0) continue;
    const engine::Rule& rule = rules->drivers.rules[r];
    e.drivers.push_back(
        {rule.id, rules->tags[rules->drivers.tag_of[r]], engine::ConditionsText(*rules, rule)});
  }
  e.plan_rule = "targets";
  const engine::ChannelPreference& preference = rules->channel_preference;
  if (assembly->options().channel_preference && preference.question >= 0) {
    const engine::InputDef& question = rules->inputs[preference.question];
    const double answer = batch.columns[preference.question][0];
    if (answer == answer && preference.has_mix[static_cast<size_t>(answer)]) {
      const engine::ChannelMix& mix = preference.mix[static_cast<size_t>(answer)];
      std::vector<std::string> shares;
      const std::pair<const char*, int32_t> parts[] = {{"calls", mix.calls},
                                                       {"remote", mix.remote},
                                                       {"email", mix.email},
                                                       {"events", mix.events}};
      for (const auto& [name, units] : parts) {
        if (units == 0) continue;
        // Ten-thousandths as a decimal: 2500 → 0.25, 10000 → 1.
        std::string text =
            absl::StrFormat("%d.%04d", units / engine::kShareUnits, units % engine::kShareUnits);
        while (text.back() == '0') text.pop_back();
        if (text.back() == '.') text.pop_back();
        shares.push_back(absl::StrCat(name, " ", text));
      }
      e.plan_rule =
          absl::StrCat(question.id, " = ", question.options[static_cast<size_t>(answer)], ": ",
                       absl::StrJoin(shares, ", "), "; min_calls ", preference.min_calls);
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
