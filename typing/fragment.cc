// Writing a fitted typing tool as a rule-set fragment, and typing a study
// with a typing tool through the engine (docs/typing-tool.md).
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/file.h"
#include "common/json.h"
#include "common/yaml_tree.h"
#include "engine/evaluator.h"
#include "typing/typing_tool.h"

namespace harmonia::typing {
namespace {

std::string Number(double v, int digits) {
  if (v == 0) return "0";
  return absl::StrFormat("%.*g", digits, v);
}

// The rule set's text with its top-level `assignment:` replaced by
// `fragment` and its `tests:` left out (they test the old assignment). Left
// out lines become blank, so the rule set's lines keep their numbers; the
// fragment starts after *fragment_offset lines.
absl::StatusOr<std::string> Splice(const std::string& rules_text, const std::string& rules_name,
                                   const std::string& fragment, int* fragment_offset) {
  IssueList issues(rules_name);
  std::optional<YamlNode> root = LoadYaml(rules_text, &issues);
  if (!root || !root->is_map()) {
    return absl::InvalidArgumentError(absl::StrCat(rules_name, ": not a rule set"));
  }
  std::vector<absl::string_view> lines = absl::StrSplit(rules_text, '\n');
  // Lines [begin, end) of each top-level entry, by the next entry's first line.
  std::vector<bool> drop(lines.size(), false);
  for (size_t e = 0; e < root->entries.size(); ++e) {
    const std::string& key = root->entries[e].key.scalar;
    if (key != "assignment" && key != "tests") continue;
    const size_t begin = static_cast<size_t>(root->entries[e].key.line - 1);
    const size_t end = e + 1 < root->entries.size()
                           ? static_cast<size_t>(root->entries[e + 1].key.line - 1)
                           : lines.size();
    for (size_t l = begin; l < end && l < lines.size(); ++l) drop[l] = true;
  }
  std::string out;
  for (size_t l = 0; l < lines.size(); ++l) {
    if (!drop[l]) absl::StrAppend(&out, lines[l]);
    out.push_back('\n');
  }
  *fragment_offset = static_cast<int>(lines.size());
  absl::StrAppend(&out, fragment);
  return out;
}

}  // namespace

std::string FragmentYaml(const Study& study, const Fit& fit) {
  const engine::RuleSet& rs = *study.rule_set;
  // A comment is one line: the title's line breaks become spaces.
  std::string title = study.title;
  for (char& c : title) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::vector<std::string> ids;
  for (int c : fit.columns) ids.push_back(study.column_id(static_cast<size_t>(c)));
  std::string out = absl::StrCat(
      "# A typing tool fitted by `harmonia typing-tool fit` (docs/typing-tool.md) on\n# ", title,
      ", fielded ", study.fielded, ": linear discriminant analysis of ", fit.respondents,
      " respondents\n# over ", absl::StrJoin(ids, ", "), ".\n",
      absl::StrFormat("# %d-fold cross-validated accuracy %.1f%%; the written functions type "
                      "%.1f%% of the study right.\n",
                      fit.folds, 100 * fit.cross_validated.accuracy(),
                      100 * fit.written.accuracy()),
      "# Put it in the rule set in place of its `assignment:`.\n");
  absl::StrAppend(&out, "assignment:\n  method: typing_tool\n");
  absl::StrAppend(&out, "  provenance: {study: ", JsonString(study.title),
                  ", respondents: ", fit.respondents,
                  ", accuracy: ", absl::StrFormat("%.3f", fit.cross_validated.accuracy()),
                  ", folds: ", fit.folds, ", date: ", study.fielded, "}\n");
  absl::StrAppend(&out, "  functions:\n");
  for (const Function& f : fit.functions) {
    std::vector<std::string> weights;
    for (size_t i = 0; i < f.weights.size(); ++i) {
      if (f.weights[i] == 0) continue;
      weights.push_back(absl::StrCat(ids[i], ": ", Number(f.weights[i], fit.significant_digits)));
    }
    absl::StrAppend(&out, "    ", rs.segments[static_cast<size_t>(f.segment)].id,
                    ": {intercept: ", Number(f.intercept, fit.significant_digits), ", weights: {",
                    absl::StrJoin(weights, ", "), "}}\n");
  }
  return out;
}

absl::StatusOr<Evaluation> TestTypingTool(const Study& study, const std::string& tool_text,
                                          const std::string& name) {
  IssueList issues(name);
  std::optional<YamlNode> root = LoadYaml(tool_text, &issues);
  if (!root) return absl::InvalidArgumentError(FormatIssues(issues.issues(), "\n"));
  std::string text = tool_text, label = name;
  int fragment_offset = -1;  // >= 0: the text is the study's rule set and then the fragment
  if (!root->is_map() || root->Find("assignment") == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": neither a rule set nor a fragment: no `assignment:`"));
  }
  if (root->Find("therapy_area") == nullptr) {
    absl::StatusOr<std::string> rules_text = ReadFileToString(study.rule_set_path, 4 << 20);
    if (!rules_text.ok()) return rules_text.status();
    absl::StatusOr<std::string> spliced =
        Splice(*rules_text, study.rule_set_path, tool_text, &fragment_offset);
    if (!spliced.ok()) return spliced.status();
    text = std::move(*spliced);
    label = absl::StrCat(study.rule_set_path, " with the assignment of ", name);
  }
  engine::CompileResult compiled = engine::CompileRuleSet(text, label);
  if (compiled.rule_set == nullptr) {
    // The errors (warnings would bury them), each where it is: in the
    // fragment, or in the study's rule set.
    std::vector<Issue> errors;
    for (Issue& issue : compiled.issues) {
      if (issue.severity != Severity::kError) continue;
      if (fragment_offset >= 0 && issue.line > fragment_offset) {
        issue.file = name;
        issue.line -= fragment_offset;
      } else if (fragment_offset >= 0) {
        issue.file = study.rule_set_path;
      }
      errors.push_back(std::move(issue));
    }
    return absl::InvalidArgumentError(FormatIssues(errors, "\n"));
  }
  const engine::RuleSet& rs = *compiled.rule_set;
  if (!rs.typing_tool) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": its assignment is not a typing tool (method: typing_tool)"));
  }
  if (rs.therapy_area != study.therapy_area) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": therapy area ", rs.therapy_area,
                                                   ", the study's is ", study.therapy_area));
  }

  // Every respondent as a customer of the engine: study columns by id.
  const size_t n = study.size();
  std::vector<std::vector<double>> columns(static_cast<size_t>(rs.num_inputs()),
                                           std::vector<double>(n, std::nan("")));
  for (size_t c = 0; c < study.columns.size(); ++c) {
    const int column = rs.FindColumn(study.column_id(c));
    if (column < 0 || column >= rs.num_inputs()) continue;
    for (size_t r = 0; r < n; ++r) columns[static_cast<size_t>(column)][r] = study.value(r, c);
  }
  engine::Batch batch;
  batch.size = n;
  for (const auto& col : columns) batch.columns.push_back(col.data());
  engine::Options options;
  IssueList option_issues(label);
  if (!engine::ResolveOptions(rs, {}, &option_issues, &options)) {
    return absl::InvalidArgumentError(FormatIssues(option_issues.issues(), "\n"));
  }
  engine::Results results;
  results.Resize(n, rs.scores.size());
  engine::Evaluator(compiled.rule_set, options).EvaluateAll(batch, &results);

  // Slots: the study's segments with respondents, in the study rule set's order.
  const engine::RuleSet& srs = *study.rule_set;
  std::vector<int> slot_of(srs.segments.size(), -1), segments;
  for (int s : study.segments) slot_of[static_cast<size_t>(s)] = 0;
  for (size_t s = 0; s < slot_of.size(); ++s) {
    if (slot_of[s] < 0) continue;
    slot_of[s] = static_cast<int>(segments.size());
    segments.push_back(static_cast<int>(s));
  }
  const size_t slots = segments.size();
  Evaluation e(std::move(segments));
  for (size_t r = 0; r < n; ++r) {
    const size_t truth = static_cast<size_t>(slot_of[static_cast<size_t>(study.segments[r])]);
    size_t typed = slots;  // untyped, or a segment the study has no respondent of
    if (results.decided_by[r] == engine::DecidedBy::kRules && results.segment[r] >= 0) {
      const int s = srs.FindSegment(rs.segments[static_cast<size_t>(results.segment[r])].id);
      if (s >= 0 && slot_of[static_cast<size_t>(s)] >= 0) {
        typed = static_cast<size_t>(slot_of[static_cast<size_t>(s)]);
      }
    }
    e.Add(truth, typed);
  }
  return e;
}

}  // namespace harmonia::typing
