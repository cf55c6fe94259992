#include "services/authz.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/strings.h"

namespace harmonia::services {

absl::Status Require(const auth::Principal& who, std::string_view action,
                     std::initializer_list<auth::Role> roles, std::string_view country) {
  for (auth::Role role : roles) {
    if (who.Has(role, country)) return absl::OkStatus();
  }
  std::vector<std::string> allowed;
  for (auth::Role role : roles) allowed.push_back(auth::GrantName({role, std::string(country)}));
  return absl::PermissionDeniedError(absl::StrCat("principal ", Quoted(who.name), ": ", Sv(action),
                                                  " needs role ", absl::StrJoin(allowed, " or ")));
}

}  // namespace harmonia::services
