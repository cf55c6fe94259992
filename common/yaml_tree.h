// YAML → positioned syntax tree: the first stage of reading every Harmonia
// YAML file (rule sets, country files, tokens files).
//
// yaml-cpp does the parsing; this layer makes it safe on hostile text and gives
// every node its 1-based line and column, so later stages can report
// "file:line:column". Debian's yaml-cpp 0.7 overflows its stack on deep
// nesting, so the text is screened (size, flow depth, indentation) before
// yaml-cpp sees it, and only YAML::Load (never LoadAll) is used.
#ifndef HARMONIA_COMMON_YAML_TREE_H_
#define HARMONIA_COMMON_YAML_TREE_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/issue.h"

namespace harmonia {

struct YamlEntry;

struct YamlNode {
  enum class Kind { kNull, kScalar, kSequence, kMap };
  Kind kind = Kind::kNull;
  int line = 0;
  int column = 0;
  std::string scalar;              // kScalar: the text, quotes removed
  bool quoted = false;             // kScalar: written in quotes (so `on`, `5` are strings)
  std::vector<YamlNode> items;     // kSequence
  std::vector<YamlEntry> entries;  // kMap, in file order

  bool is_scalar() const { return kind == Kind::kScalar; }
  bool is_map() const { return kind == Kind::kMap; }
  bool is_sequence() const { return kind == Kind::kSequence; }
  // The value for `key` in a map, or nullptr.
  const YamlNode* Find(std::string_view key) const;
};

struct YamlLimits {
  size_t max_bytes = 4 << 20;            // 4 MiB: a rule set is a few kilobytes
  int max_depth = 32;                    // nesting of maps and sequences
  int max_indent = 200;                  // columns of leading spaces on one line
  size_t max_nodes = 200000;             // after alias expansion
  size_t max_expanded_bytes = 16 << 20;  // scalar text after alias expansion
};

struct YamlEntry {
  YamlNode key;
  YamlNode value;
};

// Parses `text`. On any problem appends errors to `issues` and returns
// nullopt. An empty document, or one that is only a null, is an error: every
// Harmonia file is a mapping.
std::optional<YamlNode> LoadYaml(std::string_view text, IssueList* issues,
                                 const YamlLimits& limits = {});

// Describes a node's kind for messages: "a mapping", "a list", "a scalar", "nothing".
const char* DescribeKind(const YamlNode& node);

}  // namespace harmonia

#endif  // HARMONIA_COMMON_YAML_TREE_H_
