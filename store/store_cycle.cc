#include "store/store_cycle.h"

#include <charconv>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace harmonia::store {
namespace {

std::string FormatScores(const engine::RuleSet& rules, const engine::Results& r, size_t i) {
  std::string out;
  char buf[32];
  for (size_t s = 0; s < rules.scores.size(); ++s) {
    absl::StrAppend(&out, s ? ";" : "", rules.scores[s].id, "=");
    const double v = r.scores[s][i];
    if (v == v) {
      auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
      out.append(buf, ptr);
    }
  }
  return out;
}

std::string JoinIssues(const std::vector<Issue>& issues) {
  std::string out;
  for (const Issue& i : issues) absl::StrAppend(&out, out.empty() ? "" : "; ", FormatIssue(i));
  return out;
}

}  // namespace

absl::StatusOr<StoreCycleResult> RunStoreCycle(Store& store, const StoreCycleOptions& o) {
  const engine::CountryConfig& country = *o.country;
  const engine::TherapyAreaConfig* ta = country.FindTherapyArea(o.therapy_area);
  if (ta == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("country ", country.country, " does not run therapy area ", o.therapy_area));
  }
  // The rule set: the pinned version, or the latest.
  HARMONIA_ASSIGN_OR_RETURN(std::optional<RuleSetRecord> record,
                            store.GetRuleSet(o.therapy_area, ta->pinned_version));
  if (!record) {
    return absl::NotFoundError(
        ta->pinned_version
            ? absl::StrCat("country ", country.country, " pins ", o.therapy_area, " v",
                           *ta->pinned_version, ", which is not published in the store")
            : absl::StrCat("no rule set for ", o.therapy_area,
                           " is published in the store (harmonia rules publish)"));
  }
  engine::CompileResult compiled = engine::CompileRuleSet(
      record->source_text, absl::StrCat(o.therapy_area, " v", record->version));
  if (!compiled.rule_set) {
    return absl::InvalidArgumentError(
        absl::StrCat("stored rule set does not compile: ", JoinIssues(compiled.issues)));
  }
  std::shared_ptr<const engine::RuleSet> rules = compiled.rule_set;
  IssueList option_issues(o.therapy_area);
  engine::Options options;
  if (!engine::ResolveOptions(*rules, ta->options, &option_issues, &options)) {
    return absl::InvalidArgumentError(
        absl::StrCat("country ", country.country, ": ", JoinIssues(option_issues.issues())));
  }

  // Step 1 from the store.
  HARMONIA_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                            store.CustomersInScope(country.country, rules->applies_to));
  absl::flat_hash_map<std::string, uint32_t> index;
  index.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) index.emplace(ids[i], static_cast<uint32_t>(i));
  absl::flat_hash_map<std::string, int> columns;
  for (int c = 0; c < rules->num_inputs(); ++c) columns.emplace(rules->inputs[c].id, c);
  engine::InputSelector selector(*rules, country, o.as_of, ids.size());
  StoreCycleResult result;
  std::string reason;
  engine::InputIssue issue;
  HARMONIA_RETURN_IF_ERROR(
      store.ScanInputs(country.country, o.therapy_area, [&](const InputRow& row) {
        auto customer = index.find(row.customer_id);
        if (customer == index.end()) return;  // a type out of scope
        auto column = columns.find(row.input_id);
        std::optional<engine::Source> source = engine::ParseSource(row.source);
        if (column == columns.end() || !source ||
            rules->inputs[column->second].is_question == row.is_metric) {
          ++result.unknown_inputs;
          return;
        }
        // Keys are unique in the store, so no two candidates tie on order.
        selector.Offer(customer->second, column->second, row.value, *source, row.as_of, 0, &issue,
                       &reason);
      }));

  // Pull-through from the previous committed cycle.
  HARMONIA_ASSIGN_OR_RETURN(std::optional<CycleRecord> previous_cycle,
                            store.GetCycle(country.country, o.therapy_area, std::nullopt));
  std::vector<AssignmentRow> previous_rows;
  std::vector<engine::PreviousAssignment> previous(ids.size());
  engine::CycleInput in;
  if (previous_cycle) {
    HARMONIA_ASSIGN_OR_RETURN(previous_rows, store.GetAssignments(previous_cycle->cycle_id));
    in.previous.assign(ids.size(), nullptr);
    for (const AssignmentRow& p : previous_rows) {
      auto it = index.find(p.customer_id);
      if (it == index.end()) continue;
      previous[it->second] = {
          p.segment,          p.tier,         {p.calls, p.remote, p.email, p.events}, p.rule_id,
          p.rule_set_version, p.inputs_digest};
      in.previous[it->second] = &previous[it->second];
    }
  }

  const engine::Batch batch = selector.batch();
  engine::Evaluator evaluator(rules, options);
  in.evaluator = &evaluator;
  in.batch = &batch;
  in.customer_ids = &ids;
  in.country = country.country;
  in.threads = o.threads;
  engine::CycleOutput out = engine::RunCycle(in);

  // Rows as assignments.csv has them.
  const engine::Results& r = out.results;
  std::vector<AssignmentRow> rows(ids.size());
  size_t next_conflict = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    AssignmentRow& a = rows[i];
    a.customer_id = ids[i];
    a.segment = r.segment[i] >= 0 ? rules->segments[r.segment[i]].id : "";
    a.tier = rules->tiers[r.tier[i]];
    a.calls = r.activity[i].calls;
    a.remote = r.activity[i].remote;
    a.email = r.activity[i].email;
    a.events = r.activity[i].events;
    a.decided_by = engine::DecidedByName(r.decided_by[i]);
    if (r.rule[i] >= 0) {
      a.rule_id = rules->rule_ids[r.rule[i]];
    } else {
      while (next_conflict < r.conflicts.size() && r.conflicts[next_conflict].first < i) {
        ++next_conflict;
      }
      if (next_conflict < r.conflicts.size() && r.conflicts[next_conflict].first == i) {
        a.rule_id = r.conflicts[next_conflict].second;
      }
    }
    a.rule_set_version = rules->version;
    a.inputs_digest = out.digests[i];
    a.scores = FormatScores(*rules, r, i);
    ++result.decided_by[static_cast<int>(r.decided_by[i])];
  }
  result.quality = selector.quality();

  CycleRecord& c = result.cycle;
  c.country = country.country;
  c.therapy_area = o.therapy_area;
  c.as_of = o.as_of;
  c.rule_set_version = rules->version;
  c.options = options.canonical;
  c.country_config = o.country_text;
  c.customers = static_cast<int64_t>(ids.size());
  c.committed_at_unix = o.now_unix;
  const auto& d = result.decided_by;
  c.summary = absl::StrFormat(
      "decided by: rules %d, unprofiled %d, pull_through %d, refinement %d, conflict %d; data "
      "quality: invalid %d, stale %d, future %d, source not used %d",
      d[0], d[1], d[3], d[4], d[2], result.quality.Total(engine::InputIssue::kInvalid),
      result.quality.Total(engine::InputIssue::kStale),
      result.quality.Total(engine::InputIssue::kFuture),
      result.quality.Total(engine::InputIssue::kSourceNotUsed));
  HARMONIA_ASSIGN_OR_RETURN(c.cycle_id, store.CommitCycle(c, rows));
  return result;
}

}  // namespace harmonia::store
