// Typed reading of a positioned YAML tree (rule sets, country files, tokens
// files): each helper checks one shape and, when it does not hold,
// records an error at the node and returns false, so callers carry on and
// report every mistake of a file in one run.
#ifndef HARMONIA_COMMON_YAML_FIELDS_H_
#define HARMONIA_COMMON_YAML_FIELDS_H_

#include <cstdint>
#include <initializer_list>
#include <string>

#include "common/issue.h"
#include "common/yaml_tree.h"

namespace harmonia {

class FieldReader {
 public:
  explicit FieldReader(std::string file) : issues_(std::move(file)) {}

  void Error(const YamlNode& at, std::string message) {
    issues_.Error(at.line, at.column, std::move(message));
  }

  // "what: expected a mapping, got a list".
  bool ExpectMap(const YamlNode& node, const std::string& what);
  bool ExpectList(const YamlNode& node, const std::string& what);

  // Reports non-scalar keys, duplicate keys and keys not in `allowed` (naming
  // the allowed ones).
  void CheckKeys(const YamlNode& map, std::initializer_list<const char*> allowed,
                 const std::string& what);

  // The value of `key`, or nullptr after reporting "what: missing 'key'"
  // (a key with an empty value counts as missing).
  const YamlNode* Required(const YamlNode& map, const char* key, const std::string& what);

  // A scalar's text ("what: expected a value, got a list" otherwise).
  bool GetScalar(const YamlNode& node, const std::string& what, std::string* out);

  // A plain (unquoted) whole number within [lo, hi].
  bool GetIntInRange(const YamlNode& node, const std::string& what, int64_t lo, int64_t hi,
                     int64_t* out);

 protected:
  IssueList issues_;
};

}  // namespace harmonia

#endif  // HARMONIA_COMMON_YAML_FIELDS_H_
