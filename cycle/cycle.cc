#include "cycle/cycle.h"

#include <xxhash.h>

#include <charconv>
#include <chrono>
#include <set>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/csv.h"
#include "common/date.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "cycle/internal/assembly.h"
#include "quality/quality.h"

namespace harmonia::cycle {

using store::AssignmentRow;
using store::CustomerRow;
using store::CycleRecord;
using store::InputRow;
using store::RefinementRecord;
using store::RefinementStatus;
using store::RefinementUpdate;
using store::RuleSetRecord;
using store::Store;

std::string DerivedRequestId(const std::string& country, const engine::Refinement& row,
                             const std::string& submitter, int64_t now_unix) {
  const std::string day =
      absl::FormatTime("%Y-%m-%d", absl::FromUnixSeconds(now_unix), absl::UTCTimeZone());
  const std::string content = absl::StrCat(
      country, "\x1f", row.customer_id, "\x1f", row.therapy_area, "\x1f", row.segment, "\x1f",
      row.calls_delta, "\x1f", row.reason, "\x1f", row.comment, "\x1f", submitter, "\x1f", day);
  const XXH128_hash_t h = XXH3_128bits(content.data(), content.size());
  return absl::StrFormat("auto-%016x%016x", h.high64, h.low64);
}

RefinementRecord NewRefinement(const engine::CountryConfig& country,
                               const engine::Refinement& content, int32_t calls_delta,
                               int64_t now_unix) {
  RefinementRecord r;
  r.request_id = content.request_id;
  r.country = country.country;
  r.therapy_area = content.therapy_area;
  r.customer_id = content.customer_id;
  r.segment = content.segment;
  r.calls_delta = calls_delta;
  r.reason = content.reason;
  r.comment = content.comment;
  r.submitted_by = content.submitted_by;
  r.submitted_at_unix = now_unix;
  r.updated_at_unix = now_unix;
  r.status = country.refinement.requires_approval ? RefinementStatus::kSubmitted
                                                  : RefinementStatus::kAccepted;
  return r;
}

absl::StatusOr<std::vector<Store::Submitted>> SubmitRefinementRows(
    Store& store, const engine::CountryConfig& country, const std::vector<engine::Refinement>& rows,
    int64_t now_unix) {
  std::vector<RefinementRecord> records;
  records.reserve(rows.size());
  std::vector<Store::Submitted> results(rows.size());
  std::vector<int> stored_index(rows.size(), -1);
  // Request ids are per (country, therapy area): the same id in two therapy
  // areas of one file is two refinements.
  absl::flat_hash_map<std::pair<std::string, std::string>, int64_t> line_of_id;
  for (size_t k = 0; k < rows.size(); ++k) {
    const engine::Refinement& row = rows[k];
    int32_t calls_delta = 0;
    std::string bad_delta;
    const bool delta_ok = engine::ParseCallsDelta(row.calls_delta, &calls_delta, &bad_delta);
    RefinementRecord r = NewRefinement(country, row, calls_delta, now_unix);
    if (r.request_id.empty()) {
      r.request_id = DerivedRequestId(country.country, row, row.submitted_by, now_unix);
    }
    if (!delta_ok) {
      r.status = RefinementStatus::kRejected;
      r.status_reason = std::move(bad_delta);
    }
    auto [first, inserted] =
        line_of_id.emplace(std::make_pair(r.therapy_area, r.request_id), row.line);
    if (!inserted) {
      // Not stored: the id belongs to the earlier row.
      r.status = RefinementStatus::kRejected;
      r.status_reason = absl::StrCat("request_id ", Quoted(r.request_id), " repeated (line ",
                                     first->second, " has it)");
      results[k].record = std::move(r);
      continue;
    }
    stored_index[k] = static_cast<int>(records.size());
    records.push_back(std::move(r));
  }
  HARMONIA_ASSIGN_OR_RETURN(std::vector<Store::Submitted> stored, store.SubmitRefinements(records));
  for (size_t k = 0; k < rows.size(); ++k) {
    if (stored_index[k] >= 0) results[k] = std::move(stored[stored_index[k]]);
  }
  return results;
}

absl::StatusOr<std::shared_ptr<const engine::RuleSet>> LoadPinnedRuleSet(
    Store& store, const engine::CountryConfig& country, const engine::TherapyAreaConfig& ta) {
  HARMONIA_ASSIGN_OR_RETURN(std::optional<RuleSetRecord> record,
                            store.GetRuleSet(ta.therapy_area, ta.pinned_version));
  if (!record) {
    return absl::NotFoundError(
        ta.pinned_version
            ? absl::StrCat("country ", country.country, " pins ", ta.therapy_area, " v",
                           *ta.pinned_version, ", which is not published in the store")
            : absl::StrCat("no rule set for ", ta.therapy_area,
                           " is published in the store (harmonia rules publish)"));
  }
  return CompileStored(*record);
}

std::optional<engine::CountryConfig> CountryAsRun(const CycleRecord& cycle,
                                                  const engine::RuleSet& rules) {
  engine::CountryLoadResult loaded = engine::LoadCountryConfig(
      cycle.country_config, absl::StrCat(cycle.country, ".yaml"),
      [&](const std::string& t) { return t == cycle.therapy_area ? &rules : nullptr; },
      /*unknown_therapy_areas_ok=*/true);
  return std::move(loaded.config);
}

absl::StatusOr<std::shared_ptr<const engine::RuleSet>> CompileStored(const RuleSetRecord& record) {
  const std::string name = absl::StrCat(record.therapy_area, " v", record.version);
  engine::CompileResult compiled = engine::CompileRuleSet(record.source_text, name);
  if (!compiled.rule_set) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stored rule set ", name, " does not compile: ", FormatIssues(compiled.issues, "; ")));
  }
  return compiled.rule_set;
}

absl::StatusOr<StoreCycleResult> RunStoreCycle(Store& store, const StoreCycleOptions& o) {
  const engine::CountryConfig& country = *o.country;
  const engine::TherapyAreaConfig* ta = country.FindTherapyArea(o.therapy_area);
  if (ta == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("country ", country.country, " does not run therapy area ", o.therapy_area));
  }
  const auto progress = [&](const char* stage, int64_t done, int64_t total) {
    if (o.progress) o.progress(stage, done, total);
  };
  std::shared_ptr<const engine::RuleSet> rules = o.rule_set;
  if (rules == nullptr) {
    HARMONIA_ASSIGN_OR_RETURN(rules, LoadPinnedRuleSet(store, country, *ta));
  }

  // Step 1 from the store.
  HARMONIA_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                            store.CustomersInScope(country.country, rules->applies_to));
  HARMONIA_ASSIGN_OR_RETURN(
      std::unique_ptr<internal::Assembly> assembly,
      internal::Assembly::Create(rules, country, *ta, o.as_of, std::move(ids)));
  const std::vector<std::string>& customer_ids = assembly->customer_ids();
  const int64_t n = static_cast<int64_t>(customer_ids.size());
  StoreCycleResult result;
  std::string reason;
  engine::InputIssue issue;
  int64_t rows_read = 0;
  progress("inputs", 0, 0);
  HARMONIA_RETURN_IF_ERROR(
      store.ScanInputs(country.country, o.therapy_area, [&](const InputRow& row) {
        if (++rows_read % 262144 == 0) progress("inputs", rows_read, 0);
        const int64_t customer = assembly->Find(row.customer_id);
        if (customer < 0) return;  // a type out of scope
        if (assembly->OfferStored(static_cast<uint32_t>(customer), row, &issue, &reason).column <
            0) {
          ++result.unknown_inputs;
        }
      }));

  // Pull-through from the previous committed cycle.
  HARMONIA_ASSIGN_OR_RETURN(std::optional<CycleRecord> previous_cycle,
                            store.GetCycle(country.country, o.therapy_area, std::nullopt));
  std::vector<AssignmentRow> previous_rows;
  if (previous_cycle) {
    HARMONIA_ASSIGN_OR_RETURN(previous_rows, store.GetAssignments(previous_cycle->cycle_id));
    for (const AssignmentRow& p : previous_rows) {
      const int64_t customer = assembly->Find(p.customer_id);
      if (customer < 0) continue;
      // A refined result is not carried forward: while its refinement is live
      // the cycle applies it again; once it has expired or been withdrawn the
      // customer is decided afresh (docs/decisions.md 11).
      if (p.decided_by == engine::DecidedByName(engine::DecidedBy::kRefinement)) continue;
      assembly->SetPrevious(static_cast<uint32_t>(customer),
                            {p.segment,
                             p.tier,
                             {p.calls, p.remote, p.email, p.events},
                             p.rule_id,
                             p.rule_set_version,
                             p.inputs_digest});
    }
  }

  // Refinements (docs/cycle.md step 6): the market's live ones, in submission order.
  HARMONIA_ASSIGN_OR_RETURN(
      std::vector<RefinementRecord> stored,
      store.ListRefinements(country.country, o.therapy_area,
                            {RefinementStatus::kSubmitted, RefinementStatus::kAccepted,
                             RefinementStatus::kApproved, RefinementStatus::kApplied}));
  // Validity is counted in cycle periods (docs/country-options.md "Cycle
  // periods") from the period of the first cycle that applied a refinement;
  // a re-run inside a period is no new period and keeps every refinement.
  const int32_t period = engine::CyclePeriodOf(country, o.as_of);
  absl::flat_hash_map<int64_t, int32_t> period_of_cycle;
  std::set<int32_t> cycle_periods = {period};  // the market's, for a country without a schedule
  HARMONIA_ASSIGN_OR_RETURN(std::vector<CycleRecord> history,
                            store.ListCycles(country.country, o.therapy_area));
  for (const CycleRecord& h : history) {
    period_of_cycle[h.cycle_id] = h.period;
    cycle_periods.insert(h.period);
  }
  absl::flat_hash_map<int32_t, int64_t> periods_since_cache;  // few distinct first periods
  auto periods_since = [&](int32_t first) -> int64_t {
    auto [it, fresh] = periods_since_cache.try_emplace(first, 0);
    if (!fresh) return it->second;
    const int64_t calendar = engine::CyclePeriodsBetween(country, first, period);
    it->second = calendar >= 0 ? calendar
                               : std::distance(cycle_periods.upper_bound(first),
                                               cycle_periods.upper_bound(period));
    return it->second;
  };
  std::vector<RefinementUpdate> updates;
  std::vector<engine::Refinement> refinements;
  std::vector<const RefinementRecord*> considered;
  for (const RefinementRecord& ref : stored) {
    if (ref.status == RefinementStatus::kSubmitted) {
      ++result.awaiting_approval;
      continue;
    }
    auto first = period_of_cycle.find(ref.first_cycle_id);
    if (ref.status == RefinementStatus::kApplied && first != period_of_cycle.end() &&
        periods_since(first->second) >= country.refinement.valid_cycles) {
      std::string why = absl::StrCat(
          "valid for ", country.refinement.valid_cycles, " cycle period(s) from the one starting ",
          FormatIsoDate(first->second), " (first applied in cycle ", ref.first_cycle_id,
          "); this cycle's period starts ", FormatIsoDate(period));
      updates.push_back({ref.refinement_id, RefinementStatus::kExpired, why, false});
      result.refinements.push_back({ref.request_id, ref.customer_id, RefinementStatus::kExpired,
                                    std::move(why), ref.reason});
      continue;
    }
    refinements.push_back({ref.request_id, ref.customer_id, ref.therapy_area, ref.segment,
                           absl::StrCat(ref.calls_delta), ref.reason, ref.comment, ref.submitted_by,
                           0, absl::StrCat("request ", ref.request_id)});
    considered.push_back(&ref);
  }
  // A store error while looking a customer up fails the cycle (nothing is
  // committed) rather than rejecting the refinement as "unknown customer".
  absl::Status lookup_error;
  auto out_of_scope_reason = [&](const std::string& id) -> std::string {
    absl::StatusOr<std::optional<CustomerRow>> c = store.GetCustomer(id);
    if (!c.ok()) {
      if (lookup_error.ok()) lookup_error = c.status();
      return "";
    }
    if (!c->has_value()) return "";
    return engine::OutOfScopeReason((*c)->country, (*c)->customer_type, country.country,
                                    rules->applies_to);
  };

  progress("evaluate", 0, n);
  engine::CycleOutput out = assembly->Run(&refinements, out_of_scope_reason, o.threads);
  HARMONIA_RETURN_IF_ERROR(lookup_error);
  progress("evaluate", n, n);

  // Rows as assignments.csv has them.
  std::vector<AssignmentRow> rows(customer_ids.size());
  size_t next_conflict = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    assembly->FillRow(out, i, /*with_scores=*/true, &next_conflict, &rows[i]);
  }
  result.decided_by = internal::CountDecidedBy(out.results);
  result.quality = assembly->selector().quality();
  result.refinement_quota = out.refinement_quota;
  for (size_t k = 0; k < considered.size(); ++k) {
    const RefinementRecord& ref = *considered[k];
    const engine::RefinementOutcome& outcome = out.refinements[k];
    RefinementUpdate u{ref.refinement_id, RefinementStatus::kApplied, "", true};
    switch (outcome.status) {
      case engine::RefinementOutcome::Status::kApplied:
        break;
      case engine::RefinementOutcome::Status::kSuperseded:
        u = {ref.refinement_id, RefinementStatus::kExpired, outcome.message, false};
        break;
      case engine::RefinementOutcome::Status::kRejected:
      case engine::RefinementOutcome::Status::kOtherTherapyArea:  // not listed for this TA
        u = {ref.refinement_id, RefinementStatus::kRejected, outcome.message, false};
        break;
    }
    result.refinements.push_back(
        {ref.request_id, ref.customer_id, u.status, u.status_reason, ref.reason});
    updates.push_back(std::move(u));
  }

  CycleRecord& c = result.cycle;
  c.country = country.country;
  c.therapy_area = o.therapy_area;
  c.as_of = o.as_of;
  c.rule_set_version = rules->version;
  c.options = assembly->options().canonical;
  c.country_config = o.country_text;
  c.customers = n;
  c.committed_at_unix = o.now_unix;
  c.run_by = o.run_by;
  c.period = period;
  if (previous_cycle && previous_cycle->period == period) {
    result.replaces_cycle_id = previous_cycle->cycle_id;
  }
  quality::CycleFacts facts{.rules = rules.get(),
                            .customer_ids = &customer_ids,
                            .inputs = &assembly->selector(),
                            .results = &out.results,
                            .previous_cycle_id = previous_cycle ? previous_cycle->cycle_id : 0,
                            .refinement_quota = result.refinement_quota,
                            .awaiting_approval = result.awaiting_approval,
                            .unknown_inputs = result.unknown_inputs};
  facts.previous.reserve(previous_rows.size());
  for (const AssignmentRow& p : previous_rows) facts.previous.push_back({p.customer_id, p.segment});
  // Did the last period's plan work (docs/report.md "Did it work"): the
  // market's latest committed cycle of an earlier period (greatest period,
  // then date, then id), against the activities the CRM reported from the
  // first day a cycle of its period ran to the first day a cycle of this
  // period ran, so a re-run inside either period neither drops days nor
  // counts this period's (decision 61).
  const CycleRecord* plan_cycle = nullptr;
  for (const CycleRecord& h : history) {
    if (h.status != "committed" || h.period >= period) continue;
    if (plan_cycle == nullptr ||
        std::tie(h.period, h.as_of, h.cycle_id) >
            std::tie(plan_cycle->period, plan_cycle->as_of, plan_cycle->cycle_id)) {
      plan_cycle = &h;
    }
  }
  std::vector<AssignmentRow> plan_rows_read;
  if (plan_cycle != nullptr) {
    int32_t from = plan_cycle->as_of, to = o.as_of;
    for (const CycleRecord& h : history) {
      if (h.period == plan_cycle->period) from = std::min(from, h.as_of);
      if (h.period == period) to = std::min(to, h.as_of);
    }
    const bool is_previous = previous_cycle && previous_cycle->cycle_id == plan_cycle->cycle_id;
    if (!is_previous) {
      HARMONIA_ASSIGN_OR_RETURN(plan_rows_read, store.GetAssignments(plan_cycle->cycle_id));
    }
    HARMONIA_ASSIGN_OR_RETURN(
        facts.follow_up,
        internal::FollowUp(store, *plan_cycle, is_previous ? previous_rows : plan_rows_read, from,
                           to));
  }
  for (const RefinementResult& ref : result.refinements) {
    facts.refinements.push_back({RefinementStatusName(ref.status), ref.reason});
  }
  result.figures = quality::ComputeQuality(facts);
  c.quality = quality::QualityToJson(result.figures);
  c.based_on_cycle_id = previous_cycle ? previous_cycle->cycle_id : 0;
  c.summary = absl::StrCat(
      result.replaces_cycle_id == 0
          ? std::string()
          : absl::StrCat("a re-run in the period starting ", FormatIsoDate(period),
                         ": replaces cycle ", result.replaces_cycle_id,
                         " (its refinements stay valid); "),
      internal::DecidedByText(result.decided_by), "; ", internal::QualityText(result.quality));
  if (o.dry_run) {
    result.rows = std::move(rows);
    return result;
  }
  progress("commit", 0, static_cast<int64_t>(rows.size()));
  HARMONIA_ASSIGN_OR_RETURN(c.cycle_id, store.CommitCycle(c, rows, updates));
  progress("commit", static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows.size()));
  return result;
}

void AppendAssignmentRecord(std::string* csv, std::string_view country,
                            std::string_view therapy_area, const AssignmentRow& r) {
  char counts[4][16];
  std::string_view count_text[4];
  const int32_t values[4] = {r.calls, r.remote, r.email, r.events};
  for (int k = 0; k < 4; ++k) {
    auto [end, ec] = std::to_chars(counts[k], counts[k] + sizeof counts[k], values[k]);
    count_text[k] = std::string_view(counts[k], end - counts[k]);
  }
  char version[24];
  auto [version_end, ec] = std::to_chars(version, version + sizeof version, r.rule_set_version);
  csv::AppendRecord(csv, {r.customer_id, country, therapy_area, r.segment, r.tier, count_text[0],
                          count_text[1], count_text[2], count_text[3], r.decided_by, r.rule_id,
                          std::string_view(version, version_end - version), r.inputs_digest});
}

absl::StatusOr<FileCycleResult> RunFileCycle(const FileCycleOptions& o) {
  using Clock = std::chrono::steady_clock;
  const auto seconds_since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  const engine::RuleSet& rules = *o.rules;
  const engine::CountryConfig& country = *o.country;
  const engine::TherapyAreaConfig* ta = country.FindTherapyArea(rules.therapy_area);
  if (ta == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "country ", country.country, " does not run therapy area ", rules.therapy_area));
  }
  FileCycleResult result;
  const auto load_start = Clock::now();
  HARMONIA_ASSIGN_OR_RETURN(
      exchange::Universe universe,
      exchange::ReadCustomers(absl::StrCat(o.data_dir, "/customers.csv"), country.country,
                              rules.applies_to, &result.problems));
  result.customers = static_cast<int64_t>(universe.ids.size());
  result.customer_rows = universe.rows;
  result.customer_rows_rejected = universe.rejected;
  HARMONIA_ASSIGN_OR_RETURN(
      std::unique_ptr<internal::Assembly> assembly,
      internal::Assembly::Create(o.rules, country, *ta, o.as_of, std::move(universe.ids),
                                 std::move(universe.index)));
  for (auto [kind, file, counts] :
       {std::tuple{exchange::InputKind::kAnswers, "answers.csv", &result.answers},
        std::tuple{exchange::InputKind::kMetrics, "metrics.csv", &result.metrics}}) {
    HARMONIA_RETURN_IF_ERROR(exchange::ReadInputs(absl::StrCat(o.data_dir, "/", file), kind, rules,
                                                  country, assembly->index(), universe.out_of_scope,
                                                  o.as_of, o.threads, &assembly->selector(), counts,
                                                  &result.problems));
  }
  if (!o.previous_path.empty()) {
    HARMONIA_ASSIGN_OR_RETURN(
        auto previous, exchange::ReadPrevious(o.previous_path, country.country, rules.therapy_area,
                                              &result.problems));
    for (auto& [id, assignment] : previous) {
      // Offline, a refined result is pulled through like any other
      // (docs/decisions.md 11).
      if (const int64_t customer = assembly->Find(id); customer >= 0) {
        assembly->SetPrevious(static_cast<uint32_t>(customer), std::move(assignment));
      }
    }
  }
  if (!o.refinements_path.empty()) {
    HARMONIA_ASSIGN_OR_RETURN(result.refinements,
                              exchange::ReadRefinements(o.refinements_path, &result.problems));
  }
  result.load_seconds = seconds_since(load_start);

  const auto cycle_start = Clock::now();
  engine::CycleOutput out = assembly->Run(
      o.refinements_path.empty() ? nullptr : &result.refinements,
      [&](const std::string& id) -> std::string {
        auto it = universe.out_of_scope.find(id);
        return it == universe.out_of_scope.end() ? "" : it->second;
      },
      o.threads);
  result.cycle_seconds = seconds_since(cycle_start);

  const std::vector<std::string>& ids = assembly->customer_ids();
  std::string& csv = result.assignments_csv;
  if (o.keep_rows) {
    result.rows.reserve(ids.size());
  } else {
    csv.reserve(64 + ids.size() * 128);
    csv.append(exchange::kAssignmentsHeader);
    csv.push_back('\n');
  }
  AssignmentRow row;
  size_t next_conflict = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    assembly->FillRow(out, i, /*with_scores=*/false, &next_conflict, &row);
    if (o.keep_rows) {
      result.rows.push_back(row);
    } else {
      AppendAssignmentRecord(&csv, country.country, rules.therapy_area, row);
    }
  }
  result.outcomes = std::move(out.refinements);
  result.refinement_quota = out.refinement_quota;
  result.quality = assembly->selector().quality();
  result.decided_by = internal::CountDecidedBy(out.results);
  result.decided_by_text = internal::DecidedByText(result.decided_by);
  result.quality_text = internal::QualityText(result.quality);
  if (o.repeat > 0 && !ids.empty())
    result.engine_seconds = assembly->TimeEngine(o.repeat, o.threads);
  return result;
}

}  // namespace harmonia::cycle
