// WorkerCore, profiling: the questionnaire and answers captured in the field.

#include "absl/strings/str_cat.h"
#include "common/date.h"
#include "common/json.h"
#include "common/status_macros.h"
#include "common/strings.h"
#include "exchange/exchange.h"
#include "services/internal/worker_helpers.h"
#include "services/worker_core.h"

namespace harmonia::services {

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
