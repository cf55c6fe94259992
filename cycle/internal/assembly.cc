#include "cycle/internal/assembly.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "common/strings.h"

namespace harmonia::cycle::internal {

absl::StatusOr<std::unique_ptr<Assembly>> Assembly::Create(
    std::shared_ptr<const engine::RuleSet> rules, const engine::CountryConfig& country,
    const engine::TherapyAreaConfig& ta, int32_t as_of, std::vector<std::string> customer_ids,
    absl::flat_hash_map<std::string, uint32_t> index) {
  IssueList issues(ta.therapy_area);
  engine::Options options;
  if (!engine::ResolveOptions(*rules, ta.options, &issues, &options)) {
    return absl::InvalidArgumentError(
        absl::StrCat("country ", country.country, ": ", FormatIssues(issues.issues(), "; ")));
  }
  return std::unique_ptr<Assembly>(new Assembly(std::move(rules), country, std::move(options),
                                                as_of, std::move(customer_ids), std::move(index)));
}

Assembly::Assembly(std::shared_ptr<const engine::RuleSet> rules,
                   const engine::CountryConfig& country, engine::Options options, int32_t as_of,
                   std::vector<std::string> customer_ids,
                   absl::flat_hash_map<std::string, uint32_t> index)
    : rules_(std::move(rules)),
      options_(std::move(options)),
      country_(country.country),
      ids_(std::move(customer_ids)),
      index_(std::move(index)),
      selector_(*rules_, country, as_of, ids_.size()) {
  if (index_.empty()) {
    index_.reserve(ids_.size());
    for (size_t i = 0; i < ids_.size(); ++i) index_.emplace(ids_[i], static_cast<uint32_t>(i));
  }
  for (int c = 0; c < rules_->num_inputs(); ++c) {
    (rules_->inputs[c].is_question ? questions_ : metrics_).emplace(rules_->inputs[c].id, c);
  }
}

int64_t Assembly::Find(std::string_view customer_id) const {
  auto it = index_.find(Sv(customer_id));
  return it == index_.end() ? -1 : static_cast<int64_t>(it->second);
}

Assembly::Offered Assembly::OfferStored(uint32_t customer, const store::InputRow& row,
                                        engine::InputIssue* issue, std::string* reason) {
  const auto& columns = row.is_metric ? metrics_ : questions_;
  auto it = columns.find(row.input_id);
  const std::optional<engine::Source> source = engine::ParseSource(row.source);
  if (it == columns.end() || !source) return {};
  // Values of one key tie on source and as_of: the one imported last wins.
  return {it->second, selector_.Offer(customer, it->second, row.value, *source, row.as_of,
                                      static_cast<uint64_t>(row.seq), issue, reason)};
}

void Assembly::SetPrevious(uint32_t customer, engine::PreviousAssignment previous) {
  if (previous_.empty()) {
    previous_.resize(ids_.size());
    previous_of_.assign(ids_.size(), nullptr);
  }
  previous_[customer] = std::move(previous);
  previous_of_[customer] = &previous_[customer];
}

void Assembly::PrepareEngine() {
  batch_ = selector_.batch();
  evaluator_ = std::make_unique<engine::Evaluator>(rules_, options_);
}

engine::CycleOutput Assembly::Run(const std::vector<engine::Refinement>* refinements,
                                  std::function<std::string(const std::string&)> out_of_scope,
                                  int threads) {
  threads = std::max(1, threads);
  PrepareEngine();
  engine::CycleInput in;
  in.evaluator = evaluator_.get();
  in.batch = &batch_;
  in.customer_ids = &ids_;
  in.previous = previous_of_;
  in.out_of_scope_reason = std::move(out_of_scope);
  in.refinements = refinements;
  in.country = country_;
  in.threads = threads;
  return engine::RunCycle(in);
}

engine::Trace Assembly::Explain(size_t customer) {
  PrepareEngine();
  return evaluator_->Explain(batch_, customer);
}

double Assembly::TimeEngine(int64_t times, int threads) const {
  threads = std::max(1, threads);
  const size_t n = ids_.size();
  engine::Results results;
  results.Resize(n, rules_->scores.size());
  const auto start = std::chrono::steady_clock::now();
  for (int64_t r = 0; r < times; ++r) {
    std::vector<std::vector<std::pair<uint32_t, std::string>>> conflicts(threads);
    std::vector<std::thread> workers;
    const size_t step = (n + threads - 1) / threads;
    for (int t = 0; t < threads; ++t) {
      const size_t begin = std::min(n, static_cast<size_t>(t) * step);
      const size_t end = std::min(n, begin + step);
      workers.emplace_back([&, begin, end, t] {
        evaluator_->Evaluate(batch_, begin, end, &results, &conflicts[t]);
      });
    }
    for (auto& w : workers) w.join();
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void Assembly::FillRow(const engine::CycleOutput& out, size_t i, bool with_scores,
                       size_t* next_conflict, store::AssignmentRow* a) const {
  const engine::RuleSet& rules = *rules_;
  const engine::Results& r = out.results;
  a->customer_id = ids_[i];
  if (r.segment[i] >= 0) {
    a->segment = rules.segments[r.segment[i]].id;
  } else {
    a->segment.clear();
  }
  a->tier = rules.tiers[r.tier[i]];
  a->calls = r.activity[i].calls;
  a->remote = r.activity[i].remote;
  a->email = r.activity[i].email;
  a->events = r.activity[i].events;
  a->decided_by = engine::DecidedByName(r.decided_by[i]);
  a->rule_id.clear();
  if (r.rule[i] >= 0) {
    a->rule_id = rules.rule_ids[r.rule[i]];
  } else {
    while (*next_conflict < r.conflicts.size() && r.conflicts[*next_conflict].first < i) {
      ++*next_conflict;
    }
    if (*next_conflict < r.conflicts.size() && r.conflicts[*next_conflict].first == i) {
      a->rule_id = r.conflicts[*next_conflict].second;
    }
  }
  a->rule_set_version = rules.version;
  a->inputs_digest = out.digests[i];
  a->tags = r.drivers.empty() ? std::string() : engine::TagsText(rules, r.drivers[i]);
  const engine::Activity& plan = out.plan.empty() ? r.activity[i] : out.plan[i];
  a->plan_calls = plan.calls;
  a->plan_remote = plan.remote;
  a->plan_email = plan.email;
  a->plan_events = plan.events;
  a->objective.reset();
  if (rules.objective_behavior >= 0) {
    const double v = selector_.batch().columns[rules.objective_behavior][i];
    if (!std::isnan(v)) a->objective = v;
  }
  a->scores.clear();
  if (!with_scores) return;
  char buf[32];
  for (size_t s = 0; s < rules.scores.size(); ++s) {
    absl::StrAppend(&a->scores, s ? ";" : "", rules.scores[s].id, "=");
    const double v = r.scores[s][i];
    if (v == v) {
      auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
      a->scores.append(buf, ptr);
    }
  }
}

std::string DecidedByText(const std::array<int64_t, 5>& d) {
  return absl::StrFormat(
      "decided by: rules %d, unprofiled %d, pull_through %d, refinement %d, conflict %d", d[0],
      d[1], d[3], d[4], d[2]);
}

std::string QualityText(const engine::DataQuality& q) {
  return absl::StrFormat("data quality: invalid %d, stale %d, future %d, source not used %d",
                         q.Total(engine::InputIssue::kInvalid), q.Total(engine::InputIssue::kStale),
                         q.Total(engine::InputIssue::kFuture),
                         q.Total(engine::InputIssue::kSourceNotUsed));
}

std::array<int64_t, 5> CountDecidedBy(const engine::Results& results) {
  std::array<int64_t, 5> by{};
  for (engine::DecidedBy d : results.decided_by) ++by[static_cast<int>(d)];
  return by;
}

absl::StatusOr<quality::FollowUpFacts> FollowUp(store::Store& store,
                                                const store::CycleRecord& plan_cycle,
                                                const std::vector<store::AssignmentRow>& plan_rows,
                                                int32_t from, int32_t to) {
  quality::FollowUpFacts f;
  f.plan_cycle_id = plan_cycle.cycle_id;
  f.from = from;
  f.to = to;
  // The objective behaviour the plan's cycle measured, from its stored
  // figures ("" when they cannot be read): a change is only measured on
  // the same metric.
  if (absl::StatusOr<harmonia::v1::CycleQuality> q = quality::QualityFromJson(plan_cycle.quality);
      q.ok()) {
    f.objective_metric = q->objective_metric();
  }
  f.customers.reserve(plan_rows.size());
  for (const store::AssignmentRow& row : plan_rows) {
    quality::PlanOutcome o{
        .customer_id = row.customer_id,
        .segment = row.segment,
        .tier = row.tier,
        .plan = {row.plan_calls, row.plan_remote, row.plan_email, row.plan_events}};
    if (row.objective) o.objective = *row.objective;
    f.customers.push_back(o);
  }
  size_t next = 0;  // both in customer-id order: one merge
  HARMONIA_RETURN_IF_ERROR(store.ScanActivityTotals(
      plan_cycle.country, plan_cycle.therapy_area, f.from, to,
      [&](const std::string& id, const store::ActivityCounts& counts) {
        ++f.reported;
        while (next < f.customers.size() && f.customers[next].customer_id < id) ++next;
        if (next < f.customers.size() && f.customers[next].customer_id == id) {
          f.customers[next].actual = counts;
        } else {
          f.activities_outside_plan += counts[0] + counts[1] + counts[2] + counts[3];
        }
      }));
  return f;
}

}  // namespace harmonia::cycle::internal
