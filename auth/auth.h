// Start here: who is calling (docs/api.md "Authentication").
//
// Callers present a bearer token; the tokens file maps the SHA-256 of each
// token to a principal and its roles, so no token is stored in clear:
//
//   - principal: ops@hq
//     token_sha256: 3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b
//     roles: [global_ops]
//   - principal: anna.rep
//     token_sha256: [<old token's hash>, <new token's hash>]   # rotation
//     roles: [field:DE, viewer:AT]
//
// A principal is 1 to kMaxPrincipalBytes bytes of UTF-8 text without control
// characters; `token_sha256` is one hash or a list (several tokens at once,
// so a token rotates without a gap).
//
// Roles: global_ops (rules), country_ops:CC, field:CC, viewer:CC (one
// country each) and service (worker ↔ rules service). What each role may do
// is decided by the services; this module only says who is calling.
//
// Thread-safety: a TokenTable is immutable; safe for concurrent use.
#ifndef HARMONIA_AUTH_AUTH_H_
#define HARMONIA_AUTH_AUTH_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/issue.h"

namespace harmonia::auth {

enum class Role : uint8_t { kGlobalOps, kCountryOps, kField, kViewer, kService };

// One role, for one country where the role is per country.
struct Grant {
  Role role = Role::kViewer;
  std::string country;  // ISO 3166 alpha-2 for country roles; empty otherwise

  friend bool operator==(const Grant&, const Grant&) = default;
};

// "country_ops:DE" → {kCountryOps, "DE"}; nullopt for anything else (an
// unknown role, a country role without a country, a global one with one).
std::optional<Grant> ParseGrant(std::string_view text);
// The inverse of ParseGrant.
std::string GrantName(const Grant& grant);

inline constexpr size_t kMaxPrincipalBytes = 128;

struct Principal {
  std::string name;
  std::vector<Grant> grants;

  // Whether the principal holds `role` (for `country`, when the role is per
  // country; `country` is ignored for global_ops and service).
  bool Has(Role role, std::string_view country = "") const;
};

class TokenTable {
 public:
  // Reads a tokens file. Every mistake is an issue with its line and column;
  // a file with errors gives no table (nullptr), so a service never starts
  // with half its principals. `file` names the text in issues.
  static std::unique_ptr<const TokenTable> Parse(std::string_view text, const std::string& file,
                                                 std::vector<Issue>* issues);

  // Parse() of the file at `path`; NotFound / PermissionDenied when it cannot
  // be read, InvalidArgument listing every issue when it is invalid.
  static absl::StatusOr<std::unique_ptr<const TokenTable>> Load(const std::string& path);

  // The principal a bearer token belongs to, or nullptr. (The lookup is by
  // the token's SHA-256, which a caller cannot steer, so its timing tells
  // nothing about stored tokens.)
  const Principal* Authenticate(std::string_view token) const;

  size_t size() const { return by_hash_.size(); }

 private:
  TokenTable() = default;
  absl::flat_hash_map<std::string, Principal> by_hash_;  // hex SHA-256 → principal
};

// The tokens file in force, replaced whole when it is reloaded (SIGHUP). A
// caller keeps the table it authenticated against (and so its Principal)
// for as long as it holds the shared_ptr.
//
// Thread-safety: safe for concurrent use.
class TokenHolder {
 public:
  explicit TokenHolder(std::shared_ptr<const TokenTable> table) : table_(std::move(table)) {}
  std::shared_ptr<const TokenTable> Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return table_;
  }
  void Set(std::shared_ptr<const TokenTable> table) {
    std::lock_guard<std::mutex> lock(mu_);
    table_ = std::move(table);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const TokenTable> table_ ABSL_GUARDED_BY(mu_);
};

}  // namespace harmonia::auth

#endif  // HARMONIA_AUTH_AUTH_H_
