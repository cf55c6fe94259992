#include "services/serving_state.h"

#include "absl/strings/str_cat.h"
#include "common/json.h"
#include "services/log.h"

namespace harmonia::services {

std::string ConditionService(const std::string& name) {
  return absl::StrCat("harmonia.condition.", name);
}

ServingState::ServingState(grpc::HealthCheckServiceInterface* health,
                           std::vector<std::string> services,
                           const std::vector<std::string>& conditions, const std::string& starting)
    : health_(health), services_(std::move(services)) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& c : conditions) {
    conditions_[c] = absl::UnavailableError(starting);
    health_->SetServingStatus(ConditionService(c), false);
  }
  for (const std::string& s : services_) health_->SetServingStatus(s, false);
}

void ServingState::Set(const std::string& condition, const absl::Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status& held = conditions_[condition];
  if (held.ok() == status.ok() && held.message() == status.message()) return;
  held = status;
  health_->SetServingStatus(ConditionService(condition), status.ok());
  bool serving = true;
  for (const auto& [name, s] : conditions_) serving = serving && s.ok();
  if (serving == serving_ && serving) return;
  serving_ = serving;
  for (const std::string& s : services_) health_->SetServingStatus(s, serving);
  if (serving) {
    Log(LogLevel::kInfo, "serving", JsonObject().Add("reason", "every condition holds"));
  } else {
    // Every change while not serving, with every failing condition's reason.
    Log(LogLevel::kWarning, "not_serving",
        JsonObject().Add("condition", condition).Add("reason", WhyLocked()));
  }
}

bool ServingState::serving() const {
  std::lock_guard<std::mutex> lock(mu_);
  return serving_;
}

std::string ServingState::Why() const {
  std::lock_guard<std::mutex> lock(mu_);
  return WhyLocked();
}

std::string ServingState::WhyLocked() const {
  std::string out;
  for (const auto& [name, s] : conditions_) {
    if (!s.ok()) absl::StrAppend(&out, out.empty() ? "" : "; ", name, ": ", s.message());
  }
  return out;
}

}  // namespace harmonia::services
