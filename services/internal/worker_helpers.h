// Helpers the WorkerCore's files share (worker_core.cc and worker_*.cc);
// not part of the services module's interface.
#ifndef HARMONIA_SERVICES_INTERNAL_WORKER_HELPERS_H_
#define HARMONIA_SERVICES_INTERNAL_WORKER_HELPERS_H_

#include <initializer_list>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "auth/auth.h"
#include "common/issue.h"
#include "common/strings.h"
#include "common/text.h"
#include "store/store.h"

namespace harmonia::services {

using auth::Role;
using store::RefinementStatus;

inline std::string Key(const std::string& country, const std::string& ta) {
  return absl::StrCat(country, "/", ta);
}

// Why a customer id is refused in `country`: the same words whether the id is
// unknown or a customer of another country, so no answer reveals another
// country's customers (docs/api.md).
inline std::string NotACustomerOf(const std::string& customer_id, const std::string& country) {
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
inline std::string BadTextField(std::initializer_list<TextField> fields) {
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

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_INTERNAL_WORKER_HELPERS_H_
