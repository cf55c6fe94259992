#include "common/yaml_tree.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/text.h"

namespace harmonia {
namespace {

// Screens the raw text before yaml-cpp parses it: yaml-cpp recurses once per
// nesting level and has no limit of its own, and YAML::Load silently ignores
// every document after the first. The scan follows YAML's token rules closely
// enough to bound nesting: a quote or a flow bracket only opens where a value
// can start (line start, after "- ", ": ", "[", "{", ","), comments start at
// " #", and block nesting is bounded by indentation plus compact "- - -"
// entries on a line.
bool ScreenText(std::string_view text, IssueList* issues, const YamlLimits& limits) {
  if (text.size() > limits.max_bytes) {
    issues->Error(0, 0,
                  absl::StrCat("file is ", text.size(), " bytes; the limit is ", limits.max_bytes));
    return false;
  }
  if (const size_t bad = FirstNonTextByte(text); bad != std::string_view::npos) {
    const size_t line_start = text.rfind('\n', bad == 0 ? 0 : bad - 1);
    const size_t begin = (line_start == std::string_view::npos || bad == 0) ? 0 : line_start + 1;
    const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + begin, '\n'));
    issues->Error(line, static_cast<int>(bad - begin) + 1,
                  text[bad] == '\0'
                      ? std::string("NUL byte in text")
                      : absl::StrFormat("byte 0x%02X is not valid UTF-8; the file must be UTF-8",
                                        static_cast<uint8_t>(text[bad])));
    return false;
  }
  int line = 1;
  size_t line_start = 0;
  int flow_depth = 0;
  char quote = 0;  // the quote character of the scalar we are in, or 0
  bool at_line_start = true;
  bool value_can_start = true;
  bool seen_content = false;
  bool ended = false;
  int indent = 0;
  int dashes = 0;
  auto new_line = [&](size_t next) {
    ++line;
    line_start = next;
    at_line_start = true;
    value_can_start = true;
    indent = 0;
    dashes = 0;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const int column = static_cast<int>(i - line_start) + 1;
    if (c == '\0') {
      issues->Error(line, column, "NUL byte in text");
      return false;
    }
    if (c == '\n') {
      new_line(i + 1);
      continue;
    }
    if (quote != 0) {
      if (quote == '"' && c == '\\') {
        if (i + 1 < text.size() && text[i + 1] == '\n') new_line(i + 2);
        ++i;  // the escaped character
      } else if (c == quote) {
        if (quote == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
          ++i;  // '' inside a single-quoted scalar
        } else {
          quote = 0;
          value_can_start = false;
        }
      }
      continue;
    }
    if (at_line_start) {
      if (c == ' ') {
        if (++indent > limits.max_indent) {
          issues->Error(line, column,
                        absl::StrCat("indentation deeper than ", limits.max_indent, " columns"));
          return false;
        }
        continue;
      }
      if (c == '\r') continue;
      if (c == '#') {  // a comment line
        while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
        continue;
      }
      if (indent == 0 && flow_depth == 0 &&
          (text.substr(i, 3) == "---" || text.substr(i, 3) == "...") &&
          (i + 3 == text.size() || text[i + 3] == ' ' || text[i + 3] == '\n' ||
           text[i + 3] == '\r')) {
        if (text[i] == '.') {
          ended = true;  // "..." ends the document; only comments may follow
        } else if (seen_content || ended) {
          issues->Error(line, column, "a second YAML document: a Harmonia file holds exactly one");
          return false;
        }
        i += 2;
        continue;
      }
      if (ended) {
        issues->Error(line, column, "text after the end of the document ('...')");
        return false;
      }
      if (c == '-' && i + 1 < text.size() && text[i + 1] == ' ') {
        if (indent + 2 * ++dashes > limits.max_indent) {
          issues->Error(line, column, "nesting too deep");
          return false;
        }
        ++i;
        continue;
      }
      at_line_start = false;
      seen_content = true;
    }
    const char prev = i > line_start ? text[i - 1] : ' ';
    if (c == '#' && (prev == ' ' || prev == '\t' || i == line_start)) {
      while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
      continue;
    }
    if (c == ' ' || c == '\t') continue;
    if (value_can_start && (c == '"' || c == '\'')) {
      quote = c;
      continue;
    }
    if (value_can_start && (c == '[' || c == '{')) {
      if (++flow_depth > limits.max_depth) {
        issues->Error(line, column,
                      absl::StrCat("nesting deeper than ", limits.max_depth, " levels"));
        return false;
      }
      continue;  // a value can start right after the bracket
    }
    if ((c == ']' || c == '}') && flow_depth > 0) {
      --flow_depth;
      value_can_start = false;
      continue;
    }
    if (c == ',' && flow_depth > 0) {
      value_can_start = true;
      continue;
    }
    const char next = i + 1 < text.size() ? text[i + 1] : '\n';
    if ((c == ':' || c == '-' || c == '?') &&
        (next == ' ' || next == '\n' || next == '\r' || (flow_depth > 0 && next == ','))) {
      value_can_start = true;
      continue;
    }
    value_can_start = false;
  }
  return true;
}

class Converter {
 public:
  Converter(IssueList* issues, const YamlLimits& limits) : issues_(issues), limits_(limits) {}

  bool Convert(const YAML::Node& in, int depth, int fallback_line, int fallback_column,
               YamlNode* out) {
    if (++nodes_ > limits_.max_nodes) {
      if (nodes_ == limits_.max_nodes + 1) {
        issues_->Error(
            fallback_line, fallback_column,
            absl::StrCat("document expands to more than ", limits_.max_nodes, " nodes (aliases?)"));
      }
      return false;
    }
    const YAML::Mark mark = in.Mark();
    out->line = mark.line >= 0 ? mark.line + 1 : fallback_line;
    out->column = mark.column >= 0 ? mark.column + 1 : fallback_column;
    if (depth > limits_.max_depth) {
      issues_->Error(out->line, out->column,
                     absl::StrCat("nesting deeper than ", limits_.max_depth, " levels"));
      return false;
    }
    switch (in.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        out->kind = YamlNode::Kind::kNull;
        return true;
      case YAML::NodeType::Scalar:
        out->kind = YamlNode::Kind::kScalar;
        // Aliases copy their anchor's text: bound the bytes, not only the nodes.
        bytes_ += in.Scalar().size();
        if (bytes_ > limits_.max_expanded_bytes) {
          issues_->Error(out->line, out->column,
                         absl::StrCat("document expands to more than ", limits_.max_expanded_bytes,
                                      " bytes of text (aliases?)"));
          return false;
        }
        out->scalar = in.Scalar();
        out->quoted = in.Tag() == "!";
        return true;
      case YAML::NodeType::Sequence:
        out->kind = YamlNode::Kind::kSequence;
        for (const YAML::Node& item : in) {
          out->items.emplace_back();
          if (!Convert(item, depth + 1, out->line, out->column, &out->items.back())) return false;
        }
        return true;
      case YAML::NodeType::Map:
        out->kind = YamlNode::Kind::kMap;
        for (const auto& kv : in) {
          out->entries.emplace_back();
          auto& [key, value] = out->entries.back();
          if (!Convert(kv.first, depth + 1, out->line, out->column, &key)) return false;
          if (!Convert(kv.second, depth + 1, key.line, key.column, &value)) return false;
        }
        return true;
    }
    return true;
  }

 private:
  IssueList* issues_;
  const YamlLimits& limits_;
  size_t nodes_ = 0;
  size_t bytes_ = 0;
};

}  // namespace

const YamlNode* YamlNode::Find(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k.is_scalar() && k.scalar == key) return &v;
  }
  return nullptr;
}

const char* DescribeKind(const YamlNode& node) {
  switch (node.kind) {
    case YamlNode::Kind::kNull:
      return "nothing";
    case YamlNode::Kind::kScalar:
      return "a scalar";
    case YamlNode::Kind::kSequence:
      return "a list";
    case YamlNode::Kind::kMap:
      return "a mapping";
  }
  return "?";
}

std::optional<YamlNode> LoadYaml(std::string_view text, IssueList* issues,
                                 const YamlLimits& limits) {
  if (!ScreenText(text, issues, limits)) return std::nullopt;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    issues->Error(e.mark.line >= 0 ? e.mark.line + 1 : 0,
                  e.mark.column >= 0 ? e.mark.column + 1 : 0, absl::StrCat("YAML syntax: ", e.msg));
    return std::nullopt;
  }
  YamlNode out;
  try {
    Converter converter(issues, limits);
    if (!converter.Convert(root, 0, 1, 1, &out)) return std::nullopt;
  } catch (const YAML::Exception& e) {
    issues->Error(e.mark.line >= 0 ? e.mark.line + 1 : 0,
                  e.mark.column >= 0 ? e.mark.column + 1 : 0, absl::StrCat("YAML: ", e.msg));
    return std::nullopt;
  }
  if (out.kind == YamlNode::Kind::kNull) {
    issues->Error(1, 1, "empty document; expected a mapping");
    return std::nullopt;
  }
  return out;
}

}  // namespace harmonia
