#include "common/issue.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace harmonia {

std::string FormatIssue(const Issue& issue) {
  std::string out = issue.file;
  if (issue.line > 0) {
    absl::StrAppend(&out, ":", issue.line);
    if (issue.column > 0) absl::StrAppend(&out, ":", issue.column);
  }
  absl::StrAppend(&out,
                  issue.severity == Severity::kError ? ": error: " : ": warning: ", issue.message);
  return out;
}

std::string FormatIssues(const std::vector<Issue>& issues, std::string_view separator) {
  std::string out;
  for (const Issue& i : issues) {
    if (!out.empty()) out.append(separator);
    out += FormatIssue(i);
  }
  return out;
}

bool IssueList::has_errors() const {
  return std::any_of(issues_.begin(), issues_.end(),
                     [](const Issue& i) { return i.severity == Severity::kError; });
}

void SortIssues(std::vector<Issue>* issues) {
  std::stable_sort(issues->begin(), issues->end(), [](const Issue& a, const Issue& b) {
    if (a.line != b.line) return a.line < b.line;
    return a.column < b.column;
  });
}

}  // namespace harmonia
