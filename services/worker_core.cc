// WorkerCore: markets, configuration reloads, and the rule sets the worker
// runs. The jobs live beside it: worker_refinements.cc, worker_cycles.cc,
// worker_reads.cc (assignments, explanations) and worker_profiling.cc.
#include "services/worker_core.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "services/authz.h"
#include "services/internal/worker_helpers.h"
#include "services/log.h"

namespace harmonia::services {

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
      problems.push_back(FormatIssues(loaded.issues, "\n"));
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

std::string WorkerCore::CurrentText(const std::string& country) const {
  std::lock_guard<std::mutex> lock(markets_mu_);
  auto it = markets_.find(country);
  return it == markets_.end() ? std::string() : it->second->text;
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
  return Compiled(**record);
}

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
  return Compiled(*record);
}

absl::StatusOr<std::shared_ptr<const engine::RuleSet>> WorkerCore::Compiled(
    const store::RuleSetRecord& record) {
  absl::StatusOr<std::shared_ptr<const engine::RuleSet>> compiled = cycle::CompileStored(record);
  // A published rule set that no longer compiles is this server's fault.
  if (!compiled.ok()) return absl::InternalError(compiled.status().message());
  std::lock_guard<std::mutex> lock(mu_);
  return compiled_.emplace(std::make_pair(record.therapy_area, record.version), *compiled)
      .first->second;
}

// ---------------------------------------------------------------- country file

absl::StatusOr<WorkerCore::CountryFile> WorkerCore::GetCountryFile(const auth::Principal& who,
                                                                   const std::string& country) {
  HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const Market> market,
                            Served(who, country, "reading the country file", kReaders));
  CountryFile out{.config = market->config, .text = market->text};
  for (const engine::TherapyAreaConfig& ta : market->config.therapy_areas) {
    absl::StatusOr<std::shared_ptr<const engine::RuleSet>> rules =
        RuleSetFor(*market, ta.therapy_area);
    out.running_version[ta.therapy_area] = rules.ok() ? (*rules)->version : 0;
  }
  return out;
}

absl::StatusOr<std::vector<Issue>> WorkerCore::ValidateCountryFile(const auth::Principal& who,
                                                                   const std::string& country,
                                                                   const std::string& text) {
  HARMONIA_ASSIGN_OR_RETURN(
      std::shared_ptr<const Market> market,
      Served(who, country, "validating a country file", {auth::Role::kCountryOps}));
  const std::string file = absl::StrCat(country, ".yaml");
  // First the shape and the pins; then options and labels against the
  // version each therapy area would run (pinned, else the latest held).
  engine::CountryLoadResult shape = engine::LoadCountryConfig(
      text, file, [](const std::string&) { return nullptr; }, /*unknown_therapy_areas_ok=*/true);
  if (!shape.config) return shape.issues;
  std::vector<std::shared_ptr<const engine::RuleSet>> held;
  HARMONIA_ASSIGN_OR_RETURN(StorePool::Lease db, pool_->Acquire());
  std::map<std::string, const engine::RuleSet*> by_ta;
  for (const engine::TherapyAreaConfig& ta : shape.config->therapy_areas) {
    absl::StatusOr<std::optional<store::RuleSetRecord>> record =
        db->GetRuleSet(ta.therapy_area, ta.pinned_version);
    if (!record.ok()) return record.status();
    if (!*record) continue;  // reported as "no rule set found" below
    HARMONIA_ASSIGN_OR_RETURN(std::shared_ptr<const engine::RuleSet> rules, Compiled(**record));
    by_ta[ta.therapy_area] = rules.get();
    held.push_back(std::move(rules));
  }
  engine::CountryLoadResult full =
      engine::LoadCountryConfig(text, file, [&](const std::string& ta) -> const engine::RuleSet* {
        auto it = by_ta.find(ta);
        return it == by_ta.end() ? nullptr : it->second;
      });
  if (full.config && full.config->country != country) {
    full.issues.push_back(Issue{
        .severity = Severity::kError,
        .file = file,
        .line = 1,
        .column = 1,
        .message =
            absl::StrCat("country: this is ", country, "'s file; it says ", full.config->country)});
  }
  return full.issues;
}

}  // namespace harmonia::services
