#include "services/worker_core.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/date.h"
#include "common/file.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "common/text.h"
#include "engine/cycle.h"
#include "exchange/exchange.h"
#include "report/report.h"
#include "services/authz.h"
#include "services/log.h"

namespace harmonia::services {
namespace {

namespace v1 = harmonia::v1;
using auth::Role;
using store::RefinementStatus;

std::string Key(const std::string& country, const std::string& ta) {
  return absl::StrCat(country, "/", ta);
}

std::string JoinIssues(const std::vector<Issue>& issues) {
  std::vector<std::string> lines;
  for (const Issue& i : issues) lines.push_back(FormatIssue(i));
  return absl::StrJoin(lines, "\n");
}

// Why a customer id is refused in `country`: the same words whether the id is
// unknown or a customer of another country, so no answer reveals another
// country's customers (docs/api.md).
std::string NotACustomerOf(const std::string& customer_id, const std::string& country) {
  return absl::StrCat("customer_id ", Quoted(customer_id), ": not a customer of ", country);
}

// Why an item of a request is refused for its text: the first of `fields`
// (name, value) that is not UTF-8 text, or is longer than `max_bytes` (0 = no
// bound); empty when every field is fine (docs/api.md "Text").
struct TextField {
  const char* name;
  const std::string* value;
  size_t max_bytes = 0;
};
std::string BadTextField(std::initializer_list<TextField> fields) {
  for (const TextField& f : fields) {
    if (std::string why = WhyNotText(*f.value); !why.empty()) {
      return absl::StrCat(f.name, ": ", why, "; text must be UTF-8 without NUL bytes");
    }
    if (f.max_bytes > 0 && f.value->size() > f.max_bytes) {
      return absl::StrCat(f.name, ": ", f.value->size(), " bytes; at most ", f.max_bytes);
    }
  }
  return "";
}

// Bounds on what a refinement stores.
constexpr size_t kMaxRequestIdBytes = 200;
constexpr size_t kMaxCommentBytes = 4000;

// Every role that may read a country's data (global ops read every market).
constexpr std::initializer_list<Role> kReaders = {Role::kCountryOps, Role::kField, Role::kViewer,
                                                  Role::kGlobalOps};

}  // namespace

absl::StatusOr<WorkerCore::Markets> WorkerCore::LoadMarkets(const WorkerCoreOptions& options) {
  Markets markets;
  std::vector<std::string> problems;
  for (const std::string& cc : options.countries) {
    const std::string path = absl::StrCat(options.countries_dir, "/", cc, ".yaml");
    absl::StatusOr<std::string> text = ReadFileToString(path, 1 << 20);
    if (!text.ok()) {
      problems.push_back(absl::StrCat("country ", cc, ": ", text.status().message()));
      continue;
    }
    engine::CountryLoadResult loaded = engine::LoadCountryConfig(
        *text, path, [](const std::string&) { return nullptr; },
        /*unknown_therapy_areas_ok=*/true);
    if (!loaded.config) {
      problems.push_back(JoinIssues(loaded.issues));
      continue;
    }
    if (loaded.config->country != cc) {
      problems.push_back(
          absl::StrCat(path, ": says country ", loaded.config->country, ", expected ", cc));
      continue;
    }
    auto m = std::make_shared<Market>();
    m->config = std::move(*loaded.config);  // zone and schedule parsed and checked
    m->text = std::move(*text);
    markets.emplace(cc, std::move(m));
  }
  if (!problems.empty()) return absl::InvalidArgumentError(absl::StrJoin(problems, "\n"));
  return markets;
}

absl::StatusOr<std::unique_ptr<WorkerCore>> WorkerCore::Create(const WorkerCoreOptions& options) {
  if (options.countries.empty()) {
    return absl::InvalidArgumentError("--countries: a worker serves at least one country");
  }
  HARMONIA_ASSIGN_OR_RETURN(Markets markets, LoadMarkets(options));
  HARMONIA_ASSIGN_OR_RETURN(std::unique_ptr<StorePool> pool,
                            StorePool::Create(options.store_url, options.store_connections));
  std::unique_ptr<WorkerCore> core(new WorkerCore(options, std::move(pool)));
  core->markets_ = std::move(markets);
  return core;
}

absl::Status WorkerCore::ReloadCountries() {
  HARMONIA_ASSIGN_OR_RETURN(Markets markets, LoadMarkets(options_));
  {
    std::lock_guard<std::mutex> lock(markets_mu_);
    markets_ = std::move(markets);
  }
  // What was derived from the files: labels of cached cycles, quotas.
  {
    std::lock_guard<std::mutex> lock(mu_);
    cycles_.clear();
    cycles_checked_.clear();
  }
  std::lock_guard<std::mutex> lock(submit_mu_);
  live_.clear();
  return absl::OkStatus();
}

WorkerCore::Markets WorkerCore::markets() const {
  std::lock_guard<std::mutex> lock(markets_mu_);
  return markets_;
}

std::vector<ScheduleEntry> WorkerCore::ScheduleEntries() const {
  std::vector<ScheduleEntry> entries;
  for (const auto& [cc, m] : markets()) {
    if (!m->config.cron) continue;  // cycles on demand only
    ScheduleEntry e{cc, {}, *m->config.cron, m->config.zone};
    for (const auto& ta : m->config.therapy_areas) e.therapy_areas.push_back(ta.therapy_area);
    entries.push_back(std::move(e));
  }
  return entries;
}

WorkerCore::WorkerCore(const WorkerCoreOptions& options, std::unique_ptr<StorePool> pool)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : RealClock()),
      pool_(std::move(pool)) {}

std::shared_ptr<const engine::CountryConfig> WorkerCore::Country(const std::string& cc) const {
  Markets all = markets();
  auto it = all.find(cc);
  if (it == all.end()) return nullptr;
  return std::shared_ptr<const engine::CountryConfig>(it->second, &it->second->config);
}

absl::StatusOr<std::optional<int64_t>> WorkerCore::LatestStoredVersion(
    const std::string& therapy_area) {
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  absl::StatusOr<std::optional<store::RuleSetRecord>> r =
      db->GetRuleSet(therapy_area, std::nullopt);
  if (!r.ok()) return r.status();
  if (!*r) return std::optional<int64_t>();
  return std::optional<int64_t>((*r)->version);
}

std::vector<std::string> WorkerCore::TherapyAreas() const {
  std::set<std::string> tas;
  for (const auto& [cc, m] : markets()) {
    for (const engine::TherapyAreaConfig& ta : m->config.therapy_areas) tas.insert(ta.therapy_area);
  }
  return {tas.begin(), tas.end()};
}

absl::StatusOr<std::shared_ptr<const WorkerCore::Market>> WorkerCore::Served(
    const auth::Principal& who, const std::string& country, std::string_view action,
    std::initializer_list<Role> roles) const {
  HARMONIA_RETURN_IF_ERROR(Require(who, action, roles, country));
  std::lock_guard<std::mutex> lock(markets_mu_);
  auto it = markets_.find(country);
  if (it == markets_.end()) {
    return absl::NotFoundError(absl::StrCat("country ", Quoted(country),
                                            ": not served by this worker (it serves ",
                                            absl::StrJoin(options_.countries, ", "), ")"));
  }
  return it->second;
}

int32_t WorkerCore::Today(const Market& market) {
  return engine::TodayIn(market.config, clock_->Now());
}

// ------------------------------------------------------------------ rule sets

absl::Status WorkerCore::CacheRuleSet(const store::RuleSetRecord& record, const std::string& by) {
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  absl::StatusOr<bool> stored = db->CopyRuleSet(record, by, absl::ToUnixSeconds(clock_->Now()));
  if (!stored.ok()) return stored.status();
  if (*stored) {
    Log(LogLevel::kInfo, "rule_set_cached",
        JsonObject()
            .Add("therapy_area", record.therapy_area)
            .Add("version", record.version)
            .Add("published_by", record.published_by));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> WorkerCore::MissingRuleSets() {
  std::set<std::pair<std::string, int64_t>> missing;
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  for (const auto& [cc, m] : markets()) {
    for (const engine::TherapyAreaConfig& ta : m->config.therapy_areas) {
      absl::StatusOr<std::optional<store::RuleSetRecord>> r =
          db->GetRuleSet(ta.therapy_area, ta.pinned_version);
      if (!r.ok()) return r.status();
      if (!*r) missing.insert({ta.therapy_area, ta.pinned_version.value_or(0)});
    }
  }
  return std::vector<std::pair<std::string, int64_t>>(missing.begin(), missing.end());
}

absl::StatusOr<std::shared_ptr<const engine::RuleSet>> WorkerCore::RuleSetFor(
    const Market& market, const std::string& ta) {
  const engine::TherapyAreaConfig* config = market.config.FindTherapyArea(ta);
  if (config == nullptr) {
    return absl::NotFoundError(absl::StrCat("country ", market.config.country,
                                            ": does not run therapy area ", Quoted(ta)));
  }
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  absl::StatusOr<std::optional<store::RuleSetRecord>> record =
      db->GetRuleSet(ta, config->pinned_version);
  if (!record.ok()) return record.status();
  if (!*record) {
    return absl::UnavailableError(
        absl::StrCat("country ", market.config.country, ": rule set ", ta,
                     config->pinned_version ? absl::StrCat(" v", *config->pinned_version) : "",
                     " not loaded yet (the worker receives it from the rules service)"));
  }
  const std::pair<std::string, int64_t> key{ta, (*record)->version};
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = compiled_.find(key);
    if (it != compiled_.end()) return it->second;
  }
  engine::CompileResult compiled =
      engine::CompileRuleSet((*record)->source_text, absl::StrCat(ta, " v", (*record)->version));
  if (!compiled.rule_set) {
    return absl::InternalError(absl::StrCat("stored rule set ", ta, " v", (*record)->version,
                                            " does not compile: ", JoinIssues(compiled.issues)));
  }
  std::lock_guard<std::mutex> lock(mu_);
  return compiled_.emplace(key, compiled.rule_set).first->second;
}

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
  };
  std::map<std::string, TaState> tas;
  // The window: refinements are taken in the first window_days of a cycle
  // period, i.e. when the schedule fired within the last window_days.
  bool window_open = true;
  if (market->config.cron) {
    const absl::Time t = clock_->Now();
    window_open = market->config.cron->Next(t - absl::Hours(24) * cc.refinement.window_days,
                                            market->config.zone) <= t;
  }

  std::lock_guard<std::mutex> lock(submit_mu_);  // the quota is counted in submission order
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  std::vector<store::RefinementRecord> records;
  std::vector<int> stored_index(items.size(), -1);
  std::vector<store::Store::Submitted> results(items.size());
  std::set<std::pair<std::string, std::string>> seen_ids;  // therapy area, request_id
  for (size_t k = 0; k < items.size(); ++k) {
    const RefinementInput& in = items[k];
    store::RefinementRecord r;
    r.request_id = in.request_id;
    r.country = country;
    r.therapy_area = in.therapy_area;
    r.customer_id = in.customer_id;
    r.segment = in.segment;
    r.calls_delta = in.calls_delta;
    r.reason = in.reason;
    r.comment = in.comment;
    r.submitted_by = who.name;
    r.submitted_at_unix = now;
    r.updated_at_unix = now;
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
          IssueList issues(in.therapy_area);
          engine::Options options;
          if (engine::ResolveOptions(*state->rules, ta->options, &issues, &options)) {
            state->options = options;
          }
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
                         cc.refinement.window_days, " days of a cycle period (schedule ",
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
      if (!live->count(in.customer_id) && static_cast<int64_t>(live->size()) >= state->quota) {
        why = absl::StrCat("over the refinement quota: ", state->quota, " customers per cycle in ",
                           country, " ", in.therapy_area, " (max_refinement_share of ",
                           state->in_scope->size(), " in scope)");
      }
    }
    if (why.empty()) {
      r.status = cc.refinement.requires_approval ? RefinementStatus::kSubmitted
                                                 : RefinementStatus::kAccepted;
    } else {
      r.status = RefinementStatus::kRejected;
      r.status_reason = why;
    }
    if (!storable) {
      results[k] = {std::move(r), false};
      continue;
    }
    if (r.status != RefinementStatus::kRejected) {
      // Counts towards the quota of the items that follow (submission order).
      live_[Key(country, in.therapy_area)].insert(in.customer_id);
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
    const std::vector<RefinementStatus>& statuses) {
  HARMONIA_RETURN_IF_ERROR(Served(who, country, "reading refinements", kReaders).status());
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  return db->ListRefinements(country, therapy_area, statuses);
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

// --------------------------------------------------------------------- cycles

std::mutex& WorkerCore::CycleLock(const std::string& country, const std::string& ta) {
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<std::mutex>& m = cycle_locks_[Key(country, ta)];
  if (!m) m = std::make_unique<std::mutex>();
  return *m;
}

absl::StatusOr<cycle::StoreCycleResult> WorkerCore::RunCycle(const auth::Principal& who,
                                                             const std::string& country,
                                                             const std::string& therapy_area,
                                                             std::optional<int32_t> as_of,
                                                             const Progress& progress) {
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const Market> market,
                            Served(who, country, "running cycles", {Role::kCountryOps}));
  if (market->config.FindTherapyArea(therapy_area) == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("country ", country, ": does not run therapy area ", Quoted(therapy_area)));
  }
  std::unique_lock<std::mutex> running(CycleLock(country, therapy_area), std::try_to_lock);
  if (!running.owns_lock()) {
    return absl::AbortedError(absl::StrCat("country ", country, " ", therapy_area,
                                           ": a cycle is already running; try again when it ends"));
  }
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const engine::RuleSet> rules,
                            RuleSetFor(*market, therapy_area));
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  const absl::Time start = clock_->Now();
  cycle::StoreCycleOptions o{.country = &market->config,
                             .country_text = market->text,
                             .therapy_area = therapy_area,
                             .as_of = as_of.value_or(Today(*market)),
                             .threads = options_.cycle_threads,
                             .now_unix = absl::ToUnixSeconds(start),
                             .run_by = who.name,
                             .rule_set = rules,
                             .progress = progress};
  absl::StatusOr<cycle::StoreCycleResult> result = cycle::RunStoreCycle(*db, o);
  {
    std::lock_guard<std::mutex> lock(submit_mu_);
    live_.erase(Key(country, therapy_area));  // statuses moved: recount
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    cycles_.erase(Key(country, therapy_area));
    // The scope is read again after each cycle (an import may have changed it).
    const std::string prefix = Key(country, therapy_area) + "/";
    for (auto it = scopes_.lower_bound(prefix);
         it != scopes_.end() && it->first.rfind(prefix, 0) == 0;) {
      it = scopes_.erase(it);
    }
  }
  if (!result.ok()) return result.status();
  Log(LogLevel::kInfo, "cycle_committed",
      JsonObject()
          .Add("country", country)
          .Add("therapy_area", therapy_area)
          .Add("cycle_id", result->cycle.cycle_id)
          .Add("as_of", FormatIsoDate(o.as_of))
          .Add("rule_set_version", result->cycle.rule_set_version)
          .Add("customers", result->cycle.customers)
          .Add("run_by", who.name)
          .Add("seconds", absl::ToDoubleSeconds(clock_->Now() - start)));
  return result;
}

void WorkerCore::RunScheduledCycle(const std::string& country, const std::string& therapy_area,
                                   absl::CivilDay as_of, const char* why) {
  const auth::Principal scheduler{"scheduler", {{Role::kCountryOps, country}}};
  absl::StatusOr<cycle::StoreCycleResult> r = RunCycle(
      scheduler, country, therapy_area, ParseIsoDate(absl::FormatCivilTime(as_of)), nullptr);
  if (!r.ok()) {
    Log(LogLevel::kWarning, "scheduled_cycle_failed",
        JsonObject()
            .Add("country", country)
            .Add("therapy_area", therapy_area)
            .Add("why", why)
            .Add("code", absl::StatusCodeToString(r.status().code()))
            .Add("message", std::string(r.status().message())));
  }
}

std::optional<absl::Time> WorkerCore::LastCycleTime(const std::string& country,
                                                    const std::string& therapy_area) {
  absl::StatusOr<StorePool::Lease> db = pool_->Acquire();
  if (!db.ok()) return std::nullopt;
  absl::StatusOr<std::optional<store::CycleRecord>> c =
      (*db)->GetCycle(country, therapy_area, std::nullopt);
  if (!c.ok() || !*c) return std::nullopt;
  return absl::FromUnixSeconds((*c)->committed_at_unix);
}

absl::StatusOr<store::CycleRecord> WorkerCore::GetCycle(const auth::Principal& who,
                                                        const std::string& country,
                                                        const std::string& therapy_area,
                                                        int64_t cycle_id) {
  HARMONIA_RETURN_IF_ERROR(Served(who, country, "reading cycles", kReaders).status());
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  absl::StatusOr<std::optional<store::CycleRecord>> c = db->GetCycle(
      country, therapy_area, cycle_id == 0 ? std::nullopt : std::optional<int64_t>(cycle_id));
  if (!c.ok()) return c.status();
  if (!*c) {
    return absl::NotFoundError(
        cycle_id == 0
            ? absl::StrCat("country ", country, " ", therapy_area, ": no cycle yet")
            : absl::StrCat("country ", country, " ", therapy_area, ": no cycle ", cycle_id));
  }
  return std::move(**c);
}

absl::StatusOr<std::vector<store::AuditEntry>> WorkerCore::ListAudit(const auth::Principal& who,
                                                                     const std::string& country,
                                                                     store::AuditQuery query) {
  HARMONIA_RETURN_IF_ERROR(
      Served(who, country, "reading the audit log", {Role::kCountryOps, Role::kGlobalOps})
          .status());
  query.country = country;
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  return db->ListAudit(query);
}

absl::StatusOr<v1::Report> WorkerCore::Report(const auth::Principal& who,
                                              const std::string& country,
                                              const std::string& therapy_area, int64_t cycle_id,
                                              int history) {
  HARMONIA_RETURN_IF_ERROR(Served(who, country, "reading reports", kReaders).status());
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  return report::BuildReport(*db, {.therapy_area = therapy_area,
                                   .countries = {country},
                                   .cycle_id = cycle_id,
                                   .history = history,
                                   .now_unix = absl::ToUnixSeconds(clock_->Now())});
}

absl::StatusOr<std::vector<store::CycleRecord>> WorkerCore::ListCycles(
    const auth::Principal& who, const std::string& country, const std::string& therapy_area) {
  HARMONIA_RETURN_IF_ERROR(Served(who, country, "reading cycles", kReaders).status());
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  return db->ListCycles(country, therapy_area);
}

// ---------------------------------------------------------------- assignments

std::map<std::string, std::string> WorkerCore::Labels(const Market& market, const std::string& ta,
                                                      const engine::RuleSet& rules) const {
  // The country's label, else the segment's name in the rule set.
  std::map<std::string, std::string> labels;
  for (const engine::Segment& s : rules.segments) labels[s.id] = s.name;
  if (const engine::TherapyAreaConfig* config = market.config.FindTherapyArea(ta)) {
    for (const auto& [segment, label] : config->labels) labels[segment] = label;
  }
  return labels;
}

absl::StatusOr<std::shared_ptr<const WorkerCore::CycleCache>> WorkerCore::LatestCycle(
    const Market& market, const std::string& ta) {
  const std::string key = Key(market.config.country, ta);
  const absl::Time now = absl::Now();
  std::shared_ptr<const CycleCache> cached;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cycles_.find(key);
    if (it != cycles_.end()) {
      cached = it->second;
      // Another process (harmonia cycle run --store) may commit too: look
      // again at most once a second. One caller looks; the others go on
      // with what is cached meanwhile.
      absl::Time& checked = cycles_checked_[key];
      if (now - checked < absl::Seconds(1)) return cached;
      checked = now;
    }
  }
  // Nothing cached yet: one caller loads, the others wait for it.
  std::unique_lock<std::mutex> loading(loading_mu_, std::defer_lock);
  if (cached == nullptr) {
    loading.lock();
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cycles_.find(key);
    if (it != cycles_.end()) return it->second;
  }
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  absl::StatusOr<std::optional<store::CycleRecord>> latest =
      db->GetCycle(market.config.country, ta, std::nullopt);
  if (!latest.ok()) return latest.status();
  const int64_t id = *latest ? (*latest)->cycle_id : 0;
  if (cached == nullptr || cached->cycle_id != id) {
    auto fresh = std::make_shared<CycleCache>();
    fresh->cycle_id = id;
    if (id != 0) {
      absl::StatusOr<std::vector<store::AssignmentRow>> rows = db->GetAssignments(id);
      if (!rows.ok()) return rows.status();
      fresh->rows = std::move(*rows);
      HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const engine::RuleSet> rules,
                                Compiled(*db, ta, (*latest)->rule_set_version));
      fresh->labels =
          std::make_shared<const std::map<std::string, std::string>>(Labels(market, ta, *rules));
    }
    cached = std::move(fresh);
  }
  std::lock_guard<std::mutex> lock(mu_);
  cycles_[key] = cached;
  cycles_checked_[key] = now;
  return cached;
}

absl::StatusOr<std::shared_ptr<const WorkerCore::Scope>> WorkerCore::InScope(
    store::Store& db, const std::string& country, const engine::RuleSet& rules) {
  const std::string key = absl::StrCat(Key(country, rules.therapy_area), "/", rules.version);
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = scopes_.find(key);
    if (it != scopes_.end()) return it->second;
  }
  HARMONIA_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                            db.CustomersInScope(country, rules.applies_to));
  auto scope = std::make_shared<Scope>(std::make_move_iterator(ids.begin()),
                                       std::make_move_iterator(ids.end()));
  std::lock_guard<std::mutex> lock(mu_);
  return scopes_.emplace(key, std::move(scope)).first->second;
}

absl::StatusOr<WorkerCore::AssignmentPage> WorkerCore::QueryAssignments(const auth::Principal& who,
                                                                        const AssignmentQuery& q) {
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const Market> market,
                            Served(who, q.country, "reading assignments", kReaders));
  const engine::TherapyAreaConfig* ta = market->config.FindTherapyArea(q.therapy_area);
  if (ta == nullptr) {
    return absl::NotFoundError(absl::StrCat("country ", q.country, ": does not run therapy area ",
                                            Quoted(q.therapy_area)));
  }
  if (q.page_size < 0 || q.page_size > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: ", q.page_size, " outside 1..10000 (0 = 1000)"));
  }
  const size_t page = q.page_size == 0 ? 1000 : static_cast<size_t>(q.page_size);
  AssignmentPage out;
  std::vector<store::AssignmentRow> history;
  std::shared_ptr<const CycleCache> latest;
  const std::vector<store::AssignmentRow>* rows = nullptr;
  HARMONIA_ASSIGN_OR_RETURN(latest, LatestCycle(*market, q.therapy_area));
  if (q.cycle_id == 0 || q.cycle_id == latest->cycle_id) {
    if (latest->cycle_id == 0) {
      return absl::NotFoundError(
          absl::StrCat("country ", q.country, " ", q.therapy_area, ": no cycle yet"));
    }
    out.cycle_id = latest->cycle_id;
    rows = &latest->rows;
    out.labels = latest->labels;
  } else {
    HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
    absl::StatusOr<std::optional<store::CycleRecord>> c =
        db->GetCycle(q.country, q.therapy_area, q.cycle_id);
    if (!c.ok()) return c.status();
    if (!*c) {
      return absl::NotFoundError(
          absl::StrCat("country ", q.country, " ", q.therapy_area, ": no cycle ", q.cycle_id));
    }
    absl::StatusOr<std::vector<store::AssignmentRow>> all = db->GetAssignments(q.cycle_id);
    if (!all.ok()) return all.status();
    history = std::move(*all);
    out.cycle_id = q.cycle_id;
    rows = &history;
    HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const engine::RuleSet> rules,
                              Compiled(*db, q.therapy_area, (*c)->rule_set_version));
    out.labels = std::make_shared<const std::map<std::string, std::string>>(
        Labels(*market, q.therapy_area, *rules));
  }
  auto matches = [&](const store::AssignmentRow& r) {
    return (q.segment.empty() || r.segment == q.segment) && (q.tier.empty() || r.tier == q.tier);
  };
  const auto by_id = [](const store::AssignmentRow& r, const std::string& id) {
    return r.customer_id < id;
  };
  if (!q.customer_ids.empty()) {
    std::vector<std::string> ids = q.customer_ids;
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (const std::string& id : ids) {
      if (id <= q.after_customer_id && !q.after_customer_id.empty()) continue;
      auto it = std::lower_bound(rows->begin(), rows->end(), id, by_id);
      if (it != rows->end() && it->customer_id == id && matches(*it)) {
        if (out.rows.size() == page) {
          out.next_after = out.rows.back().customer_id;
          break;
        }
        out.rows.push_back(*it);
      }
    }
  } else {
    auto it = q.after_customer_id.empty()
                  ? rows->begin()
                  : std::upper_bound(rows->begin(), rows->end(), q.after_customer_id,
                                     [](const std::string& id, const store::AssignmentRow& r) {
                                       return id < r.customer_id;
                                     });
    for (; it != rows->end(); ++it) {
      if (!matches(*it)) continue;
      if (out.rows.size() == page) {
        out.next_after = out.rows.back().customer_id;
        break;
      }
      out.rows.push_back(*it);
    }
  }
  return out;
}

// ------------------------------------------------------------------ profiling

absl::StatusOr<std::shared_ptr<const engine::RuleSet>> WorkerCore::Questionnaire(
    const auth::Principal& who, const std::string& country, const std::string& therapy_area) {
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const Market> market,
                            Served(who, country, "reading the questionnaire", kReaders));
  return RuleSetFor(*market, therapy_area);
}

absl::StatusOr<std::vector<WorkerCore::AnswerResult>> WorkerCore::SubmitAnswers(
    const auth::Principal& who, const std::string& country, const std::vector<AnswerInput>& items) {
  HARMONIA_ASSIGN_OR_RETURN(
      std::shared_ptr<const Market> market,
      Served(who, country, "submitting profiling answers", {Role::kField, Role::kCountryOps}));
  if (items.size() > 5000) {
    return absl::InvalidArgumentError(
        absl::StrCat("items: ", items.size(), " in one request; at most 5000"));
  }
  std::vector<AnswerResult> results(items.size());
  std::vector<store::InputRow> rows;
  std::map<std::string, std::shared_ptr<const engine::RuleSet>> rule_sets;
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  const int32_t today = Today(*market);
  for (size_t k = 0; k < items.size(); ++k) {
    const AnswerInput& a = items[k];
    std::string why = BadTextField({{"customer_id", &a.customer_id},
                                    {"therapy_area", &a.therapy_area},
                                    {"question_id", &a.question_id},
                                    {"value", &a.value, exchange::kMaxInputValueBytes},
                                    {"as_of", &a.as_of}});
    const engine::InputDef* question = nullptr;
    std::optional<int32_t> as_of =
        a.as_of.empty() ? std::optional<int32_t>(today) : ParseIsoDate(a.as_of);
    if (!why.empty()) {
      // refused for its text (above): nothing else is checked
    } else if (market->config.FindTherapyArea(a.therapy_area) == nullptr) {
      why = absl::StrCat("therapy_area ", Quoted(a.therapy_area), ": not run in ", country);
    } else {
      auto& rules = rule_sets[a.therapy_area];
      if (!rules) {
        HARMONIA_ASSIGN_OR_RETURN(rules, RuleSetFor(*market, a.therapy_area));
      }
      for (const engine::InputDef& def : rules->inputs) {
        if (def.is_question && def.id == a.question_id) question = &def;
      }
      if (question == nullptr) {
        why = absl::StrCat("question_id ", Quoted(a.question_id), ": not in the ", a.therapy_area,
                           " questionnaire (v", rules->version, ")");
      }
    }
    double value = 0;
    std::string reason;
    if (why.empty() && !engine::ParseInputValue(*question, a.value, &value, &reason)) {
      why = absl::StrCat("value ", Quoted(a.value), " for ", a.question_id, ": ", reason);
    }
    if (why.empty() && !as_of) {
      why = absl::StrCat("as_of: ", NotADate(a.as_of));
    } else if (why.empty() && *as_of > today) {
      why = absl::StrCat("as_of ", a.as_of, ": in the future (today is ", FormatIsoDate(today),
                         " in ", market->config.timezone, ")");
    }
    if (why.empty()) {
      absl::StatusOr<std::optional<store::CustomerRow>> c = db->GetCustomer(a.customer_id);
      if (!c.ok()) return c.status();
      if (!*c || (*c)->country != country) why = NotACustomerOf(a.customer_id, country);
    }
    if (!why.empty()) {
      results[k] = {false, why};
      continue;
    }
    results[k] = {true, ""};
    rows.push_back({a.customer_id, a.therapy_area, false, a.question_id, a.value, "rep", *as_of});
  }
  if (!rows.empty()) {
    store::AuditEntry e;
    e.at_unix = absl::ToUnixSeconds(clock_->Now());
    e.principal = who.name;
    e.action = "answers.submit";
    e.object = absl::StrCat(country, " profiling answers");
    e.country = country;
    e.after = JsonObject()
                  .Add("accepted", static_cast<int64_t>(rows.size()))
                  .Add("rejected", static_cast<int64_t>(items.size() - rows.size()))
                  .str();
    absl::StatusOr<store::WriteStats> written = db->UpsertInputsAudited(rows, e);
    if (!written.ok()) return written.status();
  }
  return results;
}

}  // namespace harmonia::services

namespace harmonia::services {

absl::StatusOr<std::shared_ptr<const engine::RuleSet>> WorkerCore::Compiled(store::Store& db,
                                                                            const std::string& ta,
                                                                            int64_t version) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = compiled_.find({ta, version});
    if (it != compiled_.end()) return it->second;
  }
  HARMONIA_ASSIGN_OR_RETURN(std::optional<store::RuleSetRecord> record, db.GetRuleSet(ta, version));
  if (!record) {
    return absl::NotFoundError(absl::StrCat("rule set ", ta, " v", version, ": not in the store"));
  }
  engine::CompileResult compiled =
      engine::CompileRuleSet(record->source_text, absl::StrCat(ta, " v", version));
  if (!compiled.rule_set) {
    return absl::InternalError(absl::StrCat("stored rule set ", ta, " v", version,
                                            " does not compile: ", JoinIssues(compiled.issues)));
  }
  std::lock_guard<std::mutex> lock(mu_);
  return compiled_.emplace(std::make_pair(ta, version), compiled.rule_set).first->second;
}

absl::StatusOr<cycle::Explanation> WorkerCore::Explain(const auth::Principal& who,
                                                       const std::string& country,
                                                       const std::string& therapy_area,
                                                       const std::string& customer_id,
                                                       int64_t cycle_id) {
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const Market> market,
                            Served(who, country, "reading assignments", kReaders));
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  absl::StatusOr<std::optional<store::CustomerRow>> customer = db->GetCustomer(customer_id);
  if (!customer.ok()) return customer.status();
  // A customer of another country answers exactly as an unknown one.
  if (!*customer || (*customer)->country != country) {
    return absl::NotFoundError(NotACustomerOf(customer_id, country));
  }
  absl::StatusOr<std::optional<store::CycleRecord>> cycle = db->GetCycle(
      country, therapy_area, cycle_id == 0 ? std::nullopt : std::optional<int64_t>(cycle_id));
  if (!cycle.ok()) return cycle.status();
  if (!*cycle) {
    return absl::NotFoundError(absl::StrCat("country ", country, " ", therapy_area, ": no cycle",
                                            cycle_id == 0 ? " yet" : absl::StrCat(" ", cycle_id)));
  }
  const store::CycleRecord& c = **cycle;
  absl::StatusOr<std::optional<store::AssignmentRow>> row =
      db->GetAssignment(c.cycle_id, customer_id);
  if (!row.ok()) return row.status();
  if (!*row) {
    return absl::NotFoundError(absl::StrCat("customer ", Quoted(customer_id), ": not in cycle ",
                                            c.cycle_id, " of ", country, " ", therapy_area,
                                            " (out of scope)"));
  }
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const engine::RuleSet> rules,
                            Compiled(*db, therapy_area, c.rule_set_version));
  // The country file as the cycle used it.
  engine::CountryLoadResult loaded = engine::LoadCountryConfig(
      c.country_config, absl::StrCat(country, ".yaml"),
      [&](const std::string& t) { return t == therapy_area ? rules.get() : nullptr; },
      /*unknown_therapy_areas_ok=*/true);
  const engine::CountryConfig& config = loaded.config ? *loaded.config : market->config;
  return cycle::ExplainCustomer(*db, rules, config, c, std::move(**row));
}

}  // namespace harmonia::services
