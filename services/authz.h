// What each role may do: one check every core method makes before it acts
// (the matrix is in docs/api.md). Who is calling is auth/'s business.
#ifndef HARMONIA_SERVICES_AUTHZ_H_
#define HARMONIA_SERVICES_AUTHZ_H_

#include <initializer_list>
#include <string_view>

#include "absl/status/status.h"
#include "auth/auth.h"

namespace harmonia::services {

// OK when `who` holds one of `roles` (for `country`, where a role is per
// country); PermissionDenied otherwise, naming the principal, the action
// ("publishing rule sets") and the roles that would allow it.
absl::Status Require(const auth::Principal& who, std::string_view action,
                     std::initializer_list<auth::Role> roles, std::string_view country = "");

}  // namespace harmonia::services

#endif  // HARMONIA_SERVICES_AUTHZ_H_
