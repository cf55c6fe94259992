// WorkerCore, refinements: submit (window, quota, checks), list, decide.
#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/date.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/text.h"
#include "engine/country_config.h"
#include "engine/cycle.h"
#include "services/internal/worker_helpers.h"
#include "services/worker_core.h"

namespace harmonia::services {
namespace {

// Under quota_scope territory a refinement counts against its customer's
// first territory (bytewise): every customer uses exactly one quota, so the
// territories' quotas never add up to more than the country's
// (docs/country-options.md "Refinement policy"). Null: in no territory.
const std::string* QuotaTerritory(const WorkerCore::Alignment& a, const std::string& customer) {
  auto it = a.territories_of.find(customer);
  return it == a.territories_of.end() || it->second.empty() ? nullptr : &it->second.front();
}

// Every territory's quota: floor(share × its customers in scope), and the
// customers with a live refinement counted against it.
std::map<std::string, WorkerCore::TerritoryQuota> TerritoryQuotas(
    const WorkerCore::Alignment& a, const absl::flat_hash_set<std::string>& in_scope,
    const std::set<std::string>& live, const engine::Options& options) {
  std::map<std::string, WorkerCore::TerritoryQuota> out;
  for (const auto& [territory, customers] : a.customers_of) out[territory].territory = territory;
  for (const std::string& c : in_scope) {
    if (const std::string* t = QuotaTerritory(a, c)) ++out[*t].customers;
  }
  for (auto& [territory, q] : out) q.quota = engine::RefinementQuota(options, q.customers);
  for (const std::string& c : live) {
    if (const std::string* t = QuotaTerritory(a, c)) ++out[*t].used;
  }
  return out;
}

// The country's options for a therapy area, resolved against its rule set;
// nullopt when they are not on the rule set's menu.
std::optional<engine::Options> OptionsOf(const engine::RuleSet& rules,
                                         const engine::TherapyAreaConfig& ta) {
  IssueList issues(ta.therapy_area);
  engine::Options options;
  if (!engine::ResolveOptions(rules, ta.options, &issues, &options)) return std::nullopt;
  return options;
}

}  // namespace

// ---------------------------------------------------------------- refinements

absl::StatusOr<std::set<std::string>*> WorkerCore::LiveCustomers(store::Store& db,
                                                                 const std::string& country,
                                                                 const std::string& ta) {
  const std::string key = Key(country, ta);
  auto it = live_.find(key);
  if (it != live_.end()) return &it->second;
  HARMONIA_ASSIGN_OR_RETURN(
      std::vector<store::RefinementRecord> live,
      db.ListRefinements(country, ta,
                         {RefinementStatus::kSubmitted, RefinementStatus::kAccepted,
                          RefinementStatus::kApproved, RefinementStatus::kApplied}));
  std::set<std::string>& set = live_[key];
  for (const store::RefinementRecord& r : live) set.insert(r.customer_id);
  return &set;
}

absl::StatusOr<std::vector<store::Store::Submitted>> WorkerCore::SubmitRefinements(
    const auth::Principal& who, const std::string& country,
    const std::vector<RefinementInput>& items) {
  HARMONIA_ASSIGN_OR_RETURN(
      std::shared_ptr<const Market> market,
      Served(who, country, "submitting refinements", {Role::kField, Role::kCountryOps}));
  if (items.size() > 5000) {
    return absl::InvalidArgumentError(
        absl::StrCat("items: ", items.size(), " in one request; at most 5000"));
  }
  const engine::CountryConfig& cc = market->config;
  const int64_t now = absl::ToUnixSeconds(clock_->Now());

  // Per therapy area: the rule set, the customers in scope, the quota.
  struct TaState {
    std::shared_ptr<const engine::RuleSet> rules;
    absl::Status unavailable;
    std::optional<engine::Options> options;
    std::shared_ptr<const Scope> in_scope;
    std::set<std::string> imported_since;  // in scope, not yet in the cached scope
    int64_t quota = 0;
    // quota_scope territory: the alignment and each territory's quota
    std::shared_ptr<const Alignment> alignment;
    std::map<std::string, TerritoryQuota> territory_quotas;
  };
  const bool per_territory = cc.refinement.quota_scope == engine::QuotaScope::kTerritory;
  std::map<std::string, TaState> tas;
  const int32_t today = engine::TodayIn(cc, clock_->Now());
  const bool window_open = engine::RefinementWindowOpen(cc, today);

  // (Read before taking a store connection: reading it may need one.)
  std::shared_ptr<const Alignment> alignment;
  if (per_territory) {
    HARMONIA_ASSIGN_OR_RETURN(alignment, AlignmentOf(country));
  }
  std::lock_guard<std::mutex> lock(submit_mu_);  // the quota is counted in submission order
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  std::vector<store::RefinementRecord> records;
  std::vector<int> stored_index(items.size(), -1);
  std::vector<store::Store::Submitted> results(items.size());
  std::set<std::pair<std::string, std::string>> seen_ids;  // therapy area, request_id
  for (size_t k = 0; k < items.size(); ++k) {
    const RefinementInput& in = items[k];
    store::RefinementRecord r = cycle::NewRefinement(cc,
                                                     {.request_id = in.request_id,
                                                      .customer_id = in.customer_id,
                                                      .therapy_area = in.therapy_area,
                                                      .segment = in.segment,
                                                      .reason = in.reason,
                                                      .comment = in.comment,
                                                      .submitted_by = who.name},
                                                     in.calls_delta, now);
    std::string why = BadTextField({{"request_id", &in.request_id, kMaxRequestIdBytes},
                                    {"customer_id", &in.customer_id},
                                    {"therapy_area", &in.therapy_area},
                                    {"segment", &in.segment},
                                    {"reason", &in.reason},
                                    {"comment", &in.comment, kMaxCommentBytes}});
    // false: the item is not stored (no request_id of its own to store it
    // under, or text that must never be stored); it is only returned
    bool storable = why.empty();
    if (!storable) {  // returned as the caller may see it: bounded text
      for (std::string* f :
           {&r.request_id, &r.customer_id, &r.therapy_area, &r.segment, &r.reason, &r.comment}) {
        *f = Echo(*f);
      }
    }
    const engine::TherapyAreaConfig* ta = storable ? cc.FindTherapyArea(in.therapy_area) : nullptr;
    TaState* state = nullptr;
    if (ta != nullptr) {
      state = &tas[in.therapy_area];
      if (!state->rules && state->unavailable.ok()) {
        absl::StatusOr<std::shared_ptr<const engine::RuleSet>> rules =
            RuleSetFor(*market, in.therapy_area);
        if (!rules.ok()) {
          state->unavailable = rules.status();
        } else {
          state->rules = *rules;
          state->options = OptionsOf(*state->rules, *ta);
          absl::StatusOr<std::shared_ptr<const Scope>> scope = InScope(*db, country, *state->rules);
          if (!scope.ok()) return scope.status();
          state->in_scope = *scope;
          state->quota =
              state->options
                  ? engine::RefinementQuota(*state->options, static_cast<int64_t>((*scope)->size()))
                  : 0;
        }
      }
    }
    if (!why.empty()) {
      // refused for its text (above): nothing else is checked
    } else if (in.request_id.empty()) {
      why = "request_id: required (an idempotency key, unique per country and therapy area)";
      storable = false;
    } else if (!seen_ids.insert({in.therapy_area, in.request_id}).second) {
      why = absl::StrCat("request_id ", Quoted(in.request_id),
                         ": repeated in this request (an earlier item has it)");
      storable = false;
    } else if (ta == nullptr) {
      why = absl::StrCat("therapy_area ", Quoted(in.therapy_area), ": not run in ", country,
                         " (runs: ",
                         absl::StrJoin(cc.therapy_areas, ", ",
                                       [](std::string* out, const engine::TherapyAreaConfig& t) {
                                         out->append(t.therapy_area);
                                       }),
                         ")");
    } else if (!state->unavailable.ok()) {
      return state->unavailable;  // no rule set yet: retry later, nothing stored
    } else if (!state->options) {
      why = absl::StrCat("country ", country, ": its options for ", in.therapy_area,
                         " are not on the rule set's menu");
    } else if (state->options->process == engine::Process::kDataDriven) {
      why = absl::StrCat("country ", country, " runs ", in.therapy_area,
                         " data_driven: refinements are not accepted");
    } else if (!window_open) {
      why = absl::StrCat("refinement window closed: ", country, " takes refinements in the first ",
                         cc.refinement.window_days, " days of a cycle period; this one started ",
                         FormatIsoDate(engine::CyclePeriodOf(cc, today)), " (schedule ",
                         Quoted(cc.schedule), ", ", cc.timezone, ")");
    } else if (!state->in_scope->contains(in.customer_id) &&
               !state->imported_since.count(in.customer_id)) {
      absl::StatusOr<std::optional<store::CustomerRow>> c = db->GetCustomer(in.customer_id);
      if (!c.ok()) return c.status();
      if (!*c || (*c)->country != country) {
        why = NotACustomerOf(in.customer_id, country);
      } else {
        std::string out = engine::OutOfScopeReason((*c)->country, (*c)->customer_type, country,
                                                   state->rules->applies_to);
        if (out.empty()) {
          state->imported_since.insert(in.customer_id);  // imported since the scope was read
        } else {
          why = absl::StrCat("customer_id ", Quoted(in.customer_id), ": ", out);
        }
      }
    }
    if (why.empty() && !in.segment.empty()) {
      const auto& segs = state->rules->segments;
      if (std::none_of(segs.begin(), segs.end(),
                       [&](const engine::Segment& s) { return s.id == in.segment; })) {
        why = absl::StrCat(
            "segment ", Quoted(in.segment), ": unknown; expected one of: ",
            absl::StrJoin(segs, ", ",
                          [](std::string* out, const engine::Segment& s) { out->append(s.id); }));
      }
    }
    if (why.empty()) {
      const auto& reasons = state->rules->refinement_reasons;
      if (std::find(reasons.begin(), reasons.end(), in.reason) == reasons.end()) {
        why = absl::StrCat(
            "reason ", Quoted(in.reason),
            ": not a refinement reason; expected one of: ", absl::StrJoin(reasons, ", "));
      } else if (in.calls_delta < -engine::kMaxCallsDelta ||
                 in.calls_delta > engine::kMaxCallsDelta) {
        why = absl::StrCat("calls_delta: ", in.calls_delta, " outside -", engine::kMaxCallsDelta,
                           "..", engine::kMaxCallsDelta);
      } else if (in.segment.empty() && in.calls_delta == 0) {
        why = "changes nothing: give a segment or a calls_delta";
      }
    }
    if (why.empty()) {
      HARMONIA_ASSIGN_OR_RETURN(std::set<std::string> * live,
                                LiveCustomers(*db, country, in.therapy_area));
      if (per_territory) {
        if (state->alignment == nullptr) {
          state->alignment = alignment;
          state->territory_quotas =
              TerritoryQuotas(*state->alignment, *state->in_scope, *live, *state->options);
        }
        const std::string* t = QuotaTerritory(*state->alignment, in.customer_id);
        if (t == nullptr) {
          why = absl::StrCat("customer_id ", Quoted(in.customer_id), ": in no territory; ", country,
                             " counts refinements per territory (quota_scope territory): "
                             "territories.csv must give the customer a territory first");
        } else if (const TerritoryQuota& q = state->territory_quotas[*t];
                   !live->count(in.customer_id) && q.used >= q.quota) {
          why = absl::StrCat("over the refinement quota of territory ", Quoted(*t), ": ", q.quota,
                             " customers per cycle (max_refinement_share of its ", q.customers,
                             " in scope)");
        }
      } else if (!live->count(in.customer_id) &&
                 static_cast<int64_t>(live->size()) >= state->quota) {
        why = absl::StrCat("over the refinement quota: ", state->quota, " customers per cycle in ",
                           country, " ", in.therapy_area, " (max_refinement_share of ",
                           state->in_scope->size(), " in scope)");
      }
    }
    if (!why.empty()) {  // else accepted or submitted, as NewRefinement set it
      r.status = RefinementStatus::kRejected;
      r.status_reason = why;
    }
    if (!storable) {
      results[k] = {std::move(r), false};
      continue;
    }
    if (r.status != RefinementStatus::kRejected) {
      // Counts towards the quota of the items that follow (submission order).
      const bool counted = live_[Key(country, in.therapy_area)].insert(in.customer_id).second;
      if (counted && per_territory && state->alignment != nullptr) {
        if (const std::string* t = QuotaTerritory(*state->alignment, in.customer_id)) {
          ++state->territory_quotas[*t].used;
        }
      }
    }
    stored_index[k] = static_cast<int>(records.size());
    records.push_back(std::move(r));
  }
  absl::StatusOr<std::vector<store::Store::Submitted>> stored = db->SubmitRefinements(records);
  if (!stored.ok()) {
    live_.clear();  // counted customers that were not stored: recount from the store
    return stored.status();
  }
  for (size_t k = 0; k < items.size(); ++k) {
    if (stored_index[k] >= 0) results[k] = std::move((*stored)[stored_index[k]]);
  }
  return results;
}

absl::StatusOr<std::vector<store::RefinementRecord>> WorkerCore::ListRefinements(
    const auth::Principal& who, const std::string& country, const std::string& therapy_area,
    const RefinementFilter& filter, std::vector<std::vector<std::string>>* territories) {
  HARMONIA_RETURN_IF_ERROR(Served(who, country, "reading refinements", kReaders).status());
  std::shared_ptr<const Alignment> alignment;
  if (!filter.territory.empty() || territories != nullptr) {
    HARMONIA_ASSIGN_OR_RETURN(alignment, AlignmentOf(country));
  }
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  HARMONIA_ASSIGN_OR_RETURN(std::vector<store::RefinementRecord> all,
                            db->ListRefinements(country, therapy_area, filter.statuses));
  const std::vector<std::string>* in_territory = nullptr;  // bytewise
  if (!filter.territory.empty()) {
    auto it = alignment->customers_of.find(filter.territory);
    if (it == alignment->customers_of.end()) return std::vector<store::RefinementRecord>();
    in_territory = &it->second;
  }
  std::vector<store::RefinementRecord> out;
  for (store::RefinementRecord& r : all) {
    if (in_territory != nullptr &&
        !std::binary_search(in_territory->begin(), in_territory->end(), r.customer_id)) {
      continue;
    }
    if (!filter.submitted_by.empty() && r.submitted_by != filter.submitted_by) continue;
    if (!filter.reason.empty() && r.reason != filter.reason) continue;
    if (territories != nullptr) {
      auto it = alignment->territories_of.find(r.customer_id);
      territories->push_back(it == alignment->territories_of.end() ? std::vector<std::string>()
                                                                   : it->second);
    }
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<store::RefinementRecord> WorkerCore::DecideRefinement(
    const auth::Principal& who, const std::string& country, const std::string& therapy_area,
    const std::string& request_id, RefinementStatus to, const std::string& reason) {
  const bool withdraw = to == RefinementStatus::kWithdrawn;
  if (to != RefinementStatus::kApproved && to != RefinementStatus::kRejected && !withdraw) {
    return absl::InvalidArgumentError("a refinement is approved, rejected or withdrawn");
  }
  HARMONIA_ASSIGN_OR_RETURN(
      std::shared_ptr<const Market> market,
      Served(who, country,
             withdraw ? "withdrawing refinements"
                      : (to == RefinementStatus::kApproved ? "approving refinements"
                                                           : "rejecting refinements"),
             withdraw ? std::initializer_list<Role>{Role::kField, Role::kCountryOps}
                      : std::initializer_list<Role>{Role::kCountryOps}));
  if (to == RefinementStatus::kRejected && reason.empty()) {
    return absl::InvalidArgumentError("reason: required to reject a refinement");
  }
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  // Request ids are per (country, therapy area): one of another country is
  // never looked at. Without a therapy area, the country's one that has it.
  std::optional<store::RefinementRecord> current;
  std::vector<std::string> holders;
  for (const engine::TherapyAreaConfig& ta : market->config.therapy_areas) {
    if (!therapy_area.empty() && ta.therapy_area != therapy_area) continue;
    absl::StatusOr<std::optional<store::RefinementRecord>> found =
        db->GetRefinement(country, ta.therapy_area, request_id);
    if (!found.ok()) return found.status();
    if (*found) {
      holders.push_back(ta.therapy_area);
      current = std::move(*found);
    }
  }
  if (!current) {
    return absl::NotFoundError(absl::StrCat("refinement ", Quoted(request_id), ": not found in ",
                                            country, therapy_area.empty() ? "" : " ",
                                            therapy_area));
  }
  if (holders.size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("refinement ", Quoted(request_id), ": ", country, " has one in each of ",
                     absl::StrJoin(holders, ", "), "; give the therapy area"));
  }
  if (withdraw && !who.Has(Role::kCountryOps, country) && current->submitted_by != who.name) {
    return absl::PermissionDeniedError(
        absl::StrCat("principal ", Quoted(who.name), ": may withdraw only their own refinements (",
                     Quoted(request_id), " was submitted by ", Quoted(current->submitted_by), ")"));
  }
  std::lock_guard<std::mutex> lock(submit_mu_);
  absl::StatusOr<store::RefinementRecord> decided =
      db->DecideRefinement(country, current->therapy_area, request_id, to, reason, who.name,
                           absl::ToUnixSeconds(clock_->Now()));
  if (!decided.ok()) return decided.status();
  live_.erase(Key(country, current->therapy_area));  // a rejection may free quota
  return decided;
}

absl::StatusOr<WorkerCore::RefinementPolicyView> WorkerCore::RefinementPolicyFor(
    const auth::Principal& who, const std::string& country, const std::string& therapy_area) {
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const Market> market,
                            Served(who, country, "reading the refinement policy", kReaders));
  const engine::CountryConfig& cc = market->config;
  // NotFound for a therapy area the country does not run.
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const engine::RuleSet> rules,
                            RuleSetFor(*market, therapy_area));
  const engine::TherapyAreaConfig* ta = cc.FindTherapyArea(therapy_area);
  const std::optional<engine::Options> resolved = OptionsOf(*rules, *ta);
  if (!resolved) {
    return absl::FailedPreconditionError(absl::StrCat("country ", country, ": its options for ",
                                                      therapy_area,
                                                      " are not on the rule set's menu"));
  }
  const engine::Options& options = *resolved;
  RefinementPolicyView v;
  v.policy = cc.refinement;
  v.data_driven = options.process == engine::Process::kDataDriven;
  const int32_t today = engine::TodayIn(cc, clock_->Now());
  v.window_open = engine::RefinementWindowOpen(cc, today);
  if (cc.cron) {
    v.period_start = engine::CyclePeriodOf(cc, today);
    if (cc.refinement.window_days > 0) {
      v.window_last_day = v.period_start + cc.refinement.window_days - 1;
    }
  }
  v.accepting = !v.data_driven && v.window_open;
  if (v.data_driven) {
    v.why_not = absl::StrCat(country, " runs ", therapy_area,
                             " data_driven: the segments come from the data alone");
  } else if (!v.window_open) {
    v.why_not = absl::StrCat("the refinement window is closed: ", country,
                             " takes refinements in the first ", cc.refinement.window_days,
                             " days of a cycle period");
  }
  const std::map<std::string, std::string> labels = engine::SegmentLabels(*rules, ta);
  for (const engine::Segment& seg : rules->segments) {
    auto it = labels.find(seg.id);
    v.segments.emplace_back(seg.id, it == labels.end() ? seg.id : it->second);
  }
  v.reasons = rules->refinement_reasons;

  std::shared_ptr<const Alignment> alignment;  // read before taking a store connection
  if (cc.refinement.quota_scope == engine::QuotaScope::kTerritory) {
    HARMONIA_ASSIGN_OR_RETURN(alignment, AlignmentOf(country));
  }
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const Scope> scope, InScope(*db, country, *rules));
  std::lock_guard<std::mutex> lock(submit_mu_);  // LiveCustomers' cache
  HARMONIA_ASSIGN_OR_RETURN(std::set<std::string> * live,
                            LiveCustomers(*db, country, therapy_area));
  if (cc.refinement.quota_scope == engine::QuotaScope::kCountry) {
    v.quotas.push_back(
        {.customers = static_cast<int64_t>(scope->size()),
         .quota = engine::RefinementQuota(options, static_cast<int64_t>(scope->size())),
         .used = static_cast<int64_t>(live->size())});
    return v;
  }
  std::map<std::string, TerritoryQuota> all = TerritoryQuotas(*alignment, *scope, *live, options);
  if (who.Has(auth::Role::kField, country) && !who.Has(auth::Role::kCountryOps, country)) {
    auto mine = alignment->territories_by_rep.find(who.name);  // a rep: their territories
    if (mine != alignment->territories_by_rep.end()) {
      for (const std::string& t : mine->second) v.quotas.push_back(all[t]);
    }
  } else {
    for (auto& [t, q] : all) v.quotas.push_back(std::move(q));
  }
  return v;
}

}  // namespace harmonia::services
