#include "services/store_pool.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "services/log.h"

namespace harmonia::services {
namespace {

bool IsStoreTrouble(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kInternal ||
         s.code() == absl::StatusCode::kDataLoss;
}

const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}

}  // namespace

// The store a lease hands out: forwards every call to the connection and
// looks at what comes back, so no caller has to (STYLE: a resource that must
// be checked after every use checks itself).
class StorePool::Lease::Checked final : public store::Store {
 public:
  Checked(StorePool* pool, std::unique_ptr<store::Store> store)
      : pool_(pool), store_(std::move(store)) {}
  bool broken() const { return broken_; }
  std::unique_ptr<store::Store> Release() { return std::move(store_); }

  int schema_version() const override { return store_->schema_version(); }
  absl::Status Probe() override { return Note(store_->Probe()); }
  absl::StatusOr<store::WriteStats> UpsertCustomers(
      const std::vector<store::CustomerRow>& rows) override {
    return Note(store_->UpsertCustomers(rows));
  }
  absl::StatusOr<store::WriteStats> UpsertInputs(
      const std::vector<store::InputRow>& rows) override {
    return Note(store_->UpsertInputs(rows));
  }
  absl::StatusOr<store::WriteStats> UpsertInputsAudited(const std::vector<store::InputRow>& rows,
                                                        const store::AuditEntry& audit) override {
    return Note(store_->UpsertInputsAudited(rows, audit));
  }
  absl::StatusOr<store::WriteStats> UpsertActivities(
      const std::vector<store::ActivityRow>& rows) override {
    return Note(store_->UpsertActivities(rows));
  }
  absl::Status ScanActivityTotals(
      const std::string& country, const std::string& therapy_area, int32_t from_day, int32_t to_day,
      const std::function<void(const std::string&, const store::ActivityCounts&)>& fn) override {
    return Note(store_->ScanActivityTotals(country, therapy_area, from_day, to_day, fn));
  }
  absl::StatusOr<store::AlignmentStats> ReplaceTerritories(
      const std::vector<store::TerritoryRow>& rows) override {
    return Note(store_->ReplaceTerritories(rows));
  }
  absl::StatusOr<std::vector<store::TerritoryRow>> ListTerritories(
      const std::string& country, const std::string& rep) override {
    return Note(store_->ListTerritories(country, rep));
  }
  absl::StatusOr<std::vector<std::string>> CustomerIds() override {
    return Note(store_->CustomerIds());
  }
  absl::StatusOr<std::vector<store::CustomerRow>> ListCustomers(
      const std::string& country) override {
    return Note(store_->ListCustomers(country));
  }

  absl::StatusOr<int64_t> CountCustomers() override { return Note(store_->CountCustomers()); }
  absl::StatusOr<int64_t> CountInputs() override { return Note(store_->CountInputs()); }
  absl::StatusOr<std::optional<store::CustomerRow>> GetCustomer(const std::string& id) override {
    return Note(store_->GetCustomer(id));
  }
  absl::Status PublishRuleSet(const store::RuleSetRecord& record) override {
    return Note(store_->PublishRuleSet(record));
  }
  absl::StatusOr<bool> CopyRuleSet(const store::RuleSetRecord& record, const std::string& by,
                                   int64_t at_unix) override {
    return Note(store_->CopyRuleSet(record, by, at_unix));
  }
  absl::StatusOr<std::optional<store::RuleSetRecord>> GetRuleSet(
      const std::string& therapy_area, std::optional<int64_t> version) override {
    return Note(store_->GetRuleSet(therapy_area, version));
  }
  absl::StatusOr<std::vector<store::RuleSetRecord>> ListRuleSets(
      const std::string& therapy_area) override {
    return Note(store_->ListRuleSets(therapy_area));
  }
  absl::StatusOr<std::vector<std::string>> CustomersInScope(
      const std::string& country, const std::vector<std::string>& types) override {
    return Note(store_->CustomersInScope(country, types));
  }
  absl::Status ScanInputs(const std::string& country, const std::string& therapy_area,
                          const std::function<void(const store::InputRow&)>& fn) override {
    return Note(store_->ScanInputs(country, therapy_area, fn));
  }
  absl::StatusOr<std::vector<store::InputRow>> CustomerInputs(
      const std::string& customer_id, const std::string& therapy_area) override {
    return Note(store_->CustomerInputs(customer_id, therapy_area));
  }
  absl::StatusOr<int64_t> CommitCycle(
      const store::CycleRecord& cycle, const std::vector<store::AssignmentRow>& rows,
      const std::vector<store::RefinementUpdate>& refinements) override {
    return Note(store_->CommitCycle(cycle, rows, refinements));
  }
  absl::StatusOr<std::optional<store::CycleRecord>> GetCycle(
      const std::string& country, const std::string& therapy_area,
      std::optional<int64_t> cycle_id) override {
    return Note(store_->GetCycle(country, therapy_area, cycle_id));
  }
  absl::StatusOr<std::vector<store::CycleRecord>> LatestCycles(
      const std::string& therapy_area) override {
    return Note(store_->LatestCycles(therapy_area));
  }
  absl::StatusOr<std::vector<store::AssignmentRow>> GetAssignments(int64_t cycle_id) override {
    return Note(store_->GetAssignments(cycle_id));
  }
  absl::StatusOr<std::vector<store::CycleRecord>> ListCycles(
      const std::string& country, const std::string& therapy_area) override {
    return Note(store_->ListCycles(country, therapy_area));
  }
  absl::StatusOr<std::optional<store::AssignmentRow>> GetAssignment(
      int64_t cycle_id, const std::string& customer_id) override {
    return Note(store_->GetAssignment(cycle_id, customer_id));
  }
  absl::StatusOr<std::vector<Submitted>> SubmitRefinements(
      const std::vector<store::RefinementRecord>& rows) override {
    return Note(store_->SubmitRefinements(rows));
  }
  absl::StatusOr<std::vector<store::RefinementRecord>> ListRefinements(
      const std::string& country, const std::string& therapy_area,
      const std::vector<store::RefinementStatus>& statuses) override {
    return Note(store_->ListRefinements(country, therapy_area, statuses));
  }
  absl::StatusOr<std::optional<store::RefinementRecord>> GetRefinement(
      const std::string& country, const std::string& therapy_area,
      const std::string& request_id) override {
    return Note(store_->GetRefinement(country, therapy_area, request_id));
  }
  absl::StatusOr<store::RefinementRecord> DecideRefinement(
      const std::string& country, const std::string& therapy_area, const std::string& request_id,
      store::RefinementStatus status, const std::string& reason, const std::string& by,
      int64_t at_unix) override {
    return Note(
        store_->DecideRefinement(country, therapy_area, request_id, status, reason, by, at_unix));
  }
  absl::StatusOr<int64_t> AppendAudit(const store::AuditEntry& entry) override {
    return Note(store_->AppendAudit(entry));
  }
  absl::StatusOr<std::vector<store::AuditEntry>> ListAudit(
      const store::AuditQuery& query) override {
    return Note(store_->ListAudit(query));
  }
  absl::StatusOr<store::AuditHead> GetAuditHead() override { return Note(store_->GetAuditHead()); }

 private:
  template <typename Result>
  Result Note(Result result) {
    const absl::Status& s = StatusOf(result);
    if (IsStoreTrouble(s)) {
      broken_ = true;
      pool_->Observe(s, /*from_probe=*/false);
    }
    return result;
  }

  StorePool* pool_;
  std::unique_ptr<store::Store> store_;
  bool broken_ = false;
};

StorePool::Lease::Lease(StorePool* pool, std::unique_ptr<store::Store> store)
    : pool_(pool), checked_(std::make_unique<Checked>(pool, std::move(store))) {}

StorePool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)), checked_(std::move(other.checked_)) {}

StorePool::Lease::~Lease() {
  if (pool_ == nullptr) return;
  // A connection that met store trouble is closed, not reused.
  pool_->Return(checked_->broken() ? nullptr : checked_->Release());
}

store::Store* StorePool::Lease::operator->() const { return checked_.get(); }
store::Store& StorePool::Lease::operator*() const { return *checked_; }

absl::StatusOr<std::unique_ptr<StorePool>> StorePool::Create(const std::string& url, int size) {
  std::unique_ptr<StorePool> pool(new StorePool(url, size < 1 ? 1 : size));
  absl::StatusOr<std::unique_ptr<store::Store>> first = store::OpenStore(url);
  if (!first.ok()) return first.status();
  std::lock_guard<std::mutex> lock(pool->mu_);
  pool->idle_.push_back(std::move(*first));
  pool->open_ = 1;
  return pool;
}

StorePool::~StorePool() { StopProbing(); }

void StorePool::StopProbing() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (prober_.joinable()) prober_.join();
  std::lock_guard<std::mutex> lock(mu_);
  on_change_ = nullptr;
}

absl::StatusOr<StorePool::Lease> StorePool::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  returned_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
  if (!idle_.empty()) {
    std::unique_ptr<store::Store> store = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(store));
  }
  ++open_;
  lock.unlock();
  absl::StatusOr<std::unique_ptr<store::Store>> store = store::OpenStore(url_);
  if (!store.ok()) {
    Return(nullptr);
    const absl::Status trouble = absl::UnavailableError(
        absl::StrCat("store ", store::DisplayUrl(url_), ": ", store.status().message()));
    Observe(trouble, /*from_probe=*/false);
    return trouble;
  }
  return Lease(this, std::move(*store));
}

void StorePool::Return(std::unique_ptr<store::Store> store) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (store != nullptr) {
      idle_.push_back(std::move(store));
    } else {
      --open_;
    }
  }
  returned_.notify_one();
}

absl::Status StorePool::health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return health_;
}

void StorePool::Observe(const absl::Status& status, bool from_probe) {
  if (!from_probe) {
    // A call met store trouble: its connection is closed (Lease), and the
    // store's health is the probe's to decide, at once — lock contention
    // (SQLite's busy timeout) is not a store in trouble, a read-only file
    // or a lost server is. One decider keeps the reports in order.
    if (!IsStoreTrouble(status)) return;
    Log(LogLevel::kWarning, "store_call_failed",
        JsonObject()
            .Add("store", store::DisplayUrl(url_))
            .Add("code", absl::StatusCodeToString(status.code()))
            .Add("message", std::string(status.message())));
    {
      std::lock_guard<std::mutex> lock(mu_);
      probe_now_ = true;
    }
    wake_.notify_all();
    return;
  }
  std::vector<std::unique_ptr<store::Store>> stale;
  std::function<void(const absl::Status&)> on_change;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (status.ok() == health_.ok()) return;
    health_ = status;
    if (status.ok()) {
      // Connections opened while the store was in trouble may stay that
      // way (SQLite opens a read-only file read-only for good): reopen.
      stale.swap(idle_);
      open_ -= static_cast<int>(stale.size());
    }
    on_change = on_change_;
  }
  returned_.notify_all();
  if (status.ok()) {
    Log(LogLevel::kInfo, "store_recovered", JsonObject().Add("store", store::DisplayUrl(url_)));
  } else {
    Log(LogLevel::kError, "store_fault",
        JsonObject()
            .Add("store", store::DisplayUrl(url_))
            .Add("code", absl::StatusCodeToString(status.code()))
            .Add("message", std::string(status.message())));
  }
  // Only the probe thread gets here, so changes are reported in order.
  if (on_change) on_change(status);
}

void StorePool::StartProbing(std::function<void(const absl::Status&)> on_change,
                             absl::Duration healthy_every, absl::Duration unhealthy_every) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    on_change_ = std::move(on_change);
  }
  healthy_every_ = healthy_every;
  unhealthy_every_ = unhealthy_every;
  prober_ = std::thread([this] { ProbeLoop(); });
}

void StorePool::ProbeLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock,
                   absl::ToChronoNanoseconds(health_.ok() ? healthy_every_ : unhealthy_every_),
                   [this] { return stop_ || probe_now_; });
    if (stop_) break;
    probe_now_ = false;
    lock.unlock();
    // A fresh connection: one of the pool's may be broken for good.
    absl::Status probed;
    absl::StatusOr<std::unique_ptr<store::Store>> store = store::OpenStore(url_);
    probed = store.ok() ? (*store)->Probe()
                        : absl::UnavailableError(absl::StrCat("store ", store::DisplayUrl(url_),
                                                              ": ", store.status().message()));
    store = absl::UnknownError("closed");  // close it before reporting
    Observe(
        probed.ok() || IsStoreTrouble(probed) ? probed : absl::UnavailableError(probed.message()),
        /*from_probe=*/true);
    lock.lock();
  }
}

}  // namespace harmonia::services
