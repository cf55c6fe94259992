#include "auth/auth.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/sha256.h"
#include "common/strings.h"
#include "common/yaml_fields.h"
#include "common/yaml_tree.h"

namespace harmonia::auth {
namespace {

struct RoleName {
  Role role;
  const char* name;
  bool per_country;
};
constexpr RoleName kRoles[] = {
    {Role::kGlobalOps, "global_ops", false}, {Role::kCountryOps, "country_ops", true},
    {Role::kField, "field", true},           {Role::kViewer, "viewer", true},
    {Role::kService, "service", false},
};

const RoleName& Describe(Role role) { return kRoles[static_cast<int>(role)]; }

bool IsCountryCode(std::string_view cc) {
  return cc.size() == 2 &&
         std::all_of(cc.begin(), cc.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

class TokensReader : private FieldReader {
 public:
  explicit TokensReader(const std::string& file) : FieldReader(file) {}

  // Fills `by_hash`; the issues found, in file order.
  std::vector<Issue> Read(std::string_view text,
                          absl::flat_hash_map<std::string, Principal>* by_hash) {
    std::optional<YamlNode> root = LoadYaml(text, &issues_);
    if (!root) return issues_.Take();
    if (!ExpectList(*root, "tokens file")) return issues_.Take();
    absl::flat_hash_map<std::string, int> principal_line;
    absl::flat_hash_map<std::string, int> hash_line;
    for (const YamlNode& entry : root->items) {
      if (!ExpectMap(entry, "token entry")) continue;
      CheckKeys(entry, {"principal", "token_sha256", "roles"}, "token entry");
      Principal p;
      std::vector<std::string> hashes;
      bool ok = true;
      if (const YamlNode* n = RequiredScalar(entry, "principal", &p.name)) {
        ok = CheckName(*n, p.name) &&
             FirstUse(principal_line, p.name, *n,
                      absl::StrCat("principal ", Quoted(p.name), ": listed twice (first on line "),
                      ")");
      } else {
        ok = false;
      }
      // One hash, or a list of them: a principal may hold several tokens at
      // once, so a token is rotated by adding the new one, moving every
      // client over, then removing the old one (docs/operations.md).
      if (const YamlNode* n = Required(entry, "token_sha256", "token entry")) {
        std::vector<const YamlNode*> items;
        if (n->is_sequence()) {
          for (const YamlNode& item : n->items) items.push_back(&item);
          if (items.empty()) {
            Error(*n, "token_sha256: empty list; give at least one token's SHA-256");
            ok = false;
          }
        } else {
          items.push_back(n);
        }
        for (const YamlNode* item : items) {
          std::string hash;
          if (!GetScalar(*item, "token_sha256", &hash)) {
            ok = false;
            continue;
          }
          std::transform(hash.begin(), hash.end(), hash.begin(),
                         [](char c) { return c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c; });
          if (!IsSha256Hex(hash)) {
            Error(*item,
                  "token_sha256: expected 64 hex digits (the SHA-256 of the token, e.g. "
                  "from `printf %s TOKEN | sha256sum`)");
            ok = false;
          } else if (FirstUse(hash_line, hash, *item, "token_sha256: the same token as line ",
                              "; every principal needs its own token")) {
            hashes.push_back(std::move(hash));
          } else {
            ok = false;
          }
        }
      } else {
        ok = false;
      }
      if (const YamlNode* n = Required(entry, "roles", "token entry")) {
        ok = ReadRoles(*n, &p.grants) && ok;
      } else {
        ok = false;
      }
      if (ok) {
        for (std::string& hash : hashes) by_hash->emplace(std::move(hash), p);
      }
    }
    return issues_.Take();
  }

 private:
  // The scalar under `key` of a token entry, or nullptr (with an issue) when
  // it is missing or not a scalar.
  const YamlNode* RequiredScalar(const YamlNode& entry, const char* key, std::string* out) {
    const YamlNode* n = Required(entry, key, "token entry");
    return n != nullptr && GetScalar(*n, key, out) ? n : nullptr;
  }

  // A principal's name: 1 to kMaxPrincipalBytes bytes of printable text (it
  // is shown in logs, the audit trail and messages).
  bool CheckName(const YamlNode& node, const std::string& name) {
    if (name.empty()) {
      Error(node, "principal: empty; every token needs a named principal");
      return false;
    }
    if (name.size() > kMaxPrincipalBytes) {
      Error(node, absl::StrCat("principal: ", name.size(), " bytes; at most ", kMaxPrincipalBytes));
      return false;
    }
    if (std::any_of(name.begin(), name.end(),
                    [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
      Error(node, absl::StrCat("principal ", Quoted(name), ": control characters are not allowed"));
      return false;
    }
    return true;
  }

  // Records where `value` is first seen; a second sighting is an error
  // "<before><first line><after>" on `node`.
  bool FirstUse(absl::flat_hash_map<std::string, int>& seen, const std::string& value,
                const YamlNode& node, std::string_view before, std::string_view after) {
    auto [it, inserted] = seen.emplace(value, node.line);
    if (!inserted) Error(node, absl::StrCat(Sv(before), it->second, Sv(after)));
    return inserted;
  }

  bool ReadRoles(const YamlNode& node, std::vector<Grant>* grants) {
    if (!ExpectList(node, "roles")) return false;
    bool ok = true;
    for (const YamlNode& item : node.items) {
      std::string text;
      if (!GetScalar(item, "roles", &text)) {
        ok = false;
        continue;
      }
      std::optional<Grant> grant = ParseGrant(text);
      if (!grant) {
        Error(item, absl::StrCat("roles: ", Quoted(text),
                                 " is not a role; expected one of: global_ops, country_ops:CC, "
                                 "field:CC, viewer:CC, service (CC: a country code such as DE)"));
        ok = false;
        continue;
      }
      if (std::find(grants->begin(), grants->end(), *grant) == grants->end()) {
        grants->push_back(std::move(*grant));
      }
    }
    if (ok && grants->empty()) {
      Error(node, "roles: empty; a principal needs at least one role");
      ok = false;
    }
    return ok;
  }
};

}  // namespace

std::optional<Grant> ParseGrant(std::string_view text) {
  const size_t colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  for (const RoleName& r : kRoles) {
    if (name != r.name) continue;
    if (!r.per_country) {
      if (colon != std::string_view::npos) return std::nullopt;
      return Grant{r.role, ""};
    }
    if (colon == std::string_view::npos) return std::nullopt;
    const std::string_view country = text.substr(colon + 1);
    if (!IsCountryCode(country)) return std::nullopt;
    return Grant{r.role, std::string(country)};
  }
  return std::nullopt;
}

std::string GrantName(const Grant& grant) {
  const RoleName& r = Describe(grant.role);
  return r.per_country ? absl::StrCat(r.name, ":", grant.country) : r.name;
}

bool Principal::Has(Role role, std::string_view country) const {
  const bool per_country = Describe(role).per_country;
  return std::any_of(grants.begin(), grants.end(), [&](const Grant& g) {
    return g.role == role && (!per_country || g.country == country);
  });
}

std::unique_ptr<const TokenTable> TokenTable::Parse(std::string_view text, const std::string& file,
                                                    std::vector<Issue>* issues) {
  std::unique_ptr<TokenTable> table(new TokenTable());
  std::vector<Issue> found = TokensReader(file).Read(text, &table->by_hash_);
  const bool failed = std::any_of(found.begin(), found.end(),
                                  [](const Issue& i) { return i.severity == Severity::kError; });
  issues->insert(issues->end(), found.begin(), found.end());
  if (failed) return nullptr;
  return table;
}

absl::StatusOr<std::unique_ptr<const TokenTable>> TokenTable::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path, 4 << 20);
  if (!text.ok()) return text.status();
  std::vector<Issue> issues;
  std::unique_ptr<const TokenTable> table = Parse(*text, path, &issues);
  if (table == nullptr) {
    return absl::InvalidArgumentError(FormatIssues(issues, "\n"));
  }
  return table;
}

const Principal* TokenTable::Authenticate(std::string_view token) const {
  if (token.empty()) return nullptr;
  auto it = by_hash_.find(Sha256Hex(token));
  return it == by_hash_.end() ? nullptr : &it->second;
}

}  // namespace harmonia::auth
