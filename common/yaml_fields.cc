#include "common/yaml_fields.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/strings.h"

namespace harmonia {

bool FieldReader::ExpectMap(const YamlNode& node, const std::string& what) {
  if (node.is_map()) return true;
  Error(node, absl::StrCat(what, ": expected a mapping, got ", DescribeKind(node)));
  return false;
}

bool FieldReader::ExpectList(const YamlNode& node, const std::string& what) {
  if (node.is_sequence()) return true;
  Error(node, absl::StrCat(what, ": expected a list, got ", DescribeKind(node)));
  return false;
}

void FieldReader::CheckKeys(const YamlNode& map, std::initializer_list<const char*> allowed,
                            const std::string& what) {
  std::set<std::string> seen;
  for (const auto& [key, value] : map.entries) {
    if (!key.is_scalar()) {
      Error(key, absl::StrCat(what, ": keys must be plain names"));
      continue;
    }
    if (!seen.insert(key.scalar).second) {
      Error(key, absl::StrCat(what, ": duplicate key ", Quoted(key.scalar)));
    }
    const std::string& name = key.scalar;  // (clang 14 cannot capture a binding)
    if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return name == a; })) {
      Error(key, absl::StrCat("unknown key ", Quoted(name), " in ", what,
                              "; expected one of: ", absl::StrJoin(allowed, ", ")));
    }
  }
}

const YamlNode* FieldReader::Required(const YamlNode& map, const char* key,
                                      const std::string& what) {
  const YamlNode* v = map.Find(key);
  if (v == nullptr || v->kind == YamlNode::Kind::kNull) {
    Error(v ? *v : map, absl::StrCat(what, ": missing ", Quoted(key)));
    return nullptr;
  }
  return v;
}

bool FieldReader::GetScalar(const YamlNode& node, const std::string& what, std::string* out) {
  if (!node.is_scalar()) {
    Error(node, absl::StrCat(what, ": expected a value, got ", DescribeKind(node)));
    return false;
  }
  *out = node.scalar;
  return true;
}

bool FieldReader::GetIntInRange(const YamlNode& node, const std::string& what, int64_t lo,
                                int64_t hi, int64_t* out) {
  std::string s;
  if (!GetScalar(node, what, &s)) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (node.quoted || ec != std::errc() || ptr != s.data() + s.size() || *out < lo || *out > hi) {
    Error(node, absl::StrCat(what, ": expected a whole number from ", lo, " to ", hi, ", got ",
                             Quoted(s)));
    return false;
  }
  return true;
}

}  // namespace harmonia
